// The data plane's packet logic, without I/O: a TUN packet is routed by its inner destination
// (a peer's HIT or the LSI we gave it) to that peer's outbound SA and sealed; an ESP datagram
// is demultiplexed by SPI, opened, and its inner packet rebuilt (BEET, RFC 7402) or rewritten
// (LSI) for our TUN; HIP control datagrams go to the control plane untouched.
// The caller supplies the sink the outputs go to and the time; the core never blocks or throws
// on packet input. What it takes and gives is core-contract.ts; its peers live in peer-table.ts,
// flow routes are matched by flow-match.ts, and opened packets reach the TUN by tun-delivery.ts.

import { EspInboundSa, EspOutboundSa } from '../esp/index.js';
import { CreditAccount } from '../hip/credit.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { fromAddr16, same16 } from '../base/addr16.js';
import { sameEndpoint } from '../../src-shared/vocabulary.js';
import {
  SealDropError, type CoreSink, type FlowCounters, type FlowRoute, type FlowStats, type OutboundSaTuning, type OutboundSealer, type PeerRoute,
  type PeerStats, type SaInstall, type SaSpec, type SparePath,
} from './core-contract.js';
import { classify, matchClassified, routeStates, spreadMember, type RouteState } from './flow-match.js';
import { IPPROTO_IPIP, beetPayload, innerDestination, ipv4PacketLength, readU32 } from './packet.js';
import { PeerTable, type OutboundState, type PeerState } from './peer-table.js';
import { deliverToTun } from './tun-delivery.js';

// What callers of the core pass and get back, named where the core is.
export type { CoreEvent, CoreSink, FlowRoute, OutboundSaTuning, OutboundSealer, PeerRoute, SaInstall, SaSpec } from './core-contract.js';

interface InboundState { sa: EspInboundSa; peer: PeerState; heard: boolean; retireAt: number }

/** A packet for a peer without an SA asks the control plane to connect at most this often. */
const CONNECT_ASK_INTERVAL_MS = 1000;

export class DataplaneCore {
  readonly drops: Record<string, number> = {};
  /** Datagrams also sent on a peer's spare pair (not in its packetsOut). */
  spareCopies = 0;
  private readonly peers = new PeerTable();
  private readonly inbound = new Map<number, InboundState>();

  constructor(
    private readonly ownHit: Uint8Array, private readonly ownLsi: number, private readonly sink: CoreSink, private readonly tuning: OutboundSaTuning = {},
  ) {}

  // ------------------------------------------------------------------------------------------
  // configuration from the control plane

  /** Makes the peers routable (so their packets can trigger a connect); keeps installed SAs. */
  setRoutes(routes: PeerRoute[]): void {
    const keep = new Set<PeerState>();
    for (const r of routes) keep.add(this.peers.peerFor(r.hit, r.lsi));
    for (const list of this.peers.groups()) {
      for (const p of list) if (!keep.has(p) && !p.out) this.forget(p);
    }
  }

  /**
   * Installs an SA pair. With `offloaded`, the native fast path holds both SAs: outbound
   * packets sealed here go through its sealer, and its inbound SA never reaches this table.
   */
  installSa(i: SaInstall, now: number, offloaded?: OutboundSealer): void {
    const peer = this.peers.peerFor(i.hit, i.lsi);
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
    const peer = this.peers.find(hit);
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
    const out = this.peers.find(hit)?.out;
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
    const out = this.peers.find(hit)?.out;
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
    for (const list of this.peers.groups()) {
      for (const p of list) if (p.out && p.out.spi !== p.out.baseSpi) inUse.push({ hit: p.hit, spi: p.out.spi });
    }
    return inUse;
  }

  /** The SPI of the SA the peer's traffic is sealed with now. */
  outboundSpiOf(hit: Uint8Array): number | undefined {
    return this.peers.find(hit)?.out?.spi;
  }

  /**
   * Moves a peer's outbound traffic to another locator pair (mobility); `outboundSpi`, when
   * given, names the SA that carries it from now (an unknown one means the base SA). An
   * address not `verified` gets only what the peer's credit pays for (RFC 8046 §5.6).
   */
  setPath(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, verified: boolean, outboundSpi?: number): void {
    const peer = this.peers.find(hit);
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
    const peer = this.peers.find(hit);
    if (!peer?.out) return;
    peer.out.spare = until > now ? { local, remote: { ...remote }, remoteAddr16: remoteAddr16.slice(), until } : undefined;
  }

  /** While on, every datagram sealed for the peer is also handed to the sink's hold. */
  setHeld(hit: Uint8Array, on: boolean): void {
    const out = this.peers.find(hit)?.out;
    if (out) out.held = on;
  }

  /**
   * Per-flow steering (seed 002): the peer's outbound packets matching a route leave on that
   * route's pair and SA, in array order; the rest take setPath's pair. A route whose SA is not
   * installed steers nothing (its packets take setPath's pair and SA). Routes with a spreadKey
   * are the peer's spread instead. Replaces the peer's routes; a FID kept keeps its counters.
   */
  setFlowRoutes(hit: Uint8Array, routes: readonly FlowRoute[]): void {
    const peer = this.peers.find(hit);
    if (!peer) return;
    const { spread, flows, flowCounters } = routeStates(routes, peer.flowCounters);
    peer.spread = spread;
    peer.flows = flows;
    peer.flowCounters = flowCounters;
  }

