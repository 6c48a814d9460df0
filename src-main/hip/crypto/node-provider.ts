// The fast provider: node:crypto (OpenSSL in node, BoringSSL in Electron) for everything it has.
// node lacks cSHAKE128 and strict Ed25519 point decoding, so those two come from @noble (design §4).

import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  constants,
  type KeyObject,
} from 'node:crypto';
import { cshake128 } from '@noble/hashes/sha3-addons.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  curveFieldLength,
  hashLength,
  isSaneRsaPublicKey,
  type CryptoProvider,
  type EcCurveName,
  type EcdhKeyPair,
  type SigningKey,
  type SigningKeyKind,
  type VerifyingKey,
} from './provider.js';

const OPENSSL_CURVE: Record<EcCurveName, string> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
};

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const fromB64u = (text: string | undefined): Uint8Array => new Uint8Array(Buffer.from(text ?? '', 'base64url'));
const u8 = (buf: Buffer): Uint8Array => new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);

/** OpenSSL drops leading zero octets of big numbers; HIP encodings are fixed-width. */
function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === length) return bytes;
  if (bytes.length > length) return bytes.subarray(bytes.length - length);
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

// Building a KeyObject costs more than a signature check on small inputs; host keys are few and
// long-lived, so cache per key object.
const privateKeyCache = new WeakMap<SigningKey, KeyObject>();
const publicKeyCache = new WeakMap<VerifyingKey, KeyObject>();

function privateKeyObject(key: SigningKey): KeyObject {
  const cached = privateKeyCache.get(key);
  if (cached) return cached;
  let obj: KeyObject;
  switch (key.algorithm) {
    case 'ecdsa': {
      const n = curveFieldLength(key.curve);
      obj = createPrivateKey({
        key: {
          kty: 'EC', crv: key.curve,
          d: b64u(key.privateKey),
          x: b64u(key.publicKey.subarray(0, n)),
          y: b64u(key.publicKey.subarray(n)),
        },
        format: 'jwk',
      });
      break;
    }
    case 'ed25519':
      obj = createPrivateKey({
        key: { kty: 'OKP', crv: 'Ed25519', d: b64u(key.privateKey), x: b64u(key.publicKey) },
        format: 'jwk',
      });
      break;
    case 'rsa':
      obj = createPrivateKey({ key: Buffer.from(key.pkcs8Der), format: 'der', type: 'pkcs8' });
      break;
  }
  privateKeyCache.set(key, obj);
  return obj;
}

/** Throws on keys OpenSSL refuses (for EC: points off the curve). */
function publicKeyObject(key: VerifyingKey): KeyObject {
  const cached = publicKeyCache.get(key);
  if (cached) return cached;
  let obj: KeyObject;
  switch (key.algorithm) {
    case 'ecdsa': {
      const n = curveFieldLength(key.curve);
      if (key.publicKey.length !== 2 * n) throw new RangeError('bad EC public key length');
      obj = createPublicKey({
        key: { kty: 'EC', crv: key.curve, x: b64u(key.publicKey.subarray(0, n)), y: b64u(key.publicKey.subarray(n)) },
        format: 'jwk',
      });
      break;
    }
    case 'ed25519':
      if (key.publicKey.length !== 32) throw new RangeError('bad Ed25519 public key length');
      obj = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(key.publicKey) }, format: 'jwk' });
      break;
    case 'rsa':
      obj = createPublicKey({ key: { kty: 'RSA', n: b64u(key.modulus), e: b64u(key.exponent) }, format: 'jwk' });
      break;
  }
  publicKeyCache.set(key, obj);
  return obj;
}

function isValidEd25519Point(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    const point = ed25519.Point.fromBytes(publicKey, false); // strict RFC 8032 decoding, as OpenSSL verifies
    // A small-order key lets anyone forge signatures that verify for it.
    return !point.isSmallOrder();
  } catch {
    return false;
  }
}

function aesCbcName(key: Uint8Array): string {
  switch (key.length) {
    case 16: return 'aes-128-cbc';
    case 24: return 'aes-192-cbc';
    case 32: return 'aes-256-cbc';
    default: throw new RangeError(`AES key must be 16, 24 or 32 octets, got ${key.length}`);
  }
}

function aesGcmName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16: return 'aes-128-gcm';
    case 24: return 'aes-192-gcm';
    case 32: return 'aes-256-gcm';
    default: throw new RangeError(`AES key must be 16, 24 or 32 octets, got ${key.length}`);
  }
}

