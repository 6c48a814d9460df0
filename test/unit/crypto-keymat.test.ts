import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { providers, nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { compareHits } from '../../src-main/base/hit-order.js';
import { Keymat, drawHipKeys } from '../../src-main/hip/crypto/keymat.js';
import { HipCipher } from '../../src-main/hip/wire/constants.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => { const o = new Uint8Array(a.length + b.length); o.set(a); o.set(b, a.length); return o; };

// Two HITs whose order is known: the second is numerically greater.
const HIT_LOW = hex('2001002117ff0234b200ad270767f466');
const HIT_HIGH = hex('20010021f010fb60685eada017cf5987');

test('the reference HKDFs used below agree with RFC 5869 test case 1', () => {
  const ikm = new Uint8Array(22).fill(0x0b);
  const salt = hex('000102030405060708090a0b0c');
  const info = hex('f0f1f2f3f4f5f6f7f8f9');
  const okm = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865';
  assert.equal(toHex(hkdf(sha256, ikm, salt, info, 42)), okm);
  assert.equal(Buffer.from(hkdfSync('sha256', ikm, salt, info, 42)).toString('hex'), okm);
});

for (const p of providers) {
  for (const [rhash, nobleHash] of [['sha256', sha256], ['sha384', sha384]] as const) {
    test(`${p.name}/${rhash}: KEYMAT is HKDF(salt = I ‖ J, IKM = Kij, info = lesser HIT ‖ greater HIT)`, () => {
      const hLen = rhash === 'sha256' ? 32 : 48;
      const kij = p.randomBytes(32);
      const i = p.randomBytes(hLen);
      const j = p.randomBytes(hLen);
      const km = new Keymat(p, rhash, kij, HIT_HIGH, HIT_LOW, i, j); // initiator has the greater HIT
      const want = hkdf(nobleHash, kij, concat(i, j), concat(HIT_LOW, HIT_HIGH), 255 * hLen);
      assert.equal(toHex(km.bytes(0, 255 * hLen)), toHex(want));
      // Whichever side is the initiator, the info is the sorted pair: both ends derive the same bytes.
      const mirrored = new Keymat(p, rhash, kij, HIT_LOW, HIT_HIGH, i, j);
      assert.equal(toHex(mirrored.bytes(100, 77)), toHex(want.subarray(100, 177)));
    });
  }

  test(`${p.name}: KEYMAT draws are consistent however they are split, and refuse to run past 255 blocks`, () => {
    const km = new Keymat(p, 'sha256', p.randomBytes(32), HIT_LOW, HIT_HIGH, p.randomBytes(32), p.randomBytes(32));
    const later = km.bytes(70, 50); // draws out of order must not disturb the lazily built blocks
    const whole = km.bytes(0, 200);
    assert.equal(toHex(later), toHex(whole.subarray(70, 120)));
    assert.equal(toHex(concat(km.bytes(0, 33), km.bytes(33, 167))), toHex(whole));
    assert.equal(km.limit, 255 * 32);
    assert.equal(km.bytes(km.limit - 1, 1).length, 1);
    assert.throws(() => km.bytes(km.limit - 1, 2), RangeError);
    assert.throws(() => km.bytes(-1, 2), RangeError);
  });
}

test('KEYMAT is identical across providers', () => {
  const [a, b] = providers;
  const args = [nodeCrypto.randomBytes(48), HIT_LOW, HIT_HIGH, nodeCrypto.randomBytes(48), nodeCrypto.randomBytes(48)] as const;
  assert.equal(toHex(new Keymat(a!, 'sha384', ...args).bytes(0, 500)), toHex(new Keymat(b!, 'sha384', ...args).bytes(0, 500)));
});

test('HIT comparison is unsigned and big-endian', () => {
  assert.ok(compareHits(HIT_LOW, HIT_HIGH) < 0);
  assert.ok(compareHits(HIT_HIGH, HIT_LOW) > 0);
  assert.equal(compareHits(HIT_LOW, HIT_LOW.slice()), 0);
  assert.ok(compareHits(hex('ff'), hex('7f')) > 0); // 0xff is not -1
});

test('HIP keys: drawn gl-enc, gl-int, lg-enc, lg-int; each side sends with what the other receives with', () => {
  const kij = nodeCrypto.randomBytes(32);
  const i = nodeCrypto.randomBytes(48);
  const j = nodeCrypto.randomBytes(48);
  for (const [cipher, encLen] of [[HipCipher.NULL, 0], [HipCipher.AES_128_CBC, 16], [HipCipher.AES_256_CBC, 32]] as const) {
    // Initiator holds the lesser HIT here; the responder computes from its own point of view.
    const initiatorKm = new Keymat(nodeCrypto, 'sha384', kij, HIT_LOW, HIT_HIGH, i, j);
    const responderKm = new Keymat(nodeCrypto, 'sha384', kij, HIT_LOW, HIT_HIGH, i, j);
    const ini = drawHipKeys(initiatorKm, cipher, 'sha384', HIT_LOW, HIT_HIGH);
    const res = drawHipKeys(responderKm, cipher, 'sha384', HIT_HIGH, HIT_LOW);
    const all = initiatorKm.bytes(0, 2 * (encLen + 48));
    assert.equal(toHex(ini.gl.enc), toHex(all.subarray(0, encLen)));
    assert.equal(toHex(ini.gl.int), toHex(all.subarray(encLen, encLen + 48)));
    assert.equal(toHex(ini.lg.enc), toHex(all.subarray(encLen + 48, 2 * encLen + 48)));
    assert.equal(toHex(ini.lg.int), toHex(all.subarray(2 * encLen + 48)));
    assert.equal(ini.nextIndex, 2 * (encLen + 48));
    // The lesser-HIT host sends with the lg keys; the greater with gl.
    assert.equal(toHex(ini.outInt), toHex(ini.lg.int));
    assert.equal(toHex(res.outInt), toHex(res.gl.int));
    assert.equal(toHex(ini.outInt), toHex(res.inInt));
    assert.equal(toHex(ini.inInt), toHex(res.outInt));
    assert.equal(toHex(ini.outEnc), toHex(res.inEnc));
    assert.notEqual(toHex(ini.outInt), toHex(ini.inInt));
  }
  assert.throws(() => drawHipKeys(new Keymat(nodeCrypto, 'sha256', kij, HIT_LOW, HIT_HIGH, i, j), 3, 'sha256', HIT_LOW, HIT_HIGH), RangeError);
});