  /** The peer's spread members (by outbound SPI and key) and what each carried out since it was set. */
  spreadStats(hit: Uint8Array): { spreadKey: number; outboundSpi: number; local: string; packetsOut: number; bytesOut: number }[] {
    return (this.peers.find(hit)?.spread ?? []).map((m) => ({
      spreadKey: m.spreadKey!, outboundSpi: m.outboundSpi, local: m.local, packetsOut: m.counters.packetsOut, bytesOut: m.counters.bytesOut,
    }));
  }

  /** Every routed flow's counters, by peer. */
  flowStats(): FlowStats[] {
    const out: FlowStats[] = [];
    for (const list of this.peers.groups()) {
      for (const p of list) for (const c of p.flowCounters.values()) out.push({ hit: p.hit, ...c });
    }
    return out;
  }

  /** Whether the peer's traffic goes to an address not verified yet (then credit pays for it). */
  isUnverified(hit: Uint8Array): boolean {
    return this.peers.find(hit)?.out?.verified === false;
  }

  /** Whether any peer's traffic goes to an address not verified yet. */
  anyUnverified(): boolean {
    for (const list of this.peers.groups()) for (const p of list) if (p.out?.verified === false) return true;
    return false;
  }

  /**
   * Bytes the peer sent us that this core did not open itself (the native fast path opened
   * them): they earn credit all the same.
   */
  earnCredit(hit: Uint8Array, bytes: number, now: number): void {
    this.peers.find(hit)?.credit?.received(now, bytes);
  }

  /**
   * Whether `bytes` more may go to the peer's current address now: always when it is verified;
   * otherwise only if credit pays (and then they are charged). A refusal is counted.
   */
  spendCredit(hit: Uint8Array, bytes: number, now: number): boolean {
    const peer = this.peers.find(hit);
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
    for (const list of this.peers.groups()) {
      for (const p of list) {
        const out = p.out;
        if (out?.verified === false && out.remote.port === port && same16(out.remoteAddr16, addr16)) return this.spendCredit(p.hit, bytes, now);
      }
    }
    return true;
  }

  /** Whether the peer's pair is in doubt (setHeld). */
  isHeld(hit: Uint8Array): boolean {
    return this.peers.find(hit)?.out?.held === true;
  }

  /** The peer's spare pair while it is in use. */
  spareOf(hit: Uint8Array, now: number): SparePath | undefined {
    const s = this.peers.find(hit)?.out?.spare;
    return s !== undefined && s.until > now ? s : undefined;
  }

  /** The pair a peer's outbound traffic takes now. */
  pathOf(hit: Uint8Array): { local: string; addr16: Uint8Array; port: number } | undefined {
    const out = this.peers.find(hit)?.out;
    return out && { local: out.local, addr16: out.remoteAddr16.slice(), port: out.remote.port };
  }

  /** An inbound SA replaced by a rekey keeps accepting stragglers until `at`. */
  retireInbound(spi: number, at: number): void {
    const entry = this.inbound.get(spi);
    if (entry) entry.retireAt = at;
  }

  /** Drops the peer's SAs (association closed or failed); its route stays if it is configured. */
  dropSas(hit: Uint8Array): void {
    const peer = this.peers.find(hit);
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
    for (const list of this.peers.groups()) {
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
    if (dest.kind === 'hit') peer = this.peers.findAt(p, dest.at);
    else if (dest.kind === 'lsi') peer = this.peers.withLsi(dest.lsi);
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
    const peer = this.peers.find(hit);
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
      classify(r.payload, r.nextHeader);
      const route = matchClassified(peer.flows, true);
      if (route) {
        route.counters.packetsIn++;
        route.counters.bytesIn += r.payload.length;
      }
    }
    if (this.sink.payload) {
      this.sink.payload(peer.hit, r.nextHeader, r.payload, { address: fromAddr16(fromAddrs16, fromAt), port: fromPort }, to, d.length);
      return;
    }
    const dropped = deliverToTun(this.sink, peer, this.ownHit, this.ownLsi, r.payload, r.nextHeader);
    if (dropped !== undefined) this.drop(dropped);
  }

  /** Reports the pair the peer's ESP arrived on when it is not the one it last arrived on. */
  private noteArrival(peer: PeerState, addrs16: Uint8Array, at: number, port: number, to: UdpEndpoint, bytes: number): void {
    const last = peer.arrival;
    if (last !== undefined && last.port === port && sameEndpoint(last.to, to) && same16(last.addr16, addrs16, at)) return;
    peer.arrival = { addr16: addrs16.slice(at, at + 16), port, to: { ...to } };
    this.sink.event({ type: 'esp-source', peerHit: peer.hit, from: { address: fromAddr16(addrs16, at), port }, to, bytes });
  }

  /** Seals and sends one payload; false when it was dropped (the drop is counted). */
  private sealTo(peer: PeerState, out: OutboundState, payload: Uint8Array, nextHeader: number, now: number): boolean {
    let counters: FlowCounters | undefined;
    let member: FlowCounters | undefined;
    if (peer.flows.length > 0 || peer.spread.length > 0) {
      classify(payload, nextHeader);
      const route = peer.flows.length > 0 ? matchClassified(peer.flows, false) : undefined;
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
  // bookkeeping

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  private forget(peer: PeerState): void {
    this.peers.forget(peer);
    for (const [spi, e] of this.inbound) if (e.peer === peer) this.inbound.delete(spi);
  }
}
