// The data plane without a TUN (`--tun none`, tests and tools): the same DataplaneCore the
// worker runs, in the caller's thread, on node:dgram sockets. The control plane installs and
// retires SAs through the same commands as in TUN mode; sequence numbers, replay windows and
// credit live in the core. What the peer's ESP carries goes to `onPayload` (with the pair it
// came over) instead of into a TUN, and what the owner sends is sealed by the core.

import { UdpTransport, type UdpDatagram, type UdpEndpoint } from '../platform/udp.js';
import { fromAddr16, toAddr16 } from '../base/addr16.js';
import { DataplaneCore, type CoreEvent, type FlowRoute, type OutboundSaTuning, type PeerRoute, type SaInstall, type SaSpec } from './core.js';
import type { DataplaneCommands, DataplaneStats, VerifiedAddress } from './messages.js';
import { combinedStats } from './runner-stats.js';

export interface InProcessOptions {
  ownHit: Uint8Array;
  ownLsi: number;
  addresses: string[];
  /** 0 picks an ephemeral port per socket (tests). */
  port: number;
  now(): number;
  /** A HIP control datagram (its 32 zero bits removed). */
  onHip(packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  /** An authenticated payload from the peer, the pair it came over and the datagram's size. */
  onPayload(peerHit: Uint8Array, nextHeader: number, payload: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
  /** A payload of the owner's went out sealed on the peer's SA. */
  onSent(peerHit: Uint8Array): void;
  onEvent(e: CoreEvent): void;
  /** Every ESP datagram sent or received, for packet captures. */
  tap?: (direction: 'in' | 'out', datagram: Uint8Array, from: UdpEndpoint, to: UdpEndpoint) => void;
  /** Where new outbound SAs start their sequence numbers (tests). */
  esp?: OutboundSaTuning;
}

/** How often SAs replaced by a rekey are swept (they refuse packets from their deadline on regardless). */
const TICK_MS = 1000;

export class InProcessDataplane implements DataplaneCommands {
  readonly core: DataplaneCore;
  private udp!: UdpTransport;
  private readonly ticker: NodeJS.Timeout;
  private stopped = false;

  /** Called with the sockets after an openSocket finished or failed (set by the owner). */
  onLocals: ((locals: UdpEndpoint[], failure?: { address: string; error: string }) => void) | undefined;

  private constructor(private readonly opts: InProcessOptions) {
    this.core = new DataplaneCore(opts.ownHit, opts.ownLsi, {
      udp: (local, datagram, addr16, port) => this.sendEsp(local, datagram, addr16, port),
      // No TUN: opened payloads go to sink.payload, and nothing reads packets to route.
      tunReserve: () => null,
      tunCommit: () => undefined,
      hip: (packet, from, to) => opts.onHip(packet, from, to),
      event: (e) => opts.onEvent(e),
      payload: (peerHit, nextHeader, payload, from, to, bytes) => opts.onPayload(peerHit, nextHeader, payload, from, to, bytes),
    }, opts.esp);
    this.ticker = setInterval(() => this.core.tick(this.opts.now()), TICK_MS);
    this.ticker.unref();
  }

  static async open(opts: InProcessOptions): Promise<InProcessDataplane> {
    const dataplane = new InProcessDataplane(opts);
    try {
      dataplane.udp = await UdpTransport.open({
        addresses: opts.addresses,
        port: opts.port,
        onDatagram: (d) => dataplane.fromUdp(d),
        onError: () => dataplane.count('udp-error'),
      });
    } catch (err) {
      clearInterval(dataplane.ticker);
      throw err;
    }
    return dataplane;
  }

  private fromUdp(d: UdpDatagram): void {
    if (this.stopped) return;
    switch (d.kind) {
      case 'runt':
        this.count('udp-runt');
        return;
      case 'hip':
        this.opts.onHip(d.packet, d.from, d.to);
        return;
      case 'esp': {
        this.opts.tap?.('in', d.packet, d.from, d.to);
        const from16 = toAddr16(d.from.address);
        if (from16 === null) return this.count('udp-bad-source');
        this.core.fromUdp(d.packet, from16, 0, d.from.port, d.to, this.opts.now());
        return;
      }
    }
  }

  private sendEsp(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean {
    const to = { address: fromAddr16(addr16), port };
    const from = this.udp.localFor(to, { address: local, port: 0 });
    if (!from || !this.udp.send(datagram, to, from)) return false;
    this.opts.tap?.('out', datagram, from, to);
    return true;
  }

  private count(reason: string): void {
    this.core.drops[reason] = (this.core.drops[reason] ?? 0) + 1;
  }

  // ---- control transport (the engine's HIP packets) -----------------------------------------

  locals(): UdpEndpoint[] {
    return this.udp.locals();
  }

  localFor(to: UdpEndpoint, from?: UdpEndpoint): UdpEndpoint | undefined {
    return this.udp.localFor(to, from);
  }

  send(datagram: Uint8Array, to: UdpEndpoint, from?: UdpEndpoint): boolean {
    return this.udp.send(datagram, to, from);
  }

  close(): void {
    void this.stop();
  }

  /** Opens a socket for a new local address; `onLocals` follows. Devices are not bound here. */
  openSocket(address: string): void {
    this.udp.addAddress(address).then(
      () => this.onLocals?.(this.locals()),
      (err: unknown) => this.onLocals?.(this.locals(), { address, error: (err as Error).message }),
    );
  }

  closeSocket(address: string): void {
    this.udp.removeAddress(address);
  }

  // ---- the data-plane contract ------------------------------------------------------------

  /** The contract is this object's own methods: each call is carried out at once. */
  get commands(): DataplaneCommands {
    return this;
  }

  setRoutes(routes: PeerRoute[]): void {
    this.core.setRoutes(routes);
  }

  installSa(sa: SaInstall): void {
    this.core.installSa(sa, this.opts.now());
  }

  addSas(hit: Uint8Array, outbound: SaSpec | undefined, inbound: SaSpec | undefined): void {
    this.core.addSas(hit, outbound, inbound, this.opts.now());
  }

  promoteBase(hit: Uint8Array, spi: number): void {
    this.core.promoteBase(hit, spi);
  }

  /** The run-out hook moves fast-path SAs only; without a TUN, EngineOptions.esp starts an SA near the end instead. */
  testSeqRunOut(): void {}

  removeOutbound(hit: Uint8Array, spi: number): void {
    this.core.removeOutbound(hit, spi);
  }

  setPath(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, verified: boolean, outboundSpi?: number): void {
    this.core.setPath(hit, remote, remoteAddr16, local, verified, outboundSpi);
  }

  setSpare(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, forMs: number): void {
    const now = this.opts.now();
    this.core.setSpare(hit, remote, remoteAddr16, local, now + forMs, now);
  }

  /** Nothing is held without a TUN: what the owner sends is its own to send again. */
  setHeld(hit: Uint8Array, on: boolean): void {
    this.core.setHeld(hit, on);
  }

  setFlowRoutes(hit: Uint8Array, routes: FlowRoute[]): void {
    this.core.setFlowRoutes(hit, routes);
  }

  /** Only a held peer's traffic follows its ESP on its own, and nothing is held here. */
  setVerifiedAddresses(_hit: Uint8Array, _addresses: VerifiedAddress[]): void {}

  retireInbound(spi: number, afterMs: number): void {
    this.core.retireInbound(spi, this.opts.now() + afterMs);
  }

  dropSas(hit: Uint8Array): void {
    this.core.dropSas(hit);
  }

  sendDatagram(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void {
    this.udp.send(datagram, { address: fromAddr16(addr16), port }, { address: local, port: 0 });
  }

  sendPayload(hit: Uint8Array, payload: Uint8Array, nextHeader: number): void {
    if (this.core.sendPayload(hit, payload, nextHeader, this.opts.now())) this.opts.onSent(hit);
  }

  /** The core's counters, fresh (`ageMs` 0), in the shape the worker reports them. */
  stats(): { stats: DataplaneStats; ageMs: number } {
    const stats = combinedStats({
      core: this.core,
      fast: undefined,
      counts: { tunPacketsIn: 0, tunPacketsOut: 0, udpPacketsIn: 0, udpPacketsOut: 0 },
      stranded: { expired: 0, copiesHeld: 0, copiesDropped: 0 },
      resent: 0,
    }, this.opts.now());
    return { stats, ageMs: 0 };
  }

  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      clearInterval(this.ticker);
      this.udp.close();
    }
    return Promise.resolve();
  }
}
