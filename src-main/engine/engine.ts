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
import { DEFAULT_PUZZLE_POLICY } from '../hip/timers.js';
import { EngineCounters } from './counters.js';
import { PeerDirectory, type PeerConfig } from './peers.js';
import { TunnelLink } from './tunnel-link.js';
import { DEFAULT_PATH_POLICY, PathManager, type EngineLocator, type Handover, type PathPolicy, type PeerPathsView } from './paths.js';
import { LocalSockets, type LocalLocatorInput } from './local-sockets.js';
import { pairSpis } from './sa-choice.js';
import type { LocatorPair } from '../mobility/pair-order.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';

export type { PeerConfig } from './peers.js';
export type { EngineLocator, Handover, PathView, PairView, PeerPathsView } from './paths.js';
export type { LocalLocatorInput } from './local-sockets.js';

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
  /**
   * Pair selection and failure detection (timing), and how long a peer may have every pair
   * failed before its association is given up and built again (a restarted peer has forgotten
   * our SAs). `abandonAfterMs: Infinity` never gives up.
   */
  paths?: Partial<PathPolicy>;
  /**
   * 'static' (default): the addresses listened on are our locators for good. 'monitor': the
   * owner reports them as they change (setLocalLocators), and sockets open and close with them.
   */
  locators?: 'static' | 'monitor';
}

export type EngineEvent =
  | { type: 'association'; peer: string; from: string; to: string }
  | { type: 'established'; peer: string; local: UdpEndpoint; remote: UdpEndpoint; initiator: boolean; suite: number }
  | { type: 'rekeyed'; peer: string; inboundSpi: number; outboundSpi: number }
  | { type: 'closed'; peer: string; byPeer: boolean }
  | { type: 'failed'; peer: string; reason: string }
  | { type: 'notify'; peer: string; notifyType: number; authenticated: boolean }
  | { type: 'payload'; peer: string; peerHit: Uint8Array; nextHeader: number; payload: Uint8Array }
  /** A peer's traffic moved to another locator pair. */
  | ({ type: 'handover' } & Handover)
  /** Something an operator should know that is not an association event (TUN mode: the data plane). */
  | { type: 'warning'; message: string };

interface OutboundPath {
  /** The base SA (the base exchange's, or its rekey). */
  sa: EspOutboundSa;
  /** Further outbound SAs by SPI (simultaneous multihoming: one per interface, RFC 8047 §4.1). */
  extra: Map<number, EspOutboundSa>;
  /** The SPI the traffic is sealed with now: the one the peer listed with the locator sent to. */
  activeSpi: number;
  suite: number;
  remote: UdpEndpoint;
  local: UdpEndpoint;
  rekeyRequested: boolean;
  /** Whether `remote` is verified; until it is, the data plane sends there only within credit. */
  verified: boolean;
  /** Make-before-break: every packet also goes here (same bytes) until `until`. */
  spare?: { local: UdpEndpoint; remote: UdpEndpoint; until: number };
}
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
  /** How several local locators are used with this peer. */
  multihoming?: string;
  /** Every locator pair, its test state, and which one is primary. */
  paths?: PeerPathsView;
}

/** What `ping` reports: the round trip and the locator pair the peer's answer came over. */
export interface PingResult { rttMs: number; local: UdpEndpoint; remote: UdpEndpoint }

export type PingFailure = 'no-association' | 'not-established' | 'busy' | 'in-flight' | 'timeout' | 'lost';

export class FailoverError extends Error {
  constructor(readonly reason: 'no-association' | 'unknown-pair' | 'no-alternative', message: string) {
    super(message);
    this.name = 'FailoverError';
  }
}

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
  /** K a new initiator must solve now, and the K the responder falls back to when idle. */
  puzzle: { difficulty: number; baseDifficulty: number; busiestPrefixDifficulty: number };
}

/**
 * How often the data plane reports counters in TUN mode. Failure detection reads them: a
 * silent path is suspect after 150 ms without inbound, so the counters must be finer than that.
 */
