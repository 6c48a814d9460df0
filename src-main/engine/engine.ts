// The host engine: the one owner of HIP state. It drives the sans-IO HipHost with real UDP
// sockets and a real clock, keeps the ESP security associations the base exchange produced,
// and reports associations, counters and events. Nothing here decides protocol behaviour.

import { EventEmitter } from 'node:events';
import type { CryptoProvider } from '../hip/crypto/provider.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import { HipHost, type HostConfig, type HostEvent, type SaKeys } from '../hip/host.js';
import { hitToText } from '../hip/wire/address.js';
import { EspInboundSa, EspOutboundSa, espSpi } from '../esp/sa.js';
import { UdpTransport, frameHip, type UdpDatagram, type UdpEndpoint } from '../platform/udp.js';
import { monotonicClock, type Clock } from '../platform/clock.js';
import { EngineCounters } from './counters.js';
import { PeerDirectory, type PeerConfig } from './peers.js';
import { TunnelLink } from './tunnel-link.js';
import { DEFAULT_LIVENESS, LivenessMonitor, type LivenessPolicy } from './liveness.js';

export type { PeerConfig } from './peers.js';

export interface EngineOptions {
  identity: LocalHostIdentity;
  crypto: CryptoProvider;
  /** Local addresses to listen on (one socket each). */
  addresses: string[];
  /** UDP port; RFC 9028 uses 10500. 0 = ephemeral (tests). */
  port?: number;
  allowPeer?: (hit: Uint8Array) => boolean;
  host?: Partial<Omit<HostConfig, 'identity' | 'crypto' | 'allowPeer'>>;
  clock?: Clock;
  /** Called with every datagram sent or received, for packet captures. */
  tap?: (direction: 'in' | 'out', datagram: Uint8Array, from: UdpEndpoint, to: UdpEndpoint) => void;
  /** How long an inbound SA replaced by a rekey keeps accepting in-flight packets. */
  rekeyOverlapMs?: number;
  /**
   * Carry IP traffic through a TUN device, with the data plane (TUN, UDP sockets, ESP) in a
   * worker thread. Undefined: no TUN, ESP in this thread and 'payload' events (tests).
   */
  tun?: { name: string; create: boolean; mtu?: number };
  /** Interface to bind each local address's socket to (TUN mode), by address. */
  devices?: Record<string, string>;
  /** Accept base exchanges from any HIT, not only configured peers (default false). */
  acceptAny?: boolean;
  /** When a peer we send to has gone quiet, probe it and rebuild the association (false: never). */
  liveness?: LivenessPolicy | false;
}

export type EngineEvent =
  | { type: 'association'; peer: string; from: string; to: string }
  | { type: 'established'; peer: string; local: UdpEndpoint; remote: UdpEndpoint; initiator: boolean; suite: number }
  | { type: 'rekeyed'; peer: string; inboundSpi: number; outboundSpi: number }
  | { type: 'closed'; peer: string; byPeer: boolean }
  | { type: 'failed'; peer: string; reason: string }
  | { type: 'notify'; peer: string; notifyType: number; authenticated: boolean }
  | { type: 'payload'; peer: string; peerHit: Uint8Array; nextHeader: number; payload: Uint8Array }
  /** Something an operator should know that is not an association event (TUN mode: the data plane). */
  | { type: 'warning'; message: string };

interface OutboundPath { sa: EspOutboundSa; suite: number; remote: UdpEndpoint; local: UdpEndpoint; rekeyRequested: boolean }
interface InboundEntry { sa: EspInboundSa; peerHit: Uint8Array; retireAt?: number }

export interface AssociationView {
  peer: string;
  state: string;
  local?: UdpEndpoint;
  remote?: UdpEndpoint;
  inboundSpi?: number;
  outboundSpi?: number;
  suite?: number;
  espPacketsOut: number;
  espPacketsIn: number;
  /** The configured peer's name. */
  name?: string;
  /** The LSI this host gives the peer. */
  lsi?: string;
  /** How long ago the peer was last heard over ESP. */
  lastHeardMs?: number;
  espBytesIn: number;
  espBytesOut: number;
}

/** What `ping` reports: the round trip and the locator pair the peer's answer came over. */
export interface PingResult { rttMs: number; local: UdpEndpoint; remote: UdpEndpoint }

export type PingFailure = 'no-association' | 'not-established' | 'busy' | 'in-flight' | 'timeout' | 'lost';

