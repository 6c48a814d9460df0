// HostCores on a virtual clock over a simulated internet: each host has uplinks (interfaces
// with one address each) that can go down, lose packets one way, or be slow; every datagram
// crosses the sender's uplink and the receiver's. A data plane model on each host sends a
// stream of numbered packets to its peer along whatever path the core commanded (with the
// spare copies and the hold and re-send the core asks for), and counts what arrives, so tests
// assert what a user notices: packets lost, the longest gap, the pair carrying traffic, how
// often it moved. Seeded; the same seed replays the same run. A data packet sent to a relay
// crosses it as ESP does: the relay's data relay decides, by the SPI the core chose for the pair,
// whether and where it goes on (see RelayNode in sim-relay.ts).

import { HostCore, type CoreEvent, type DataplaneCommand, type HostCoreConfig } from '../../src-main/core/host-core.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { EngineLocator } from '../../src-main/core/path-manager.js';
import type { InterfaceKind } from '../../src-shared/vocabulary.js';
import type { LocatorCause } from '../../src-main/mobility/local-addresses.js';
import type { MultihomingMode } from '../../src-main/hip/locator-plan.js';
import { ReplayWindow } from '../../src-main/esp/replay-window.js';
import { ESP_SEQ_MAX, ESP_SEQ_REKEY_THRESHOLD } from '../../src-main/esp/sa.js';
import { Prng, seedFromEnv, type SimNode, type SimTransmit } from './sim-network.js';
import { SimNat, type NatBehaviour } from './sim-nat.js';
import { identity, seededCrypto } from './hip-hosts.js';

export const PORT = 10500;
/** The size of one data packet of the streams, as ESP on the wire. */
const DATA_BYTES = 1200;
/** How often a sampling data plane reports its counters (the engine's stats interval). */
const STATS_MS = 50;

export interface UplinkSpec {
  ifname: string;
  kind: InterfaceKind;
  address: string;
  delayMs?: number;
  /** Not there at the start (no address yet): `appear` brings it. */
  absent?: boolean;
  /** The uplink sits behind this NAT (from `world.addNat`): `address` is private to it. */
  nat?: SimNat;
}

/** One interface of a host and what the network does to packets crossing it. */
export interface Uplink {
  readonly ifname: string;
  readonly kind: InterfaceKind;
  address: string;
  /** The OS sees it (carrier, address): the monitor reports it operational. */
  up: boolean;
  /** Packets leaving / arriving through it are lost (with no interface event: a silent failure). */
  txDead: boolean;
  rxDead: boolean;
  /** One-way delay through this uplink. */
  delayMs: number;
  /** Probability a packet through it is lost, each way. */
  loss: number;
  /** Gone from the host (the address was removed). */
  removed: boolean;
  /**
   * The router beyond it refuses packets through it, both ways, with an ICMP destination
   * unreachable to their sender (an nftables `reject`): lost, and the sender is told.
   */
  rejecting: boolean;
  /**
   * The NAT this uplink sits behind (undefined: on the public internet). Its address is private
   * to that NAT: only uplinks behind the same NAT reach it directly; everyone else sees the NAT's
   * public endpoint.
   */
  nat: SimNat | undefined;
  /** The user's `meteredInterfaces` names it: reported to the core on each of its locators. */
  metered?: boolean;
}

function uplinkOf(u: UplinkSpec): Uplink {
  return { ...u, up: !u.absent, txDead: false, rxDead: false, delayMs: u.delayMs ?? 10, loss: 0, removed: u.absent === true, rejecting: false, nat: u.nat };
}

/** A sim host's core settings; `multihoming` is HIP's (fault tolerance unless given). */
export type SimHostConfig = Partial<Omit<HostCoreConfig, 'host'>> & { multihoming?: MultihomingMode };

interface Flight { at: number; order: number; deliver(): void }

interface SentPacket { seq: number; sentAt: number }

/** The stream one host sends its peer, and what of it arrived. */
export class Stream {
  readonly sent: SentPacket[] = [];
  readonly arrivals = new Map<number, { at: number; local: string; remote: string; spi: number | undefined }>();
  duplicates = 0;

  /** Packets sent in [from, to) that never arrived (anything still in flight counts as arrived later). */
  lost(from = 0, to = Number.POSITIVE_INFINITY): number {
    return this.sent.filter((p) => p.sentAt >= from && p.sentAt < to && !this.arrivals.has(p.seq)).length;
  }

  /** The longest time without a new packet arriving, within [from, to). */
  longestGap(from: number, to: number): number {
    const times = [...this.arrivals.values()].map((a) => a.at).filter((t) => t >= from && t < to).sort((x, y) => x - y);
    let gap = 0;
    let last = from;
    for (const t of times) {
      gap = Math.max(gap, t - last);
      last = t;
    }
    return Math.max(gap, to - last);
  }

