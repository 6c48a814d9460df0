import { test } from 'node:test';
import assert from 'node:assert/strict';
import { p256 } from '@noble/curves/nist.js';
import { nodeCrypto, providers } from '../../src-main/hip/crypto/index.js';
import type { SigningKeyKind } from '../../src-main/hip/crypto/provider.js';
import {
  generateIdentity,
  hostIdParam,
  identityFromHostId,
  signWith,
  signatureAlgorithm,
  verifyWith,
} from '../../src-main/hip/identity/host-identity.js';
import { hitSuiteOf } from '../../src-main/hip/identity/hit.js';
import { HiAlgorithm, HitSuite } from '../../src-main/hip/wire/constants.js';
import { CUTEHIP_VECTORS } from './crypto-cutehip-vectors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const EXPECT: Record<SigningKeyKind, { algorithm: number; suite: number; rhash: string; hiLength?: number }> = {
  'ecdsa-p256': { algorithm: HiAlgorithm.ECDSA, suite: HitSuite.ECDSA_SHA384, rhash: 'sha384', hiLength: 66 },
  'ecdsa-p384': { algorithm: HiAlgorithm.ECDSA, suite: HitSuite.ECDSA_SHA384, rhash: 'sha384', hiLength: 98 },
  ed25519: { algorithm: HiAlgorithm.EDDSA, suite: HitSuite.EDDSA_CSHAKE128, rhash: 'sha256', hiLength: 34 },
  rsa: { algorithm: HiAlgorithm.RSA, suite: HitSuite.RSA_DSA_SHA256, rhash: 'sha256' },
};

test('the default identity is ECDSA P-256: HI algorithm 7, HIT suite 2', () => {
  const id = generateIdentity(nodeCrypto);
  assert.equal(id.algorithm, HiAlgorithm.ECDSA);
  assert.equal(toHex(id.hi.subarray(0, 2)), '0001');
  assert.equal(hitSuiteOf(id.hit), HitSuite.ECDSA_SHA384);
});

