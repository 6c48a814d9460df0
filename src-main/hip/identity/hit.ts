// Host Identity Tags: ORCHIDv2 (RFC 7343) as HIPv2 uses them (RFC 7401 §3.2, RFC 9374 §3.5.2.1).
//   HIT = 2001:20::/28 ‖ OGA ID (4 bits, the HIT suite) ‖ 96-bit hash of (context ID ‖ HI)
// where HI is the HOST_ID parameter's Host Identity field alone (no algorithm, no DI) — checked
// against the RSA HITs in the cutehip capture. Fixed-length hashes give their middle 96 bits;
// cSHAKE128 (EdDSA suite) is asked for 96 bits directly, with the context ID as its customization
// string S (RFC 9374 §3.5: "S ... used for including the ORCHID Context Identifier").

import { EcdsaCurve, HiAlgorithm, HitSuite } from '../wire/constants.js';
import { hashLength, type CryptoProvider, type HashName } from '../crypto/provider.js';

/** The ORCHIDv2 context ID assigned to HIP (RFC 7401 §3.2). */
export const HIT_CONTEXT_ID = Uint8Array.from([
  0xf0, 0xef, 0xf0, 0x2f, 0xbf, 0xf4, 0x3d, 0x0f, 0xe7, 0x93, 0x0c, 0x3c, 0x6e, 0x61, 0x74, 0xea,
]);

/** First 28 bits of every HIT: 2001:0020::/28. */
const PREFIX = [0x20, 0x01, 0x00, 0x20] as const;
const HASH_BITS = 96;

/** The HIT suite (OGA ID) a Host Identity of this algorithm produces, or null if none. */
export function suiteForAlgorithm(algorithm: number, curve?: number): number | null {
  switch (algorithm) {
    case HiAlgorithm.RSA:
    case HiAlgorithm.DSA:
      return HitSuite.RSA_DSA_SHA256;
    case HiAlgorithm.ECDSA:
      // Both NIST curves hash with SHA-384; any other curve label has no suite.
      return curve === undefined || curve === EcdsaCurve.P256 || curve === EcdsaCurve.P384 ? HitSuite.ECDSA_SHA384 : null;
    case HiAlgorithm.ECDSA_LOW:
      return HitSuite.ECDSA_LOW_SHA1;
    case HiAlgorithm.EDDSA:
      return HitSuite.EDDSA_CSHAKE128;
    default:
      return null;
  }
}

/**
 * RHASH: the hash a suite's associations use for puzzles, KEYMAT, HIP_MAC and signatures.
 * RFC 9374 names cSHAKE128/KMAC128 for the EdDSA suite but defines no HKDF or HMAC for it, so
 * hipvpn uses SHA-256 there; EdDSA interop with other implementations is unverified.
 */
export function rhashForSuite(suite: number): HashName {
  switch (suite) {
    case HitSuite.RSA_DSA_SHA256: return 'sha256';
    case HitSuite.ECDSA_SHA384: return 'sha384';
    case HitSuite.ECDSA_LOW_SHA1: return 'sha1';
    case HitSuite.EDDSA_CSHAKE128: return 'sha256';
    default: throw new RangeError(`unknown HIT suite ${suite}`);
  }
}

function orchidHash(provider: CryptoProvider, suite: number, hi: Uint8Array): Uint8Array {
  if (suite === HitSuite.EDDSA_CSHAKE128) return provider.cshake128(hi, HIT_CONTEXT_ID, HASH_BITS / 8);
  const name: HashName = suite === HitSuite.RSA_DSA_SHA256 ? 'sha256' : suite === HitSuite.ECDSA_SHA384 ? 'sha384' : 'sha1';
  const input = new Uint8Array(HIT_CONTEXT_ID.length + hi.length);
  input.set(HIT_CONTEXT_ID);
  input.set(hi, HIT_CONTEXT_ID.length);
  const digest = provider.hash(name, input);
  const start = (hashLength(name) - HASH_BITS / 8) / 2; // RFC 7343 Encode_96: the middle 96 bits
  return digest.subarray(start, start + HASH_BITS / 8);
}

/**
 * The HIT of a Host Identity field. Throws RangeError for algorithms with no HIT suite
 * (identityFromHostId checks that first, so wire input never reaches the throw).
 */
export function computeHit(provider: CryptoProvider, algorithm: number, hi: Uint8Array): Uint8Array {
  const curve = algorithm === HiAlgorithm.ECDSA && hi.length >= 2 ? (hi[0]! << 8) | hi[1]! : undefined;
  const suite = suiteForAlgorithm(algorithm, curve);
  if (suite === null) throw new RangeError(`HI algorithm ${algorithm} has no HIT suite`);
  const hit = new Uint8Array(16);
  hit.set(PREFIX);
  hit[3] = PREFIX[3] | suite;
  hit.set(orchidHash(provider, suite, hi), 4);
  return hit;
}

/** Whether 16 octets carry the ORCHIDv2 prefix, i.e. can be a HIPv2 HIT at all. */
export function hasOrchidPrefix(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes[0] === PREFIX[0] && bytes[1] === PREFIX[1] && bytes[2] === PREFIX[2] && (bytes[3]! & 0xf0) === PREFIX[3];
}

/** The HIT suite (OGA ID) nibble of a HIT. */
export function hitSuiteOf(hit: Uint8Array): number {
  return (hit[3] ?? 0) & 0x0f;
}
