// ESP security associations for HIP (RFC 4303 as profiled by RFC 7402, BEET mode): the packet
// carries the inner packet's transport payload, the trailer's Next Header says what it is, and
// the inner IP header is rebuilt outside from the HITs/LSIs. 32-bit sequence numbers only (HIP
// negotiates no ESN). Over UDP (RFC 9028) the packet goes as is: SPI first, never 0.
// Sans-IO: time comes in as `now` (ms); nothing here reads a clock or touches a socket.

import { randomFillSync } from 'node:crypto';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay-window.js';
import type { EspKeyMaterial } from './keys.js';
import { espSuiteInfo, type EspSuiteInfo } from './suites.js';
import { createEspTransform, ESP_HEADER_LENGTH, type EspImpl, type EspTransform } from './transforms.js';

/** Last sequence number a sender may use: the counter must never cycle (RFC 4303 §3.3.3). */
export const ESP_SEQ_MAX = 0xffffffff;
/**
 * needsRekey() turns true here, 16.7 million packets before the hard stop: at 1 Gbit/s of
 * 1400-octet packets that is about three minutes for an UPDATE rekey to finish.
 */
export const ESP_SEQ_REKEY_THRESHOLD = 2 ** 32 - 2 ** 24;
/** Default soft lifetime of an outbound SA: time-based rekeying bounds what one key protects. */
export const DEFAULT_OUTBOUND_LIFETIME_MS = 60 * 60 * 1000;
/** SPIs 1–255 are reserved by IANA and 0 marks HIP control traffic on the UDP port. */
export const MIN_ESP_SPI = 256;

export type EspDropReason = 'truncated' | 'spi-mismatch' | 'replay' | 'too-old' | 'auth-failed' | 'bad-padding' | 'expired';

export type EspOpenResult =
  | { ok: true; payload: Uint8Array; nextHeader: number; seq: number }
  | { ok: false; reason: EspDropReason };

export function isAllowedSpi(spi: number): boolean {
  return Number.isInteger(spi) && spi >= MIN_ESP_SPI && spi <= 0xffffffff;
}

/**
 * The SPI of an ESP packet for demultiplexing, or null when the datagram cannot be ESP (shorter
 * than SPI ‖ sequence number, or the zero SPI that marks HIP control packets, RFC 9028 §5.1).
 */
