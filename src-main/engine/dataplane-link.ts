// The engine's side of the data plane: starts it (a worker thread with a TUN, or in-process
// without one), translates the core's SA and peer commands into the data-plane contract, and
// turns the data plane's reports back into engine calls (control datagrams, "peer has our
// keys", "rekey", "connect this peer") and counters. Both kinds take the same commands; the
// engine holds no SA state of its own.

import type { SaKeys } from '../hip/host.js';
import { hitKey } from '../../src-shared/vocabulary.js';
import { DataplaneClient } from '../dataplane/client.js';
import { InProcessDataplane } from '../dataplane/in-process.js';
import type { DataplaneCommands, DataplaneStats, VerifiedAddress } from '../dataplane/messages.js';
import type { FlowRoute, OutboundSaTuning } from '../dataplane/core.js';
import { ipv4ToNumber } from '../dataplane/packet.js';
import type { UdpDatagram, UdpEndpoint } from '../platform/udp.js';
import { DEFAULT_TUN_MTU } from '../dataplane/packet.js';
import { assignTunAddresses } from '../platform/tun.js';
import type { PeerDirectory } from './peers.js';
import { toAddr16 } from '../base/addr16.js';

interface LinkCommon {
  hit: Uint8Array;
  lsi: string;
  addresses: string[];
  port: number;
  peers: PeerDirectory;
  onDatagram: (d: UdpDatagram) => void;
  /** `spi`: the outbound SA worn out, the base one or a further one; only its pair is rekeyed. */
  onRekeyNeeded(peerHit: Uint8Array, spi: number): void;
  onNeedConnect(peerHit: Uint8Array): void;
  /** The data plane's sockets changed (mobility), or opening one failed. */
  onLocals?: (locals: UdpEndpoint[], failure?: { address: string; error: string }) => void;
}

export interface InProcessLinkOptions extends LinkCommon {
  /** An authenticated payload from the peer, the pair it came over and the datagram's size. */
  onPayload(peerHit: Uint8Array, nextHeader: number, payload: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
  /** A payload of the engine's went out sealed on the peer's SA. */
  onSent(peerHit: Uint8Array): void;
  now(): number;
  tap?: (direction: 'in' | 'out', datagram: Uint8Array, from: UdpEndpoint, to: UdpEndpoint) => void;
  /** Where new outbound SAs start their sequence numbers (tests). */
  esp?: OutboundSaTuning;
}

export interface WorkerLinkOptions extends LinkCommon {
  tun: { name: string; create: boolean; mtu?: number };
  devices: Record<string, string>;
  onEspHeard(peerHit: Uint8Array): void;
  /** Authenticated ESP from the peer arrived on another pair than its last packet (`bytes`: that datagram). */
  onEspSource(peerHit: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
  /** An ICMP destination-unreachable came back for a datagram sent from `local` to `remote`. */
  onIcmpError(local: UdpEndpoint, remote: UdpEndpoint): void;
  onWarning(message: string): void;
  /** How often the data plane reports counters (failure detection reads them). */
  statsIntervalMs?: number;
  /** Fresh counters arrived. */
  onStats?: () => void;
}

/** What the link drives: the worker's client or the in-process data plane. */
interface DataplaneHandle {
  readonly commands: DataplaneCommands;
  onLocals: ((locals: UdpEndpoint[], failure?: { address: string; error: string }) => void) | undefined;
  stats(): { stats: DataplaneStats; ageMs: number } | undefined;
  locals(): UdpEndpoint[];
  localFor(to: UdpEndpoint, from?: UdpEndpoint): UdpEndpoint | undefined;
  send(datagram: Uint8Array, to: UdpEndpoint, from?: UdpEndpoint): boolean;
  openSocket(address: string, device?: string): void;
  closeSocket(address: string): void;
  stop(): Promise<void>;
}

export interface DataplanePeerStats { packetsIn: number; bytesIn: number; packetsOut: number; bytesOut: number; lastHeardMs: number | null }

function lsiNumber(lsi: string): number {
  const n = ipv4ToNumber(lsi);
  if (n === null) throw new RangeError(`not an LSI: ${lsi}`);
  return n;
}

interface StatsIndex {
  of: DataplaneStats;
  peers: Map<string, DataplaneStats['peers'][number]>;
  flows: Map<string, DataplaneStats['flows']>;
  ageMs: number;
}

export class DataplaneLink {
  private indexed: Omit<StatsIndex, 'ageMs'> | undefined;

