// The data plane's packet logic, without I/O: a TUN packet is routed by its inner destination
// (a peer's HIT or the LSI we gave it) to that peer's outbound SA and sealed; an ESP datagram
// is demultiplexed by SPI, opened, and its inner packet rebuilt (BEET, RFC 7402) or rewritten
// (LSI) for our TUN; HIP control datagrams go to the control plane untouched.
// The caller supplies the sink the outputs go to and the time; the core never blocks or throws
// on packet input.

import { EspInboundSa, EspOutboundSa, type EspKeyMaterial } from '../esp/index.js';
import { CreditAccount } from '../hip/credit.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { sameEndpoint } from '../../src-shared/vocabulary.js';
import { fromAddr16, same16 } from '../base/addr16.js';
import { portInRange } from '../base/packet-tuple.js';
import { flowHash, spreadScore } from '../core/flow-spread.js';
import { flowKeyOf, type FlowKey } from './flow-key.js';
import {
  IPPROTO_IPIP, IPPROTO_NONE, IPV6_HEADER_LENGTH, beetPayload, innerDestination, ipv4PacketLength, readU32,
  rewriteIpv4Addresses, writeBeetPacket,
} from './packet.js';

export interface SaSpec { spi: number; suite: number; keys: EspKeyMaterial }

export interface PeerRoute {
  hit: Uint8Array;
  /** The LSI this host gave the peer (numeric IPv4). */
  lsi: number;
}

export interface SaInstall extends PeerRoute {
  outbound: SaSpec;
  inbound: SaSpec;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  /** Local address whose socket the SA sends from. */
  local: string;
}

export type CoreEvent =
  /** A packet for a known peer without an SA: the control plane may want to connect. */
  | { type: 'need-connect'; peerHit: Uint8Array }
  /** Outbound SA `spi` is near its sequence limit or old: the control plane should rekey its pair. */
  | { type: 'rekey-needed'; peerHit: Uint8Array; spi: number }
  /** First authenticated packet on an inbound SA: the peer has our keys (R2-SENT → ESTABLISHED). */
  | { type: 'esp-heard'; peerHit: Uint8Array }
  /**
   * Authenticated ESP from the peer arrived from `from` on our socket `to`, and its last packet
   * did not (or it is the first since an inbound SA was installed): the pair its traffic comes
   * in on changed, and the peer may have moved. Once per change, not per packet.
   */
  | { type: 'esp-source'; peerHit: Uint8Array; from: UdpEndpoint; to: UdpEndpoint; bytes: number }
  /** An ICMP destination-unreachable came back for a datagram `local` sent to `remote` (unauthenticated). */
  | { type: 'icmp-error'; local: UdpEndpoint; remote: UdpEndpoint };