  /** The pair (sender's address → receiver's address) the last packets arrived over. */
  lastPair(): { from: string; to: string } | undefined {
    let best: { at: number; local: string; remote: string } | undefined;
    for (const a of this.arrivals.values()) if (best === undefined || a.at >= best.at) best = a;
    return best && { from: best.remote, to: best.local };
  }
}

interface PeerPath {
  local: Endpoint;
  remote: Endpoint;
  /** The outbound SA the data plane seals with (install-sa's activeSpi, then set-path's); a relay forwards the packet by it. */
  spi: number;
  /** The base outbound SA (install-sa's, or the one promote-base made base since). */
  baseSpi: number;
  /** Until HIP has verified `remote`, data goes there only within the peer's credit. */
  verified: boolean;
  spare?: { local: Endpoint; remote: Endpoint; until: number };
  held: boolean;
  heldCopies: number[];
}

export class SimHost {
  readonly core: HostCore;
  readonly uplinks: Uplink[];
  readonly events: Array<CoreEvent & { at: number }> = [];
  readonly commands: Array<DataplaneCommand & { at: number }> = [];
  /** The data plane: per peer, where its ESP goes. */
  readonly paths = new Map<string, PeerPath>();
  /** Packets to the peer, numbered; `stream` of the peer counts what arrives. */
  readonly stream = new Stream();
  peer: SimHost | undefined;
  /** Send a data packet to the peer this often (0: no traffic). */
  dataIntervalMs = 10;
  nextDataAt = Number.POSITIVE_INFINITY;
  /** Data packets sent to a peer address HIP had not verified yet (RFC 8046 credit territory). */
  readonly unverifiedSends: Array<{ at: number; address: string }> = [];
  /** Data packets not sent: the path's address was unverified and the peer's credit spent. */
  creditDrops = 0;
  /** HIP datagrams this host sent (base exchange, UPDATEs, probes and their answers). */
  hipSent = 0;
  /**
   * Report received ESP as the native fast path does: the pair it arrives on only when that
   * changes ('esp-source'), the rest as counters ('stats', every STATS_MS at most), instead of
   * one 'esp' report per packet.
   */
  sampledReports = false;
  /**
   * Model ESP on receipt as the data plane does: a packet is opened only by an inbound SA the
   * core installed and not yet retired, and passes that SA's anti-replay window. Off: every
   * packet of the stream is taken (the tests that model no SAs).
   */
  espModel = false;
  /** With `espModel`, the packets refused: no such inbound SA, or older than its window. */
  readonly espRefused = { unknownSpi: 0, tooOld: 0 };
  /**
   * How long a command of the core takes to land in the data plane (the engine's turn and the
   * hop to the data-plane worker): ESP reaching the host meanwhile meets the tables as they were.
   * HIP datagrams take the same queue (the worker's sockets send them), behind the commands.
   */
  dataplaneLatencyMs = 0;
  /** Every HIP datagram this host sent, when `traceHip` is on. */
  traceHip = false;
  readonly hipTrace: Array<{ at: number; bytes: Uint8Array; from: Endpoint; to: Endpoint }> = [];
  private readonly inboundSas = new Map<number, { window: ReplayWindow; retireAt: number | undefined }>();
  /** Per outbound SPI, the last ESP sequence number used. */
  private readonly espSeqs = new Map<number, number>();
  /** Outbound SPIs whose rekey this data plane asked for (once each, as the real one does). */
  private readonly rekeyAsked = new Set<number>();
  /** Packets not sealed: their SA's sequence numbers ran out (RFC 4303 §3.3.3: never cycled). */
  seqExhausted = 0;
  private seq = 0;
  private readonly sampled = new Map<string, { arrival: string; packetsIn: number; statsAt: number }>();

  constructor(readonly world: SimWorld, readonly name: string, uplinks: readonly UplinkSpec[], config: SimHostConfig, slot: number) {
    this.uplinks = uplinks.map(uplinkOf);
    const { multihoming, ...core } = config;
    this.core = new HostCore(
      {
        host: { identity: identity('ecdsa-p256', slot), crypto: seededCrypto(world.seed ^ (0x51 + slot)), ...(multihoming === undefined ? {} : { multihoming }) },
        locators: 'monitor', ...core,
      },
      world.now,
    );
    this.core.handleInterfaces(world.now, this.locators(), []);
  }

  /** Our locators as the interface monitor would report them, best first. */
  locators(): EngineLocator[] {
    return this.uplinks.filter((u) => !u.removed).map((u, i) => ({
      address: u.address, port: PORT, ifname: u.ifname, kind: u.kind, operational: u.up, preferenceRank: i, defaultRoute: true, prefixLength: 24,
      ...(u.metered === true ? { metered: true } : {}),
    }));
  }