export function espSpi(packet: Uint8Array): number | null {
  if (packet.length < ESP_HEADER_LENGTH) return null;
  const spi = readU32(packet, 0);
  return spi === 0 ? null : spi;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function suiteOrThrow(suite: number): EspSuiteInfo {
  const info = espSuiteInfo(suite);
  if (!info) throw new RangeError(`unsupported ESP suite ${suite}`);
  return info;
}

function spiOrThrow(spi: number): number {
  if (!isAllowedSpi(spi)) throw new RangeError(`ESP SPI must be in [${MIN_ESP_SPI}, 2^32 − 1], got ${spi}`);
  return spi;
}

export interface EspOutboundSaOptions {
  spi: number;
  suite: number;
  keys: EspKeyMaterial;
  createdAt: number;
  /** After this long needsRekey() is true; sealing still works. Default one hour. */
  lifetimeMs?: number;
  seqRekeyThreshold?: number;
  /** Sequence number of the next packet; 1 for a new SA. Tests use it to start near the limit. */
  nextSeq?: number;
  impl?: EspImpl;
}

export class EspOutboundSa {
  readonly spi: number;
  readonly suite: EspSuiteInfo;
  readonly createdAt: number;
  readonly lifetimeMs: number;
  readonly seqRekeyThreshold: number;
  private readonly transform: EspTransform;
  private lastSeq: number;
  private sealedPackets = 0;
  private sealedBytes = 0;
  private lastSealed: number | null = null;

  constructor(opts: EspOutboundSaOptions) {
    this.spi = spiOrThrow(opts.spi);
    this.suite = suiteOrThrow(opts.suite);
    this.createdAt = opts.createdAt;
    this.lifetimeMs = opts.lifetimeMs ?? DEFAULT_OUTBOUND_LIFETIME_MS;
    this.seqRekeyThreshold = opts.seqRekeyThreshold ?? ESP_SEQ_REKEY_THRESHOLD;
    const nextSeq = opts.nextSeq ?? 1;
    if (!Number.isInteger(nextSeq) || nextSeq < 1 || nextSeq > ESP_SEQ_MAX + 1) throw new RangeError(`bad nextSeq ${nextSeq}`);
    this.lastSeq = nextSeq - 1;
    this.transform = createEspTransform(this.suite, opts.keys, opts.impl ?? 'node');
  }

  /** Sequence number of the last packet sealed (0 before the first). */
  get seq(): number {
    return this.lastSeq;
  }

  get packets(): number {
    return this.sealedPackets;
  }

  /** Payload octets sealed (before padding and ESP overhead). */
  get bytes(): number {
    return this.sealedBytes;
  }

  /** When the last packet was sealed (null before the first): NAT keepalives are skipped while ESP flows. */
  get lastSealedAt(): number | null {
    return this.lastSealed;
  }

  /** Octets an ESP packet adds to a payload of this length (header, IV, padding, trailer, ICV). */
  overhead(payloadLength: number): number {
    return this.packetLength(payloadLength) - payloadLength;
  }

  /** True once the SA should be replaced by an UPDATE rekey: near the sequence limit or old. */
  needsRekey(now: number): boolean {
    return this.lastSeq >= this.seqRekeyThreshold || now - this.createdAt >= this.lifetimeMs;
  }

  /**
   * One ESP packet carrying `payload` with the trailer's Next Header. Throws once the sequence
   * number space is used up: the engine must have installed a new SA before that.
   */
  seal(payload: Uint8Array, nextHeader: number, now: number): Uint8Array {
    if (!Number.isInteger(nextHeader) || nextHeader < 0 || nextHeader > 255) throw new RangeError(`bad next header ${nextHeader}`);
    if (this.lastSeq >= ESP_SEQ_MAX) throw new Error(`ESP SA ${this.spi}: sequence numbers exhausted, rekey required`);
    const seq = this.lastSeq + 1;
    const { ivLength, blockSize, aead } = this.suite;
    const padLength = (blockSize - ((payload.length + 2) % blockSize)) % blockSize;
    const packet = new Uint8Array(this.packetLength(payload.length));
    writeU32(packet, 0, this.spi);
    writeU32(packet, 4, seq);
    const ivStart = ESP_HEADER_LENGTH;
    if (aead) {
      // RFC 4106 needs only uniqueness per key: the sequence number (zero-extended to 64 bits)
      // never repeats within an SA.
      writeU32(packet, ivStart + 4, seq);
    } else {
      randomFillSync(packet, ivStart, ivLength); // CBC needs an unpredictable IV (RFC 3602)
    }
    let at = ivStart + ivLength;
    packet.set(payload, at);
    at += payload.length;
    for (let i = 1; i <= padLength; i++) packet[at++] = i; // RFC 4303 §2.4 default padding
    packet[at++] = padLength;
    packet[at] = nextHeader;
    this.transform.seal(packet);
    this.lastSeq = seq;
    this.sealedPackets++;
    this.sealedBytes += payload.length;
    this.lastSealed = now;
    return packet;
  }

  private packetLength(payloadLength: number): number {
    const { ivLength, icvLength, blockSize } = this.suite;
    const padded = Math.ceil((payloadLength + 2) / blockSize) * blockSize;
    return ESP_HEADER_LENGTH + ivLength + padded + icvLength;
  }
}

export interface EspInboundSaOptions {
  spi: number;
  suite: number;
  keys: EspKeyMaterial;
  createdAt: number;
  /**
   * Hard lifetime: packets arriving this long after createdAt are dropped as 'expired'. Default
   * none, because HIP peers rekey on their own schedule; the engine shortens it with expireAt()
   * once a rekey has replaced this SA and stragglers have had time to arrive.
   */
  lifetimeMs?: number;
  replayWindowSize?: number;
  impl?: EspImpl;
}

export class EspInboundSa {
  readonly spi: number;
  readonly suite: EspSuiteInfo;
  readonly createdAt: number;
  readonly counters: Record<EspDropReason | 'accepted', number> = {
    accepted: 0, truncated: 0, 'spi-mismatch': 0, replay: 0, 'too-old': 0, 'auth-failed': 0, 'bad-padding': 0, expired: 0,
  };
  private readonly transform: EspTransform;
  private readonly window: ReplayWindow;
  private readonly minLength: number;
  private expiresAt: number;
  private acceptedBytes = 0;
  private lastAccepted: number | null = null;

  constructor(opts: EspInboundSaOptions) {
    this.spi = spiOrThrow(opts.spi);
    this.suite = suiteOrThrow(opts.suite);
    this.createdAt = opts.createdAt;
    this.expiresAt = opts.lifetimeMs === undefined ? Infinity : opts.createdAt + opts.lifetimeMs;
    this.window = new ReplayWindow(opts.replayWindowSize ?? DEFAULT_REPLAY_WINDOW);
    this.transform = createEspTransform(this.suite, opts.keys, opts.impl ?? 'node');
    // Smallest ciphertext: one cipher block for CBC; pad length ‖ next header for GCM, where we
    // do not insist on the 4-octet alignment a careful sender keeps.
    const minCiphertext = this.suite.aead ? 2 : this.suite.blockSize;
    this.minLength = ESP_HEADER_LENGTH + this.suite.ivLength + minCiphertext + this.suite.icvLength;
  }

  /** Payload octets of accepted packets. */
  get bytes(): number {
    return this.acceptedBytes;
  }

  /** When the last authenticated packet arrived (null before the first): the path-liveness signal. */
  get lastAcceptedAt(): number | null {
    return this.lastAccepted;
  }

  /** Highest sequence number accepted so far. */
  get highestSeq(): number {
    return this.window.highest;
  }

  /** Drop everything from `at` on; e.g. a grace period after a rekey replaced this SA. */
  expireAt(at: number): void {
    this.expiresAt = Math.min(this.expiresAt, at);
  }

  isExpired(now: number): boolean {
    return now >= this.expiresAt;
  }

  /**
   * Verifies and decrypts one ESP packet. Never throws; a dropped packet leaves the replay
   * window as it was (RFC 4303 §3.4.3: only authenticated packets move it).
   */
  open(packet: Uint8Array, now: number): EspOpenResult {
    const r = this.openInner(packet, now);
    this.counters[r.ok ? 'accepted' : r.reason]++;
    return r;
  }

  private openInner(packet: Uint8Array, now: number): EspOpenResult {
    if (!(packet instanceof Uint8Array) || packet.length < ESP_HEADER_LENGTH) return { ok: false, reason: 'truncated' };
    if (readU32(packet, 0) !== this.spi) return { ok: false, reason: 'spi-mismatch' };
    const ctLength = packet.length - ESP_HEADER_LENGTH - this.suite.ivLength - this.suite.icvLength;
    if (packet.length < this.minLength || (!this.suite.aead && ctLength % this.suite.blockSize !== 0)) {
      return { ok: false, reason: 'truncated' };
    }
    if (now >= this.expiresAt) return { ok: false, reason: 'expired' };
    const seq = readU32(packet, 4);
    // Checked before the (costly) ICV so floods of replays are cheap to drop.
    const verdict = this.window.check(seq);
    if (verdict !== 'ok') return { ok: false, reason: verdict };
    const pt = this.transform.open(packet);
    if (pt === null) return { ok: false, reason: 'auth-failed' };
    const padLength = pt[pt.length - 2]!;
    const nextHeader = pt[pt.length - 1]!;
    const payloadLength = pt.length - 2 - padLength;
    if (payloadLength < 0) return { ok: false, reason: 'bad-padding' };
    // The sender authenticated these octets, so a mismatch is its bug, not an attack; still,
    // a payload whose end we cannot trust is not worth delivering.
    for (let i = 0; i < padLength; i++) {
      if (pt[payloadLength + i] !== i + 1) return { ok: false, reason: 'bad-padding' };
    }
    this.window.accept(seq);
    this.acceptedBytes += payloadLength;
    this.lastAccepted = now;
    return { ok: true, payload: pt.subarray(0, payloadLength), nextHeader, seq };
  }
}