export class PingError extends Error {
  constructor(readonly reason: PingFailure, message: string) {
    super(message);
    this.name = 'PingError';
  }
}

interface PendingPing { sentAt: number; timer: NodeJS.Timeout; resolve(r: PingResult): void; reject(e: PingError): void }

export interface EngineSnapshot {
  hit: string;
  locals: UdpEndpoint[];
  associations: AssociationView[];
  counters: ReturnType<EngineCounters['snapshot']>;
}

/** How often liveness looks at the data plane's counters (they arrive every 250 ms). */
const LIVENESS_CHECK_MS = 500;

export class HipEngine extends EventEmitter {
  readonly hit: Uint8Array;
  readonly hitText: string;
  private readonly host: HipHost;
  private readonly clock: Clock;
  private transport!: Pick<UdpTransport, 'locals' | 'localFor' | 'send' | 'close'>;
  /** TUN mode: the worker-thread data plane that owns the sockets and the SAs. */
  private tunnel: TunnelLink | undefined;
  private readonly peers: PeerDirectory;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  private readonly outbound = new Map<string, OutboundPath>();
  private readonly inbound = new Map<number, InboundEntry>();
  private readonly counters = new EngineCounters();
  private readonly pings = new Map<string, PendingPing>();
  private stopped = false;
  private peersConfigured = false;
  private readonly liveness: LivenessMonitor | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: EngineOptions) {
    super();
    this.clock = opts.clock ?? monotonicClock;
    this.host = new HipHost(
      {
        ...opts.host,
        identity: opts.identity,
        crypto: opts.crypto,
        allowPeer: opts.allowPeer ?? ((hit) => this.admits(hit)),
        allocateSpi: () => this.allocateSpi(),
      },
      this.clock.now(),
    );
    this.hit = this.host.hit;
    this.hitText = hitToText(this.hit);
    this.peers = new PeerDirectory(this.hit);
    if (opts.liveness !== false) this.liveness = new LivenessMonitor(opts.liveness ?? DEFAULT_LIVENESS);
  }

  static async start(opts: EngineOptions): Promise<HipEngine> {
    const engine = new HipEngine(opts);
    if (engine.liveness) engine.livenessTimer = setInterval(() => engine.checkLiveness(), LIVENESS_CHECK_MS).unref();
    if (opts.tun) {
      engine.tunnel = await TunnelLink.start({
        hit: engine.hit,
        lsi: engine.peers.ownLsi,
        tun: opts.tun,
        addresses: opts.addresses,
        port: opts.port ?? 10500,
        devices: opts.devices ?? {},
        peers: engine.peers,
        onDatagram: (d) => engine.onDatagram(d),
        onEspHeard: (peerHit) => {
          engine.host.espAuthenticated(engine.clock.now(), peerHit);
          engine.drive();
        },
        onRekeyNeeded: (peerHit) => engine.rekey(peerHit),
        onNeedConnect: (peerHit) => engine.connectConfigured(peerHit),
        onWarning: (message) => engine.emit('event', { type: 'warning', message } satisfies EngineEvent),
      });
      engine.transport = engine.tunnel.transport;
      return engine;
    }
    engine.transport = await UdpTransport.open({
      addresses: opts.addresses,
      port: opts.port ?? 10500,
      onDatagram: (d) => engine.onDatagram(d),
      onError: () => engine.counters.count('udp-error'),
    });
    return engine;
  }

  locals(): UdpEndpoint[] {
    return this.transport.locals();
  }

  /** Our own LSI (IPv4 in 1.0.0.0/8), derived from the HIT. */
  get lsi(): string {
    return this.peers.ownLsi;
  }

  /** The LSI this host gives a peer: the IPv4 address its traffic uses on our TUN. */
  lsiOf(peerHit: Uint8Array): string {
    return this.peers.lsiOf(peerHit);
  }

  /**
   * Replaces the configured peers at once: the allow-list for base exchanges (unless
   * acceptAny), the LSI each is given, and where to reach it. Peers with locators are
   * connected now if they have no association, and later on demand by their traffic.
   */
  setPeers(peers: PeerConfig[]): void {
    this.peersConfigured = true;
    const changed = this.peers.replace(peers);
    this.tunnel?.setRoutes();
    for (const p of changed) if (p.locators.length > 0) this.connectConfigured(p.hit);
  }

  /** Connects a configured peer that has locators, unless an association is already up or starting. */
  private connectConfigured(peerHit: Uint8Array): void {
    if (this.stopped) return;
    const peer = this.peers.get(hitToText(peerHit));
    const remote = peer?.locators[0];
    if (!remote) return;
    const state = this.host.associations().find((a) => hitToText(a.peerHit) === hitToText(peerHit))?.state;
    if (state && state !== 'UNASSOCIATED' && state !== 'CLOSED' && state !== 'E-FAILED') return;
    this.connect(peerHit, remote);
  }

  /** Whether a HIT may run a base exchange with us: configured peers, or anyone when allowed. */
  private admits(hit: Uint8Array): boolean {
    if (this.opts.acceptAny) return true;
    // Without a TUN or a peer list (tests, tools) the engine stays open, as it always was.
    if (!this.opts.tun && !this.peersConfigured) return true;
    return this.peers.has(hit);
  }

  /** Starts a base exchange with a peer we know by HIT at a locator. */
  connect(peerHit: Uint8Array, remote: UdpEndpoint, local?: UdpEndpoint): void {
    this.host.connect(this.clock.now(), peerHit, remote, local ?? this.transport.localFor(remote));
    this.drive();
  }

  close(peerHit: Uint8Array): void {
    this.host.close(this.clock.now(), peerHit);
    this.drive();
  }

  rekey(peerHit: Uint8Array): void {
    this.host.rekey(this.clock.now(), peerHit);
    this.drive();
  }

  /** Protects a payload with the peer's outbound SA. False when there is no established path. */
  send(peerHit: Uint8Array, payload: Uint8Array, nextHeader: number): boolean {
    const key = hitToText(peerHit);
    const path = this.outbound.get(key);
    if (!path) {
      this.counters.count('esp-out-no-sa');
      return false;
    }
    if (this.tunnel) {
      // The worker owns the live SA (and its sequence numbers) in TUN mode.
      this.tunnel.sendPayload(peerHit, payload, nextHeader);
      return true;
    }
    const now = this.clock.now();
    const packet = path.sa.seal(payload, nextHeader, now);
    this.emitDatagram(packet, path.remote, path.local);
    this.counters.espOut++;
    if (!path.rekeyRequested && path.sa.needsRekey(now)) {
      path.rekeyRequested = true;
      this.host.rekey(now, peerHit);
      this.drive();
    }
    return true;
  }

  /** HIP-level ping (UPDATE with ECHO_REQUEST_SIGNED, RFC 8046 §5.3) through an established association. */
  ping(peerHit: Uint8Array, timeoutMs = 5000): Promise<PingResult> {
    const peer = hitToText(peerHit);
    if (this.pings.has(peer)) return Promise.reject(new PingError('in-flight', `a ping to ${peer} is already in flight`));
    const sentAt = this.clock.now();
    const sent = this.host.probe(sentAt, peerHit);
    if (!sent.ok) return Promise.reject(new PingError(sent.reason, `cannot ping ${peer}: ${sent.reason}`));
    const result = new Promise<PingResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(peer);
        this.host.cancelProbe(this.clock.now(), peerHit);
        this.drive();
        reject(new PingError('timeout', `no answer from ${peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(peer, { sentAt, timer, resolve, reject });
    });
    this.drive();
    return result;
  }

  /**
   * Probes every established peer we send to that has gone quiet, and gives up on those that do
   * not answer: their association is failed locally and, where we know a locator, built again.
   */
  private checkLiveness(): void {
    if (this.stopped || !this.liveness) return;
    const now = this.clock.now();
    for (const a of this.host.associations()) {
      if (a.state !== 'ESTABLISHED') continue;
      const peer = hitToText(a.peerHit);
      const traffic = this.tunnel?.peerStats(a.peerHit);
      const path = this.outbound.get(peer);
      const inEntry = a.inboundSpi === undefined ? undefined : this.inbound.get(a.inboundSpi);
      const packetsOut = traffic?.packetsOut ?? path?.sa.packets ?? 0;
      const heardAgo = traffic?.lastHeardMs ?? (inEntry?.sa.lastAcceptedAt != null ? now - inEntry.sa.lastAcceptedAt : null);
      const heardAt = Math.max(a.establishedAt ?? now, heardAgo === null ? Number.NEGATIVE_INFINITY : now - heardAgo);
      if (!this.liveness.observe(peer, now, packetsOut, heardAt) || this.pings.has(peer)) continue;
      const peerHit = a.peerHit;
      this.ping(peerHit, this.liveness.policy.probeWindowMs).then(
        () => this.liveness?.heard(peer, this.clock.now()),
        (err: unknown) => {
          if (err instanceof PingError && (err.reason === 'timeout' || err.reason === 'lost')) this.giveUp(peerHit);
        },
      );
    }
  }

  private giveUp(peerHit: Uint8Array): void {
    if (this.stopped) return;
    this.host.abandon(this.clock.now(), peerHit, 'peer-unresponsive');
    this.drive();
    this.connectConfigured(peerHit);
  }

  private settlePing(now: number, e: Extract<HostEvent, { type: 'probe-answered' | 'probe-lost' }>): void {
    const peer = hitToText(e.peerHit);
    const pending = this.pings.get(peer);
    if (!pending) return;
    this.pings.delete(peer);
    clearTimeout(pending.timer);
    if (e.type === 'probe-answered') pending.resolve({ rttMs: now - pending.sentAt, local: e.local, remote: e.remote });
    else pending.reject(new PingError('lost', `ping to ${peer} abandoned: ${e.reason}`));
  }

  snapshot(): EngineSnapshot {
    const associations = this.host.associations().map((a) => {
      const peer = hitToText(a.peerHit);
      const path = this.outbound.get(peer);
      const inboundSpi = a.inboundSpi;
      const inEntry = inboundSpi === undefined ? undefined : this.inbound.get(inboundSpi);
      const traffic = this.tunnel?.peerStats(a.peerHit);
      const config = this.peers.get(peer);
      return {
        peer,
        state: a.state,
        local: path?.local ?? a.local,
        remote: path?.remote ?? a.remote,
        inboundSpi,
        outboundSpi: a.outboundSpi,
        suite: path?.suite,
        espPacketsOut: traffic?.packetsOut ?? path?.sa.packets ?? 0,
        espPacketsIn: traffic?.packetsIn ?? inEntry?.sa.counters.accepted ?? 0,
        espBytesOut: traffic?.bytesOut ?? path?.sa.bytes ?? 0,
        espBytesIn: traffic?.bytesIn ?? inEntry?.sa.bytes ?? 0,
        ...(config ? { name: config.name } : {}),
        lsi: this.peers.lsiOf(a.peerHit),
        ...this.lastHeard(traffic?.lastHeardMs, inEntry?.sa.lastAcceptedAt ?? null),
      };
    });
    const counters = this.counters.snapshot(this.host.counters);
    this.tunnel?.addCounters(counters);
    return { hit: this.hitText, locals: this.locals(), associations, counters };
  }

  private lastHeard(fromTunnel: number | null | undefined, acceptedAt: number | null): { lastHeardMs?: number } {
    if (fromTunnel !== undefined && fromTunnel !== null) return { lastHeardMs: Math.round(fromTunnel) };
    if (acceptedAt !== null) return { lastHeardMs: Math.round(this.clock.now() - acceptedAt) };
    return {};
  }

  /** Closes every association (waiting briefly for CLOSE_ACKs), then the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    const open = this.host.associations().filter((a) => a.state === 'ESTABLISHED' || a.state === 'R2-SENT');
    for (const a of open) this.host.close(this.clock.now(), a.peerHit);
    this.drive();
    const deadline = this.clock.now() + graceMs;
    while (
      this.clock.now() < deadline &&
      this.host.associations().some((a) => a.state === 'CLOSING')
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.transport.close();
    await this.tunnel?.stop();
  }

  private onDatagram(d: UdpDatagram): void {
    if (this.stopped) return;
    const now = this.clock.now();
    switch (d.kind) {
      case 'runt':
        this.counters.count('udp-runt');
        return;
      case 'hip':
        this.opts.tap?.('in', frameHip(d.packet), d.from, d.to);
        this.counters.hipIn++;
        this.host.handlePacket(now, d.packet, d.from, d.to);
        this.drive();
        return;
      case 'esp':
        this.opts.tap?.('in', d.packet, d.from, d.to);
        this.onEsp(now, d.packet);
        return;
    }
  }

  private onEsp(now: number, packet: Uint8Array): void {
    this.counters.espIn++;
    const spi = espSpi(packet);
    const entry = spi === null ? undefined : this.inbound.get(spi);
    if (!entry) {
      this.counters.count('esp-unknown-spi');
      return;
    }
    const result = entry.sa.open(packet, now);
    if (!result.ok) {
      this.counters.count(`esp-${result.reason}`);
      return;
    }
    this.host.espAuthenticated(now, entry.peerHit);
    this.drive();
    this.emit('event', {
      type: 'payload',
      peer: hitToText(entry.peerHit),
      peerHit: entry.peerHit,
      nextHeader: result.nextHeader,
      payload: result.payload,
    } satisfies EngineEvent);
  }

  /** Runs the host until it has nothing more to say, then re-arms the one timer. */
  private drive(): void {
    const now = this.clock.now();
    this.retireInbound(now);
    for (let t = this.host.pollTransmit(); t; t = this.host.pollTransmit()) {
      const from = t.from ?? this.transport.localFor(t.to);
      this.emitDatagram(frameHip(t.bytes), t.to, from);
      this.counters.hipOut++;
    }
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) this.onHostEvent(now, e);
    this.arm();
  }

  private emitDatagram(datagram: Uint8Array, to: UdpEndpoint, from: UdpEndpoint | undefined): void {
    const local = this.transport.localFor(to, from);
    if (!local || !this.transport.send(datagram, to, local)) {
      this.counters.count('udp-no-socket');
      return;
    }
    this.opts.tap?.('out', datagram, local, to);
  }

  private onHostEvent(now: number, e: HostEvent): void {
    const peer = hitToText(e.peerHit);
    switch (e.type) {
      case 'state':
        this.emit('event', { type: 'association', peer, from: e.from, to: e.to } satisfies EngineEvent);
        return;
      case 'established':
        this.installSa(now, e.peerHit, e.sa, e.remote, e.local);
        this.emit('event', {
          type: 'established', peer, local: e.local, remote: e.remote, initiator: e.initiator, suite: e.sa.suite,
        } satisfies EngineEvent);
        return;
      case 'rekeyed': {
        const path = this.outbound.get(peer);
        if (!path) return;
        const old = this.inbound.get(e.oldInboundSpi);
        if (old) old.retireAt = now + (this.opts.rekeyOverlapMs ?? 5000);
        this.tunnel?.retireInbound(e.oldInboundSpi, this.opts.rekeyOverlapMs ?? 5000);
        this.installSa(now, e.peerHit, e.sa, path.remote, path.local);
        this.emit('event', { type: 'rekeyed', peer, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi } satisfies EngineEvent);
        return;
      }
      case 'closed':
      case 'failed':
        this.dropSas(peer);
        this.liveness?.forget(peer);
        this.emit('event', e.type === 'closed'
          ? ({ type: 'closed', peer, byPeer: e.byPeer } satisfies EngineEvent)
          : ({ type: 'failed', peer, reason: e.reason } satisfies EngineEvent));
        return;
      case 'notify':
        this.emit('event', { type: 'notify', peer, notifyType: e.notifyType, authenticated: e.authenticated } satisfies EngineEvent);
        return;
      case 'probe-answered':
      case 'probe-lost':
        this.settlePing(now, e);
        return;
    }
  }

  private installSa(now: number, peerHit: Uint8Array, sa: SaKeys, remote: UdpEndpoint, local: UdpEndpoint): void {
    const peer = hitToText(peerHit);
    this.outbound.set(peer, {
      sa: new EspOutboundSa({ spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound, createdAt: now }),
      suite: sa.suite,
      remote,
      local: this.transport.localFor(remote, local) ?? local,
      rekeyRequested: false,
    });
    this.inbound.set(sa.inboundSpi, {
      sa: new EspInboundSa({ spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound, createdAt: now }),
      peerHit,
    });
    this.tunnel?.installSa(peerHit, sa, remote, this.outbound.get(peer)!.local);
  }

  private dropSas(peer: string): void {
    this.tunnel?.dropSas(peer);
    this.outbound.delete(peer);
    for (const [spi, entry] of this.inbound) if (hitToText(entry.peerHit) === peer) this.inbound.delete(spi);
  }

  private retireInbound(now: number): void {
    for (const [spi, entry] of this.inbound) if (entry.retireAt !== undefined && entry.retireAt <= now) this.inbound.delete(spi);
  }

  /** Inbound SPIs are ours to choose: random, unique, outside the reserved 0–255. */
  private allocateSpi(): number {
    for (;;) {
      const b = this.opts.crypto.randomBytes(4);
      const spi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (spi > 255 && !this.inbound.has(spi)) return spi;
    }
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.host.nextTimeout();
    if (next === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDeadline = Infinity;
      return;
    }
    if (this.timer && next >= this.timerDeadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDeadline = next;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDeadline = Infinity;
      this.host.handleTimeout(this.clock.now());
      this.drive();
    }, Math.max(0, next - this.clock.now()));
  }
}
