// Host identities: the public keys HOST_ID carries (RFC 7401 §5.2.9, RFC 9374 §3.4.1), their
// HITs, and signing/verifying with them. The Host Identity field layouts:
//   RSA (5):   exponent length (1 octet, or 0 then 2 octets) ‖ exponent ‖ modulus   (RFC 3110)
//   ECDSA (7): ECC curve (2 octets: 1 = P-256, 2 = P-384) ‖ x ‖ y
//   EdDSA (13): EdDSA curve (2 octets: 1 = Ed25519) ‖ 32-octet public key          (RFC 9374)
// ECDSA points are written as bare x ‖ y (as cutehip does); a leading 0x04 SEC1 octet is
// accepted on input, since the RFC's "octet-string format" is read both ways in the wild.

import { concatBytes } from '../../base/bytes.js';
import { EcdsaCurve, EddsaCurve, HiAlgorithm } from '../wire/constants.js';
import type { HostId } from '../wire/params.js';
import {
  curveFieldLength,
  type CryptoProvider,
  type HashName,
  type SigningKey,
  type SigningKeyKind,
  type VerifyingKey,
} from '../crypto/provider.js';
import { computeHit, rhashForSuite, suiteForAlgorithm } from './hit.js';

export interface HostIdentityPublic {
  algorithm: number; // HiAlgorithm
  hi: Uint8Array; // the HOST_ID "Host Identity" field, exactly as sent
  hit: Uint8Array;
  suite: number; // HitSuite
  rhash: HashName;
  verifyingKey: VerifyingKey;
}

export interface LocalHostIdentity extends HostIdentityPublic {
  signingKey: SigningKey;
}

export type IdentityError =
  | 'unsupported-algorithm' // DSA, ECDSA_LOW, or anything unassigned
  | 'unsupported-curve' // an ECC/EdDSA curve label we do not implement
  | 'malformed-key' // lengths or encodings that do not add up
  | 'invalid-key'; // well-formed but unusable: point off the curve, weak RSA modulus

export type IdentityResult =
  | { ok: true; identity: HostIdentityPublic }
  | { ok: false; reason: IdentityError; detail: string };

const fail = (reason: IdentityError, detail: string): IdentityResult => ({ ok: false, reason, detail });

function u16(a: number): Uint8Array {
  return Uint8Array.of((a >> 8) & 0xff, a & 0xff);
}

/** The Host Identity field for a public key. */
export function encodeHostIdentity(key: VerifyingKey): { algorithm: number; hi: Uint8Array } {
  switch (key.algorithm) {
    case 'ecdsa':
      return { algorithm: HiAlgorithm.ECDSA, hi: concatBytes([u16(key.curve === 'P-256' ? EcdsaCurve.P256 : EcdsaCurve.P384), key.publicKey]) };
    case 'ed25519':
      return { algorithm: HiAlgorithm.EDDSA, hi: concatBytes([u16(EddsaCurve.ED25519), key.publicKey]) };
    case 'rsa': {
      const e = key.exponent;
      const lengthField = e.length <= 255 ? Uint8Array.of(e.length) : Uint8Array.of(0, (e.length >> 8) & 0xff, e.length & 0xff);
      return { algorithm: HiAlgorithm.RSA, hi: concatBytes([lengthField, e, key.modulus]) };
    }
  }
}

type DecodeKeyResult = { ok: true; key: VerifyingKey } | { ok: false; reason: IdentityError; detail: string };

function decodeVerifyingKey(algorithm: number, hi: Uint8Array): DecodeKeyResult {
  switch (algorithm) {
    case HiAlgorithm.ECDSA: {
      if (hi.length < 2) return { ok: false, reason: 'malformed-key', detail: 'ECDSA HI shorter than its curve label' };
      const label = (hi[0]! << 8) | hi[1]!;
      const curve = label === EcdsaCurve.P256 ? 'P-256' : label === EcdsaCurve.P384 ? 'P-384' : null;
      if (curve === null) return { ok: false, reason: 'unsupported-curve', detail: `ECDSA curve ${label}` };
      const n = curveFieldLength(curve);
      let point = hi.subarray(2);
      if (point.length === 2 * n + 1 && point[0] === 0x04) point = point.subarray(1);
      if (point.length !== 2 * n) {
        return { ok: false, reason: 'malformed-key', detail: `${curve} public key is ${hi.length - 2} octets, want ${2 * n} (x ‖ y)` };
      }
      return { ok: true, key: { algorithm: 'ecdsa', curve, publicKey: point.slice() } };
    }
    case HiAlgorithm.EDDSA: {
      if (hi.length < 2) return { ok: false, reason: 'malformed-key', detail: 'EdDSA HI shorter than its curve label' };
      const label = (hi[0]! << 8) | hi[1]!;
      if (label !== EddsaCurve.ED25519) return { ok: false, reason: 'unsupported-curve', detail: `EdDSA curve ${label}` };
      if (hi.length !== 34) return { ok: false, reason: 'malformed-key', detail: `Ed25519 HI is ${hi.length} octets, want 34` };
      return { ok: true, key: { algorithm: 'ed25519', publicKey: hi.slice(2) } };
    }
    case HiAlgorithm.RSA: {
      if (hi.length < 1) return { ok: false, reason: 'malformed-key', detail: 'empty RSA HI' };
      let off = 1;
      let eLen = hi[0]!;
      if (eLen === 0) {
        if (hi.length < 3) return { ok: false, reason: 'malformed-key', detail: 'RSA HI truncated in its exponent length' };
        eLen = (hi[1]! << 8) | hi[2]!;
        off = 3;
      }
      if (eLen === 0 || off + eLen >= hi.length) return { ok: false, reason: 'malformed-key', detail: `RSA exponent length ${eLen} leaves no modulus` };
      return { ok: true, key: { algorithm: 'rsa', exponent: hi.slice(off, off + eLen), modulus: hi.slice(off + eLen) } };
    }
    default:
      return { ok: false, reason: 'unsupported-algorithm', detail: `HI algorithm ${algorithm}` };
  }
}