  uplink(ifname: string): Uplink {
    const u = this.uplinks.find((x) => x.ifname === ifname);
    if (u === undefined) throw new Error(`${this.name} has no uplink ${ifname}`);
    return u;
  }

  /** The pair the data plane sends the peer's ESP on: "our address > theirs". */
  pathText(): string | undefined {
    const p = this.peer && this.paths.get(hitToText(this.peer.core.hit));
    return p && `${p.local.address}>${p.remote.address}`;
  }

  /** The peer's endpoint our data plane sends its ESP to: what HIP learnt (behind a NAT, the NAT's public endpoint). */
  remoteOf(peer: SimHost | Uint8Array): Endpoint | undefined {
    return this.paths.get(hitToText(peer instanceof SimHost ? peer.core.hit : peer))?.remote;
  }

  /** Our stream to the peer stops (the tunnel goes idle: keepalives only) or starts again now. */
  setStreaming(on: boolean, intervalMs = 10): void {
    this.dataIntervalMs = on ? intervalMs : 0;
    this.nextDataAt = on ? this.world.now : Number.POSITIVE_INFINITY;
  }

  /** Moves of the data path (set-path commands that changed the pair), after `since`. */
  pathChanges(since = 0): Array<{ at: number; from: string; to: string; cause: string }> {
    const out: Array<{ at: number; from: string; to: string; cause: string }> = [];
    let last: string | undefined;
    for (const c of this.commands) {
      if (c.type === 'install-sa') last = `${c.local.address}>${c.remote.address}`;
      if (c.type !== 'set-path') continue;
      const to = `${c.local.address}>${c.remote.address}`;
      if (to !== last && c.at >= since) out.push({ at: c.at, from: last ?? '', to, cause: c.cause });
      last = to;
    }
    return out;
  }

  handovers(since = 0): Array<Extract<CoreEvent, { type: 'handover' }> & { at: number }> {
    return this.events.filter((e): e is Extract<CoreEvent, { type: 'handover' }> & { at: number } => e.type === 'handover' && e.at >= since);
  }

  established(): boolean {
    return this.core.associations().some((a) => a.state === 'ESTABLISHED');
  }

  /** An uplink that was absent gets its address (and carrier): the monitor reports it. */
  appear(ifname: string, address?: string): void {
    const u = this.uplink(ifname);
    if (address !== undefined) u.address = address;
    u.removed = false;
    u.up = true;
    this.reportInterfaces([{ type: 'appeared', address: u.address, ifname }]);
  }

  /** The uplink loses its carrier: its address stays, not operational. */
  linkDown(ifname: string): void {
    const u = this.uplink(ifname);
    u.up = false;
    this.reportInterfaces([{ type: 'not-operational', address: u.address, ifname, detail: 'no carrier' }]);
  }

  linkUp(ifname: string): void {
    const u = this.uplink(ifname);
    u.up = true;
    this.reportInterfaces([{ type: 'operational', address: u.address, ifname }]);
  }

  /**
   * The uplink's address is replaced (DHCP renumbering, a new network): the old one is lost.
   * `nat` puts the new network behind that NAT (undefined: the public internet); left out, the
   * uplink stays behind the NAT it had.
   */
  renumber(ifname: string, address: string, opts: { nat?: SimNat | undefined } = {}): void {
    const u = this.uplink(ifname);
    const old = u.address;
    u.address = address;
    if ('nat' in opts) u.nat = opts.nat;
    this.reportInterfaces([{ type: 'lost', address: old, ifname }, { type: 'appeared', address, ifname }]);
  }

  /** Reports the uplinks to the core as the interface monitor would, with the causes. */
  reportInterfaces(causes: LocatorCause[]): void {
    this.core.handleInterfaces(this.world.now, this.locators(), causes);
    this.world.drain();
  }

