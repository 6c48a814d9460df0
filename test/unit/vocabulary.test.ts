// The shared vocabulary (src-shared/vocabulary.ts): endpoints compare and key by address text
// and port, and a HIT has one key whichever form it arrived in, bytes or any IPv6 spelling.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointKey, Hit, hitKey, INTERFACE_KINDS, sameEndpoint } from '../../src-shared/vocabulary.js';
import { hitToText } from '../../src-main/hip/wire/address.js';

test('endpoints are equal exactly when address text and port are', () => {
  const a = { address: '192.0.2.1', port: 10500 };
  assert.equal(sameEndpoint(a, { address: '192.0.2.1', port: 10500 }), true);
  assert.equal(sameEndpoint(a, { address: '192.0.2.1', port: 10501 }), false);
  assert.equal(sameEndpoint(a, { address: '192.0.2.2', port: 10500 }), false);
  assert.equal(sameEndpoint(a, undefined), false);
  assert.equal(sameEndpoint(undefined, undefined), false);
});

test('endpoint keys agree with endpoint equality', () => {
  const endpoints = [
    { address: '192.0.2.1', port: 10500 }, { address: '192.0.2.1', port: 10501 },
    { address: '2001:db8::1', port: 10500 }, { address: '2001:db8::1', port: 1050 }, { address: '2001:db8::11', port: 50 },
  ];
  for (const a of endpoints) {
    for (const b of endpoints) assert.equal(endpointKey(a) === endpointKey(b), sameEndpoint(a, b), `${a.address}/${a.port} vs ${b.address}/${b.port}`);
  }
  assert.equal(endpointKey({ address: '192.0.2.1', port: 10500 }), '192.0.2.1|10500');
});

const BYTES = Uint8Array.from([0x20, 0x01, 0x00, 0x2a, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc, 0, 0, 0, 0x01]);

test('a HIT from bytes and from any text form of it has one canonical key', () => {
  const fromBytes = Hit.fromBytes(BYTES);
  assert.equal(fromBytes.key, '2001:2a::abc:0:1');
  for (const text of ['2001:2a::abc:0:1', '2001:002A:0000:0000:0000:0ABC:0000:0001', '2001:2a:0:0:0:abc:0:1', ' 2001:2A::ABC:0:1 ']) {
    const parsed = Hit.parse(text);
    assert.ok(parsed, text);
    assert.equal(parsed.key, fromBytes.key, text);
    assert.ok(parsed.equals(fromBytes), text);
    assert.deepEqual(parsed.bytes, BYTES, text);
  }
  assert.equal(hitKey(BYTES), fromBytes.key);
  assert.equal(hitKey(fromBytes), fromBytes.key);
  assert.equal(String(fromBytes), fromBytes.key);
});

test('the HIT key is the text the wire helpers print', () => {
  const samples = [BYTES, new Uint8Array(16), Uint8Array.from({ length: 16 }, (_, i) => i * 17), Uint8Array.from([0x20, 0x01, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])];
  for (const b of samples) assert.equal(hitKey(b), hitToText(b));
});

test('a HIT is 16 octets, and text that is not IPv6 is no HIT', () => {
  assert.throws(() => Hit.fromBytes(new Uint8Array(4)), RangeError);
  assert.throws(() => hitKey(new Uint8Array(15)), RangeError);
  assert.equal(Hit.parse('192.0.2.1'), null);
  assert.equal(Hit.parse('not a hit'), null);
});

test('a HIT keeps its own copy of the bytes it was made from', () => {
  const bytes = BYTES.slice();
  const hit = Hit.fromBytes(bytes);
  bytes[15] = 0xff;
  assert.equal(hit.key, '2001:2a::abc:0:1');
});

test("the interface kinds include 'other'", () => {
  assert.deepEqual([...INTERFACE_KINDS], ['ethernet', 'wifi', 'cellular', 'virtual', 'other']);
});
