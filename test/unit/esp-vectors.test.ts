// Known answers: AES-GCM ESP test cases from draft-mcgrew-gcm-test-01 (the ones with a 32-bit
// sequence number and a 128-bit key), and the exact wire layout our sealer produces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHmac } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { EspInboundSa, EspOutboundSa } from '../../src-main/esp/sa.js';
import type { EspImpl } from '../../src-main/esp/transforms.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const IMPLS: EspImpl[] = ['node', 'noble'];

interface GcmVector {
  name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string;
}
const VECTORS: GcmVector[] = [
  {
    name: 'test case 2 (SPI 0xa5f8, seq 10, DNS query in IPv4)',
    key: 'feffe9928665731c6d6a8f9467308308',
    nonce: 'cafebabefacedbaddecaf888',
    aad: '0000a5f80000000a',
    plaintext: '4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d001000001000000000000037369700963796265726369747902646b00000100010001',
    ciphertext: 'deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1',
    tag: '83b70d3aa8bc6ee4c309e9d85a41ad4a',
  },
  {
    name: 'test case 12 (seq 0xffffffff, empty payload)',
    key: '7d773d00c144c525ac619d18c84a3f47',
    nonce: 'd966426743457e9182443bc6',
    aad: '335467aeffffffff',
    plaintext: '01020201',
    ciphertext: '437f866b',
    tag: 'cb3f699fe9b0822bac961c4504bef270',
  },
];

for (const v of VECTORS) {
  for (const impl of IMPLS) {
    for (const suite of [13, 12]) {
      test(`GCM known answer, ${v.name}, suite ${suite}, ${impl}`, () => {
        const nonce = hex(v.nonce);
        const aad = hex(v.aad);
        const icv = hex(v.tag).subarray(0, suite === 13 ? 16 : 8); // the 8-octet ICV is the tag's prefix
        const packet = Uint8Array.from([...aad, ...nonce.subarray(4), ...hex(v.ciphertext), ...icv]);
        const spi = Buffer.from(aad).readUInt32BE(0);
        const sa = new EspInboundSa({
          spi, suite, createdAt: 0, impl,
          keys: { encKey: hex(v.key), authKey: new Uint8Array(0), salt: nonce.subarray(0, 4) },
        });
        const r = sa.open(packet, 0);
        assert.ok(r.ok, JSON.stringify(r));
        const pt = hex(v.plaintext);
        const padLength = pt[pt.length - 2]!;
        assert.deepEqual(r.payload, pt.subarray(0, pt.length - 2 - padLength));
        assert.equal(r.nextHeader, pt[pt.length - 1]);
        assert.equal(r.seq, Buffer.from(aad).readUInt32BE(4));
        // A wrong tag octet must not slip through the truncated-ICV path.
        const bad = packet.slice();
        bad[bad.length - 1]! ^= 1;
        const again = new EspInboundSa({
          spi, suite, createdAt: 0, impl,
          keys: { encKey: hex(v.key), authKey: new Uint8Array(0), salt: nonce.subarray(0, 4) },
        });
        assert.deepEqual(again.open(bad, 0), { ok: false, reason: 'auth-failed' });
      });
    }
  }
}

test('GCM wire layout: SPI ‖ seq ‖ IV = 64-bit seq ‖ ct ‖ ICV; nonce = salt ‖ IV; AAD = SPI ‖ seq', () => {
  const keys = { encKey: hex('000102030405060708090a0b0c0d0e0f'), authKey: new Uint8Array(0), salt: hex('a1a2a3a4') };
  for (const impl of IMPLS) {
    const sa = new EspOutboundSa({ spi: 0x01020304, suite: 13, keys, createdAt: 0, impl });
    sa.seal(new Uint8Array(3), 17, 0);
    const payload = hex('deadbeefcafe');
    const p = sa.seal(payload, 17, 0);
    assert.deepEqual(p.subarray(0, 16), hex('01020304 00000002 0000000000000002'));
    // 6 payload + 2 trailer is already a multiple of 4: no padding.
    assert.equal(p.length, 16 + 8 + 16);
    const opened = gcm(keys.encKey, hex('a1a2a3a4 0000000000000002'), p.subarray(0, 8)).decrypt(p.subarray(16));
    assert.deepEqual(opened, hex('deadbeefcafe 00 11'));
  }
});

test('GCM padding keeps the ciphertext 4-octet aligned with bytes 1, 2, 3', () => {
  const keys = { encKey: new Uint8Array(16).fill(7), authKey: new Uint8Array(0), salt: new Uint8Array(4) };
  const sa = new EspOutboundSa({ spi: 300, suite: 12, keys, createdAt: 0 });
  const p = sa.seal(hex('aa'), 6, 0);
  assert.equal(p.length, 16 + 4 + 8);
  const expected = gcm(keys.encKey, hex('00000000 0000000000000001'), p.subarray(0, 8)).encrypt(hex('aa 01 01 06'));
  assert.deepEqual(p.subarray(16, 20), expected.subarray(0, 4));
  assert.deepEqual(p.subarray(20), expected.subarray(4, 12)); // 8-octet ICV = leading tag octets
});

test('CBC wire layout: random IV, RFC 4303 padding, HMAC-SHA-256 over SPI..ciphertext truncated to 128 bits', () => {
  for (const [suite, keyLen] of [[8, 16], [9, 32]] as const) {
    const keys = { encKey: new Uint8Array(keyLen).fill(1), authKey: new Uint8Array(32).fill(2), salt: new Uint8Array(0) };
    for (const impl of IMPLS) {
      const sa = new EspOutboundSa({ spi: 0xabcdef01, suite, keys, createdAt: 0, impl });
      const a = sa.seal(hex('0102030405'), 6, 0);
      const b = sa.seal(hex('0102030405'), 6, 0);
      assert.deepEqual(a.subarray(0, 8), hex('abcdef01 00000001'));
      assert.notDeepEqual(a.subarray(8, 24), b.subarray(8, 24), 'IVs must differ per packet');
      assert.equal(a.length, 8 + 16 + 16 + 16);
      const icv = createHmac('sha256', keys.authKey).update(a.subarray(0, 40)).digest().subarray(0, 16);
      assert.deepEqual(a.subarray(40), Uint8Array.from(icv));
      const d = createDecipheriv(`aes-${keyLen * 8}-cbc`, keys.encKey, a.subarray(8, 24)).setAutoPadding(false);
      const pt = Buffer.concat([d.update(a.subarray(24, 40)), d.final()]);
      assert.deepEqual(Uint8Array.from(pt), hex('0102030405 010203040506070809 09 06'));
    }
  }
});
