// The independent provider: only @noble, no OpenSSL. It exists so that every vector and every
// handshake can be checked by a second implementation; it is also what runs where node:crypto
// is missing a primitive. RSA is verify-only here (PSS per RFC 8017 §9.1.2 over bigint).

import { equalBytes } from '../../base/bytes.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { hmac } from '@noble/hashes/hmac.js';
import { cshake128 } from '@noble/hashes/sha3-addons.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { cbc, ctr, gcm } from '@noble/ciphers/aes.js';
import {
  curveFieldLength,
  hashLength,
  isSaneRsaPublicKey,
  type CryptoProvider,
  type EcCurveName,
  type HashName,
  type SigningKey,
  type SigningKeyKind,
  type VerifyingKey,
} from './provider.js';

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 } as const;
const HASHES = { sha1, sha256, sha384 } as const;

function digest(name: HashName, data: Uint8Array): Uint8Array {
  return HASHES[name](data);
}

/** noble wants SEC1 points; HIP carries bare x ‖ y. */
function sec1(publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(publicKey.length + 1);
  out[0] = 0x04;
  out.set(publicKey, 1);
  return out;
}

function isValidEcPoint(curve: EcCurveName, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 2 * curveFieldLength(curve)) return false;
  try {
    CURVES[curve].Point.fromBytes(sec1(publicKey)).assertValidity();
    return true;
  } catch {
    return false;
  }
}

