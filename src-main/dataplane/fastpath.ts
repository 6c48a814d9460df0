// The JS side of the native ESP fast path (native/src/fastpath.c): which SAs it may hold, how
// an SA install becomes a table entry there, and the sealer the JS core uses for the odd packet
// it sends itself on such an SA. The packet threads live in C; this is configuration only.

import { EspSuite } from '../esp/suites.js';
import { DEFAULT_OUTBOUND_LIFETIME_MS, ESP_SEQ_REKEY_THRESHOLD, espSuiteInfo, type EspKeyMaterial } from '../esp/index.js';
import type { FastPathEvent, FastPathHandle, FastPathStats, NativeIo } from '../platform/native.js';
import { SealDropError, type OutboundSealer, type PeerRoute, type SaInstall } from './core-contract.js';

/** Suites the fast path seals and opens; everything else (AES-CBC + HMAC) stays in JS. */
const FAST_SUITES: ReadonlySet<number> = new Set([EspSuite.AES_GCM_8, EspSuite.AES_GCM_16]);

export interface FastPathTuning {
  /** needsRekey thresholds, as EspOutboundSa's (tests shorten them). */
  lifetimeMs?: number;
  seqRekeyThreshold?: number;
  /** First sequence number of a new SA (tests start near the limit). */
  nextSeq?: number;
}

/** In a stranded entry's socket index: a copy of a datagram that was sent (its peer is held), not a failed send. */
export const STRANDED_HELD_FLAG = 0x80;

/** Why the fast path cannot run here, or null when it can. */
export function fastPathUnavailable(io: NativeIo): string | null {
  const status = io.cryptoStatus();
  return status.available ? null : status.reason;
}

/** One half of a further SA pair (addSas). */
export interface FurtherSa {
  spi: number;
  suite: number;
  keys: EspKeyMaterial;
}

/**
 * A flow route of the fast path (the native form of the JS core's FlowRoute): packets to the
 * peer whose selector matches leave sealed on `outboundSpi` to remoteAddr16:port from socket
 * `socketIndex`. Ports are inclusive ranges as the inner packet leaves (local = its source).
 * A route that `needsPorts` matches only packets whose ports are known (TCP, UDP, DCCP, SCTP,
 * UDP-Lite, not a non-first fragment), whatever its ranges, 0..65535 included; one without
 * ports has both ranges 0..65535 and takes any packet of its protocol.
 */
export interface NativeFlowRoute {
  fid: number;
  /** 0: any. */
  protocol: number;
  /** The route names ports (a range on either side): packets without ports do not match. */
  needsPorts: boolean;
  localFrom: number;
  localTo: number;
  remoteFrom: number;
  remoteTo: number;
  remoteAddr16: Uint8Array;
  port: number;
  socketIndex: number;
  /** 0 (FLOW_HELD_SPI): a held flow, whose packets the fast path drops as flow-held. */
  outboundSpi: number;
  /** Load sharing: the flow follows the peer's spread (the JS core's FlowRoute.spread). */
  spread?: boolean;
  /** A spread member, not a flow (the JS core's FlowRoute.spreadKey). */
  spreadKey?: number;
}

/** The SPI that marks a held flow's route (reserved by RFC 4303, so no SA has it). */
export const FLOW_HELD_SPI = 0;

/** An inclusive port range of a flow route. */
export interface FlowPortRange {
  from: number;
  to: number;
}

/** What a JS data-plane flow route carries that the fast path needs (the JS core's FlowRoute has this shape). */
export interface FlowRouteLike {
  fid: number;
  protocol: number;
  localPorts: FlowPortRange | null;
  remotePorts: FlowPortRange | null;
  remote: { port: number };
  remoteAddr16: Uint8Array;
  outboundSpi: number;
  /** A held flow: dropped, never sent (the JS core's FlowRoute.drop). */
  drop?: boolean;
  spread?: boolean;
  spreadKey?: number;
}

/**
 * The fast path's form of a JS flow route sending from socket `socketIndex` (the index the
 * route's local address has in the fast path, as for setPath). A null range is any port; a
 * range, even 0..65535, needs ports, as `portInRange` has it in the JS core.
 */
export function nativeFlowRoute(r: FlowRouteLike, socketIndex: number): NativeFlowRoute {
  return {
    fid: r.fid, protocol: r.protocol, needsPorts: r.localPorts !== null || r.remotePorts !== null,
    localFrom: r.localPorts?.from ?? 0, localTo: r.localPorts?.to ?? 65535,
    remoteFrom: r.remotePorts?.from ?? 0, remoteTo: r.remotePorts?.to ?? 65535,
    remoteAddr16: r.remoteAddr16, port: r.remote.port, socketIndex, outboundSpi: r.drop === true ? FLOW_HELD_SPI : r.outboundSpi,
    ...(r.spread === true ? { spread: true } : {}),
    ...(r.spreadKey === undefined ? {} : { spreadKey: r.spreadKey }),
  };
}