const DATAPLANE_STATS_MS = 40;
/** Authenticated inbound ESP is reported to HIP with its source at most this often per peer. */
const ESP_SOURCE_SAMPLE_MS = 100;

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
  private readonly paths: PathManager;
  private sockets!: LocalSockets;
  /** Per peer: ESP counters last fed to failure detection (TUN mode), and the source sample. */
  private readonly traffic = new Map<string, { packetsOut: number; packetsIn: number; sampledAt: number; from: string; bytes: number }>();

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
    this.paths = new PathManager(
      {
        probePair: (hit, local, remote, probeId, report) => void this.host.probePair(this.clock.now(), hit, local, remote, probeId, report),
        setActivePair: (hit, local, remote) => this.host.setActivePair(this.clock.now(), hit, local, remote),
        setDataPath: (hit, local, remote) => this.setDataPath(hit, local, remote),
        setSparePath: (hit, local, remote, forMs) => this.setSparePath(hit, local, remote, forMs),
        handover: (h) => this.emit('event', { type: 'handover', ...h } satisfies EngineEvent),
        // Only the data plane keeps copies; without a tunnel (send()) nothing is held.
        holdForPeer: (hit, on) => {
          this.tunnel?.setHeld(hit, on);
          this.host.setPathInDoubt(hit, on);
        },
        unreachable: (hit) => this.giveUpIfReconnectable(hit),
      },
      { ...DEFAULT_PATH_POLICY, ...opts.paths },
    );
  }

  static async start(opts: EngineOptions): Promise<HipEngine> {
    const engine = new HipEngine(opts);
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
        // The peer's ESP from a new source: HIP checks it, and follows at once when our pair is in doubt.
        onEspSource: (peerHit, from, bytes) => {
          engine.host.espAuthenticated(engine.clock.now(), peerHit, { bytes, from });
          engine.drive();
          // A data plane holding this peer already followed the new source; if HIP did not
          // (the address is deprecated or unusable), our path stands and the data plane is told.
          const path = engine.paths.path(peerHit);
          if (path && (path.remote.address !== from.address || path.remote.port !== from.port)) {
            engine.tunnel?.setPath(peerHit, path.remote, path.local, engine.host.isVerified(peerHit, path.remote));
          }
        },
        onRekeyNeeded: (peerHit) => engine.rekey(peerHit),
        onNeedConnect: (peerHit) => engine.connectConfigured(peerHit),
        onWarning: (message) => engine.emit('event', { type: 'warning', message } satisfies EngineEvent),
        statsIntervalMs: DATAPLANE_STATS_MS,
        onStats: () => engine.onDataplaneStats(),
        onLocals: (_locals, failure) => {
          if (failure === undefined) return engine.sockets.changed();
          engine.emit('event', { type: 'warning', message: failure.error } satisfies EngineEvent);
          engine.sockets.openFailed(failure.address);
        },
      });
      engine.transport = engine.tunnel.transport;
      const tunnel = engine.tunnel;
      engine.sockets = new LocalSockets({
        locals: () => tunnel.transport.locals(),
        open: (address, device) => tunnel.openSocket(address, device),
        close: (address) => tunnel.closeSocket(address),
        apply: (locators) => engine.applyLocalLocators(locators),
      });
    } else {
      const udp = await UdpTransport.open({
        addresses: opts.addresses,
        port: opts.port ?? 10500,
        onDatagram: (d) => engine.onDatagram(d),
        onError: () => engine.counters.count('udp-error'),
      });
      engine.transport = udp;
      engine.sockets = new LocalSockets({
        locals: () => udp.locals(),
        open: (address) => {
          udp.addAddress(address).then(
            () => engine.sockets.changed(),
            (err: unknown) => {
              engine.emit('event', { type: 'warning', message: (err as Error).message } satisfies EngineEvent);
              engine.sockets.openFailed(address);
            },
          );
        },
        close: (address) => udp.removeAddress(address),
        apply: (locators) => engine.applyLocalLocators(locators),
      });
    }
    if ((opts.locators ?? 'static') === 'static') {
      engine.sockets.setStatic(opts.addresses.map((address, i) => ({ address, ifname: opts.devices?.[address] ?? address, kind: 'other', rank: i })));
    }
    return engine;
  }

  /**
   * Our locators as the interface monitor reports them (complete list, best first). Sockets
   * open for new addresses and close for vanished ones; once open, the peers are told and
   * every association's pair selection sees the new pairs.
   */
  setLocalLocators(locators: readonly LocalLocatorInput[]): void {
    if (this.stopped) return;
    this.sockets.setDesired(locators);
  }

  /** The locators that have a socket now, as pair selection uses them. */
  localLocators(): readonly EngineLocator[] {
    return this.paths.localLocators();
  }

  private applyLocalLocators(locators: EngineLocator[]): void {
    if (this.stopped) return;
    const now = this.clock.now();
    // Pair selection first: a peer whose pair just lost its address moves to a spare before
    // the (signed) UPDATE telling the peer is even built, and that UPDATE then leaves from the
    // new pair. The UPDATE goes out before the pair probes: the peer moves on it.
    this.paths.setLocalLocators(now, locators);
    // Announced only where a peer can be reached from (see paths.ts `reaches`).
    const announce = locators.filter((l) => l.operational && this.paths.reachesAnyPeer(l));
    // One fixed address is the one every exchange runs over: there is nothing to tell a peer.
    const fixedSingle = (this.opts.locators ?? 'static') === 'static' && announce.length <= 1;
    if (!fixedSingle) {
      this.host.setLocalLocators(now, announce.map((l, i) => ({ address: l.address, port: l.port, ifname: l.ifname, kind: l.kind, preferred: i === 0 })));
    }
    this.drive();
    this.paths.releaseProbes();
    this.drive();
  }

  /** Keepalive interval and failure-detection sensitivity (the user's settings), for every peer. */
  setDetectionPolicy(detection: DetectionPolicy): void {
    this.paths.setDetectionPolicy(this.clock.now(), detection);
    this.drive();
  }

  /**
   * Moves a peer's traffic off its primary pair now: to `to` (our address, the peer's), or to
   * the best other pair. Throws with a message naming what is wrong.
   */
  failover(peerHit: Uint8Array, to?: LocatorPair): void {
    const r = this.paths.failover(this.clock.now(), peerHit, to);
    this.drive();
    if (r.ok) return;
    const peer = hitToText(peerHit);
    const known = (): string => (this.paths.status(this.clock.now(), peerHit)?.pairs ?? []).map((p) => `${p.local.address},${p.remote.address}`).join('; ') || 'none';
    switch (r.reason) {
      case 'no-association': throw new FailoverError(r.reason, `no established association with ${peer}`);
      case 'unknown-pair': throw new FailoverError(r.reason, `${to!.local},${to!.remote} is not a locator pair of ${peer} (pairs: ${known()})`);
      case 'no-alternative': throw new FailoverError(r.reason, `${peer} has no other locator pair to move to (pairs: ${known()})`);
    }
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
    const packet = (path.extra.get(path.activeSpi) ?? path.sa).seal(payload, nextHeader, now);
    if (!this.host.authorizeSend(now, peerHit, path.remote, packet.length)) {
      this.counters.count('credit-exhausted');
      return false;
    }
    this.emitDatagram(packet, path.remote, path.local);
    this.counters.espOut++;
    if (path.spare !== undefined && path.spare.until > now) {
      this.emitDatagram(packet, path.spare.remote, path.spare.local);
      this.counters.espSpareCopies++;
    }
    this.paths.dataSent(now, peerHit, 1);
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
   * A peer whose every pair failed for a while: with a locator to reach it at, the association
   * is failed locally and built afresh (a restarted peer has forgotten our SAs and swallows our
   * traffic). Without one nobody could rebuild it, so it is kept: the peer comes back to us with
   * an UPDATE (it moved) or an I1 (it restarted), and either works with the association kept.
   */
  private giveUpIfReconnectable(peerHit: Uint8Array): boolean {
    if (this.stopped) return false;
    if ((this.peers.get(hitToText(peerHit))?.locators.length ?? 0) === 0) return false;
    this.host.abandon(this.clock.now(), peerHit, 'peer-unresponsive');
    this.drive();
    this.connectConfigured(peerHit);
    return true;
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
      const paths = this.withSpis(a, path, this.paths.status(this.clock.now(), a.peerHit));
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
        multihoming: a.multihoming,
        ...(paths ? { paths } : {}),
      };
    });
    const counters = this.counters.snapshot(this.host.counters);
    this.tunnel?.addCounters(counters);
    const responder = this.host.responderStatus(this.clock.now());
    const baseDifficulty = this.opts.host?.puzzle?.baseK ?? DEFAULT_PUZZLE_POLICY.baseK;
    const puzzle = { difficulty: responder.k, baseDifficulty, busiestPrefixDifficulty: responder.busiestPrefixK };
    return { hit: this.hitText, locals: this.locals(), associations, counters, puzzle };
  }

  /**
   * Simultaneous multihoming: each pair's SAs, the outbound one the peer listed with the remote
   * locator, the inbound one serving our interface (the one we listed with our locator).
   */
  private withSpis(a: ReturnType<HipHost['associations']>[number], path: OutboundPath | undefined, view: PeerPathsView | undefined): PeerPathsView | undefined {
    if (view === undefined || path === undefined || a.multihoming !== 'simultaneous') return view;
    return {
      ...view,
      pairs: view.pairs.map((p) => {
        const inbound = pairSpis(a, p.ifname, p.remote).spiIn;
        return { ...p, spiOut: this.outboundSpiFor(a.peerHit, path, p.local, p.remote), ...(inbound === undefined ? {} : { spiIn: inbound }) };
      }),
    };
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
        this.onEsp(now, d.packet, d.from, d.to);
        return;
    }
  }

  private onEsp(now: number, packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void {
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
    this.espHeard(now, entry.peerHit, packet.length, from);
    this.paths.dataReceived(now, entry.peerHit, { local: to.address, remote: from.address });
    this.drive();
    this.emit('event', {
      type: 'payload',
      peer: hitToText(entry.peerHit),
      peerHit: entry.peerHit,
      nextHeader: result.nextHeader,
      payload: result.payload,
    } satisfies EngineEvent);
  }

  /**
   * Authenticated ESP from a peer reaches HIP: every packet completes R2-SENT, and a sample
   * (a new source at once, otherwise at most every ESP_SOURCE_SAMPLE_MS, with the bytes since)
   * carries its source and size, for credit and for following a peer whose source changed.
   */
  private espHeard(now: number, peerHit: Uint8Array, bytes: number, from: UdpEndpoint): void {
    const key = hitToText(peerHit);
    const t = this.trafficOf(key);
    t.bytes += bytes;
    const source = `${from.address}|${from.port}`;
    if (source === t.from && now - t.sampledAt < ESP_SOURCE_SAMPLE_MS) {
      this.host.espAuthenticated(now, peerHit);
      return;
    }
    this.host.espAuthenticated(now, peerHit, { bytes: t.bytes, from });
    t.from = source;
    t.sampledAt = now;
    t.bytes = 0;
  }

  private trafficOf(key: string): { packetsOut: number; packetsIn: number; sampledAt: number; from: string; bytes: number } {
    let t = this.traffic.get(key);
    if (t === undefined) {
      t = { packetsOut: 0, packetsIn: 0, sampledAt: Number.NEGATIVE_INFINITY, from: '', bytes: 0 };
      this.traffic.set(key, t);
    }
    return t;
  }

  /** TUN mode: the data plane's counters arrived; failure detection gets what changed. */
  private onDataplaneStats(): void {
    if (this.stopped || !this.tunnel) return;
    const now = this.clock.now();
    for (const a of this.host.associations()) {
      if (a.state !== 'ESTABLISHED') continue;
      const stats = this.tunnel.peerStats(a.peerHit);
      if (!stats) continue;
      const t = this.trafficOf(hitToText(a.peerHit));
      const sent = stats.packetsOut - t.packetsOut;
      const received = stats.packetsIn - t.packetsIn;
      t.packetsOut = stats.packetsOut;
      t.packetsIn = stats.packetsIn;
      if (received > 0) this.paths.dataReceived(stats.lastHeardMs === null ? now : now - stats.lastHeardMs, a.peerHit);
      if (sent > 0) this.paths.dataSent(now, a.peerHit, sent);
    }
    this.paths.handleTimeout(now);
    this.drive();
  }

  /** Pair selection (or HIP) moved a peer: its outbound ESP follows, on the same SA. */
  private setDataPath(peerHit: Uint8Array, local: UdpEndpoint, remote: UdpEndpoint): void {
    const path = this.outbound.get(hitToText(peerHit));
    if (!path) return;
    path.local = this.transport.localFor(remote, local) ?? local;
    path.remote = { ...remote };
    if (path.spare && path.spare.local.address === path.local.address && path.spare.remote.address === path.remote.address && path.spare.remote.port === path.remote.port) {
      path.spare = undefined;
    }
    path.activeSpi = this.outboundSpiFor(peerHit, path, path.local, path.remote);
    path.verified = this.host.isVerified(peerHit, path.remote);
    this.tunnel?.setPath(peerHit, path.remote, path.local, path.verified, path.activeSpi);
  }

  /**
   * The SA to send on from `local` towards `remote`: in simultaneous multihoming the one of
   * that pair (sa-choice.ts), when installed; the base SA otherwise.
   */
  private outboundSpiFor(peerHit: Uint8Array, path: OutboundPath, local: UdpEndpoint, remote: UdpEndpoint): number {
    const peer = hitToText(peerHit);
    const a = this.host.associations().find((x) => x.peerHitText === peer);
    if (a?.multihoming !== 'simultaneous') return path.sa.spi;
    const installed = (spi: number | undefined): spi is number => spi !== undefined && (spi === path.sa.spi || path.extra.has(spi));
    const ifname = this.paths.localLocators().find((l) => l.address === local.address)?.ifname;
    const spi = pairSpis(a, ifname, remote).spiOut;
    if (installed(spi)) return spi;
    // The association's base pair (after a deprecation, the pair that took the base's place).
    return installed(a.outboundSpi) ? a.outboundSpi : path.sa.spi;
  }

  /** The SAs or the peer's locators changed: the traffic takes the SA its locator names now. */
  private reselectOutboundSa(peerHit: Uint8Array): void {
    const path = this.outbound.get(hitToText(peerHit));
    if (!path) return;
    const spi = this.outboundSpiFor(peerHit, path, path.local, path.remote);
    if (spi === path.activeSpi) return;
    path.activeSpi = spi;
    this.tunnel?.setPath(peerHit, path.remote, path.local, path.verified, spi);
  }

  /** The peer's address the traffic goes to was verified (or stopped being): the credit limit follows. */
  private refreshVerified(peerHit: Uint8Array): void {
    const path = this.outbound.get(hitToText(peerHit));
    if (!path) return;
    const verified = this.host.isVerified(peerHit, path.remote);
    if (verified === path.verified) return;
    path.verified = verified;
    this.tunnel?.setPath(peerHit, path.remote, path.local, verified, path.activeSpi);
  }

  /**
   * Pair selection found a spare worth copying the data onto for a while (fault tolerance only:
   * with one SA the peer's anti-replay window drops the later copy; simultaneous multihoming
   * has an SA per pair, and copies there would be delivered twice).
   */
  private setSparePath(peerHit: Uint8Array, local: UdpEndpoint, remote: UdpEndpoint, forMs: number): void {
    const peer = hitToText(peerHit);
    const path = this.outbound.get(peer);
    if (!path) return;
    if (this.host.associations().find((a) => hitToText(a.peerHit) === peer)?.multihoming === 'simultaneous') return;
    const from = this.transport.localFor(remote, local) ?? local;
    path.spare = forMs > 0 ? { local: from, remote: { ...remote }, until: this.clock.now() + forMs } : undefined;
    this.tunnel?.setSpare(peerHit, remote, from, forMs);
  }

  /** Runs the host (and pair selection) until nothing more is said, then re-arms the one timer. */
  private drive(): void {
    const now = this.clock.now();
    this.retireInbound(now);
    for (let round = 0; round < 64; round++) {
      let progressed = false;
      for (let t = this.host.pollTransmit(); t; t = this.host.pollTransmit()) {
        const from = t.from ?? this.transport.localFor(t.to);
        this.emitDatagram(frameHip(t.bytes), t.to, from);
        this.counters.hipOut++;
        progressed = true;
      }
      for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) {
        this.onHostEvent(now, e);
        progressed = true;
      }
      if (!progressed) break;
    }
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
        this.traffic.delete(peer);
        this.paths.onHostEvent(now, e, () => this.host.associations().find((a) => hitToText(a.peerHit) === peer)?.peerLocators ?? []);
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
        this.traffic.delete(peer);
        this.paths.onHostEvent(now, e, () => []);
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
      case 'sa-added':
        this.addSas(now, e.peerHit, e.sa);
        return;
      case 'sa-removed':
        this.removeSas(now, e.peerHit, e.inboundSpi, e.outboundSpi);
        return;
      case 'peer-locators':
        this.paths.onHostEvent(now, e, () => []);
        this.reselectOutboundSa(e.peerHit);
        this.refreshVerified(e.peerHit);
        return;
      case 'locator-verified':
        this.refreshVerified(e.peerHit);
        return;
      case 'pair-probe-received':
      case 'pair-probe-answered':
      case 'address-changed':
        this.paths.onHostEvent(now, e, () => []);
        return;
      default:
        return;
    }
  }

  private installSa(now: number, peerHit: Uint8Array, sa: SaKeys, remote: UdpEndpoint, local: UdpEndpoint): void {
    const peer = hitToText(peerHit);
    const prev = this.outbound.get(peer);
    // A rekey replaces the base SA; further SAs stay, and so does one of them in use.
    const keepActive = prev !== undefined && prev.extra.has(prev.activeSpi);
    this.outbound.set(peer, {
      sa: new EspOutboundSa({ spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound, createdAt: now }),
      extra: prev?.extra ?? new Map<number, EspOutboundSa>(),
      activeSpi: keepActive ? prev.activeSpi : sa.outboundSpi,
      ...(prev?.spare ? { spare: prev.spare } : {}),
      suite: sa.suite,
      remote,
      local: this.transport.localFor(remote, local) ?? local,
      rekeyRequested: false,
      verified: this.host.isVerified(peerHit, remote),
    });
    this.inbound.set(sa.inboundSpi, {
      sa: new EspInboundSa({ spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound, createdAt: now }),
      peerHit,
    });
    this.tunnel?.installSa(peerHit, sa, remote, this.outbound.get(peer)!.local);
  }

  /** A further SA pair (simultaneous multihoming): installed beside the base one. */
  private addSas(now: number, peerHit: Uint8Array, sa: SaKeys): void {
    const path = this.outbound.get(hitToText(peerHit));
    if (!path) return;
    path.extra.set(sa.outboundSpi, new EspOutboundSa({ spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound, createdAt: now }));
    this.inbound.set(sa.inboundSpi, {
      sa: new EspInboundSa({ spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound, createdAt: now }),
      peerHit,
    });
    this.tunnel?.addSas(peerHit, sa);
    this.reselectOutboundSa(peerHit);
  }

  /** An SA pair was deprecated: its outbound half goes now, its inbound half after the overlap. */
  private removeSas(now: number, peerHit: Uint8Array, inboundSpi: number, outboundSpi: number): void {
    const path = this.outbound.get(hitToText(peerHit));
    const overlap = this.opts.rekeyOverlapMs ?? 5000;
    const entry = this.inbound.get(inboundSpi);
    if (entry) entry.retireAt = now + overlap;
    this.tunnel?.retireInbound(inboundSpi, overlap);
    if (!path) return;
    // The base exchange's own pair stays installed when deprecated (only a rekey replaces it);
    // outboundSpiFor no longer picks it, as the association's next pair took its place.
    if (path.extra.delete(outboundSpi)) this.tunnel?.removeOutbound(peerHit, outboundSpi);
    this.reselectOutboundSa(peerHit);
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
    const hostNext = this.host.nextTimeout();
    const pathsNext = this.paths.nextTimeout();
    const next = hostNext === undefined ? pathsNext : pathsNext === undefined ? hostNext : Math.min(hostNext, pathsNext);
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
      const now = this.clock.now();
      this.host.handleTimeout(now);
      this.paths.handleTimeout(now);
      this.drive();
    }, Math.max(0, next - this.clock.now()));
  }
}