  /** Carries out what the core said: commands into the data plane, datagrams onto the network. */
  drain(): boolean {
    let progressed = false;
    const now = this.world.now;
    for (let c = this.core.pollCommand(); c; c = this.core.pollCommand()) {
      const command = c;
      const land = (): void => {
        this.commands.push({ ...command, at: this.world.now });
        this.execute(command);
      };
      if (this.dataplaneLatencyMs > 0) this.world.at(now + this.dataplaneLatencyMs, land);
      else land();
      progressed = true;
    }
    for (let t = this.core.pollTransmit(); t; t = this.core.pollTransmit()) {
      const { bytes, to: dest } = t;
      const from = t.from ?? this.defaultLocal();
      // HIP datagrams leave through the data plane's sockets, after the commands before them.
      const transmit = (): void => {
        this.hipSent++;
        if (this.traceHip && from !== undefined) this.hipTrace.push({ at: this.world.now, bytes, from, to: dest });
        if (from !== undefined) this.world.send(this, from, dest, (to, seenFrom, seenTo) => to.handleDatagram(this.world.now, bytes, seenFrom, seenTo));
      };
      if (this.dataplaneLatencyMs > 0) this.world.at(now + this.dataplaneLatencyMs, transmit);
      else transmit();
      progressed = true;
    }
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
      this.events.push({ ...e, at: now });
      progressed = true;
    }
    return progressed;
  }

  handleDatagram(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.core.handleDatagram(now, bytes, from, to);
  }

  /** A router refused our packet from `local` to `remote` (ICMP destination unreachable). */
  refused(now: number, local: Endpoint, remote: Endpoint): void {
    this.core.handleDataplane(now, { type: 'icmp-error', local, remote });
  }

  private defaultLocal(): Endpoint | undefined {
    const u = this.uplinks.find((x) => x.up && !x.removed);
    return u && { address: u.address, port: PORT };
  }

  private execute(c: DataplaneCommand): void {
    const now = this.world.now;
    switch (c.type) {
      case 'install-sa': {
        const prev = this.paths.get(hitToText(c.peerHit));
        this.inboundSas.set(c.sa.inboundSpi, { window: new ReplayWindow(), retireAt: undefined });
        this.paths.set(hitToText(c.peerHit), {
          local: c.local, remote: c.remote, spi: c.activeSpi, baseSpi: c.sa.outboundSpi, verified: c.verified, held: prev?.held ?? false, heldCopies: prev?.heldCopies ?? [],
          ...(prev?.spare ? { spare: prev.spare } : {}),
        });
        if (this.nextDataAt === Number.POSITIVE_INFINITY && this.dataIntervalMs > 0) this.nextDataAt = now;
        return;
      }
      case 'add-sas':
        this.inboundSas.set(c.sa.inboundSpi, { window: new ReplayWindow(), retireAt: undefined });
        return;
      case 'promote-base': {
        const p = this.paths.get(hitToText(c.peerHit));
        if (!p) return;
        if (p.spi === p.baseSpi) p.spi = c.spi;
        p.baseSpi = c.spi;
        return;
      }
      case 'retire-inbound': {
        const sa = this.inboundSas.get(c.spi);
        if (sa) sa.retireAt = now + c.afterMs;
        return;
      }
      case 'drop-sas':
        this.paths.delete(hitToText(c.peerHit));
        return;
      case 'set-path': {
        const p = this.paths.get(hitToText(c.peerHit));
        if (!p) return;
        p.local = c.local;
        p.remote = c.remote;
        p.spi = c.spi;
        p.verified = c.verified;
        if (p.spare && p.spare.local.address === c.local.address && p.spare.remote.address === c.remote.address) delete p.spare;
        // What was sent while the pair was in doubt goes again on the new one.
        if (p.held) {
          for (const seq of p.heldCopies.splice(0)) {
            const esp = this.seal(p.spi);
            if (esp) this.transmitData(seq, p.local, p.remote, p.verified, esp);
          }
        }
        return;
      }
      case 'set-spare': {
        const p = this.paths.get(hitToText(c.peerHit));
        if (!p) return;
        if (c.forMs > 0) p.spare = { local: c.local, remote: c.remote, until: now + c.forMs };
        else delete p.spare;
        return;
      }
      case 'set-held': {
        const p = this.paths.get(hitToText(c.peerHit));
        if (!p) return;
        p.held = c.on;
        if (!c.on) p.heldCopies = [];
        return;
      }
      default:
        return;
    }
  }

  /** One data packet to the peer, on the path (and the spare), kept while the pair is in doubt. */
  sendData(): void {
    this.nextDataAt = this.world.now + this.dataIntervalMs;
    const peer = this.peer;
    const p = peer && this.paths.get(hitToText(peer.core.hit));
    if (!peer || !p) return;
    const seq = this.seq++;
    this.stream.sent.push({ seq, sentAt: this.world.now });
    // The spare copy is the same ESP packet (same SA, same sequence number) sent on another pair.
    const esp = this.seal(p.spi);
    if (esp) this.transmitData(seq, p.local, p.remote, p.verified, esp);
    if (esp && p.spare && p.spare.until > this.world.now) this.transmitData(seq, p.spare.local, p.spare.remote, true, esp);
    if (p.held) {
      p.heldCopies.push(seq);
      if (p.heldCopies.length > 256) p.heldCopies.shift();
    }
    this.core.handleDataplane(this.world.now, { type: 'sent', peerHit: peer.core.hit, packets: 1 });
  }

  /** Test hook: outbound SA `spi` seals its next packet with sequence number `seq` (e.g. near 2^32). */
  setNextEspSeq(spi: number, seq: number): void {
    this.espSeqs.set(spi, seq - 1);
  }

  /**
   * The SPI and next sequence number of one packet sealed with outbound SA `spi`; undefined
   * once its sequence numbers ran out. From ESP_SEQ_REKEY_THRESHOLD on, the SA asks for its
   * rekey, naming its SPI, as the data plane does.
   */
  private seal(spi: number): { spi: number; espSeq: number } | undefined {
    const espSeq = (this.espSeqs.get(spi) ?? 0) + 1;
    if (espSeq > ESP_SEQ_MAX) {
      this.seqExhausted++;
      return undefined;
    }
    this.espSeqs.set(spi, espSeq);
    if (espSeq >= ESP_SEQ_REKEY_THRESHOLD && !this.rekeyAsked.has(spi) && this.peer !== undefined) {
      this.rekeyAsked.add(spi);
      this.core.handleDataplane(this.world.now, { type: 'rekey-needed', peerHit: this.peer.core.hit, spi });
    }
    return { spi, espSeq };
  }

  private transmitData(seq: number, local: Endpoint, remote: Endpoint, verified: boolean, esp: { spi: number; espSeq: number }): void {
    const peerHit = this.peer!.core.hit;
    if (!verified && !this.core.authorizeSend(this.world.now, peerHit, remote, DATA_BYTES)) {
      this.creditDrops++;
      return;
    }
    const state = this.core.association(peerHit)?.peerLocators.find((l) => l.address === remote.address)?.state;
    if (state === 'UNVERIFIED') this.unverifiedSends.push({ at: this.world.now, address: remote.address });
    this.world.send(this, local, remote, (to, seenFrom, seenTo) => {
      if (to instanceof SimHost) to.receiveData(this, seq, seenFrom, seenTo, esp);
      else to.handleData(this.world.now, espDatagram(esp.spi, seq, this.world.hosts.indexOf(this)), seenFrom, seenTo);
    });
  }

  /** A data packet as ESP on the wire, passed on by a relay: counted as the sender's stream arriving. */
  handleData(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const sent = readEspDatagram(bytes);
    const sender = sent && this.world.hosts[sent.sender];
    if (sent !== undefined && sender !== undefined && sender.peer === this) this.receiveData(sender, sent.seq, from, to);
  }

  /** Whether an inbound SA of ours opens this packet (a copy it already took counts as opened: a duplicate). */
  private opened(esp: { spi: number; espSeq: number }): boolean {
    const sa = this.inboundSas.get(esp.spi);
    if (sa === undefined || (sa.retireAt !== undefined && sa.retireAt <= this.world.now)) {
      this.espRefused.unknownSpi++;
      return false;
    }
    const verdict = sa.window.check(esp.espSeq);
    if (verdict === 'too-old') {
      this.espRefused.tooOld++;
      return false;
    }
    if (verdict === 'ok') sa.window.accept(esp.espSeq);
    return true;
  }

  /** The peer's data packet arrived: counted once (the anti-replay window drops copies), and reported. */
  receiveData(from: SimHost, seq: number, src: Endpoint, dst: Endpoint, esp?: { spi: number; espSeq: number }): void {
    if (!this.paths.has(hitToText(from.core.hit))) return;
    if (this.espModel && esp !== undefined && !this.opened(esp)) return;
    if (from.stream.arrivals.has(seq)) from.stream.duplicates++;
    else from.stream.arrivals.set(seq, { at: this.world.now, local: dst.address, remote: src.address, spi: esp?.spi });
    if (!this.sampledReports) {
      this.core.handleDataplane(this.world.now, { type: 'esp', peerHit: from.core.hit, bytes: DATA_BYTES, from: src, to: dst });
      return;
    }
    const key = hitToText(from.core.hit);
    const s = this.sampled.get(key) ?? { arrival: '', packetsIn: 0, statsAt: Number.NEGATIVE_INFINITY };
    this.sampled.set(key, s);
    s.packetsIn++;
    const arrival = `${src.address}|${src.port}>${dst.address}|${dst.port}`;
    if (arrival !== s.arrival) {
      s.arrival = arrival;
      this.core.handleDataplane(this.world.now, { type: 'esp-source', peerHit: from.core.hit, from: src, to: dst, bytes: DATA_BYTES });
    }
    if (this.world.now - s.statsAt >= STATS_MS) {
      s.statsAt = this.world.now;
      // Sent packets are reported one by one ('sent'), so the counters carry only what came in.
      this.core.handleDataplane(this.world.now, { type: 'stats', peers: [{ peerHit: from.core.hit, packetsIn: s.packetsIn, packetsOut: 0, lastHeardMs: 0 }] });
    }
  }
}

