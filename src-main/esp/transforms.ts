// The cryptographic core of one ESP SA, in two interchangeable implementations: node:crypto
// (OpenSSL/BoringSSL, the packet path) and @noble (pure JS, the independent cross-check).
// Both work on a whole ESP packet laid out as
//   SPI ‖ Sequence Number ‖ IV ‖ ciphertext ‖ ICV
// so framing lives in sa.ts and only the transform differs.

import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { cbc, ctr, gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { EspKeyMaterial } from './keys.js';
import type { EspSuiteInfo } from './suites.js';

export type EspImpl = 'node' | 'noble';

/** Octets of SPI ‖ Sequence Number: the AAD of AES-GCM and the start of what HMAC covers. */
export const ESP_HEADER_LENGTH = 8;

export interface EspTransform {
  /**
   * Encrypts packet[8 + iv, end − icv) in place and writes the ICV into the last icv octets.
   * The header and IV must already be in place.
   */
  seal(packet: Uint8Array): void;
  /** The plaintext of packet's ciphertext, or null when the ICV does not verify. Never throws. */
  open(packet: Uint8Array): Uint8Array | null;
}

export function createEspTransform(info: EspSuiteInfo, keys: EspKeyMaterial, impl: EspImpl): EspTransform {
  if (keys.encKey.length !== info.encKeyLength || keys.authKey.length !== info.authKeyLength || keys.salt.length !== info.saltLength) {
    throw new RangeError(`key material does not fit ESP suite ${info.suite} (${info.name})`);
  }
  if (info.aead) return impl === 'node' ? new NodeGcm(info, keys) : new NobleGcm(info, keys);
  return impl === 'node' ? new NodeCbcHmac(info, keys) : new NobleCbcHmac(info, keys);
}

/** A plain Uint8Array view of a Buffer, so callers' deep equality and typing see one type. */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function asBuffer(u: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(u.buffer, u.byteOffset + start, end - start);
}

/** 12-octet GCM nonce: salt ‖ the packet's explicit IV (RFC 4106 §4). */
function gcmNonce(salt: Uint8Array, packet: Uint8Array): Buffer {
  const nonce = Buffer.allocUnsafe(12);
  nonce.set(salt, 0);
  nonce.set(packet.subarray(ESP_HEADER_LENGTH, ESP_HEADER_LENGTH + 8), 4);
  return nonce;
}

class NodeCbcHmac implements EspTransform {
  private readonly enc: KeyObject;
  private readonly auth: KeyObject;
  private readonly alg: string;

  constructor(private readonly info: EspSuiteInfo, keys: EspKeyMaterial) {
    this.enc = createSecretKey(keys.encKey);
    this.auth = createSecretKey(keys.authKey);
    this.alg = `aes-${info.encKeyLength * 8}-cbc`;
  }

  seal(packet: Uint8Array): void {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const cipher = createCipheriv(this.alg, this.enc, asBuffer(packet, ESP_HEADER_LENGTH, ctStart)).setAutoPadding(false);
    const ct = cipher.update(asBuffer(packet, ctStart, ctEnd));
    cipher.final();
    packet.set(ct, ctStart);
    // Encrypt-then-MAC over SPI ‖ seq ‖ IV ‖ ciphertext (RFC 4303 §3.3.4).
    const mac = createHmac('sha256', this.auth).update(asBuffer(packet, 0, ctEnd)).digest();
    packet.set(mac.subarray(0, icvLength), ctEnd);
  }

  open(packet: Uint8Array): Uint8Array | null {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const mac = createHmac('sha256', this.auth).update(asBuffer(packet, 0, ctEnd)).digest();
    if (!timingSafeEqual(mac.subarray(0, icvLength), asBuffer(packet, ctEnd, packet.length))) return null;
    try {
      const decipher = createDecipheriv(this.alg, this.enc, asBuffer(packet, ESP_HEADER_LENGTH, ctStart)).setAutoPadding(false);
      const pt = decipher.update(asBuffer(packet, ctStart, ctEnd));
      decipher.final();
      return plain(pt);
    } catch {
      return null; // ciphertext not a whole number of blocks
    }
  }
}

class NodeGcm implements EspTransform {
  private readonly key: KeyObject;
  private readonly alg: 'aes-128-gcm' | 'aes-256-gcm';

  constructor(private readonly info: EspSuiteInfo, private readonly keys: EspKeyMaterial) {
    this.key = createSecretKey(keys.encKey);
    this.alg = keys.encKey.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm';
  }

  seal(packet: Uint8Array): void {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const cipher = createCipheriv(this.alg, this.key, gcmNonce(this.keys.salt, packet), { authTagLength: icvLength });
    cipher.setAAD(asBuffer(packet, 0, ESP_HEADER_LENGTH));
    const ct = cipher.update(asBuffer(packet, ctStart, ctEnd));
    cipher.final();
    packet.set(ct, ctStart);
    packet.set(cipher.getAuthTag(), ctEnd);
  }

  open(packet: Uint8Array): Uint8Array | null {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    try {
      const decipher = createDecipheriv(this.alg, this.key, gcmNonce(this.keys.salt, packet), { authTagLength: icvLength });
      decipher.setAAD(asBuffer(packet, 0, ESP_HEADER_LENGTH));
      decipher.setAuthTag(asBuffer(packet, ctEnd, packet.length));
      const pt = decipher.update(asBuffer(packet, ctStart, ctEnd));
      decipher.final(); // throws when the tag does not verify
      return plain(pt);
    } catch {
      return null;
    }
  }
}

class NobleCbcHmac implements EspTransform {
  constructor(private readonly info: EspSuiteInfo, private readonly keys: EspKeyMaterial) {}

  seal(packet: Uint8Array): void {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const iv = packet.slice(ESP_HEADER_LENGTH, ctStart);
    const ct = cbc(this.keys.encKey, iv, { disablePadding: true }).encrypt(packet.subarray(ctStart, ctEnd));
    packet.set(ct, ctStart);
    const mac = hmac(sha256, this.keys.authKey, packet.subarray(0, ctEnd));
    packet.set(mac.subarray(0, icvLength), ctEnd);
  }

  open(packet: Uint8Array): Uint8Array | null {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const mac = hmac(sha256, this.keys.authKey, packet.subarray(0, ctEnd));
    if (!timingSafeEqual(mac.subarray(0, icvLength), packet.subarray(ctEnd))) return null;
    try {
      const iv = packet.slice(ESP_HEADER_LENGTH, ctStart);
      return cbc(this.keys.encKey, iv, { disablePadding: true }).decrypt(packet.slice(ctStart, ctEnd));
    } catch {
      return null;
    }
  }
}

class NobleGcm implements EspTransform {
  constructor(private readonly info: EspSuiteInfo, private readonly keys: EspKeyMaterial) {}

  seal(packet: Uint8Array): void {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const aad = packet.slice(0, ESP_HEADER_LENGTH);
    // noble always produces the full 16-octet tag; a truncated ICV is its leading octets.
    const sealed = gcm(this.keys.encKey, gcmNonce(this.keys.salt, packet), aad).encrypt(packet.slice(ctStart, ctEnd));
    packet.set(sealed.subarray(0, ctEnd - ctStart), ctStart);
    packet.set(sealed.subarray(ctEnd - ctStart, ctEnd - ctStart + icvLength), ctEnd);
  }

  open(packet: Uint8Array): Uint8Array | null {
    const { ivLength, icvLength } = this.info;
    const ctStart = ESP_HEADER_LENGTH + ivLength;
    const ctEnd = packet.length - icvLength;
    const nonce = gcmNonce(this.keys.salt, packet);
    const aad = packet.slice(0, ESP_HEADER_LENGTH);
    try {
      if (icvLength === 16) return gcm(this.keys.encKey, nonce, aad).decrypt(packet.slice(ctStart));
      // noble verifies only full tags: decrypt with the GCM keystream (counter block
      // salt ‖ IV ‖ 2 onward), recompute the full tag and compare its leading octets.
      const counter = new Uint8Array(16);
      counter.set(nonce, 0);
      counter[15] = 2;
      const pt = ctr(this.keys.encKey, counter).decrypt(packet.slice(ctStart, ctEnd));
      const resealed = gcm(this.keys.encKey, nonce, aad).encrypt(pt);
      const tag = resealed.subarray(pt.length, pt.length + icvLength);
      return timingSafeEqual(tag, packet.subarray(ctEnd)) ? pt : null;
    } catch {
      return null;
    }
  }
}
