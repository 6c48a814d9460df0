import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes16ToIp, hitToText, ipToBytes16, textToHit } from '../../src-main/hip/wire/address.js';

const h = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

test('hitToText writes RFC 5952 text', () => {
  assert.equal(hitToText(h('2001002117ff0234b200ad270767f466')), '2001:21:17ff:234:b200:ad27:767:f466');
  assert.equal(hitToText(h('20010db8000000000000000000000001')), '2001:db8::1');
  assert.equal(hitToText(new Uint8Array(16)), '::');
  // a lone zero group is not compressed; the first of two equal runs is
  assert.equal(hitToText(h('20010db8000000010001000100010001')), '2001:db8:0:1:1:1:1:1');
  assert.equal(hitToText(h('20010000000000010000000000010001')), '2001::1:0:0:1:1');
  // the longest run wins even when it is not the first
  assert.equal(hitToText(h('20010000000000010000000000000001')), '2001:0:0:1::1');
  assert.equal(hitToText(h('20010db8000000000001000000000000')), '2001:db8:0:0:1::');
});

test('hitToText agrees with the WHATWG URL serializer on random addresses', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let n = 0; n < 2000; n++) {
    const b = new Uint8Array(16);
    // runs of zero groups are what compression is about, so make them common
    for (let g = 0; g < 8; g++) if (rnd() % 3 !== 0) { b[2 * g] = rnd() & 0xff; b[2 * g + 1] = rnd() & 0xff; }
    const text = hitToText(b);
    const reference = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    // the URL serializer writes IPv4-mapped addresses in hex too, so the two must match exactly
    assert.equal(text, reference);
    assert.deepEqual(textToHit(text), b);
  }
});

test('textToHit parses every IPv6 form and refuses anything else', () => {
  assert.deepEqual(textToHit('2001:db8::1'), h('20010db8000000000000000000000001'));
  assert.deepEqual(textToHit('::'), new Uint8Array(16));
  assert.deepEqual(textToHit('::ffff:192.0.2.1'), h('00000000000000000000ffffc0000201'));
  assert.deepEqual(textToHit('2001:DB8:0:0:0:0:0:1'), h('20010db8000000000000000000000001'));
  for (const bad of ['', '192.0.2.1', '2001:db8::1::2', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', 'hello']) {
    assert.equal(textToHit(bad), null, bad);
  }
});

test('IPv4 travels as IPv4-mapped IPv6 and comes back as a dotted quad', () => {
  const b = ipToBytes16('192.168.64.16');
  assert.deepEqual(b, h('00000000000000000000ffffc0a84010'));
  assert.equal(bytes16ToIp(b), '192.168.64.16');
  assert.equal(bytes16ToIp(ipToBytes16('2001:db8::5')!), '2001:db8::5');
  assert.equal(ipToBytes16('300.1.1.1'), null);
  assert.equal(ipToBytes16('not an address'), null);
});