/**
 * A modelled data packet as a relay sees it: the SPI first (RFC 4303 §2), then which packet of
 * whose stream it is, padded to the stream's packet size (the relay's byte budget counts it).
 */
function espDatagram(spi: number, seq: number, sender: number): Uint8Array {
  const out = new Uint8Array(DATA_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, spi >>> 0);
  v.setUint32(4, seq >>> 0);
  v.setUint32(8, sender >>> 0);
  return out;
}

function readEspDatagram(bytes: Uint8Array): { seq: number; sender: number } | undefined {
  if (bytes.length !== DATA_BYTES) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return { seq: v.getUint32(4), sender: v.getUint32(8) };
}

/** A node that passes ESP on (a relay): it takes a data packet's bytes, and marks the datagrams that carry one. */
export interface SimEspNode extends SimNode {
  /** False when the node dropped it. */
  handleEsp(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): boolean;
  /** `esp`: the datagram is ESP, for a host's data plane, not its HIP. */
  pollTransmit(): (SimTransmit & { esp?: boolean }) | undefined;
}

const carriesEsp = (node: SimNode): node is SimEspNode => typeof (node as Partial<SimEspNode>).handleEsp === 'function';

/**
 * Any sans-IO node that speaks in datagrams (a HipHost, a relay) on the world's network, with
 * uplinks like a host's (behind a NAT or not, lossy or not). It sends and receives real bytes;
 * the data streams of SimHosts are modelled, not bytes, and are dropped when sent to it.
 */
