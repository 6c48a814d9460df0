// The host engine: drives the sans-IO HostCore (HIP, pair selection, failure detection) with
// real UDP sockets, a real clock and one timer, hands the data plane commands the core polls
// out to the data plane (a worker with a TUN, or in-process without one: the same commands
// either way), and reports associations, counters and events. Nothing here decides protocol
// behaviour, and no SA, sequence number or replay window lives here.

import { EventEmitter } from 'node:events';
import { HostCore, type CoreEvent, type DataplaneCommand, type PeerFlowBinding, type PeerVia } from '../core/host-core.js';
import type { RelayConfig } from '../core/relay-clients.js';
import { frameHip, type UdpDatagram, type UdpEndpoint } from '../platform/udp.js';
import { monotonicClock, type Clock } from '../platform/clock.js';
import { hitKey, sameEndpoint } from '../../src-shared/vocabulary.js';
import { DEFAULT_PUZZLE_POLICY } from '../hip/timers.js';
import { EngineCounters } from './counters.js';
import { PeerDirectory, type PeerConfig } from './peers.js';
import { DataplaneLink } from './dataplane-link.js';
import type { EngineLocator } from '../core/path-manager.js';
import { LocalSockets, type LocalLocatorInput } from './local-sockets.js';
import type { LocatorPair } from '../mobility/pair-order.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';
import type { LocatorCause } from '../mobility/local-addresses.js';
import { FailoverError, PingError, type EngineEvent, type EngineFlowView, type EngineOptions, type EngineSnapshot, type PingResult } from './engine-types.js';
import { PendingPings } from './pings.js';
import { PeerLiveness } from './peer-liveness.js';
import { FlowViews, peerFlowView } from './flow-views.js';

export type { PeerConfig } from './peers.js';
export type { EngineLocator, Handover, LocalLossCause, PathView, PairView, PeerPathsView } from '../core/path-manager.js';
export type { LocalLocatorInput } from './local-sockets.js';
export type { RelayConfig, RelayView } from '../core/relay-clients.js';
export type { PeerVia } from '../core/host-core.js';
export * from './engine-types.js';

/**
 * How often the data plane reports counters in TUN mode. Failure detection reads them: a
 * silent path is suspect after 150 ms without inbound, so the counters must be finer than that.
 */
const DATAPLANE_STATS_MS = 40;

export class HipEngine extends EventEmitter {
  readonly hit: Uint8Array;
  readonly hitText: string;
  private readonly core: HostCore;
  private readonly clock: Clock;
  /** The data plane: it owns the sockets, the SAs' sequence numbers and replay windows. */
  private dataplane!: DataplaneLink;
  /** The data plane's sockets, as HIP's control packets use them. */
  private transport!: DataplaneLink['transport'];
  private readonly peers: PeerDirectory;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  private readonly counters = new EngineCounters();
  private readonly pings = new PendingPings();
  private readonly liveness = new PeerLiveness();
  private readonly flowViews = new FlowViews();
  /** Our relays' HIT keys: their base exchanges are ours to admit, and they are not peers. */
  private relayHits: ReadonlySet<string>;
  private stopped = false;
  private peersConfigured = false;
  private sockets!: LocalSockets;
  /** The interface monitor's causes for the locators being applied (empty for a socket that opened later). */
  private pendingCauses: readonly LocatorCause[] = [];

  private constructor(private readonly opts: EngineOptions) {
    super();
    this.clock = opts.clock ?? monotonicClock;
    this.core = new HostCore(
      {
        host: { ...opts.host, identity: opts.identity, crypto: opts.crypto, allowPeer: opts.allowPeer ?? ((hit) => this.admits(hit)) },
        ...(opts.paths ? { paths: opts.paths } : {}),
        ...(opts.rekeyOverlapMs !== undefined ? { rekeyOverlapMs: opts.rekeyOverlapMs } : {}),
        locators: opts.locators ?? 'static',
        ...(opts.relays && opts.relays.length > 0 ? { relays: opts.relays } : {}),
      },
      this.clock.now(),
    );
    this.hit = this.core.hit;
    this.hitText = hitKey(this.hit);
    this.peers = new PeerDirectory(this.hit);
    this.relayHits = new Set((opts.relays ?? []).map((r) => hitKey(r.hit)));
  }

