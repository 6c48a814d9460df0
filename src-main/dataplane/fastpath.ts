// The JS side of the native ESP fast path (native/src/fastpath.c): which SAs it may hold, how
// an SA install becomes a table entry there, and the sealer the JS core uses for the odd packet
// it sends itself on such an SA. The packet threads live in C; this is configuration only.

import { EspSuite } from '../hip/wire/constants.js';
import { DEFAULT_OUTBOUND_LIFETIME_MS, ESP_SEQ_REKEY_THRESHOLD, espSuiteInfo } from '../esp/index.js';
import type { FastPathEvent, FastPathHandle, FastPathStats, NativeIo } from '../platform/native.js';
import { SealDropError, type OutboundSealer, type PeerRoute, type SaInstall } from './core.js';

/** Suites the fast path seals and opens; everything else (AES-CBC + HMAC) stays in JS. */
const FAST_SUITES: ReadonlySet<number> = new Set([EspSuite.AES_GCM_8, EspSuite.AES_GCM_16]);

export interface FastPathTuning {
  /** needsRekey thresholds, as EspOutboundSa's (tests shorten them). */
  lifetimeMs?: number;
  seqRekeyThreshold?: number;
  /** First sequence number of a new SA (tests start near the limit). */
  nextSeq?: number;
}

/**
 * The addon's queue of sealed datagrams whose send failed with the interface gone
 * (native fastpath_napi.c fpTakeStranded); addons built before it lack the call.
 */
export interface StrandedIo {
  fpTakeStranded(
    fp: FastPathHandle, buf: Uint8Array, lengths: Uint32Array, slotSize: number, addrs16: Uint8Array, ports: Uint16Array, sockets: Uint8Array,
  ): number;
}

export function takesStranded(io: NativeIo): io is NativeIo & StrandedIo {
  return typeof (io as Partial<StrandedIo>).fpTakeStranded === 'function';
}

/** Why the fast path cannot run here, or null when it can. */
export function fastPathUnavailable(io: NativeIo): string | null {
  const status = io.cryptoStatus();
  return status.available ? null : status.reason;
}

export class NativeFastPath {
  private stopped = false;

  private constructor(private readonly io: NativeIo, readonly handle: FastPathHandle, private readonly tuning: FastPathTuning) {}

  /**
   * Tables plus, when `tunFd` ≥ 0, the two packet threads on the TUN and the sockets (which
   * must then no longer be read from JS). `onWake` runs on this thread when events or packets
   * for JS are queued.
   */
  static create(
    io: NativeIo,
    opts: { tunFd: number; socketFds: number[]; ownHit: Uint8Array; ownLsi: number; slotSize: number; onWake: () => void } & FastPathTuning,
  ): NativeFastPath {
    const handle = io.fpCreate(opts.tunFd, Int32Array.from(opts.socketFds), opts.ownHit, opts.ownLsi, opts.slotSize, opts.onWake);
    return new NativeFastPath(io, handle, opts);
  }

  static handles(suite: number): boolean {
    return FAST_SUITES.has(suite);
  }

  /**
   * Takes over an SA pair when its suite allows; returns the sealer the JS core must use for
   * it, or undefined (the JS core keeps the pair, and this peer's traffic comes up to JS).
   */
  install(i: SaInstall, socketIndex: number): OutboundSealer | undefined {
    const info = espSuiteInfo(i.outbound.suite);
    if (this.stopped || !info || !NativeFastPath.handles(i.outbound.suite) || i.inbound.suite !== i.outbound.suite) {
      this.dropOutbound(i.hit);
      return undefined;
    }
    const ok = this.io.fpInstall(
      this.handle, i.hit, i.lsi, info.icvLength,
      i.outbound.spi, i.outbound.keys.encKey, i.outbound.keys.salt,
      i.inbound.spi, i.inbound.keys.encKey, i.inbound.keys.salt,
      i.remoteAddr16, i.remote.port, socketIndex,
      this.tuning.lifetimeMs ?? DEFAULT_OUTBOUND_LIFETIME_MS,
      this.tuning.seqRekeyThreshold ?? ESP_SEQ_REKEY_THRESHOLD,
      this.tuning.nextSeq ?? 1,
    );
    if (!ok) {
      this.dropOutbound(i.hit);
      return undefined;
    }
    const hit = i.hit.slice();
    return {
      seal: (payload, nextHeader) => {
        const r = this.io.fpSeal(this.handle, hit, payload, nextHeader);
        if (typeof r === 'string') throw new SealDropError(r);
        return r;
      },
      // The fast path raises 'rekey-needed' itself, for its own packets and these alike.
      needsRekey: () => false,
    };
  }

  dropOutbound(hit: Uint8Array): void {
    if (!this.stopped) this.io.fpDropOutbound(this.handle, hit);
  }

  dropSas(hit: Uint8Array): void {
    if (!this.stopped) this.io.fpDropSas(this.handle, hit);
  }

  retireInbound(spi: number, afterMs: number): void {
    if (!this.stopped) this.io.fpRetireInbound(this.handle, spi, afterMs);
  }

  setPath(hit: Uint8Array, remoteAddr16: Uint8Array, port: number, socketIndex: number): void {
    if (!this.stopped) this.io.fpSetPath(this.handle, hit, remoteAddr16, port, socketIndex);
  }

  setRoutes(routes: PeerRoute[]): void {
    if (this.stopped) return;
    for (const r of routes) this.io.fpSetLsi(this.handle, r.hit, r.lsi);
  }

  tick(): void {
    if (!this.stopped) this.io.fpTick(this.handle);
  }

  poll(): FastPathEvent[] {
    return this.io.fpPoll(this.handle);
  }

  stats(): FastPathStats {
    return this.io.fpStats(this.handle);
  }

  /** Joins the packet threads; call before closing the fds they use. Stats stay readable. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.io.fpStop(this.handle);
  }
}