export class SimDatagramNode {
  readonly uplinks: Uplink[];
  /** Modelled data packets (a SimHost's stream) that reached this node: they carry no bytes. */
  modelledDataDropped = 0;
  /** ICMP errors routers sent back for this node's packets. */
  readonly refusals: Array<{ at: number; local: Endpoint; remote: Endpoint }> = [];

  constructor(readonly world: SimWorld, readonly name: string, uplinks: readonly UplinkSpec[], readonly node: SimNode) {
    this.uplinks = uplinks.map(uplinkOf);
  }

  handleDatagram(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.node.handlePacket(now, bytes, from, to);
  }

  /** A host's data packet (as ESP) reached this node: a relay passes it on, anything else drops it. */
  handleData(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    if (!carriesEsp(this.node) || !this.node.handleEsp(now, bytes, from, to)) this.modelledDataDropped++;
  }

  refused(now: number, local: Endpoint, remote: Endpoint): void {
    this.refusals.push({ at: now, local, remote });
  }

  /** Puts what the node wants sent onto the network (from its first live uplink when it names no source). */
  drain(): boolean {
    let progressed = false;
    for (let t: (SimTransmit & { esp?: boolean }) | undefined = this.node.pollTransmit(); t; t = this.node.pollTransmit()) {
      const u = this.uplinks.find((x) => x.up && !x.removed);
      const from = t.from ?? (u && { address: u.address, port: PORT });
      const bytes = t.bytes;
      const esp = t.esp === true;
      if (from !== undefined) {
        this.world.send(this, from, t.to, (to, seenFrom, seenTo) => {
          if (esp) to.handleData(this.world.now, bytes, seenFrom, seenTo);
          else to.handleDatagram(this.world.now, bytes, seenFrom, seenTo);
        });
      }
      progressed = true;
    }
    return progressed;
  }
}

/** Whatever sits on the world's network: it has uplinks, takes datagrams, and hears of refusals. */
export type SimAttached = SimHost | SimDatagramNode;

export class SimWorld {
  now = 0;
  readonly seed: number;
  readonly prng: Prng;
  readonly hosts: SimHost[] = [];
  readonly nats: SimNat[] = [];
  readonly nodes: SimDatagramNode[] = [];
  private flights: Flight[] = [];
  private order = 0;
  private readonly scheduled: Array<{ at: number; order: number; run(): void }> = [];

  constructor(seedName: string, fallbackSeed: number) {
    this.seed = seedFromEnv(seedName, fallbackSeed);
    this.prng = new Prng(this.seed);
  }

  addHost(name: string, uplinks: readonly UplinkSpec[], config: SimHostConfig = {}): SimHost {
    const h = new SimHost(this, name, uplinks, config, this.hosts.length);
    this.hosts.push(h);
    return h;
  }

  /** A sans-IO datagram node (a HipHost, a relay) on the network; it is run along with the hosts. */
  addNode(name: string, uplinks: readonly UplinkSpec[], node: SimNode): SimDatagramNode {
    const n = new SimDatagramNode(this, name, uplinks, node);
    this.nodes.push(n);
    return n;
  }