for (const p of providers) {
  const kinds: SigningKeyKind[] = p.name === 'node' ? ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'] : ['ecdsa-p256', 'ecdsa-p384', 'ed25519'];
  for (const kind of kinds) {
    test(`${p.name}/${kind}: a peer decoding our HOST_ID gets our HIT and accepts our signatures`, () => {
      const local = generateIdentity(p, kind);
      const want = EXPECT[kind];
      assert.equal(local.algorithm, want.algorithm);
      assert.equal(local.suite, want.suite);
      assert.equal(local.rhash, want.rhash);
      if (want.hiLength) assert.equal(local.hi.length, want.hiLength);
      assert.equal(signatureAlgorithm(local), want.algorithm);

      const param = hostIdParam(local);
      assert.deepEqual({ kind: param.kind, algorithm: param.algorithm, diType: param.diType, di: param.di.length }, { kind: 'HOST_ID', algorithm: want.algorithm, diType: 0, di: 0 });
      for (const peerProvider of providers) {
        const seen = identityFromHostId(peerProvider, param.algorithm, param.hi);
        assert.ok(seen.ok, `${peerProvider.name}: ${seen.ok ? '' : seen.detail}`);
        assert.equal(toHex(seen.identity.hit), toHex(local.hit));
        assert.equal(seen.identity.rhash, local.rhash);
        const data = p.randomBytes(300);
        const sig = signWith(p, local, data);
        assert.equal(verifyWith(peerProvider, seen.identity, data, sig), true);
        const tampered = data.slice();
        tampered[299] = tampered[299]! ^ 0x80;
        assert.equal(verifyWith(peerProvider, seen.identity, tampered, sig), false);
        assert.equal(verifyWith(peerProvider, seen.identity, data, sig.subarray(2)), false);
      }
    });
  }

  test(`${p.name}: the cutehip RSA hosts decode to their HITs and their I2/R1 signatures verify`, () => {
    for (const v of CUTEHIP_VECTORS) {
      const seen = identityFromHostId(p, HiAlgorithm.RSA, hex(v.hi));
      assert.ok(seen.ok, v.packet);
      assert.equal(toHex(seen.identity.hit), v.hit);
      assert.equal(seen.identity.suite, HitSuite.RSA_DSA_SHA256);
      assert.equal(verifyWith(p, seen.identity, hex(v.signedData), hex(v.signature)), true, v.packet);
    }
  });

  test(`${p.name}: ECDSA points with a SEC1 0x04 prefix are accepted as the same key`, () => {
    const local = generateIdentity(p, 'ecdsa-p256');
    const prefixed = new Uint8Array([...local.hi.subarray(0, 2), 0x04, ...local.hi.subarray(2)]);
    const seen = identityFromHostId(p, HiAlgorithm.ECDSA, prefixed);
    assert.ok(seen.ok);
    assert.equal(toHex(seen.identity.hi), toHex(prefixed), 'the HI is kept as sent: the HIT is over those octets');
    const data = Uint8Array.of(1, 2, 3);
    assert.equal(verifyWith(p, seen.identity, data, signWith(p, local, data)), true);
  });

  test(`${p.name}: HOST_IDs that must not be trusted are rejected with a reason`, () => {
    const good = generateIdentity(p, 'ecdsa-p256');
    const offCurve = good.hi.slice();
    offCurve[offCurve.length - 1] = offCurve[offCurve.length - 1]! ^ 1;
    const cases: [number, Uint8Array, string][] = [
      [HiAlgorithm.ECDSA, offCurve, 'invalid-key'],
      [HiAlgorithm.ECDSA, new Uint8Array(66).fill(0).fill(1, 1, 2), 'invalid-key'], // the point (0, 0)
      [HiAlgorithm.ECDSA, good.hi.subarray(0, 40), 'malformed-key'],
      [HiAlgorithm.ECDSA, Uint8Array.of(0, 9, ...good.hi.subarray(2)), 'unsupported-curve'],
      [HiAlgorithm.EDDSA, Uint8Array.of(0, 3, ...new Uint8Array(57)), 'unsupported-curve'],
      [HiAlgorithm.EDDSA, Uint8Array.of(0, 1, ...new Uint8Array(31)), 'malformed-key'],
      [HiAlgorithm.DSA, new Uint8Array(100), 'unsupported-algorithm'],
      [HiAlgorithm.ECDSA_LOW, new Uint8Array(42), 'unsupported-algorithm'],
      [HiAlgorithm.RSA, Uint8Array.of(3, 1, 0, 1), 'malformed-key'], // no modulus
      [HiAlgorithm.RSA, Uint8Array.of(3, 1, 0, 1, ...new Uint8Array(64).fill(0xff)), 'invalid-key'], // 512-bit modulus
      [HiAlgorithm.RSA, new Uint8Array(0), 'malformed-key'],
    ];
    // An Ed25519 key of small order (the identity point) would accept forged signatures.
    const identityPoint = new Uint8Array(34);
    identityPoint[1] = 1;
    identityPoint[2] = 1;
    cases.push([HiAlgorithm.EDDSA, identityPoint, 'invalid-key']);
    for (const [algorithm, hi, reason] of cases) {
      const r = identityFromHostId(p, algorithm, hi);
      assert.equal(r.ok, false, `${reason} expected for algorithm ${algorithm}`);
      if (!r.ok) {
        assert.equal(r.reason, reason, r.detail);
        assert.ok(r.detail.length > 0);
      }
    }
  });

  test(`${p.name}: identityFromHostId never throws on thousands of random Host Identity fields`, () => {
    const algorithms = [HiAlgorithm.RSA, HiAlgorithm.ECDSA, HiAlgorithm.EDDSA, HiAlgorithm.DSA, 0, 255, 65535];
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const algorithm = algorithms[n % algorithms.length]!;
      let hi = p.randomBytes(n % 300);
      // Bias some inputs toward plausible shapes so the deeper checks run, not just the length ones.
      if (algorithm === HiAlgorithm.ECDSA && n % 3 === 0) hi = Uint8Array.of(0, 1 + (n % 2), ...p.randomBytes(n % 2 ? 96 : 64));
      if (algorithm === HiAlgorithm.EDDSA && n % 3 === 0) hi = Uint8Array.of(0, 1, ...p.randomBytes(32));
      if (algorithm === HiAlgorithm.RSA && n % 3 === 0) hi = Uint8Array.of(3, 1, 0, 1, ...p.randomBytes(128));
      const r = identityFromHostId(p, algorithm, hi);
      if (r.ok) {
        accepted++;
        assert.equal(r.identity.hit.length, 16);
        assert.ok(algorithm === HiAlgorithm.EDDSA || algorithm === HiAlgorithm.RSA, `random ${algorithm} key accepted`);
      }
    }
    // Random 32-octet strings decode as Ed25519 points about half the time; random P-256 x ‖ y never lands on the curve.
    assert.ok(accepted < 3000);
  });
}

test('a P-256 point the noble library itself computes is accepted by both providers', () => {
  const pub = p256.getPublicKey(p256.utils.randomSecretKey(), false).subarray(1);
  for (const p of providers) assert.ok(identityFromHostId(p, HiAlgorithm.ECDSA, Uint8Array.of(0, 1, ...pub)).ok, p.name);
});
