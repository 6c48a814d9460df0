import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cshake128 } from '@noble/hashes/sha3-addons.js';
import { providers } from '../../src-main/hip/crypto/index.js';
import { HIT_CONTEXT_ID, computeHit, hasOrchidPrefix, hitSuiteOf, rhashForSuite, suiteForAlgorithm } from '../../src-main/hip/identity/hit.js';
import { EcdsaCurve, HiAlgorithm, HitSuite } from '../../src-main/hip/wire/constants.js';
import { CUTEHIP_VECTORS } from './crypto-cutehip-vectors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

for (const p of providers) {
  test(`${p.name}: computeHit reproduces the HITs of the real RSA hosts in the cutehip capture`, () => {
    for (const v of CUTEHIP_VECTORS) {
      assert.equal(toHex(computeHit(p, HiAlgorithm.RSA, hex(v.hi))), v.hit, v.packet);
    }
  });

  test(`${p.name}: ECDSA HITs are suite 2 with the middle 96 bits of SHA-384(context ‖ HI)`, () => {
    const hi = new Uint8Array([0, EcdsaCurve.P256, ...p.randomBytes(64)]);
    const digest = createHash('sha384').update(HIT_CONTEXT_ID).update(hi).digest();
    const hit = computeHit(p, HiAlgorithm.ECDSA, hi);
    assert.equal(toHex(hit.subarray(0, 4)), '20010022');
    assert.equal(toHex(hit.subarray(4)), digest.subarray(18, 30).toString('hex'));
  });

  test(`${p.name}: EdDSA HITs are suite 5 with 96 bits of cSHAKE128(HI, S = context ID)`, () => {
    const hi = new Uint8Array([0, 1, ...p.randomBytes(32)]);
    const hit = computeHit(p, HiAlgorithm.EDDSA, hi);
    assert.equal(toHex(hit.subarray(0, 4)), '20010025');
    assert.equal(toHex(hit.subarray(4)), toHex(cshake128(hi, { personalization: HIT_CONTEXT_ID, dkLen: 12 })));
  });
}

test('every HIT carries the ORCHIDv2 prefix 2001:20::/28 and its suite in the next nibble', () => {
  const rsa = hex(CUTEHIP_VECTORS[0]!.hit);
  assert.equal(hasOrchidPrefix(rsa), true);
  assert.equal(hitSuiteOf(rsa), HitSuite.RSA_DSA_SHA256);
  assert.equal(hasOrchidPrefix(hex('20010011000000000000000000000000')), false, 'ORCHIDv1 prefix 2001:10::/28');
  assert.equal(hasOrchidPrefix(hex('fe800000000000000000000000000001')), false);
  assert.equal(hasOrchidPrefix(rsa.subarray(1)), false);
});

test('suites and RHASH per algorithm', () => {
  assert.equal(suiteForAlgorithm(HiAlgorithm.RSA), HitSuite.RSA_DSA_SHA256);
  assert.equal(suiteForAlgorithm(HiAlgorithm.ECDSA, EcdsaCurve.P256), HitSuite.ECDSA_SHA384);
  assert.equal(suiteForAlgorithm(HiAlgorithm.ECDSA, EcdsaCurve.P384), HitSuite.ECDSA_SHA384);
  assert.equal(suiteForAlgorithm(HiAlgorithm.ECDSA, 9), null);
  assert.equal(suiteForAlgorithm(HiAlgorithm.EDDSA), HitSuite.EDDSA_CSHAKE128);
  assert.equal(suiteForAlgorithm(42), null);
  assert.equal(rhashForSuite(HitSuite.RSA_DSA_SHA256), 'sha256');
  assert.equal(rhashForSuite(HitSuite.ECDSA_SHA384), 'sha384');
  assert.throws(() => rhashForSuite(9), RangeError);
  assert.throws(() => computeHit(providers[0]!, 42, new Uint8Array(4)), RangeError);
});