  /**
   * A NAT with one public address (RFC 4787 behaviour); put an uplink behind it with
   * `UplinkSpec.nat` (several hosts may share it: a CGNAT). Its public ports come from a PRNG of
   * its own, drawn from the world's seed, so adding one leaves the world's other draws as they were.
   */
  addNat(name: string, publicAddress: string, behaviour: NatBehaviour): SimNat {
    const nat = new SimNat(name, publicAddress, behaviour, new Prng((this.seed ^ Math.imul(0x9e37_79b9, this.nats.length + 1)) >>> 0));
    this.nats.push(nat);
    return nat;
  }

  /** The uplink with `address` in `realm` (behind that NAT; undefined: the public internet). */
  private hostAt(address: string, realm: SimNat | undefined): { host: SimAttached; uplink: Uplink } | undefined {
    for (const host of [...this.hosts, ...this.nodes]) {
      const uplink = host.uplinks.find((u) => u.address === address && !u.removed && u.nat === realm);
      if (uplink) return { host, uplink };
    }
    return undefined;
  }

  /**
   * Where a packet that left `realm` for `to` (not in that realm) ends up: out through the
   * realm's NAT (a public source endpoint), across the internet, and in through the NAT owning
   * `to` if `to` is a NAT's public address. Undefined when a NAT drops it (each NAT counts why).
   */
  private cross(realm: SimNat | undefined, from: Endpoint, to: Endpoint): { dest: { host: SimAttached; uplink: Uplink }; seenFrom: Endpoint; seenTo: Endpoint } | undefined {
    const intoNat = this.nats.find((n) => n.publicAddress === to.address);
    let seenFrom = from;
    if (realm !== undefined) {
      if (intoNat === realm && realm.behaviour.hairpinning !== true) {
        realm.counters.hairpinDropped++;
        return undefined;
      }
      const outside = realm.outbound(this.now, from, to);
      if (outside === undefined) return undefined;
      seenFrom = outside;
    }
    if (intoNat === undefined) {
      const dest = this.hostAt(to.address, undefined);
      return dest && { dest, seenFrom, seenTo: to };
    }
    const inside = intoNat.inbound(this.now, seenFrom, to);
    const dest = inside && this.hostAt(inside.address, intoNat);
    return dest && inside && { dest, seenFrom, seenTo: inside };
  }

  /**
   * A packet from `sender` leaving `from` towards `to`: it crosses both uplinks and the NATs
   * between them, or is lost. `deliver` gets the endpoints the receiver sees: after a NAT the
   * source is the NAT's public endpoint, and a packet in through a NAT arrives at the internal one.
   * NATs decide when the packet is sent (delays are milliseconds, their timeouts seconds).
   */
  send(sender: SimAttached, from: Endpoint, to: Endpoint, deliver: (receiver: SimAttached, seenFrom: Endpoint, seenTo: Endpoint) => void): void {
    const out = sender.uplinks.find((u) => u.address === from.address && !u.removed);
    // No such address, or its interface is down: the send fails locally (ENETUNREACH).
    if (out === undefined || !out.up) return;
    // Same realm (the public internet, or the LAN behind one NAT): no translation.
    const near = this.hostAt(to.address, out.nat);
    // The refusing router sits just beyond the rejecting uplink: its ICMP error crosses back.
    if (out.rejecting || near?.uplink.rejecting) {
      this.refuse(sender, out, from, to, 2 * (out.delayMs + (out.rejecting ? 0 : near!.uplink.delayMs)));
      return;
    }
    if (out.txDead || this.prng.next() < out.loss) return;
    let route = near && { dest: near, seenFrom: from, seenTo: to };
    if (route === undefined) {
      route = this.cross(out.nat, from, to);
      if (route === undefined) return;
      if (route.dest.uplink.rejecting) {
        this.refuse(sender, out, from, to, 2 * (out.delayMs + route.dest.uplink.delayMs));
        return;
      }
    }
    const { dest, seenFrom, seenTo } = route;
    if (!dest.uplink.up || dest.uplink.rxDead || this.prng.next() < dest.uplink.loss) return;
    const at = this.now + out.delayMs + dest.uplink.delayMs;
    const receiver = dest.host;
    const uplink = dest.uplink;
    const realm = uplink.nat;
    this.flights.push({
      at, order: this.order++,
      // The receiving address may have gone (or moved behind another NAT) while the packet was in flight.
      deliver: () => {
        if (!uplink.removed && uplink.up && !uplink.rxDead && uplink.address === seenTo.address && uplink.nat === realm) deliver(receiver, seenFrom, seenTo);
      },
    });
  }