  private constructor(
    private readonly client: DataplaneHandle,
    private readonly peers: PeerDirectory,
    /** What the data plane's drops are prefixed with in the engine's counters. */
    private readonly dropPrefix: string,
  ) {}

  /**
   * No TUN: the data plane runs in this thread. Its drops keep their own names in the
   * counters, as they are the only ESP drops there are.
   */
  static async startInProcess(opts: InProcessLinkOptions): Promise<DataplaneLink> {
    const dataplane = await InProcessDataplane.open({
      ownHit: opts.hit,
      ownLsi: lsiNumber(opts.lsi),
      addresses: opts.addresses,
      port: opts.port,
      now: () => opts.now(),
      onHip: (packet, from, to) => opts.onDatagram({ kind: 'hip', packet, from, to }),
      onPayload: (...args) => opts.onPayload(...args),
      onSent: (peerHit) => opts.onSent(peerHit),
      onEvent: (e) => {
        switch (e.type) {
          case 'rekey-needed': return opts.onRekeyNeeded(e.peerHit, e.spi);
          case 'need-connect': return opts.onNeedConnect(e.peerHit);
          // Every opened packet is reported with its pair (onPayload): these say nothing more.
          case 'esp-heard':
          case 'esp-source':
            return;
          // node:dgram cannot read a socket's error queue, so this data plane never has one.
          case 'icmp-error':
            return;
        }
      },
      ...(opts.tap ? { tap: opts.tap } : {}),
      ...(opts.esp ? { esp: opts.esp } : {}),
    });
    dataplane.onLocals = opts.onLocals;
    const link = new DataplaneLink(dataplane, opts.peers, '');
    link.setRoutes();
    return link;
  }

  /** TUN mode: the data plane (TUN, sockets, ESP) runs in a worker thread. */
  static async startWorker(opts: WorkerLinkOptions): Promise<DataplaneLink> {
    // Whoever starts the engine can listen only once start() has returned, so warnings raised
    // while starting (no fast path, slow I/O) are held and delivered right after that.
    const held: string[] = [];
    let holding = true;
    const warn = (message: string): void => {
      if (holding) held.push(message);
      else opts.onWarning(message);
    };
    const release = (): void => {
      setImmediate(() => {
        for (const m of held.splice(0)) opts.onWarning(m);
        holding = false;
      });
    };
    const client = await DataplaneClient.start({
      ownHit: opts.hit,
      ownLsi: lsiNumber(opts.lsi),
      tun: { name: opts.tun.name, mtu: opts.tun.mtu ?? DEFAULT_TUN_MTU },
      addresses: opts.addresses,
      port: opts.port,
      devices: opts.devices,
      onDatagram: opts.onDatagram,
      onEvent: (e) => {
        switch (e.type) {
          case 'esp-heard': return opts.onEspHeard(e.peerHit);
          case 'esp-source': return opts.onEspSource(e.peerHit, e.from, e.to, e.bytes);
          case 'rekey-needed': return opts.onRekeyNeeded(e.peerHit, e.spi);
          case 'need-connect': return opts.onNeedConnect(e.peerHit);
          case 'icmp-error': return opts.onIcmpError(e.local, e.remote);
        }
      },
      onWarning: warn,
      ...(opts.statsIntervalMs === undefined ? {} : { statsIntervalMs: opts.statsIntervalMs }),
      ...(opts.onStats ? { onStats: opts.onStats } : {}),
    });
    client.onLocals = opts.onLocals;
    if (opts.tun.create) {
      // Root, device of our own: give it the HIT and LSI as `hipvpn setup` would have.
      try {
        assignTunAddresses(client.tunName, opts.hit, opts.lsi, opts.tun.mtu ?? DEFAULT_TUN_MTU);
      } catch (err) {
        await client.stop();
        throw err;
      }
    }
    if (client.io === 'node') warn('data plane runs on the slow pure-node path (node:dgram, node:fs TUN reads)');
    const link = new DataplaneLink(client, opts.peers, 'dp-');
    link.setRoutes();
    release();
    return link;
  }