export const nodeProvider: CryptoProvider = {
  name: 'node',

  randomBytes(length) {
    return u8(nodeRandomBytes(length));
  },

  hash(name, data) {
    return u8(createHash(name).update(data).digest());
  },

  hmac(name, key, data) {
    return u8(createHmac(name, key).update(data).digest());
  },

  cshake128(data, customization, outputLength) {
    return cshake128(data, { personalization: customization, dkLen: outputLength });
  },

  generateSigningKey(kind: SigningKeyKind): SigningKey {
    switch (kind) {
      case 'ecdsa-p256':
      case 'ecdsa-p384': {
        const curve = kind === 'ecdsa-p256' ? 'P-256' : 'P-384';
        const n = curveFieldLength(curve);
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: OPENSSL_CURVE[curve] });
        const jwk = privateKey.export({ format: 'jwk' });
        const publicKey = new Uint8Array(2 * n);
        publicKey.set(leftPad(fromB64u(jwk.x), n), 0);
        publicKey.set(leftPad(fromB64u(jwk.y), n), n);
        return { algorithm: 'ecdsa', curve, privateKey: leftPad(fromB64u(jwk.d), n), publicKey };
      }
      case 'ed25519': {
        const { privateKey } = generateKeyPairSync('ed25519');
        const jwk = privateKey.export({ format: 'jwk' });
        return { algorithm: 'ed25519', privateKey: fromB64u(jwk.d), publicKey: fromB64u(jwk.x) };
      }
      case 'rsa': {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
        const jwk = privateKey.export({ format: 'jwk' });
        const pkcs8Der = u8(privateKey.export({ format: 'der', type: 'pkcs8' }));
        return { algorithm: 'rsa', pkcs8Der, modulus: fromB64u(jwk.n), exponent: fromB64u(jwk.e) };
      }
    }
  },

  isValidVerifyingKey(key) {
    try {
      switch (key.algorithm) {
        case 'ecdsa':
          publicKeyObject(key); // OpenSSL rejects points not on the curve when importing
          return true;
        case 'ed25519':
          return isValidEd25519Point(key.publicKey);
        case 'rsa':
          if (!isSaneRsaPublicKey(key.modulus, key.exponent)) return false;
          publicKeyObject(key);
          return true;
      }
    } catch {
      return false;
    }
  },

  ecdhGenerate(curve) {
    const n = curveFieldLength(curve);
    const ecdh = createECDH(OPENSSL_CURVE[curve]);
    ecdh.generateKeys();
    const publicKey = u8(ecdh.getPublicKey()).subarray(1); // drop the 0x04 "uncompressed" octet
    return { curve, privateKey: leftPad(u8(ecdh.getPrivateKey()), n), publicKey } satisfies EcdhKeyPair;
  },

  ecdhCompute(own, peerPublicKey) {
    const n = curveFieldLength(own.curve);
    if (peerPublicKey.length !== 2 * n) return null;
    try {
      const ecdh = createECDH(OPENSSL_CURVE[own.curve]);
      ecdh.setPrivateKey(own.privateKey);
      const point = new Uint8Array(1 + 2 * n);
      point[0] = 0x04;
      point.set(peerPublicKey, 1);
      return leftPad(u8(ecdh.computeSecret(point)), n);
    } catch {
      return null; // OpenSSL refuses points that are not on the curve
    }
  },

  sign(key, hash, data) {
    const keyObject = privateKeyObject(key);
    switch (key.algorithm) {
      case 'ecdsa':
        return u8(nodeSign(hash, data, { key: keyObject, dsaEncoding: 'ieee-p1363' }));
      case 'ed25519':
        return u8(nodeSign(null, data, keyObject));
      case 'rsa':
        return u8(nodeSign(hash, data, {
          key: keyObject,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: hashLength(hash),
        }));
    }
  },

  verify(key, hash, data, signature) {
    try {
      switch (key.algorithm) {
        case 'ecdsa':
          if (signature.length !== 2 * curveFieldLength(key.curve)) return false;
          return nodeVerify(hash, data, { key: publicKeyObject(key), dsaEncoding: 'ieee-p1363' }, signature);
        case 'ed25519':
          if (signature.length !== 64 || !isValidEd25519Point(key.publicKey)) return false;
          return nodeVerify(null, data, publicKeyObject(key), signature);
        case 'rsa':
          if (!isSaneRsaPublicKey(key.modulus, key.exponent) || signature.length !== key.modulus.length) return false;
          return nodeVerify(hash, data, {
            key: publicKeyObject(key),
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: hashLength(hash),
          }, signature);
      }
    } catch {
      return false;
    }
  },

  aesCbcEncrypt(key, iv, plaintext) {
    if (plaintext.length % 16 !== 0) throw new RangeError('AES-CBC input must be a multiple of 16 octets');
    const cipher = createCipheriv(aesCbcName(key), key, iv).setAutoPadding(false);
    return u8(Buffer.concat([cipher.update(plaintext), cipher.final()]));
  },

  aesCbcDecrypt(key, iv, ciphertext) {
    if (ciphertext.length % 16 !== 0) throw new RangeError('AES-CBC input must be a multiple of 16 octets');
    const decipher = createDecipheriv(aesCbcName(key), key, iv).setAutoPadding(false);
    return u8(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  },

  aesGcmSeal(key, nonce, aad, plaintext, tagLength) {
    const cipher = createCipheriv(aesGcmName(key), key, nonce, { authTagLength: tagLength });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return u8(Buffer.concat([body, cipher.getAuthTag()]));
  },

  aesGcmOpen(key, nonce, aad, sealed, tagLength) {
    if (sealed.length < tagLength) return null;
    const split = sealed.length - tagLength;
    try {
      const decipher = createDecipheriv(aesGcmName(key), key, nonce, { authTagLength: tagLength });
      decipher.setAAD(aad);
      decipher.setAuthTag(sealed.subarray(split));
      return u8(Buffer.concat([decipher.update(sealed.subarray(0, split)), decipher.final()]));
    } catch {
      return null;
    }
  },
};

