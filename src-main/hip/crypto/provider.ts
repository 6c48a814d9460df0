// One small interface for every cryptographic primitive the protocol uses, so the fast
// implementation (node:crypto) and the independent one (@noble) can be swapped and
// cross-checked on every vector. Chosen once per engine; never per packet.

export type HashName = 'sha1' | 'sha256' | 'sha384';
export type EcCurveName = 'P-256' | 'P-384' | 'P-521';

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

  ecdhGenerate(curve: EcCurveName): EcdhKeyPair;
  /** Shared secret = x coordinate (RFC 5903). Null when the peer's point is not on the curve. */
  ecdhCompute(own: EcdhKeyPair, peerPublicKey: Uint8Array): Uint8Array | null;

  /** ECDSA signatures are r ‖ s (RFC 4754); RSA uses RSASSA-PSS. The hash is the HIT suite's RHASH. */
  sign(key: SigningKey, hash: HashName, data: Uint8Array): Uint8Array;
  verify(key: VerifyingKey, hash: HashName, data: Uint8Array, signature: Uint8Array): boolean;

  /** Unpadded AES-CBC: callers pad (HIP ENCRYPTED and ESP each have their own padding rules). */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Returns ciphertext ‖ tag (tag of tagLength octets). */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array;
  /** Null when authentication fails. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagLength: number): Uint8Array | null;
}