  static async start(opts: EngineOptions): Promise<HipEngine> {
    const engine = new HipEngine(opts);
    const common = {
      hit: engine.hit,
      lsi: engine.peers.ownLsi,
      addresses: opts.addresses,
      port: opts.port ?? 10500,
      peers: engine.peers,
      onDatagram: (d: UdpDatagram) => engine.onDatagram(d),
      onRekeyNeeded: (peerHit: Uint8Array, spi: number) => engine.rekey(peerHit, spi),
      onNeedConnect: (peerHit: Uint8Array) => engine.connectConfigured(peerHit),
      onLocals: (_locals: UdpEndpoint[], failure?: { address: string; error: string }) => {
        if (failure === undefined) return engine.sockets.changed();
        engine.emit('event', { type: 'warning', message: failure.error } satisfies EngineEvent);
        engine.sockets.openFailed(failure.address);
      },
    };
    engine.dataplane = opts.tun
      ? await DataplaneLink.startWorker({
        ...common,
        tun: opts.tun,
        devices: opts.devices ?? {},
        onEspHeard: (peerHit) => engine.report({ type: 'esp-heard', peerHit }),
        // The peer's ESP from a new source: HIP checks it, and follows at once when our pair is in doubt.
        onEspSource: (peerHit, from, to, bytes) => engine.report({ type: 'esp-source', peerHit, from, to, bytes }),
        onIcmpError: (local, remote) => engine.report({ type: 'icmp-error', local, remote }),
        onWarning: (message) => engine.emit('event', { type: 'warning', message } satisfies EngineEvent),
        statsIntervalMs: DATAPLANE_STATS_MS,
        onStats: () => engine.onDataplaneStats(),
      })
      : await DataplaneLink.startInProcess({
        ...common,
        now: () => engine.clock.now(),
        onPayload: (peerHit, nextHeader, payload, from, to, bytes) => engine.onPayload(peerHit, nextHeader, payload, from, to, bytes),
        onSent: (peerHit) => engine.report({ type: 'sent', peerHit, packets: 1 }),
        ...(opts.tap ? { tap: opts.tap } : {}),
        ...(opts.esp ? { esp: opts.esp } : {}),
      });
    const dataplane = engine.dataplane;
    engine.transport = dataplane.transport;
    engine.sockets = new LocalSockets({
      locals: () => dataplane.transport.locals(),
      open: (address, device) => dataplane.openSocket(address, device),
      close: (address) => dataplane.closeSocket(address),
      apply: (locators) => engine.applyLocalLocators(locators),
    });
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
  setLocalLocators(locators: readonly LocalLocatorInput[], causes: readonly LocatorCause[] = []): void {
    if (this.stopped) return;
    // The causes go with the locators they explain; a socket that opens later carries none.
    this.pendingCauses = causes;
    try {
      this.sockets.setDesired(locators);
    } finally {
      this.pendingCauses = [];
    }
  }

  /** The locators that have a socket now, as pair selection uses them. */
  localLocators(): readonly EngineLocator[] {
    return this.core.localLocators();
  }

  private applyLocalLocators(locators: EngineLocator[]): void {
    if (this.stopped) return;
    this.core.handleInterfaces(this.clock.now(), locators, this.pendingCauses);
    this.run();
  }

  /** Keepalive interval and failure-detection sensitivity (the user's settings), for every peer. */
  setDetectionPolicy(detection: DetectionPolicy): void {
    this.core.setDetectionPolicy(this.clock.now(), detection);
    this.run();
  }

  /**
   * The relays to use from now on (the relays setting changed, or a peer names a relay we had
   * not): new ones are registered with at once, dropped ones let go of.
   */
  setRelays(relays: readonly RelayConfig[]): void {
    this.relayHits = new Set(relays.map((r) => hitKey(r.hit)));
    this.core.setRelays(this.clock.now(), relays);
    this.run();
  }

  /**
   * Moves a peer's traffic off its primary pair now: to `to` (our address, the peer's), or to
   * the best other pair. Throws with a message naming what is wrong.
   */
  failover(peerHit: Uint8Array, to?: LocatorPair): void {
    const r = this.core.failover(this.clock.now(), peerHit, to);
    this.run();
    if (r.ok) return;
    const peer = hitKey(peerHit);
    const known = (): string => (this.core.pathsView(this.clock.now(), peerHit)?.pairs ?? []).map((p) => `${p.local.address},${p.remote.address}`).join('; ') || 'none';
    switch (r.reason) {
      case 'no-association': throw new FailoverError(r.reason, `no established association with ${peer}`);
      case 'unknown-pair': throw new FailoverError(r.reason, `${to!.local},${to!.remote} is not a locator pair of ${peer} (pairs: ${known()})`);
      case 'no-alternative': throw new FailoverError(r.reason, `${peer} has no other locator pair to move to (pairs: ${known()})`);
    }
  }

  /** Our flow bindings, for every peer (the whole set each time): the data plane steers by them. */
  setFlowBindings(bindings: readonly PeerFlowBinding[]): void {
    this.core.setFlowBindings(this.clock.now(), bindings);
    this.run();
  }

  /** Our flow bindings to the peer, placed and counted; undefined for a peer without any. */
  flowsOf(peerHit: Uint8Array): EngineFlowView[] | undefined {
    const placements = this.core.flowPlacements(peerHit);
    if (placements === undefined) return undefined;
    return this.flowViews.views(peerHit, placements, this.dataplane.flowStats(peerHit));
  }

  locals(): UdpEndpoint[] {
    return this.transport.locals();
  }

  /** Whether this HIT is one of our relays (shown as a relay, not as a peer). */
  isRelay(hitText: string): boolean {
    return this.relayHits.has(hitText);
  }

  /** Our own LSI (IPv4 in 1.0.0.0/8), derived from the HIT. */
  get lsi(): string {
    return this.peers.ownLsi;
  }

  /** The LSI this host gives a peer: the IPv4 address its traffic uses on our TUN. */
  lsiOf(peerHit: Uint8Array): string {
    return this.peers.lsiOf(peerHit);
  }

  /** How long ago the peer was last heard (ESP or HIP), also once its association is gone. */
  lastHeardMs(peerHit: Uint8Array): number | undefined {
    return this.liveness.agoMs(hitKey(peerHit), this.clock.now(), this.dataplane.peerStats(peerHit)?.lastHeardMs);
  }

  /**
   * Replaces the configured peers at once: the allow-list for base exchanges (unless
   * acceptAny), the LSI each is given, and where to reach it. Peers with locators are
   * connected now if they have no association, and later on demand by their traffic.
   */
  setPeers(peers: PeerConfig[]): void {
    this.peersConfigured = true;
    const changed = this.peers.replace(peers);
    this.dataplane.setRoutes();
    for (const p of changed) if (this.whereToReach(p.hit) !== undefined) this.connectConfigured(p.hit);
  }

  /**
   * Where a configured peer's base exchange goes: its first locator; without one, its own
   * relay, else our first relay (the relay passes the I1 on to the peer registered with it).
   */
  whereToReach(peerHit: Uint8Array): UdpEndpoint | undefined {
    const peer = this.peers.get(peerHit);
    if (peer === undefined) return undefined;
    return peer.locators[0] ?? peer.relay?.endpoint ?? this.core.relayEndpoints()[0];
  }

  /**
   * How a peer's traffic travels. A relay the peer names that is not one of ours (it was added
   * while we ran) still carries it when the association runs to that relay's address.
   */
  private via(peerHit: Uint8Array, remote: UdpEndpoint | undefined): PeerVia {
    const via = this.core.via(peerHit);
    const relay = this.peers.get(peerHit)?.relay;
    if (via.via === 'relay' || relay === undefined || remote === undefined) return via;
    if (!sameEndpoint(relay.endpoint, remote)) return via;
    const relayHit = hitKey(relay.hit);
    return { via: 'relay', relay: relay.name ?? relayHit, relayHit };
  }

  /**
   * Connects a configured peer we know where to reach, unless an association is already up or
   * starting. Returns where the I1 went, or undefined.
   */
  connectConfigured(peerHit: Uint8Array): UdpEndpoint | undefined {
    if (this.stopped) return undefined;
    const remote = this.whereToReach(peerHit);
    if (!remote) return undefined;
    const state = this.core.association(peerHit)?.state;
    if (state && state !== 'UNASSOCIATED' && state !== 'CLOSED' && state !== 'E-FAILED') return undefined;
    this.connect(peerHit, remote);
    return remote;
  }

  /** Whether a HIT may run a base exchange with us: configured peers, or anyone when allowed. */
  private admits(hit: Uint8Array): boolean {
    if (this.opts.acceptAny) return true;
    // A relay that restarted without our registration runs the base exchange to us itself.
    if (this.relayHits.has(hitKey(hit))) return true;
    // Without a TUN or a peer list (tests, tools) the engine stays open, as it always was.
    if (!this.opts.tun && !this.peersConfigured) return true;
    return this.peers.has(hit);
  }

  /** Starts a base exchange with a peer we know by HIT at a locator. */
  connect(peerHit: Uint8Array, remote: UdpEndpoint, local?: UdpEndpoint): void {
    this.core.connect(this.clock.now(), peerHit, remote, local ?? this.transport.localFor(remote));
    this.run();
  }

  close(peerHit: Uint8Array): void {
    this.core.close(this.clock.now(), peerHit);
    this.run();
  }

  /** Test hook (daemon/test-hooks.ts): further SAs carrying traffic are moved to `left` before the end of their sequence space. */
  testSeqRunOut(left: number): void {
    this.dataplane.testSeqRunOut(left);
  }

  /** Rekeys the peer's base SA pair, or the pair whose outbound SA is `outboundSpi`. */
  rekey(peerHit: Uint8Array, outboundSpi?: number): void {
    this.core.rekey(this.clock.now(), peerHit, outboundSpi);
    this.run();
  }

  /**
   * Hands a payload to the data plane, sealed there on the peer's outbound SA. False when the
   * core has installed no SA of the peer's.
   */
  send(peerHit: Uint8Array, payload: Uint8Array, nextHeader: number): boolean {
    if (!this.core.dataPath(peerHit)) {
      this.counters.count('esp-out-no-sa');
      return false;
    }
    this.dataplane.sendPayload(peerHit, payload, nextHeader);
    return true;
  }

  /** HIP-level ping (UPDATE with ECHO_REQUEST_SIGNED, RFC 8046 §5.3) through an established association. */
  ping(peerHit: Uint8Array, timeoutMs = 5000): Promise<PingResult> {
    const peer = hitKey(peerHit);
    if (this.pings.inFlight(peerHit)) return Promise.reject(new PingError('in-flight', `a ping to ${peer} is already in flight`));
    const sentAt = this.clock.now();
    const sent = this.core.probe(sentAt, peerHit);
    if (!sent.ok) return Promise.reject(new PingError(sent.reason, `cannot ping ${peer}: ${sent.reason}`));
    const result = this.pings.wait(peerHit, sentAt, timeoutMs, () => {
      this.core.cancelProbe(this.clock.now(), peerHit);
      this.run();
    });
    this.run();
    return result;
  }

  /**
   * A peer whose every pair failed for a while: with a locator to reach it at, the association
   * is failed locally and built afresh (a restarted peer has forgotten our SAs and swallows our
   * traffic). Without one nobody could rebuild it, so it is kept: the peer comes back to us with
   * an UPDATE (it moved) or an I1 (it restarted), and either works with the association kept.
   */
  private giveUpIfReconnectable(peerHit: Uint8Array): void {
    if (this.stopped) return;
    if (this.whereToReach(peerHit) === undefined) return;
    this.core.abandon(this.clock.now(), peerHit, 'peer-unresponsive');
    this.run();
    this.connectConfigured(peerHit);
  }

  snapshot(): EngineSnapshot {
    const associations = this.core.associations().map((a) => {
      const peer = hitKey(a.peerHit);
      const path = this.core.dataPath(a.peerHit);
      const traffic = this.dataplane.peerStats(a.peerHit);
      const heard = this.liveness.agoMs(peer, this.clock.now(), traffic?.lastHeardMs);
      const config = this.peers.get(a.peerHit);
      const paths = path ? this.core.pathsView(this.clock.now(), a.peerHit) : undefined;
      const flows = this.flowsOf(a.peerHit);
      return {
        peer,
        state: a.state,
        local: path ? (this.transport.localFor(path.remote, path.local) ?? path.local) : a.local,
        remote: path?.remote ?? a.remote,
        inboundSpi: a.inboundSpi,
        outboundSpi: a.outboundSpi,
        suite: path?.suite,
        espPacketsOut: traffic?.packetsOut ?? 0,
        espPacketsIn: traffic?.packetsIn ?? 0,
        espBytesOut: traffic?.bytesOut ?? 0,
        espBytesIn: traffic?.bytesIn ?? 0,
        ...(config ? { name: config.name } : {}),
        lsi: this.peers.lsiOf(a.peerHit),
        ...(heard === undefined ? {} : { lastHeardMs: heard }),
        multihoming: a.multihoming,
        ...(paths ? { paths } : {}),
        ...(flows ? { flows } : {}),
        ...(a.peerFlows.length > 0 ? { peerFlows: a.peerFlows.map(peerFlowView) } : {}),
        via: this.via(a.peerHit, path?.remote ?? a.remote),
      };
    });
    const counters = this.counters.snapshot(this.core.counters, this.core.icmpHints);
    this.dataplane.addCounters(counters);
    const responder = this.core.responderStatus(this.clock.now());
    const baseDifficulty = this.opts.host?.puzzle?.baseK ?? DEFAULT_PUZZLE_POLICY.baseK;
    const puzzle = { difficulty: responder.k, baseDifficulty, busiestPrefixDifficulty: responder.busiestPrefixK };
    return { hit: this.hitText, locals: this.locals(), associations, counters, puzzle, relays: this.core.relayStatus(this.clock.now()) };
  }

  /** Closes every association (waiting briefly for CLOSE_ACKs), then the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    const open = this.core.associations().filter((a) => a.state === 'ESTABLISHED' || a.state === 'R2-SENT');
    for (const a of open) this.core.close(this.clock.now(), a.peerHit);
    this.run();
    const deadline = this.clock.now() + graceMs;
    while (
      this.clock.now() < deadline &&
      this.core.associations().some((a) => a.state === 'CLOSING')
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.dataplane.stop();
  }

  /** What the data plane hands up: HIP control datagrams (ESP and runts stay there). */
  private onDatagram(d: UdpDatagram): void {
    if (this.stopped || d.kind !== 'hip') return;
    this.opts.tap?.('in', frameHip(d.packet), d.from, d.to);
    this.counters.hipIn++;
    this.core.handleDatagram(this.clock.now(), d.packet, d.from, d.to);
    this.run();
  }

  /**
   * No TUN: an authenticated payload the in-process data plane opened. The core hears of it
   * with the pair it came over, then the owner gets the payload.
   */
  private onPayload(peerHit: Uint8Array, nextHeader: number, payload: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void {
    if (this.stopped) return;
    this.core.handleDataplane(this.clock.now(), { type: 'esp', peerHit, bytes, from, to });
    this.run();
    this.emit('event', { type: 'payload', peer: hitKey(peerHit), peerHit, nextHeader, payload } satisfies EngineEvent);
  }

  /** A report of the data plane's, fed to the core. */
  private report(r: Parameters<HostCore['handleDataplane']>[1]): void {
    if (this.stopped) return;
    this.core.handleDataplane(this.clock.now(), r);
    this.run();
  }

  /** TUN mode: the data plane's counters arrived; failure detection gets what changed. */
  private onDataplaneStats(): void {
    if (this.stopped) return;
    const dataplane = this.dataplane;
    const peers = this.core.associations().flatMap((a) => {
      const stats = dataplane.peerStats(a.peerHit);
      return stats ? [{ peerHit: a.peerHit, packetsOut: stats.packetsOut, packetsIn: stats.packetsIn, lastHeardMs: stats.lastHeardMs }] : [];
    });
    this.report({ type: 'stats', peers });
  }

  /**
   * Carries out what the core has to say until it has nothing more: data plane commands first
   * (a path moves before the UPDATE telling the peer leaves), HIP datagrams, then events (which
   * may ask the core for more). Then re-arms the one timer.
   */
  private run(): void {
    for (;;) {
      let progressed = false;
      for (let c = this.core.pollCommand(); c; c = this.core.pollCommand()) {
        this.execute(c);
        progressed = true;
      }
      for (let t = this.core.pollTransmit(); t; t = this.core.pollTransmit()) {
        const from = t.from ?? this.transport.localFor(t.to);
        this.emitDatagram(frameHip(t.bytes), t.to, from);
        this.counters.hipOut++;
        progressed = true;
      }
      const e = this.core.pollEvent();
      if (e) {
        this.onCoreEvent(e);
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

  private onCoreEvent(e: CoreEvent): void {
    switch (e.type) {
      case 'association':
        this.emit('event', { type: 'association', peer: e.peer, from: e.from, to: e.to } satisfies EngineEvent);
        return;
      case 'established':
        this.liveness.hipHeard(hitKey(e.peerHit), this.clock.now());
        this.emit('event', { type: 'established', peer: e.peer, local: e.local, remote: e.remote, initiator: e.initiator, suite: e.suite } satisfies EngineEvent);
        return;
      case 'rekeyed':
        this.liveness.hipHeard(hitKey(e.peerHit), this.clock.now());
        this.emit('event', { type: 'rekeyed', peer: e.peer, inboundSpi: e.inboundSpi, outboundSpi: e.outboundSpi } satisfies EngineEvent);
        return;
      case 'closed':
        this.emit('event', { type: 'closed', peer: e.peer, byPeer: e.byPeer } satisfies EngineEvent);
        return;
      case 'failed':
        this.emit('event', { type: 'failed', peer: e.peer, reason: e.reason } satisfies EngineEvent);
        return;
      case 'notify':
        this.emit('event', { type: 'notify', peer: e.peer, notifyType: e.notifyType, authenticated: e.authenticated } satisfies EngineEvent);
        return;
      case 'probe-answered':
      case 'probe-lost':
        if (e.type === 'probe-answered') this.liveness.hipHeard(hitKey(e.peerHit), this.clock.now());
        this.pings.settle(this.clock.now(), e);
        return;
      case 'handover': {
        const { type: _type, ...h } = e;
        this.emit('event', { type: 'handover', ...h } satisfies EngineEvent);
        return;
      }
      case 'unreachable':
        this.giveUpIfReconnectable(e.peerHit);
        return;
      case 'relay-registration':
        this.emit('event', { type: 'relay-registration', relay: e.relay, registered: e.registered } satisfies EngineEvent);
        return;
      case 'offer':
        this.emit('event', { type: 'offer', peer: e.peer, relay: e.relay } satisfies EngineEvent);
        return;
    }
  }

  /** One data plane command, carried out by the data plane (the same commands with or without a TUN). */
  private execute(c: DataplaneCommand): void {
    switch (c.type) {
      case 'install-sa':
        this.dataplane.installSa(c.peerHit, c.sa, c.remote, this.localFor(c.remote, c.local));
        return;
      case 'add-sas':
        this.dataplane.addSas(c.peerHit, c.sa);
        return;
      case 'remove-outbound':
        this.dataplane.removeOutbound(c.peerHit, c.spi);
        return;
      case 'promote-base':
        this.dataplane.promoteBase(c.peerHit, c.spi);
        return;
      case 'retire-inbound':
        this.dataplane.retireInbound(c.spi, c.afterMs);
        return;
      case 'drop-sas':
        this.dataplane.dropSas(c.peerHit);
        return;
      case 'set-path':
        this.dataplane.setPath(c.peerHit, c.remote, this.localFor(c.remote, c.local), c.verified, c.spi);
        return;
      case 'set-spare':
        this.dataplane.setSpare(c.peerHit, c.remote, this.localFor(c.remote, c.local), c.forMs);
        return;
      case 'set-held':
        this.dataplane.setHeld(c.peerHit, c.on);
        return;
      case 'set-flow-routes': {
        this.flowViews.routesSet(c.peerHit, c.routes, this.dataplane.flowStats(c.peerHit));
        this.dataplane.setFlowRoutes(c.peerHit, c.routes.map((r) => ({ ...r, local: this.localFor(r.remote, r.local) })));
        return;
      }
      case 'set-verified-addresses':
        this.dataplane.setVerifiedAddresses(c.peerHit, c.addresses);
        return;
    }
  }

  /** The socket's endpoint for a pair: the one bound to `local`, or one of the remote's family. */
  private localFor(remote: UdpEndpoint, local: UdpEndpoint): UdpEndpoint {
    return this.transport.localFor(remote, local) ?? local;
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.core.pollTimeout();
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
      this.core.handleTimeout(this.clock.now());
      this.run();
    }, Math.max(0, next - this.clock.now()));
  }
}