export interface CoreSink {
  /** Queues a sealed datagram on the socket bound to `local`. False when there is none. */
  udp(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean;
  /** A writable view of `length` octets in the TUN write batch (flushing first if full). */
  tunReserve(length: number): Uint8Array | null;
  tunCommit(length: number): void;
  hip(packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  event(e: CoreEvent): void;
  /** A datagram just queued for a held peer (setHeld): keep a copy for a re-send on its next pair. */
  hold?(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void;
  /**
   * A data plane without a TUN: every opened payload goes here as it was sealed (any next
   * header, no LSI rewrite), with the pair it came over and the datagram's size.
   */
  payload?(peerHit: Uint8Array, nextHeader: number, payload: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
}

/** A flow's own path (seed 002): the peer's outbound packets matching the selector leave on this pair and SA. */
export interface FlowRoute {
  fid: number;
  /** IP protocol number of the inner packet; 0 = any. */
  protocol: number;
  /** Inclusive port ranges as the packet leaves (source = local, destination = remote); null = any. A route with ports matches only packets that have ports (TCP, UDP). */
  localPorts: { from: number; to: number } | null;
  remotePorts: { from: number; to: number } | null;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  /** Our local address (socket) the packets leave from. */
  local: string;
  outboundSpi: number;
  /**
   * The flow is held ('only' on an interface with no working pair): its outbound packets are
   * dropped and counted ('flow-held'), never sent on the peer's path; outboundSpi is unused.
   */
  drop?: boolean;
  /**
   * Load sharing: the flow rides the peer's unbound traffic, so its packets go where the spread
   * puts them (when the peer has one) and are counted here.
   */
  spread?: boolean;
  /**
   * A member of the peer's spread (core/flow-spread.ts), not a flow: it matches no packet. The
   * peer's unbound packets (and `spread` flows) go to the member whose key scores highest
   * against the packet's flow hash; with no member, to setPath's pair.
   */
  spreadKey?: number;
}

/** A flow's packets: out on its route's pair, and in from the peer under the mirrored selector. */
export interface FlowCounters {
  fid: number;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
}

export interface FlowStats extends FlowCounters {
  hit: Uint8Array;
}

interface RouteState extends FlowRoute {
  counters: FlowCounters;
}

export interface PeerStats {
  hit: Uint8Array;
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Monotonic ms of the last authenticated packet from the peer. */
  lastHeardAt: number | null;
}

/**
 * What seals a peer's outbound packets: a JS EspOutboundSa, or a handle on an SA the native
 * fast path holds (so packets sealed here take that SA's sequence numbers too).
 */
export interface OutboundSealer {
  /** Throws SealDropError (or any Error: sequence numbers exhausted) when it cannot seal. */
  seal(payload: Uint8Array, nextHeader: number, now: number): Uint8Array;
  needsRekey(now: number): boolean;
}

/** A seal refused for a reason the drop counters should name. */
export class SealDropError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** How the JS core starts its own outbound SAs (tests start one near the end of its sequence space). */
export interface OutboundSaTuning {
  /** The first sequence number of a new outbound SA: the base one (installSa) or a further one (addSas). */
  firstSeq?(kind: 'base' | 'further'): number | undefined;
}

/** A second pair each sealed datagram also goes to, until `until` (make-before-break). */
export interface SparePath { local: string; remote: UdpEndpoint; remoteAddr16: Uint8Array; until: number }

interface OutboundState {
  /** The SA the peer's traffic is sealed with now, and its SPI. */
  sa: OutboundSealer;
  spi: number;
  /** The SA install() set (the base exchange's or its rekey). */
  baseSpi: number;
  /** Every outbound SA of the peer by SPI: the base one and further ones (simultaneous multihoming). */
  sealers: Map<number, OutboundSealer>;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  local: string;
  /** Outbound SAs whose rekey was asked for: each asks once, the base one and further ones alike. */
  rekeyAsked: Set<number>;
  spare: SparePath | undefined;
  /** The control plane doubts the pair: copies of what is sent go to the sink's hold. */
  held: boolean;
  /**
   * Whether the peer's address on this pair is verified (RFC 8046 §5.4). While it is not, what
   * is sent there is paid from the peer's credit, and what credit cannot pay is dropped.
   */
  verified: boolean;
}

interface PeerState extends PeerStats {
  lsi: number;
  out: OutboundState | undefined;
  connectAskedAt: number;
  /** What the peer's authenticated ESP earned us to send to its unverified addresses. */
  credit: CreditAccount | undefined;
  /**
   * The pair (source address|port > our address|port) its authenticated ESP last arrived on,
   * reported in an 'esp-source' event each time it changes; cleared by a new inbound SA.
   */
  arrival: { addr16: Uint8Array; port: number; to: UdpEndpoint } | undefined;
  /** Per-flow steering (setFlowRoutes), first match wins. */
  flows: RouteState[];
  /** Load sharing: the pairs unbound traffic is spread over (routes with a spreadKey). */
  spread: RouteState[];
  /** Each FID's counters, kept while its route is replaced (the pair moved) and dropped with it. */
  flowCounters: Map<number, FlowCounters>;
}

interface InboundState { sa: EspInboundSa; peer: PeerState; heard: boolean; retireAt: number }

/** A packet for a peer without an SA asks the control plane to connect at most this often. */
const CONNECT_ASK_INTERVAL_MS = 1000;

/** Map key of a HIT: its low 48 bits, all hash output (RFC 7343), so collisions are rare; checked. */
function hitKey(b: Uint8Array, at: number): number {
  return readU32(b, at + 10) * 65536 + ((b[at + 14]! << 8) | b[at + 15]!);
}

/** The packet being classified (one at a time: the core is single-threaded), so that classifying allocates nothing. */
const KEY: FlowKey = { protocol: 0, src: -1, dst: -1 };

/**
 * The first route the packet in KEY matches. `inbound` mirrors the selector: the peer's source
 * port is the route's remote port.
 */
function matchKey<R extends FlowRoute>(routes: readonly R[], inbound: boolean): R | undefined {
  const localPort = inbound ? KEY.dst : KEY.src;
  const remotePort = inbound ? KEY.src : KEY.dst;
  const protocol = KEY.protocol;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if ((r.protocol === 0 || r.protocol === protocol) && portInRange(r.localPorts, localPort) && portInRange(r.remotePorts, remotePort)) return r;
  }
  return undefined;
}

/** The first of `routes` a payload matches as it is sealed (`inbound`: as it was opened). */
export function matchRoute<R extends FlowRoute>(routes: readonly R[], payload: Uint8Array, nextHeader: number, inbound: boolean): R | undefined {
  flowKeyOf(payload, nextHeader, KEY);
  return matchKey(routes, inbound);
}

/** The spread member the packet in KEY goes to: the highest score among those whose SA is installed. */
function spreadMember(members: readonly RouteState[], sealers: ReadonlyMap<number, OutboundSealer>): RouteState | undefined {
  const flow = flowHash(KEY.protocol, KEY.src, KEY.dst);
  let best: RouteState | undefined;
  let bestScore = -1;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (!sealers.has(m.outboundSpi)) continue;
    const score = spreadScore(flow, m.spreadKey!);
    if (score > bestScore) {
      bestScore = score;
      best = m;
    }
  }
  return best;
}

export class DataplaneCore {
  readonly drops: Record<string, number> = {};
  /** Datagrams also sent on a peer's spare pair (not in its packetsOut). */
  spareCopies = 0;
  private readonly byHit = new Map<number, PeerState[]>();
  private readonly byLsi = new Map<number, PeerState>();
  private readonly inbound = new Map<number, InboundState>();

  constructor(
    private readonly ownHit: Uint8Array, private readonly ownLsi: number, private readonly sink: CoreSink, private readonly tuning: OutboundSaTuning = {},
  ) {}

  // ------------------------------------------------------------------------------------------
  // configuration from the control plane

  /** Makes the peers routable (so their packets can trigger a connect); keeps installed SAs. */
  setRoutes(routes: PeerRoute[]): void {
    const keep = new Set<PeerState>();
    for (const r of routes) keep.add(this.peerFor(r.hit, r.lsi));
    for (const list of this.byHit.values()) {
      for (const p of list) if (!keep.has(p) && !p.out) this.forget(p);
    }
  }

  /**
   * Installs an SA pair. With `offloaded`, the native fast path holds both SAs: outbound
   * packets sealed here go through its sealer, and its inbound SA never reaches this table.
   */
  installSa(i: SaInstall, now: number, offloaded?: OutboundSealer): void {
    const peer = this.peerFor(i.hit, i.lsi);
    // A rekey keeps the copies going: the spare is a property of the paths, not of the SA.
    const prev = peer.out;
    const spare = prev?.spare;
    const base = offloaded ?? this.outboundSa(i.outbound, now, 'base');
    // Further SAs stay; the one in use stays unless it was the base one being replaced.
    const sealers = new Map(prev?.sealers ?? []);
    if (prev) sealers.delete(prev.baseSpi);
    sealers.set(i.outbound.spi, base);
    const keep = prev !== undefined && prev.spi !== prev.baseSpi && sealers.has(prev.spi);
    const rekeyAsked = new Set([...(prev?.rekeyAsked ?? [])].filter((spi) => sealers.has(spi) && spi !== i.outbound.spi));
    peer.out = {
      sa: keep ? prev.sa : base,
      spi: keep ? prev.spi : i.outbound.spi,
      baseSpi: i.outbound.spi,
      sealers,
      remote: { ...i.remote },
      remoteAddr16: i.remoteAddr16.slice(),
      local: i.local,
      rekeyAsked,
      spare,
      held: prev?.held ?? false,
      // The base exchange's address answered it; a rekey keeps whatever the pair in use was.
      verified: prev === undefined || prev.verified || !sameEndpoint(prev.remote, i.remote),
    };
    peer.credit ??= new CreditAccount(now);
    if (offloaded) {
      // A stale JS entry under the same SPI must not shadow the fast path's.
      this.inbound.delete(i.inbound.spi);
      return;
    }
    peer.arrival = undefined;
    this.inbound.set(i.inbound.spi, {
      sa: new EspInboundSa({ spi: i.inbound.spi, suite: i.inbound.suite, keys: i.inbound.keys, createdAt: now }),
      peer,
      heard: false,
      retireAt: Infinity,
    });
  }

  /**
   * A further SA pair of the peer (simultaneous multihoming, RFC 8047: one per interface);
   * either half may be absent. The outbound one carries traffic only once setPath names it.
   * With `offloaded`, the native fast path holds both.
   */
  addSas(hit: Uint8Array, outbound: SaSpec | undefined, inbound: SaSpec | undefined, now: number, offloaded?: OutboundSealer): void {
    const peer = this.find(hit);
    if (!peer?.out) return;
    if (outbound) {
      peer.out.sealers.set(outbound.spi, offloaded ?? this.outboundSa(outbound, now, 'further'));
    }
    if (!inbound) return;
    peer.arrival = undefined;
    if (offloaded) this.inbound.delete(inbound.spi);
    else {
      this.inbound.set(inbound.spi, {
        sa: new EspInboundSa({ spi: inbound.spi, suite: inbound.suite, keys: inbound.keys, createdAt: now }), peer, heard: false, retireAt: Infinity,
      });
    }
  }

  private outboundSa(spec: SaSpec, now: number, kind: 'base' | 'further'): EspOutboundSa {
    const nextSeq = this.tuning.firstSeq?.(kind);
    return new EspOutboundSa({ spi: spec.spi, suite: spec.suite, keys: spec.keys, createdAt: now, ...(nextSeq === undefined ? {} : { nextSeq }) });
  }

  /** Forgets a further outbound SA; if it carried the traffic, the base one takes over. */
  removeOutbound(hit: Uint8Array, spi: number): void {
    const out = this.find(hit)?.out;
    if (!out || spi === out.baseSpi) return;
    out.sealers.delete(spi);
    out.rekeyAsked.delete(spi);
    if (out.spi === spi) {
      out.spi = out.baseSpi;
      out.sa = out.sealers.get(out.baseSpi)!;
    }
  }

  /**
   * The further outbound SA `spi` becomes the base one, and the base SA it replaces goes (a
   * rekey of the base pair we answered, promoted once the peer holds the new pair). The traffic
   * the old base SA carried moves onto the new one; the path stays.
   */
  promoteBase(hit: Uint8Array, spi: number): void {
    const out = this.find(hit)?.out;
    const sa = out?.sealers.get(spi);
    if (!out || !sa || spi === out.baseSpi) return;
    out.sealers.delete(out.baseSpi);
    out.rekeyAsked.delete(out.baseSpi);
    if (out.spi === out.baseSpi) {
      out.spi = spi;
      out.sa = sa;
    }
    out.baseSpi = spi;
  }

  /** Peers whose traffic is sealed with a further SA (simultaneous multihoming), and that SA's SPI. */
  furtherSasInUse(): Array<{ hit: Uint8Array; spi: number }> {
    const inUse: Array<{ hit: Uint8Array; spi: number }> = [];
    for (const list of this.byHit.values()) {
      for (const p of list) if (p.out && p.out.spi !== p.out.baseSpi) inUse.push({ hit: p.hit, spi: p.out.spi });
    }
    return inUse;
  }

  /** The SPI of the SA the peer's traffic is sealed with now. */
  outboundSpiOf(hit: Uint8Array): number | undefined {
    return this.find(hit)?.out?.spi;
  }

  /**
   * Moves a peer's outbound traffic to another locator pair (mobility); `outboundSpi`, when
   * given, names the SA that carries it from now (an unknown one means the base SA). An
   * address not `verified` gets only what the peer's credit pays for (RFC 8046 §5.6).
   */
  setPath(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, verified: boolean, outboundSpi?: number): void {
    const peer = this.find(hit);
    if (!peer?.out) return;
    peer.out.verified = verified;
    if (outboundSpi !== undefined) {
      const spi = peer.out.sealers.has(outboundSpi) ? outboundSpi : peer.out.baseSpi;
      peer.out.spi = spi;
      peer.out.sa = peer.out.sealers.get(spi)!;
    }
    peer.out.remote = { ...remote };
    peer.out.remoteAddr16 = remoteAddr16.slice();
    peer.out.local = local;
    const s = peer.out.spare;
    if (s && s.local === local && s.remote.port === remote.port && same16(s.remoteAddr16, remoteAddr16)) peer.out.spare = undefined;
  }

  /**
   * Until `until`, every datagram sealed for the peer is also sent to this second pair: the
   * same bytes, so the peer's anti-replay window drops whichever copy arrives second.
   * `until` ≤ now stops it.
   */
  setSpare(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, until: number, now: number): void {
    const peer = this.find(hit);
    if (!peer?.out) return;
    peer.out.spare = until > now ? { local, remote: { ...remote }, remoteAddr16: remoteAddr16.slice(), until } : undefined;
  }

  /** While on, every datagram sealed for the peer is also handed to the sink's hold. */
  setHeld(hit: Uint8Array, on: boolean): void {
    const out = this.find(hit)?.out;
    if (out) out.held = on;
  }

  /**
   * Per-flow steering (seed 002): the peer's outbound packets matching a route leave on that
   * route's pair and SA, in array order; the rest take setPath's pair. A route whose SA is not
   * installed steers nothing (its packets take setPath's pair and SA). Routes with a spreadKey
   * are the peer's spread instead. Replaces the peer's routes; a FID kept keeps its counters.
   */
  setFlowRoutes(hit: Uint8Array, routes: readonly FlowRoute[]): void {
    const peer = this.find(hit);
    if (!peer) return;
    const counters = new Map<number, FlowCounters>();
    peer.spread = routes.filter((r) => r.spreadKey !== undefined).map((r) => ({
      fid: 0, protocol: 0, localPorts: null, remotePorts: null, remote: { ...r.remote }, remoteAddr16: r.remoteAddr16.slice(), local: r.local,
      outboundSpi: r.outboundSpi, spreadKey: r.spreadKey!, counters: { fid: 0, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 },
    }));
    peer.flows = routes.filter((r) => r.spreadKey === undefined).map((r) => {
      const c = counters.get(r.fid) ?? peer.flowCounters.get(r.fid) ?? { fid: r.fid, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
      counters.set(r.fid, c);
      return {
        fid: r.fid, protocol: r.protocol,
        localPorts: r.localPorts && { ...r.localPorts }, remotePorts: r.remotePorts && { ...r.remotePorts },
        remote: { ...r.remote }, remoteAddr16: r.remoteAddr16.slice(), local: r.local, outboundSpi: r.outboundSpi, counters: c,
        ...(r.drop === true ? { drop: true } : {}),
        ...(r.spread === true ? { spread: true } : {}),
      };
    });
    peer.flowCounters = counters;
  }

  /** The peer's spread members (by outbound SPI and key) and what each carried out since it was set. */
  spreadStats(hit: Uint8Array): { spreadKey: number; outboundSpi: number; local: string; packetsOut: number; bytesOut: number }[] {
    return (this.find(hit)?.spread ?? []).map((m) => ({
      spreadKey: m.spreadKey!, outboundSpi: m.outboundSpi, local: m.local, packetsOut: m.counters.packetsOut, bytesOut: m.counters.bytesOut,
    }));
  }

  /** Every routed flow's counters, by peer. */
  flowStats(): FlowStats[] {
    const out: FlowStats[] = [];
    for (const list of this.byHit.values()) {
      for (const p of list) for (const c of p.flowCounters.values()) out.push({ hit: p.hit, ...c });
    }
    return out;
  }

  /** Whether the peer's traffic goes to an address not verified yet (then credit pays for it). */
  isUnverified(hit: Uint8Array): boolean {
    return this.find(hit)?.out?.verified === false;
  }

  /** Whether any peer's traffic goes to an address not verified yet. */
  anyUnverified(): boolean {
    for (const list of this.byHit.values()) for (const p of list) if (p.out?.verified === false) return true;
    return false;
  }

  /**
   * Bytes the peer sent us that this core did not open itself (the native fast path opened
   * them): they earn credit all the same.
   */
  earnCredit(hit: Uint8Array, bytes: number, now: number): void {
    this.find(hit)?.credit?.received(now, bytes);
  }

  /**
   * Whether `bytes` more may go to the peer's current address now: always when it is verified;
   * otherwise only if credit pays (and then they are charged). A refusal is counted.
   */
  spendCredit(hit: Uint8Array, bytes: number, now: number): boolean {
    const peer = this.find(hit);
    if (peer?.out === undefined || peer.out.verified) return true;
    if (peer.credit?.trySpend(now, bytes) === true) return true;
    this.drop('credit-exhausted');
    return false;
  }

  /**
   * spendCredit for a datagram already sealed, by where it goes (a held or stranded copy
   * re-sent on its peer's new pair): a destination no unverified path names is free.
   */
  spendCreditTo(addr16: Uint8Array, port: number, bytes: number, now: number): boolean {
    for (const list of this.byHit.values()) {
      for (const p of list) {
        const out = p.out;
        if (out?.verified === false && out.remote.port === port && same16(out.remoteAddr16, addr16)) return this.spendCredit(p.hit, bytes, now);
      }
    }
    return true;
  }

  /** Whether the peer's pair is in doubt (setHeld). */
  isHeld(hit: Uint8Array): boolean {
    return this.find(hit)?.out?.held === true;
  }

  /** The peer's spare pair while it is in use. */
  spareOf(hit: Uint8Array, now: number): SparePath | undefined {
    const s = this.find(hit)?.out?.spare;
    return s !== undefined && s.until > now ? s : undefined;
  }

  /** The pair a peer's outbound traffic takes now. */
  pathOf(hit: Uint8Array): { local: string; addr16: Uint8Array; port: number } | undefined {
    const out = this.find(hit)?.out;
    return out && { local: out.local, addr16: out.remoteAddr16.slice(), port: out.remote.port };
  }

  /** An inbound SA replaced by a rekey keeps accepting stragglers until `at`. */
  retireInbound(spi: number, at: number): void {
    const entry = this.inbound.get(spi);
    if (entry) entry.retireAt = at;
  }

  /** Drops the peer's SAs (association closed or failed); its route stays if it is configured. */
  dropSas(hit: Uint8Array): void {
    const peer = this.find(hit);
    if (!peer) return;
    peer.out = undefined;
    for (const [spi, e] of this.inbound) if (e.peer === peer) this.inbound.delete(spi);
  }

  /** Periodic housekeeping: retires replaced inbound SAs. */
  tick(now: number): void {
    for (const [spi, e] of this.inbound) if (e.retireAt <= now) this.inbound.delete(spi);
  }

  stats(): PeerStats[] {
    const out: PeerStats[] = [];
    for (const list of this.byHit.values()) {
      for (const p of list) {
        out.push({ hit: p.hit, packetsIn: p.packetsIn, bytesIn: p.bytesIn, packetsOut: p.packetsOut, bytesOut: p.bytesOut, lastHeardAt: p.lastHeardAt });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // packets

  /** One packet the host's stack wrote into the TUN. */
  fromTun(p: Uint8Array, now: number): void {
    const dest = innerDestination(p, p.length);
    let peer: PeerState | undefined;
    if (dest.kind === 'hit') peer = this.findAt(p, dest.at);
    else if (dest.kind === 'lsi') peer = this.byLsi.get(dest.lsi);
    else return this.drop(`tun-${dest.reason}`);
    if (!peer) return this.drop('tun-no-peer');
    const out = peer.out;
    if (!out) {
      if (now - peer.connectAskedAt >= CONNECT_ASK_INTERVAL_MS) {
        peer.connectAskedAt = now;
        this.sink.event({ type: 'need-connect', peerHit: peer.hit });
      }
      return this.drop('tun-no-sa');
    }
    let payload: Uint8Array;
    let nextHeader: number;
    if (dest.kind === 'hit') {
      const beet = beetPayload(p, p.length);
      if (!beet) return this.drop('tun-malformed');
      payload = beet.payload;
      nextHeader = beet.nextHeader;
    } else {
      const total = ipv4PacketLength(p, p.length);
      if (total === null) return this.drop('tun-malformed');
      payload = p.subarray(0, total);
      nextHeader = IPPROTO_IPIP;
    }
    this.sealTo(peer, out, payload, nextHeader, now);
  }

  /** Sends a payload to a peer through its SA (the engine's send()); false when it did not go out. */
  sendPayload(hit: Uint8Array, payload: Uint8Array, nextHeader: number, now: number): boolean {
    const peer = this.find(hit);
    if (!peer?.out) {
      this.drop('esp-out-no-sa');
      return false;
    }
    return this.sealTo(peer, peer.out, payload, nextHeader, now);
  }

  /**
   * One UDP datagram received on the socket bound to `to`, from the 16-octet address at
   * fromAddrs16[fromAt] (converted to text only for control packets).
   */
  fromUdp(d: Uint8Array, fromAddrs16: Uint8Array, fromAt: number, fromPort: number, to: UdpEndpoint, now: number): void {
    if (d.length < 8) return this.drop('udp-runt');
    const spi = readU32(d, 0);
    if (spi === 0) {
      this.sink.hip(d.subarray(4), { address: fromAddr16(fromAddrs16, fromAt), port: fromPort }, to);
      return;
    }
    const entry = this.inbound.get(spi);
    if (!entry) return this.drop('esp-unknown-spi');
    if (entry.retireAt <= now) return this.drop('esp-retired-spi');
    const r = entry.sa.open(d, now);
    if (!r.ok) return this.drop(`esp-${r.reason}`);
    const peer = entry.peer;
    peer.packetsIn++;
    peer.bytesIn += r.payload.length;
    peer.lastHeardAt = now;
    peer.credit?.received(now, d.length);
    if (!entry.heard) {
      entry.heard = true;
      this.sink.event({ type: 'esp-heard', peerHit: peer.hit });
    }
    this.noteArrival(peer, fromAddrs16, fromAt, fromPort, to, d.length);
    if (peer.flows.length > 0) {
      flowKeyOf(r.payload, r.nextHeader, KEY);
      const route = matchKey(peer.flows, true);
      if (route) {
        route.counters.packetsIn++;
        route.counters.bytesIn += r.payload.length;
      }
    }
    if (this.sink.payload) {
      this.sink.payload(peer.hit, r.nextHeader, r.payload, { address: fromAddr16(fromAddrs16, fromAt), port: fromPort }, to, d.length);
      return;
    }
    this.deliver(peer, r.payload, r.nextHeader);
  }

  /** Reports the pair the peer's ESP arrived on when it is not the one it last arrived on. */
  private noteArrival(peer: PeerState, addrs16: Uint8Array, at: number, port: number, to: UdpEndpoint, bytes: number): void {
    const last = peer.arrival;
    if (last !== undefined && last.port === port && sameEndpoint(last.to, to) && same16(last.addr16, addrs16, at)) return;
    peer.arrival = { addr16: addrs16.slice(at, at + 16), port, to: { ...to } };
    this.sink.event({ type: 'esp-source', peerHit: peer.hit, from: { address: fromAddr16(addrs16, at), port }, to, bytes });
  }

  private deliver(peer: PeerState, payload: Uint8Array, nextHeader: number): void {
    if (nextHeader === IPPROTO_NONE) return; // dummy packet (RFC 4303 §2.6)
    if (nextHeader === IPPROTO_IPIP) {
      const total = ipv4PacketLength(payload, payload.length);
      if (total === null) return this.drop('esp-bad-inner');
      const view = this.sink.tunReserve(total);
      if (!view) return this.drop('tun-full');
      view.set(payload.subarray(0, total));
      // LSIs mean something only on the host that gave them out: the packet now comes from the
      // LSI we gave this peer and goes to ours.
      rewriteIpv4Addresses(view, peer.lsi, this.ownLsi);
      this.sink.tunCommit(total);
      return;
    }
    const length = IPV6_HEADER_LENGTH + payload.length;
    if (payload.length > 0xffff) return this.drop('esp-bad-inner');
    const view = this.sink.tunReserve(length);
    if (!view) return this.drop('tun-full');
    writeBeetPacket(view, peer.hit, this.ownHit, nextHeader, payload);
    this.sink.tunCommit(length);
  }

  /** Seals and sends one payload; false when it was dropped (the drop is counted). */
  private sealTo(peer: PeerState, out: OutboundState, payload: Uint8Array, nextHeader: number, now: number): boolean {
    let counters: FlowCounters | undefined;
    let member: FlowCounters | undefined;
    if (peer.flows.length > 0 || peer.spread.length > 0) {
      flowKeyOf(payload, nextHeader, KEY);
      const route = peer.flows.length > 0 ? matchKey(peer.flows, false) : undefined;
      if (route?.drop === true) {
        this.drop('flow-held');
        return false;
      }
      // Unbound traffic and flows riding it go where the spread puts them, counted as their flow.
      const spread = (route === undefined || route.spread === true) && peer.spread.length > 0 ? spreadMember(peer.spread, out.sealers) : undefined;
      const to = spread ?? route;
      counters = route?.counters;
      // A route on the peer's own pair is that pair: credit, spare and held copies apply.
      if (to && !(to.local === out.local && to.remote.port === out.remote.port && same16(to.remoteAddr16, out.remoteAddr16))) {
        const sa = out.sealers.get(to.outboundSpi);
        if (sa) return this.sealOnRoute(peer, out, to, sa, payload, nextHeader, now, counters);
      }
      member = spread?.counters;
    }
    let packet: Uint8Array;
    try {
      packet = out.sa.seal(payload, nextHeader, now);
    } catch (err) {
      // Usually sequence numbers exhausted: the rekey we asked for has not landed yet.
      this.drop(err instanceof SealDropError ? err.reason : 'esp-seq-exhausted');
      return false;
    }
    if (!out.verified && !this.spendCredit(peer.hit, packet.length, now)) return false;
    const sent = this.sink.udp(out.local, packet, out.remoteAddr16, out.remote.port);
    const spare = out.spare;
    if (spare !== undefined) {
      if (spare.until <= now) out.spare = undefined;
      else if (this.sink.udp(spare.local, packet, spare.remoteAddr16, spare.remote.port)) this.spareCopies++;
    }
    if (!sent) {
      this.drop('udp-no-socket');
      return false;
    }
    if (out.held) this.sink.hold?.(out.local, packet, out.remoteAddr16, out.remote.port);
    peer.packetsOut++;
    peer.bytesOut += payload.length;
    if (counters) {
      counters.packetsOut++;
      counters.bytesOut += payload.length;
    }
    if (member) {
      member.packetsOut++;
      member.bytesOut += payload.length;
    }
    this.askRekeyIfWorn(peer, out, out.spi, out.sa, now);
    return true;
  }

  /**
   * A flow's packet on its own pair. Routes name only verified pairs (the control plane's rule),
   * so no credit is spent; spare copies and held copies belong to the peer's primary pair.
   */
  private sealOnRoute(
    peer: PeerState, out: OutboundState, route: RouteState, sa: OutboundSealer, payload: Uint8Array, nextHeader: number, now: number, counters: FlowCounters | undefined,
  ): boolean {
    let packet: Uint8Array;
    try {
      packet = sa.seal(payload, nextHeader, now);
    } catch (err) {
      this.drop(err instanceof SealDropError ? err.reason : 'esp-seq-exhausted');
      return false;
    }
    if (!this.sink.udp(route.local, packet, route.remoteAddr16, route.remote.port)) {
      this.drop('udp-no-socket');
      return false;
    }
    peer.packetsOut++;
    peer.bytesOut += payload.length;
    if (counters) {
      counters.packetsOut++;
      counters.bytesOut += payload.length;
    }
    // A spread member counts what it carried (its share of the peer's traffic).
    if (route.spreadKey !== undefined) {
      route.counters.packetsOut++;
      route.counters.bytesOut += payload.length;
    }
    this.askRekeyIfWorn(peer, out, route.outboundSpi, sa, now);
    return true;
  }

  /** Each outbound SA asks once for its own rekey as its sequence space or lifetime runs out. */
  private askRekeyIfWorn(peer: PeerState, out: OutboundState, spi: number, sa: OutboundSealer, now: number): void {
    if (out.rekeyAsked.has(spi) || !sa.needsRekey(now)) return;
    out.rekeyAsked.add(spi);
    this.sink.event({ type: 'rekey-needed', peerHit: peer.hit, spi });
  }

  // ------------------------------------------------------------------------------------------
  // peer table

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  private find(hit: Uint8Array): PeerState | undefined {
    return hit.length === 16 ? this.findAt(hit, 0) : undefined;
  }

  private findAt(b: Uint8Array, at: number): PeerState | undefined {
    const list = this.byHit.get(hitKey(b, at));
    if (!list) return undefined;
    for (const p of list) if (same16(p.hit, b, at)) return p;
    return undefined;
  }

  private peerFor(hit: Uint8Array, lsi: number): PeerState {
    let peer = this.find(hit);
    if (!peer) {
      peer = {
        hit: hit.slice(), lsi, out: undefined, connectAskedAt: -Infinity, credit: undefined, arrival: undefined, flows: [], spread: [], flowCounters: new Map(),
        packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, lastHeardAt: null,
      };
      const key = hitKey(hit, 0);
      const list = this.byHit.get(key);
      if (list) list.push(peer);
      else this.byHit.set(key, [peer]);
    } else if (peer.lsi !== lsi) {
      if (this.byLsi.get(peer.lsi) === peer) this.byLsi.delete(peer.lsi);
      peer.lsi = lsi;
    }
    this.byLsi.set(lsi, peer);
    return peer;
  }

  private forget(peer: PeerState): void {
    const key = hitKey(peer.hit, 0);
    const list = this.byHit.get(key)?.filter((p) => p !== peer) ?? [];
    if (list.length > 0) this.byHit.set(key, list);
    else this.byHit.delete(key);
    if (this.byLsi.get(peer.lsi) === peer) this.byLsi.delete(peer.lsi);
    for (const [spi, e] of this.inbound) if (e.peer === peer) this.inbound.delete(spi);
  }
}
