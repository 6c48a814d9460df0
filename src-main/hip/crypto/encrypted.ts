// The content of the ENCRYPTED parameter (RFC 7401 §5.2.18): IV ‖ ciphertext of one or more
// complete, 8-octet-padded HIP parameters. AES-CBC needs whole blocks and AES specifies PKCS#5
// padding (n octets of value n, 1 ≤ n ≤ 16), which the RFC names for this parameter; the NULL
// cipher carries the parameters as they are, with no IV.

import { HipCipher } from '../wire/constants.js';
import type { CryptoProvider } from './provider.js';
import { hipCipherKeyLength } from './keymat.js';

const AES_BLOCK = 16;

function ivLength(hipCipherId: number): number | null {
  switch (hipCipherId) {
    case HipCipher.NULL: return 0;
    case HipCipher.AES_128_CBC:
    case HipCipher.AES_256_CBC: return AES_BLOCK;
    default: return null;
  }
}

/** Whether `bytes` is exactly a run of TLVs, each padded to 8 octets (RFC 7401 §5.2.1). */
function isWholeParams(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 4) return false;
    const length = (bytes[off + 2]! << 8) | bytes[off + 3]!;
    const total = (4 + length + 7) & ~7;
    if (off + total > bytes.length) return false;
    off += total;
  }
  return true;
}

/**
 * Encrypts whole parameters (`plaintextTlv`: one or more padded TLVs) for ENCRYPTED.data.
 * Throws on programming errors (unknown cipher, wrong key size, unpadded TLVs).
 */
export function encryptParam(provider: CryptoProvider, hipCipherId: number, key: Uint8Array, plaintextTlv: Uint8Array): Uint8Array {
  const ivLen = ivLength(hipCipherId);
  const keyLen = hipCipherKeyLength(hipCipherId);
  if (ivLen === null || keyLen === null) throw new RangeError(`unknown HIP_CIPHER ${hipCipherId}`);
  if (key.length !== keyLen) throw new RangeError(`HIP_CIPHER ${hipCipherId} needs a ${keyLen}-octet key, got ${key.length}`);
  if (!isWholeParams(plaintextTlv)) throw new RangeError('ENCRYPTED must carry whole, 8-octet-padded parameters');
  if (hipCipherId === HipCipher.NULL) return plaintextTlv.slice();

  const pad = AES_BLOCK - (plaintextTlv.length % AES_BLOCK);
  const padded = new Uint8Array(plaintextTlv.length + pad);
  padded.set(plaintextTlv);
  padded.fill(pad, plaintextTlv.length);
  const iv = provider.randomBytes(ivLen);
  const ciphertext = provider.aesCbcEncrypt(key, iv, padded);
  const out = new Uint8Array(ivLen + ciphertext.length);
  out.set(iv);
  out.set(ciphertext, ivLen);
  return out;
}

/**
 * The parameters inside ENCRYPTED.data, or null on anything inconsistent: unknown cipher, wrong
 * key size, a length that is not whole blocks, bad padding, or contents that are not whole TLVs.
 * CBC has no integrity of its own; HIP_MAC / HIP_SIGNATURE over the packet provide it.
 */
export function decryptParam(provider: CryptoProvider, hipCipherId: number, key: Uint8Array, data: Uint8Array): Uint8Array | null {
  const ivLen = ivLength(hipCipherId);
  const keyLen = hipCipherKeyLength(hipCipherId);
  if (ivLen === null || keyLen === null || key.length !== keyLen) return null;
  if (hipCipherId === HipCipher.NULL) return isWholeParams(data) ? data.slice() : null;

  const body = data.length - ivLen;
  if (body < AES_BLOCK || body % AES_BLOCK !== 0) return null;
  let padded: Uint8Array;
  try {
    padded = provider.aesCbcDecrypt(key, data.subarray(0, ivLen), data.subarray(ivLen));
  } catch {
    return null;
  }
  const pad = padded[padded.length - 1]!;
  if (pad < 1 || pad > AES_BLOCK) return null;
  for (let p = padded.length - pad; p < padded.length; p++) if (padded[p] !== pad) return null;
  const plaintext = padded.slice(0, padded.length - pad);
  return isWholeParams(plaintext) ? plaintext : null;
}