/** A peer's identity from a HOST_ID's algorithm and Host Identity field. Never throws. */
export function identityFromHostId(provider: CryptoProvider, algorithm: number, hi: Uint8Array): IdentityResult {
  try {
    const decoded = decodeVerifyingKey(algorithm, hi);
    if (!decoded.ok) return fail(decoded.reason, decoded.detail);
    if (!provider.isValidVerifyingKey(decoded.key)) {
      return fail('invalid-key', decoded.key.algorithm === 'rsa' ? 'RSA key too small, too large or not odd' : 'public key is not a valid curve point');
    }
    const curveLabel = algorithm === HiAlgorithm.ECDSA ? (hi[0]! << 8) | hi[1]! : undefined;
    const suite = suiteForAlgorithm(algorithm, curveLabel);
    if (suite === null) return fail('unsupported-algorithm', `HI algorithm ${algorithm} has no HIT suite`);
    const copy = hi.slice();
    return {
      ok: true,
      identity: { algorithm, hi: copy, hit: computeHit(provider, algorithm, copy), suite, rhash: rhashForSuite(suite), verifyingKey: decoded.key },
    };
  } catch (err) {
    return fail('malformed-key', `unexpected: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The public half of a signing key, as HOST_ID carries it. */
export function verifyingKeyOf(key: SigningKey): VerifyingKey {
  switch (key.algorithm) {
    case 'ecdsa': return { algorithm: 'ecdsa', curve: key.curve, publicKey: key.publicKey };
    case 'ed25519': return { algorithm: 'ed25519', publicKey: key.publicKey };
    case 'rsa': return { algorithm: 'rsa', modulus: key.modulus, exponent: key.exponent };
  }
}

/** Our identity from a stored or freshly made signing key. */
export function identityFromSigningKey(provider: CryptoProvider, signingKey: SigningKey): LocalHostIdentity {
  const verifyingKey = verifyingKeyOf(signingKey);
  const { algorithm, hi } = encodeHostIdentity(verifyingKey);
  const curveLabel = algorithm === HiAlgorithm.ECDSA ? (hi[0]! << 8) | hi[1]! : undefined;
  const suite = suiteForAlgorithm(algorithm, curveLabel);
  if (suite === null) throw new RangeError(`HI algorithm ${algorithm} has no HIT suite`);
  return { algorithm, hi, hit: computeHit(provider, algorithm, hi), suite, rhash: rhashForSuite(suite), verifyingKey, signingKey };
}

/** A new host identity. The product default is ECDSA P-256 (HI algorithm 7, HIT suite 2). */
export function generateIdentity(provider: CryptoProvider, kind: SigningKeyKind = 'ecdsa-p256'): LocalHostIdentity {
  return identityFromSigningKey(provider, provider.generateSigningKey(kind));
}

/** Our HOST_ID parameter: no Domain Identifier (DI type 0, empty). */
export function hostIdParam(identity: HostIdentityPublic): HostId {
  return { kind: 'HOST_ID', algorithm: identity.algorithm, hi: identity.hi, diType: 0, di: new Uint8Array(0) };
}

/** The HIP_SIGNATURE / HIP_SIGNATURE_2 algorithm field: the HI algorithm (RFC 7401 §5.2.14). */
export function signatureAlgorithm(identity: HostIdentityPublic): number {
  return identity.algorithm;
}

/** Signs with the identity's RHASH (EdDSA signs the data itself). */
export function signWith(provider: CryptoProvider, identity: LocalHostIdentity, data: Uint8Array): Uint8Array {
  return provider.sign(identity.signingKey, identity.rhash, data);
}

/** Never throws. */
export function verifyWith(provider: CryptoProvider, identity: HostIdentityPublic, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return provider.verify(identity.verifyingKey, identity.rhash, data, signature);
  } catch {
    return false;
  }
}