function isValidEd25519Point(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

// ---- RSA (verify only) ----

function toBigInt(bytes: Uint8Array): bigint {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex.length === 0 ? 0n : BigInt('0x' + hex);
}

function toBytes(value: bigint, length: number): Uint8Array | null {
  const hex = value.toString(16);
  if (hex.length > length * 2) return null;
  const padded = hex.padStart(length * 2, '0');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(padded.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

function mgf1(hash: HashName, seed: Uint8Array, length: number): Uint8Array {
  const hLen = hashLength(hash);
  const out = new Uint8Array(Math.ceil(length / hLen) * hLen);
  const input = new Uint8Array(seed.length + 4);
  input.set(seed);
  for (let counter = 0, off = 0; off < length; counter++, off += hLen) {
    new DataView(input.buffer).setUint32(seed.length, counter);
    out.set(digest(hash, input), off);
  }
  return out.subarray(0, length);
}

/** RSASSA-PSS-VERIFY (RFC 8017 §8.1.2 with EMSA-PSS-VERIFY §9.1.2), MGF1 with the same hash, sLen = hLen. */
function rsaPssVerify(key: Extract<VerifyingKey, { algorithm: 'rsa' }>, hash: HashName, data: Uint8Array, signature: Uint8Array): boolean {
  if (!isSaneRsaPublicKey(key.modulus, key.exponent)) return false;
  const k = key.modulus.length;
  if (signature.length !== k) return false;
  const n = toBigInt(key.modulus);
  const s = toBigInt(signature);
  if (s >= n) return false;
  const m = modPow(s, toBigInt(key.exponent), n);

  const modBits = (k - 1) * 8 + (32 - Math.clz32(key.modulus[0]!));
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const full = toBytes(m, k);
  if (!full) return false;
  if (emLen < k && full[0] !== 0) return false; // m must fit in emLen octets
  const em = full.subarray(k - emLen);

  const hLen = hashLength(hash);
  const sLen = hLen;
  if (emLen < hLen + sLen + 2) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const dbLen = emLen - hLen - 1;
  const maskedDb = em.subarray(0, dbLen);
  const h = em.subarray(dbLen, dbLen + hLen);
  const unusedBits = 8 * emLen - emBits;
  const topMask = (0xff << (8 - unusedBits)) & 0xff;
  if ((maskedDb[0]! & topMask) !== 0) return false;
  const dbMask = mgf1(hash, h, dbLen);
  const db = new Uint8Array(dbLen);
  for (let i = 0; i < dbLen; i++) db[i] = maskedDb[i]! ^ dbMask[i]!;
  db[0] = db[0]! & (0xff >> unusedBits);
  const psLen = emLen - hLen - sLen - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(dbLen - sLen);
  const mPrime = new Uint8Array(8 + hLen + sLen);
  mPrime.set(digest(hash, data), 8);
  mPrime.set(salt, 8 + hLen);
  return equalBytes(digest(hash, mPrime), h);
}

// ---- AES ----

function checkAesKey(key: Uint8Array): void {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new RangeError(`AES key must be 16, 24 or 32 octets, got ${key.length}`);
  }
}

/** GCM's first keystream counter block for a 96-bit nonce: nonce ‖ 0x00000002 (SP 800-38D). */
function gcmCounterBlock(nonce: Uint8Array): Uint8Array {
  const block = new Uint8Array(16);
  block.set(nonce);
  block[15] = 2;
  return block;
}

export const nobleProvider: CryptoProvider = {
  name: 'noble',

  randomBytes(length) {
    return randomBytes(length);
  },

  hash(name, data) {
    return digest(name, data);
  },

  hmac(name, key, data) {
    return hmac(HASHES[name], key, data);
  },

  cshake128(data, customization, outputLength) {
    return cshake128(data, { personalization: customization, dkLen: outputLength });
  },

  generateSigningKey(kind: SigningKeyKind): SigningKey {
    switch (kind) {
      case 'ecdsa-p256':
      case 'ecdsa-p384': {
        const curve = kind === 'ecdsa-p256' ? 'P-256' : 'P-384';
        const secretKey = CURVES[curve].utils.randomSecretKey();
        return { algorithm: 'ecdsa', curve, privateKey: secretKey, publicKey: CURVES[curve].getPublicKey(secretKey, false).subarray(1) };
      }
      case 'ed25519': {
        const { secretKey, publicKey } = ed25519.keygen();
        return { algorithm: 'ed25519', privateKey: secretKey, publicKey };
      }
      case 'rsa':
        throw new Error('RSA key generation is node-only');
    }
  },

  isValidVerifyingKey(key) {
    switch (key.algorithm) {
      case 'ecdsa': return isValidEcPoint(key.curve, key.publicKey);
      case 'ed25519': return isValidEd25519Point(key.publicKey);
      case 'rsa': return isSaneRsaPublicKey(key.modulus, key.exponent);
    }
  },

  ecdhGenerate(curve) {
    const secretKey = CURVES[curve].utils.randomSecretKey();
    const publicKey = CURVES[curve].getPublicKey(secretKey, false).subarray(1);
    return { curve, privateKey: secretKey, publicKey };
  },

  ecdhCompute(own, peerPublicKey) {
    if (!isValidEcPoint(own.curve, peerPublicKey)) return null;
    try {
      // Uncompressed shared point is 0x04 ‖ x ‖ y; RFC 5903 uses x alone.
      const shared = CURVES[own.curve].getSharedSecret(own.privateKey, sec1(peerPublicKey), false);
      return shared.slice(1, 1 + curveFieldLength(own.curve));
    } catch {
      return null;
    }
  },

  sign(key, hash, data) {
    switch (key.algorithm) {
      case 'ecdsa':
        // HIP hashes with RHASH whatever the curve (P-256 signs SHA-384 digests), so prehash here.
        return CURVES[key.curve].sign(digest(hash, data), key.privateKey, { prehash: false, lowS: false });
      case 'ed25519':
        return ed25519.sign(data, key.privateKey);
      case 'rsa':
        throw new Error('RSA signing is node-only');
    }
  },

  verify(key, hash, data, signature) {
    try {
      switch (key.algorithm) {
        case 'ecdsa':
          if (signature.length !== 2 * curveFieldLength(key.curve) || !isValidEcPoint(key.curve, key.publicKey)) return false;
          // OpenSSL signs high-S half the time; HIP does not require low-S.
          return CURVES[key.curve].verify(signature, digest(hash, data), sec1(key.publicKey), { prehash: false, lowS: false });
        case 'ed25519':
          if (signature.length !== 64 || !isValidEd25519Point(key.publicKey)) return false;
          return ed25519.verify(signature, data, key.publicKey, { zip215: false });
        case 'rsa':
          return rsaPssVerify(key, hash, data, signature);
      }
    } catch {
      return false;
    }
  },

  aesCbcEncrypt(key, iv, plaintext) {
    checkAesKey(key);
    if (plaintext.length % 16 !== 0) throw new RangeError('AES-CBC input must be a multiple of 16 octets');
    return cbc(key, iv, { disablePadding: true }).encrypt(plaintext);
  },

  aesCbcDecrypt(key, iv, ciphertext) {
    checkAesKey(key);
    if (ciphertext.length % 16 !== 0) throw new RangeError('AES-CBC input must be a multiple of 16 octets');
    return cbc(key, iv, { disablePadding: true }).decrypt(ciphertext);
  },

  aesGcmSeal(key, nonce, aad, plaintext, tagLength) {
    checkAesKey(key);
    if (tagLength < 4 || tagLength > 16) throw new RangeError(`GCM tag length ${tagLength} out of range`);
    const sealed = gcm(key, nonce, aad).encrypt(plaintext);
    // A truncated GCM tag is the leading octets of the full tag (SP 800-38D §5.2.1.2).
    return sealed.subarray(0, plaintext.length + tagLength);
  },

  aesGcmOpen(key, nonce, aad, sealed, tagLength) {
    if (sealed.length < tagLength || tagLength < 4 || tagLength > 16) return null;
    try {
      checkAesKey(key);
      if (tagLength === 16) return gcm(key, nonce, aad).decrypt(sealed);
      // noble only checks full tags: decrypt with the GCM keystream, then recompute the tag.
      if (nonce.length !== 12) return null;
      const body = sealed.subarray(0, sealed.length - tagLength);
      const plaintext = ctr(key, gcmCounterBlock(nonce)).decrypt(body);
      const expected = gcm(key, nonce, aad).encrypt(plaintext).subarray(body.length, body.length + tagLength);
      return equalBytes(expected, sealed.subarray(body.length)) ? plaintext : null;
    } catch {
      return null;
    }
  },
};