  /** What the engine sends HIP control packets through. */
  get transport(): Pick<DataplaneHandle, 'locals' | 'localFor' | 'send'> & { close(): void } {
    return {
      locals: () => this.client.locals(),
      localFor: (to, from) => this.client.localFor(to, from),
      send: (d, to, from) => this.client.send(d, to, from),
      // The engine stops the worker itself (awaiting it) once associations are closed.
      close: () => undefined,
    };
  }

  /** Re-sends the configured peers and their LSIs, so their traffic can trigger a connect. */
  setRoutes(): void {
    this.client.commands.setRoutes(this.peers.all().map((p) => ({ hit: p.hit, lsi: lsiNumber(this.peers.lsiOf(p.hit)) })));
  }

  installSa(peerHit: Uint8Array, sa: SaKeys, remote: UdpEndpoint, local: UdpEndpoint): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (!remoteAddr16) return;
    this.client.commands.installSa({
      hit: peerHit, lsi: lsiNumber(this.peers.lsiOf(peerHit)),
      outbound: { spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound },
      inbound: { spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound },
      remote, remoteAddr16, local: local.address,
    });
  }

  /**
   * Moves a peer's outbound ESP to another locator pair (mobility), on `outboundSpi`'s SA when
   * given; to an address not `verified`, only within the peer's credit.
   */
  setPath(peerHit: Uint8Array, remote: UdpEndpoint, local: UdpEndpoint, verified: boolean, outboundSpi?: number): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (remoteAddr16) this.client.commands.setPath(peerHit, remote, remoteAddr16, local.address, verified, outboundSpi);
  }

  /** A further SA pair with the peer (simultaneous multihoming). */
  addSas(peerHit: Uint8Array, sa: SaKeys): void {
    this.client.commands.addSas(
      peerHit,
      { spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound },
      { spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound },
    );
  }

  removeOutbound(peerHit: Uint8Array, spi: number): void {
    this.client.commands.removeOutbound(peerHit, spi);
  }

  /** Test hook: see DataplaneCommands.testSeqRunOut. */
  testSeqRunOut(left: number): void {
    this.client.commands.testSeqRunOut(left);
  }

  /** A further outbound SA becomes the base one (the base pair's rekey we answered, now confirmed). */
  promoteBase(peerHit: Uint8Array, spi: number): void {
    this.client.commands.promoteBase(peerHit, spi);
  }