/** Numbers per route in the addon's fpSetFlowRoutes. */
const FLOW_ROUTE_FIELDS = 12;

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
   * This is the peer's base pair (replaced on rekey): further SAs (addSas) stay, and the new
   * outbound SA carries the traffic only when the one it replaces did. The sealer seals on
   * whichever of the peer's outbound SAs carries its traffic at the time.
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

  /**
   * A further SA for the peer beside the one install() set (simultaneous multihoming, RFC 8047:
   * an SA pair per interface). The outbound one keeps its own sequence numbers (from 1, or the
   * tuning's nextSeq) and rekey triggers, and carries the peer's traffic only while setPath
   * names its SPI; the inbound one opens packets at once. Either half may be omitted. False
   * when a suite is not one the fast path runs, or the peer has no install()ed pair here (the
   * JS core then keeps the pair, and the runner routes the peer's traffic up to JS); then
   * neither half was added.
   */
  addSas(hit: Uint8Array, outbound: FurtherSa | undefined, inbound: FurtherSa | undefined): boolean {
    if (this.stopped) return false;
    const outInfo = outbound && espSuiteInfo(outbound.suite);
    const inInfo = inbound && espSuiteInfo(inbound.suite);
    if ((outbound && (!outInfo || !NativeFastPath.handles(outbound.suite))) || (inbound && (!inInfo || !NativeFastPath.handles(inbound.suite)))) {
      return false;
    }
    if (outbound && outInfo) {
      const ok = this.io.fpAddOutbound(
        this.handle, hit, outbound.spi, outInfo.icvLength, outbound.keys.encKey, outbound.keys.salt,
        this.tuning.lifetimeMs ?? DEFAULT_OUTBOUND_LIFETIME_MS,
        this.tuning.seqRekeyThreshold ?? ESP_SEQ_REKEY_THRESHOLD,
        this.tuning.nextSeq ?? 1,
      );
      if (!ok) return false;
    }
    if (inbound && inInfo && !this.io.fpAddInbound(this.handle, hit, inbound.spi, inInfo.icvLength, inbound.keys.encKey, inbound.keys.salt)) {
      if (outbound) this.io.fpRemoveOutbound(this.handle, hit, outbound.spi);
      return false;
    }
    return true;
  }

  /**
   * Forgets a further outbound SA. If it was carrying traffic, the install()ed one takes over
   * (on the path it last had, until setPath moves it). The install()ed SA's own SPI is ignored.
   */
  removeOutbound(hit: Uint8Array, spi: number): void {
    if (!this.stopped) this.io.fpRemoveOutbound(this.handle, hit, spi);
  }

  /**
   * The further outbound SA `spi` becomes the peer's install()ed one, and the SA it replaces
   * goes: the base pair was rekeyed at the peer's request, and the new SA waited beside the old
   * one until the peer held it. If the old SA carried the traffic, the new one does, on its path.
   * False when the peer has no further SA `spi` here.
   */
  promoteBase(hit: Uint8Array, spi: number): boolean {
    return !this.stopped && this.io.fpPromoteBase(this.handle, hit, spi);
  }

  /**
   * Test hook: the peer's outbound SA `spi` seals its next packet with sequence number
   * `nextSeq` (to force a run-out of one SA). False for an unknown SA or a number out of range.
   */
  setNextSeq(hit: Uint8Array, spi: number, nextSeq: number): boolean {
    return !this.stopped && this.io.fpSetNextSeq(this.handle, hit, spi, nextSeq);
  }

  /**
   * For `forMs` milliseconds from now, every datagram sealed for this peer by the fast path's
   * TX thread is also sent to this second destination: the same bytes (same SA, same sequence
   * number, no second seal), so the receiver's anti-replay window drops whichever copy arrives
   * second. `forMs` 0 (or remoteAddr16 null) stops it; so does setPath to the very same
   * destination, and removeSocket of its socket. A destination equal to the current path, or a
   * socket only JS uses, sends no copies. Copies are counted in FastPathStats.spareCopies (not
   * in packetsOut or udpPacketsOut); a copy whose send fails is counted in spareCopiesFailed,
   * never stranded. Packets JS seals with the install() sealer are not copied.
   */
  setSpare(hit: Uint8Array, remoteAddr16: Uint8Array | null, port: number, socketIndex: number, forMs: number): void {
    if (!this.stopped) this.io.fpSetSpare(this.handle, hit, remoteAddr16, port, socketIndex, Math.max(0, forMs));
  }

  /**
   * While on, the TX thread queues a copy of every datagram it sends to this peer for
   * fpTakeStranded (socket index | STRANDED_HELD_FLAG): the peer's path is in doubt, and the
   * copies are re-sent on the pair it moves to. Counted in FastPathStats.heldCopies (and
   * heldCopiesLost when the queue was full).
   */
  setHeld(hit: Uint8Array, on: boolean): void {
    if (!this.stopped) this.io.fpSetHeld(this.handle, hit, on);
  }

  /**
   * Starts polling and sending on a socket opened after the fast path started (a new uplink);
   * from now on JS must not read it (the RX thread does, handing up what it cannot open). UDP
   * GRO is enabled on it, GSO is tried as on the initial sockets, and ICMP errors come as
   * 'socket-error' events as theirs do. Returns its socket index (for setPath / setSpare /
   * install), or -1 when the table is full (or the fast path stopped). The same fd added twice
   * keeps its index.
   */
  addSocket(fd: number): number {
    return this.stopped ? -1 : this.io.fpAddSocket(this.handle, fd);
  }

  /**
   * Stops using socket `index`. Returns only once neither packet thread can touch its fd any
   * more, so the caller may close it right after. Peers whose SA pointed at it are left with
   * socket -1 (the fast path picks one of the right family) until setPath moves them; a spare
   * sending from it ends. The index is not handed out again while fresh ones remain, but
   * datagrams already queued for JS may still name it. It blocks for at most the packet
   * threads' current batch (the RX thread is woken at once; a TX batch stalled on a full socket
   * buffer can hold it up to about 100 ms per send).
   */
  removeSocket(index: number): void {
    if (!this.stopped) this.io.fpRemoveSocket(this.handle, index);
  }

  /**
   * Forgets the install()ed outbound SA (its successor is one JS runs). When it carried the
   * traffic, the peer's traffic goes up to JS; a further SA carrying it keeps doing so.
   */
  dropOutbound(hit: Uint8Array): void {
    if (!this.stopped) this.io.fpDropOutbound(this.handle, hit);
  }

  /** Forgets every SA of the peer (install()ed and further ones) and its spare. */
  dropSas(hit: Uint8Array): void {
    if (!this.stopped) this.io.fpDropSas(this.handle, hit);
  }

  retireInbound(spi: number, afterMs: number): void {
    if (!this.stopped) this.io.fpRetireInbound(this.handle, spi, afterMs);
  }

  /**
   * Moves the peer's outbound ESP to this pair; `outboundSpi`, when given, names which of the
   * peer's outbound SAs (install()ed or addSas()ed) carries it from now (an SPI the peer has no
   * SA for switches nothing; the path still applies to the current one). Moving onto the
   * spare's destination ends the spare.
   */
  setPath(hit: Uint8Array, remoteAddr16: Uint8Array, port: number, socketIndex: number, outboundSpi?: number): void {
    if (!this.stopped) this.io.fpSetPath(this.handle, hit, remoteAddr16, port, socketIndex, outboundSpi);
  }

  /**
   * Replaces the peer's flow routes. The TX thread classifies every packet to the peer (IPv4
   * and IPv6 with its extension headers walked: protocol and TCP/UDP ports) and tries the
   * routes in order; the first that matches and can carry the packet (its SA installed here,
   * a socket of its address family) seals it on its SA and sends it to its destination; other
   * packets take setPath's pair. The RX thread counts each opened packet to the route the TX
   * thread would pick for its mirror image (source and destination ports swapped). Counters (stats().flows) of a fid that stays carry over; [] ends
   * the steering. Only the peer's path has a spare and a hold: datagrams of a route get no
   * spare copy and no held copy. A send failing with the route's interface gone strands them as
   * the peer's own, with the route's destination and socket: JS re-sends them when traffic moves
   * off that pair (for a flow: when new routes give its fid another pair). Routes of a peer not
   * installed yet wait for its SAs. Routes with a spreadKey are the peer's spread (load sharing):
   * packets no route takes, and those of `spread` routes, go to the member whose key scores
   * highest against the packet's flow hash (core/flow-spread.ts, bit for bit); a member on the
   * peer's own SA is the peer's path (spare and hold apply).
   */
  setFlowRoutes(hit: Uint8Array, routes: readonly NativeFlowRoute[]): void {
    if (this.stopped) return;
    const fields = new Float64Array(routes.length * FLOW_ROUTE_FIELDS);
    const addrs = new Uint8Array(routes.length * 16);
    routes.forEach((r, i) => {
      if (r.remoteAddr16.length !== 16) throw new TypeError(`flow route ${r.fid}: the remote address must be 16 octets`);
      fields.set([
        r.fid, r.protocol, r.localFrom, r.localTo, r.remoteFrom, r.remoteTo, r.port, r.socketIndex, r.outboundSpi,
        r.needsPorts ? 1 : 0, r.spread === true ? 1 : 0, r.spreadKey ?? -1,
      ], i * FLOW_ROUTE_FIELDS);
      addrs.set(r.remoteAddr16, i * 16);
    });
    this.io.fpSetFlowRoutes(this.handle, hit, fields, addrs);
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

  /** Counters; `flows: false` leaves the per-flow ones out (empty), for callers that read only the peers'. */
  stats(options: { flows?: boolean } = {}): FastPathStats {
    return this.io.fpStats(this.handle, options.flows ?? true);
  }

  /** Joins the packet threads; call before closing the fds they use. Stats stay readable. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.io.fpStop(this.handle);
  }
}
