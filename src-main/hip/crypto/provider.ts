// One small interface for every cryptographic primitive the protocol uses, so the fast
// implementation (node:crypto) and the independent one (@noble) can be swapped and
// cross-checked on every vector. Chosen once per engine; never per packet.

export type HashName = 'sha1' | 'sha256' | 'sha384';
export type EcCurveName = 'P-256' | 'P-384' | 'P-521';

/** Output length in octets: the size of HIP_MAC keys, puzzle #I/#J and one HKDF block. */
export function hashLength(name: HashName): number {
  switch (name) {
    case 'sha1': return 20;
    case 'sha256': return 32;
    case 'sha384': return 48;
  }
}

/** Octets of one coordinate (and of a private scalar) on each curve. */
export function curveFieldLength(curve: EcCurveName): number {
  switch (curve) {
    case 'P-256': return 32;
    case 'P-384': return 48;
    case 'P-521': return 66;
  }
}

/** The kinds of host key this product can create. */
export type SigningKeyKind = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa';

/** Raw key material, encoded the way HIP carries it on the wire. */
export interface EcdhKeyPair {
  curve: EcCurveName;
  privateKey: Uint8Array; // big-endian scalar
  publicKey: Uint8Array; // RFC 5903: x ‖ y, no 0x04 prefix
}

/** A private signing key in a form both providers accept. */
export type SigningKey =
  | { algorithm: 'ecdsa'; curve: 'P-256' | 'P-384'; privateKey: Uint8Array /* scalar */; publicKey: Uint8Array /* x ‖ y */ }
  | { algorithm: 'ed25519'; privateKey: Uint8Array /* 32-octet seed */; publicKey: Uint8Array /* 32 octets */ }
  | { algorithm: 'rsa'; pkcs8Der: Uint8Array; modulus: Uint8Array; exponent: Uint8Array };

/** A public key as carried in a HOST_ID's Host Identity field, already split by algorithm. */
export type VerifyingKey =
  | { algorithm: 'ecdsa'; curve: 'P-256' | 'P-384'; publicKey: Uint8Array /* x ‖ y */ }
  | { algorithm: 'ed25519'; publicKey: Uint8Array }
  | { algorithm: 'rsa'; modulus: Uint8Array; exponent: Uint8Array };

export interface CryptoProvider {
  readonly name: 'node' | 'noble';

  randomBytes(length: number): Uint8Array;
  hash(name: HashName, data: Uint8Array): Uint8Array;
  hmac(name: HashName, key: Uint8Array, data: Uint8Array): Uint8Array;
  /** cSHAKE128 (NIST SP 800-185) with empty function name; used for EdDSA HITs (RFC 9374). */
  cshake128(data: Uint8Array, customization: Uint8Array, outputLength: number): Uint8Array;

  /** A fresh host key. The noble provider cannot create RSA keys and throws. */
  generateSigningKey(kind: SigningKeyKind): SigningKey;
  /**
   * Whether a public key taken off the wire is usable: the point is on its curve (and not the
   * identity), an Ed25519 encoding decodes, an RSA modulus is odd and of a sane size. Never throws.
   */
  isValidVerifyingKey(key: VerifyingKey): boolean;

  ecdhGenerate(curve: EcCurveName): EcdhKeyPair;
  /** Shared secret = x coordinate (RFC 5903). Null when the peer's point is not on the curve. */
  ecdhCompute(own: EcdhKeyPair, peerPublicKey: Uint8Array): Uint8Array | null;

  /**
   * ECDSA signatures are r ‖ s (RFC 4754); RSA uses RSASSA-PSS with MGF1 over the same hash and a
   * salt as long as the hash (what the cutehip capture's signatures use). The hash is the HIT
   * suite's RHASH.
   */
  sign(key: SigningKey, hash: HashName, data: Uint8Array): Uint8Array;
  /** Never throws: a malformed key or signature is simply not valid. EdDSA ignores `hash` (PureEdDSA). */
  verify(key: VerifyingKey, hash: HashName, data: Uint8Array, signature: Uint8Array): boolean;

  /** Unpadded AES-CBC: callers pad (HIP ENCRYPTED and ESP each have their own padding rules). */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Returns ciphertext ‖ tag (tag of tagLength octets). */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array;
  /** Null when authentication fails. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagLength: number): Uint8Array | null;
}

/** RSA moduli hipvpn accepts: 1024 bits (what cutehip sends) up to 8192; odd, no leading zero. */
export const RSA_MIN_MODULUS_BITS = 1024;
export const RSA_MAX_MODULUS_BITS = 8192;

/** Structural checks both providers apply before any RSA arithmetic; never throws. */
export function isSaneRsaPublicKey(modulus: Uint8Array, exponent: Uint8Array): boolean {
  if (modulus.length === 0 || exponent.length === 0 || exponent.length > 8) return false;
  if (modulus[0] === 0 || exponent[0] === 0) return false; // RFC 3110: no leading zero octets
  const bits = (modulus.length - 1) * 8 + (32 - Math.clz32(modulus[0]!));
  if (bits < RSA_MIN_MODULUS_BITS || bits > RSA_MAX_MODULUS_BITS) return false;
  if ((modulus[modulus.length - 1]! & 1) === 0) return false;
  const lastE = exponent[exponent.length - 1]!;
  if ((lastE & 1) === 0) return false;
  if (exponent.length === 1 && lastE < 3) return false;
  return true;
}