  /** An ICMP destination unreachable for the packet `from` → `to` reaches its sender after `afterMs`. */
  private refuse(sender: SimAttached, out: Uplink, from: Endpoint, to: Endpoint, afterMs: number): void {
    this.flights.push({
      at: this.now + afterMs, order: this.order++,
      deliver: () => {
        if (!out.removed && out.up && out.address === from.address) sender.refused(this.now, from, to);
      },
    });
  }

  /** Runs `f` at virtual time `at`. */
  at(at: number, f: () => void): void {
    this.scheduled.push({ at, order: this.order++, run: f });
  }

  /** Every host carries out what its core said, until nobody has anything more. */
  drain(): void {
    for (let guard = 0; guard < 10_000; guard++) {
      let progressed = false;
      for (const h of this.hosts) progressed = h.drain() || progressed;
      for (const n of this.nodes) progressed = n.drain() || progressed;
      if (!progressed) return;
    }
    throw new Error('hosts did not settle');
  }

  private nextTime(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const f of this.flights) next = Math.min(next, f.at);
    for (const s of this.scheduled) next = Math.min(next, s.at);
    for (const h of this.hosts) {
      next = Math.min(next, h.core.pollTimeout() ?? Number.POSITIVE_INFINITY, h.nextDataAt);
    }
    for (const n of this.nodes) next = Math.min(next, n.node.nextTimeout() ?? Number.POSITIVE_INFINITY);
    return next;
  }

  /** Runs everything due up to `until` (virtual ms). */
  runUntil(until: number): void {
    this.drain();
    for (let guard = 0; guard < 5_000_000; guard++) {
      const next = this.nextTime();
      if (next > until) break;
      this.now = Math.max(this.now, next);
      const due = this.flights.filter((f) => f.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
      this.flights = this.flights.filter((f) => f.at > this.now);
      for (const f of due) f.deliver();
      const jobs = this.scheduled.filter((s) => s.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
      for (const j of jobs) this.scheduled.splice(this.scheduled.indexOf(j), 1);
      for (const j of jobs) j.run();
      for (const h of this.hosts) {
        const t = h.core.pollTimeout();
        if (t !== undefined && t <= this.now) h.core.handleTimeout(this.now);
        if (h.nextDataAt <= this.now) h.sendData();
      }
      for (const n of this.nodes) {
        const t = n.node.nextTimeout();
        if (t !== undefined && t <= this.now) n.node.handleTimeout(this.now);
      }
      this.drain();
    }
    this.now = Math.max(this.now, until);
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }
}

/** A connects to B (A's first uplink to B's first); both ESTABLISHED and their streams flowing. */
export function connect(world: SimWorld, a: SimHost, b: SimHost): void {
  a.peer = b;
  b.peer = a;
  const from = a.uplinks[0]!;
  const to = b.uplinks[0]!;
  a.core.connect(world.now, b.core.hit, { address: to.address, port: PORT }, { address: from.address, port: PORT });
  const deadline = world.now + 5_000;
  while (!(a.established() && b.established()) && world.now < deadline) world.runFor(10);
  if (!(a.established() && b.established())) throw new Error(`base exchange did not complete (seed ${world.seed})`);
}

export const A_WIFI = '192.0.2.10';
export const A_CELL = '203.0.113.7';
export const B_ETH = '198.51.100.2';

/**
 * The mobile world: A has wifi (preferred) and cellular uplinks, B one wired uplink; A connects
 * to B over wifi and both stream 100 packets/s to each other. `cell: 'absent'` leaves cellular
 * without an address until `a.appear('cell0')`.
 */
export function mobileWorld(seedName: string, fallbackSeed: number, opts: { cell?: 'present' | 'absent' } = {}): { world: SimWorld; a: SimHost; b: SimHost } {
  const world = new SimWorld(seedName, fallbackSeed);
  const a = world.addHost('A', [
    { ifname: 'wifi0', kind: 'wifi', address: A_WIFI, delayMs: 5 },
    { ifname: 'cell0', kind: 'cellular', address: A_CELL, delayMs: 25, absent: opts.cell === 'absent' },
  ]);
  const b = world.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }]);
  connect(world, a, b);
  world.runFor(2_000);
  return { world, a, b };
}

/** What a user of A and of B noticed between `since` and `end`: one line for the test's output. */
export function outcome(a: SimHost, b: SimHost, since: number, end: number): string {
  return [
    `A→B lost ${a.stream.lost(since, end)} gap ${a.stream.longestGap(since, end)} ms`,
    `B→A lost ${b.stream.lost(since, end)} gap ${b.stream.longestGap(since, end)} ms`,
    `moves A ${a.pathChanges(since).length} B ${b.pathChanges(since).length}`,
    `A on ${a.pathText()} B on ${b.pathText()}`,
  ].join('; ');
}