  /** For `forMs`, every ESP packet to the peer also goes out on this pair (0 stops it). */
  setSpare(peerHit: Uint8Array, remote: UdpEndpoint, local: UdpEndpoint, forMs: number): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (remoteAddr16) this.client.commands.setSpare(peerHit, remote, remoteAddr16, local.address, forMs);
  }

  /** Per-flow steering: the peer's packets matching a route leave on its pair and SA (routes whose address is not IP are left out). */
  setFlowRoutes(peerHit: Uint8Array, routes: readonly (Omit<FlowRoute, 'remoteAddr16' | 'local'> & { local: UdpEndpoint })[]): void {
    const out: FlowRoute[] = [];
    for (const r of routes) {
      const remoteAddr16 = toAddr16(r.remote.address);
      if (remoteAddr16) out.push({ ...r, remoteAddr16, local: r.local.address });
    }
    this.client.commands.setFlowRoutes(peerHit, out);
  }

  /** Each routed flow's counters for the peer, by FID (from the latest stats). */
  flowStats(peerHit: Uint8Array): Map<number, { packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }> {
    const byFid = new Map<number, { packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }>();
    const index = this.statsIndex();
    if (!index) return byFid;
    for (const f of index.flows.get(hitKey(peerHit)) ?? []) {
      const c = byFid.get(f.fid) ?? { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
      c.packetsOut += f.packetsOut;
      c.bytesOut += f.bytesOut;
      c.packetsIn += f.packetsIn;
      c.bytesIn += f.bytesIn;
      byFid.set(f.fid, c);
    }
    return byFid;
  }

  /** The peer's pair is in doubt (on): its ESP is kept for a re-send on the next pair; off discards it. */
  setHeld(peerHit: Uint8Array, on: boolean): void {
    this.client.commands.setHeld(peerHit, on);
  }

  /** The peer's addresses HIP verified, each with the outbound SPI that reaches it. */
  setVerifiedAddresses(peerHit: Uint8Array, addresses: VerifiedAddress[]): void {
    this.client.commands.setVerifiedAddresses(peerHit, addresses);
  }

  /** Opens a socket for a local address that appeared, bound to its device. */
  openSocket(address: string, device: string | undefined): void {
    this.client.openSocket(address, device);
  }

  closeSocket(address: string): void {
    this.client.closeSocket(address);
  }

  dropSas(peerHit: Uint8Array): void {
    this.client.commands.dropSas(peerHit);
  }

  retireInbound(spi: number, afterMs: number): void {
    this.client.commands.retireInbound(spi, afterMs);
  }

  sendPayload(peerHit: Uint8Array, payload: Uint8Array, nextHeader: number): void {
    this.client.commands.sendPayload(peerHit, payload, nextHeader);
  }

  peerStats(peerHit: Uint8Array): DataplanePeerStats | undefined {
    const index = this.statsIndex();
    const p = index?.peers.get(hitKey(peerHit));
    if (!index || !p) return undefined;
    return {
      packetsIn: p.packetsIn, bytesIn: p.bytesIn, packetsOut: p.packetsOut, bytesOut: p.bytesOut,
      lastHeardMs: p.lastHeardAgoMs === null ? null : p.lastHeardAgoMs + index.ageMs,
    };
  }

  /** The latest stats by peer HIT key, indexed once per report rather than scanned per lookup. */
  private statsIndex(): StatsIndex | undefined {
    const latest = this.client.stats();
    if (!latest) return undefined;
    if (this.indexed?.of !== latest.stats) {
      const flows = new Map<string, DataplaneStats['flows']>();
      for (const f of latest.stats.flows) {
        const key = hitKey(f.hit);
        const list = flows.get(key);
        if (list) list.push(f);
        else flows.set(key, [f]);
      }
      this.indexed = { of: latest.stats, peers: new Map(latest.stats.peers.map((p) => [hitKey(p.hit), p])), flows };
    }
    return { ...this.indexed, ageMs: latest.ageMs };
  }

  /** Adds the data plane's packet counts and drops (prefixed "dp-" from the worker) to the engine's counters. */
  addCounters(c: { espIn: number; espOut: number; espSpareCopies: number; espResent: number; dropped: Record<string, number>; droppedTotal: number }): void {
    const latest = this.client.stats();
    if (!latest) return;
    c.espSpareCopies += latest.stats.spareCopies;
    c.espResent += latest.stats.heldResent;
    for (const p of latest.stats.peers) {
      c.espIn += p.packetsIn;
      c.espOut += p.packetsOut;
    }
    for (const [k, v] of Object.entries(latest.stats.drops)) {
      c.dropped[`${this.dropPrefix}${k}`] = (c.dropped[`${this.dropPrefix}${k}`] ?? 0) + v;
      c.droppedTotal += v;
    }
  }

  stop(): Promise<void> {
    return this.client.stop();
  }
}
