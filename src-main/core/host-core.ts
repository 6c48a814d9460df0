// The host, sans-IO: HIP (HipHost), which locator pair each peer's traffic takes (PathManager:
// pair selection and failure detection), and what the data plane must do about both. Fed HIP
// datagrams, our locators as the interface monitor reports them, the data plane's reports and
// the time; polled for HIP datagrams to send, data plane commands, events and its next
// deadline. No sockets, no timers, no clock: the engine (engine/engine.ts) and the simulator
// (test/support/sim-hosts.ts) drive the same core.
//
// Each input is carried through to the end before it returns: HIP's events are fed to pair
// selection, whose moves become commands and handover events, with the cause that set them off
// (a handover the monitor's report caused names what the monitor said of the address it left).
// Its parts: the data plane's SAs and paths (dataplane-sas.ts), our relays (relay-clients.ts,
// relay-agent.ts), flows (flow-steering.ts) and the sampling of ESP (esp-traffic.ts).

import { hitKey } from '../../src-shared/vocabulary.js';
import {
  HipHost, type AnnouncedFlow, type AssociationSnapshot, type Endpoint, type HostConfig, type HostEvent, type Transmit,
} from '../hip/host.js';

import type { ResponderSnapshot } from '../hip/responder.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';
import type { LocatorCause } from '../mobility/local-addresses.js';
import { localLosses } from '../mobility/local-loss.js';
import type { LocatorPair } from '../mobility/pair-order.js';
import {
  DEFAULT_PATH_POLICY, PathManager, type EngineLocator, type PathMoveCause, type IcmpOutcome, type PathPolicy, type PeerPathsView,
} from './path-manager.js';
import { pairSpis } from './sa-choice.js';
import type { FlowPlacement } from './flow-routes.js';
import { FlowSteering, type PeerFlowBinding } from './flow-steering.js';
import type { CoreEvent, DataplaneCommand, DataplaneReport } from './core-io.js';
import { DataplaneSas } from './dataplane-sas.js';
import { EspTraffic } from './esp-traffic.js';
import { RelayClients, type RelayConfig, type RelayView } from './relay-clients.js';
import { carriesHits, RelayAgent, type PeerVia } from './relay-agent.js';
import { NatTraversalMode } from '../hip/wire/constants.js';

export type { CoreEvent, DataplaneCommand, DataplaneReport, PathCause, PeerTrafficStats } from './core-io.js';
export type { PeerFlowBinding } from './flow-steering.js';
export type { PeerVia } from './relay-agent.js';

export interface HostCoreConfig {
  host: Omit<HostConfig, 'allocateSpi'>;
  /** Pair selection, failure detection, and when a peer with every pair failed is given up. */
  paths?: Partial<PathPolicy>;
  /** How long an inbound SA replaced by a rekey (or deprecated) keeps accepting in-flight packets. */
  rekeyOverlapMs?: number;
  /**
   * 'static': the first locators are ours for good, and a single one is never announced (every
   * exchange runs over it). 'monitor': the interface monitor reports them as they change.
   */
  locators?: 'static' | 'monitor';
  /** Relays we register with and reach peers through (RFC 8003, RFC 9028). */
  relays?: readonly RelayConfig[];
}

export type FailoverResult = { ok: true } | { ok: false; reason: 'no-association' | 'unknown-pair' | 'no-alternative' };

const DEFAULT_REKEY_OVERLAP_MS = 5000;

export class HostCore {
  readonly hit: Uint8Array;
  private readonly host: HipHost;
  private readonly paths: PathManager;
  private readonly sas: DataplaneSas;
  private readonly traffic = new EspTraffic();
  private readonly commands: DataplaneCommand[] = [];
  /** Per peer, the pair its ESP last arrived on (ours → theirs), as the data plane reported it. */
  private readonly arrivals = new Map<string, LocatorPair>();
  private readonly events: CoreEvent[] = [];
  private readonly icmp: Record<IcmpOutcome, number> = { 'icmp-hint': 0, 'icmp-hint-limited': 0, 'icmp-not-primary': 0, 'icmp-unknown': 0 };
  /** The time of the input being handled: PathManager's calls back into HIP carry it. */
  private now: number;
  private readonly relays: RelayClients;
  private readonly relayAgent: RelayAgent;
  private readonly flows: FlowSteering;

  constructor(private readonly config: HostCoreConfig, now: number) {
    this.now = now;
    this.relays = new RelayClients(config.relays ?? []);
    const isVerified = (hit: Uint8Array, remote: Endpoint): boolean => this.host.isVerified(hit, remote);
    const association = (hit: Uint8Array): AssociationSnapshot | undefined => this.association(hit);
    this.sas = new DataplaneSas(
      { commands: this.commands, association, isVerified, ifnameOf: (address) => this.paths.localLocators().find((l) => l.address === address)?.ifname },
      (n) => config.host.crypto.randomBytes(n),
      config.rekeyOverlapMs ?? DEFAULT_REKEY_OVERLAP_MS,
    );
    this.host = new HipHost({
      // RFC 9028's mode first, plain UDP encapsulation accepted (a relay offers neither).
      natTraversalModes: [NatTraversalMode.ICE_HIP_UDP, NatTraversalMode.UDP_ENCAPSULATION],
      ...config.host,
      allocateSpi: () => this.sas.inbound.allocate(),
      registrationRequestFor: (hit) => (this.relays.isRelay(hitKey(hit)) ? this.relays.request() : config.host.registrationRequestFor?.(hit)),
    }, now);
    this.hit = this.host.hit;
    this.paths = new PathManager(
      {
        probePair: (hit, local, remote, probeId, report) => void this.host.probePair(this.now, hit, local, remote, probeId, report),
        setActivePair: (hit, local, remote) => this.host.setActivePair(this.now, hit, local, remote),
        setDataPath: (hit, local, remote, cause) => this.setDataPath(hit, local, remote, cause),
        setSparePath: (hit, local, remote, forMs) => this.setSparePath(hit, local, remote, forMs),
        handover: (h) => this.events.push({ type: 'handover', ...h }),
        holdForPeer: (hit, on) => {
          this.commands.push({ type: 'set-held', peerHit: hit, on });
          this.host.setPathInDoubt(hit, on);
        },
        // The owner knows whether the peer can be found again; giving it up is its call (`abandon`).
        unreachable: (hit) => {
          const peer = hitKey(hit);
          // A relay is ours to find again: its association goes, and a new base exchange follows.
          if (this.relays.isRelay(peer)) {
            this.host.abandon(this.now, hit, 'relay-unreachable');
            this.relays.due(this.now, peer);
            return true;
          }
          this.events.push({ type: 'unreachable', peer, peerHit: hit });
          return false;
        },
        relayedTo: (hit, remote) => this.relays.atEndpoint(remote) !== undefined && !this.relays.isRelay(hitKey(hit)),
        checksFailed: (hit) => this.relayAgent.notifyChecksFailed(hit),
        pathLost: (hit) => this.relayAgent.gatherAgain(this.now, hit),
      },
      { ...DEFAULT_PATH_POLICY, ...config.paths },
    );
    this.relayAgent = new RelayAgent({
      host: this.host, relays: this.relays, crypto: config.host.crypto, paths: this.paths, inbound: this.sas.inbound, events: this.events, association,
    });
    this.flows = new FlowSteering({
      ownHit: this.hit,
      commands: this.commands,
      paths: this.paths,
      outbound: this.sas.outbound,
      monitored: config.locators === 'monitor',
      balanced: config.host.multihoming === 'simultaneous' && config.locators === 'monitor',
      association,
      isVerified,
      announceFlows: (hit, flows) => this.host.announceFlows(this.now, hit, flows),
    });
  }

  // ---- inputs ----

  /** A HIP datagram (the RFC 9028 zero marker already taken off). */
  handleDatagram(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.at(now);
    const relay = this.relays.atEndpoint(from);
    if (relay === undefined || !carriesHits(bytes)) {
      this.host.handlePacket(now, bytes, from, to);
    } else {
      this.relayAgent.fromRelay(now, relay, bytes, from, to);
    }
    this.relayAgent.flush(now);
    this.settle();
  }

  /**
   * Our locators now (a complete list: those with a socket), and the interface monitor's causes
   * for the change. Pair selection goes first: a peer whose pair just lost its address moves to
   * a spare before the (signed) UPDATE telling the peer is even built, and that UPDATE then
   * leaves from the new pair. The UPDATE goes out before the pair probes: the peer moves on it.
   */
  handleInterfaces(now: number, locators: readonly EngineLocator[], causes: readonly LocatorCause[] = []): void {
    this.at(now);
    this.flows.mayHaveMoved();
    this.paths.setLocalLocators(now, locators, localLosses(causes));
    if (this.flows.hasBindings()) this.flows.place();
    this.announce(now);
    this.settle();
    this.paths.releaseProbes();
    this.settle();
    // Every relay hears of a change of our locators at once: the UPDATE with REG_REQUEST both
    // renews and tells us where the relay sees us now (REG_FROM).
    this.relayAgent.renewAll(now);
    this.relayAgent.flush(now);
    this.settle();
  }

  /** Tells HIP what to list to peers: our locators that reach a peer, and what our relays add (RelayAgent.candidates). */
  private announce(now: number): void {
    const operational = this.paths.localLocators().filter((l) => l.operational);
    this.relays.keepLocals(operational.map((l) => l.address));
    const own = this.relayAgent.candidates(now, operational.filter((l) => this.paths.reachesAnyPeer(l)));
    // One fixed address and no relay: every exchange runs over it, there is nothing to tell a peer.
    const fixedSingle = (this.config.locators ?? 'static') === 'static' && own.length <= 1;
    if (!fixedSingle) this.host.setLocalLocators(now, own);
  }

  handleDataplane(now: number, report: DataplaneReport): void {
    this.at(now);
    switch (report.type) {
      case 'esp': {
        const peer = hitKey(report.peerHit);
        const heard = this.traffic.heard(now, peer, report.bytes, report.from);
        this.host.espAuthenticated(now, report.peerHit, heard && this.relayAgent.learnable(report.peerHit, heard));
        // HIP follows a new source first (the path moves, with what the data plane held), then
        // failure detection hears the data (and ends the hold).
        this.settle();
        this.paths.dataReceived(now, report.peerHit, this.arrived(report));
        break;
      }
      case 'esp-heard':
        this.host.espAuthenticated(now, report.peerHit);
        break;
      case 'esp-source': {
        this.host.espAuthenticated(now, report.peerHit, this.relayAgent.learnable(report.peerHit, { bytes: report.bytes, from: report.from }));
        this.settle();
        this.sas.sourceFollowed(report.peerHit, this.paths.path(report.peerHit), report.from);
        // Where the peer's traffic comes in, and nothing more: the counters report the data itself
        // (stats), so a search this packet did not answer goes on.
        this.paths.inboundSeen(now, report.peerHit, this.arrived(report));
        break;
      }
      case 'sent':
        this.paths.dataSent(now, report.peerHit, report.packets);
        break;
      case 'stats':
        this.flows.mayHaveMoved();
        for (const s of report.peers) {
          const a = this.association(s.peerHit);
          if (a?.state !== 'ESTABLISHED') continue;
          const { sent, received } = this.traffic.counted(a.peerHitText, s.packetsOut, s.packetsIn);
          // The inbound pair is reported when it changes: what came since arrived on the last one.
          if (received > 0) this.paths.dataReceived(s.lastHeardMs === null ? now : now - s.lastHeardMs, s.peerHit, this.arrivals.get(a.peerHitText));
          if (sent > 0) this.paths.dataSent(now, s.peerHit, sent);
        }
        this.paths.handleTimeout(now);
        break;
      case 'rekey-needed': {
        // An SA standing in for its successor wears out before the peer's confirmation came:
        // the successor takes over (the peer answered the rekey, so it holds the new SAs).
        const peer = hitKey(report.peerHit);
        const successor = this.sas.successorOf(peer, report.spi);
        if (successor !== undefined) this.sas.successorConfirmed(peer, report.peerHit, successor);
        else this.host.rekey(now, report.peerHit, report.spi);
        break;
      }
      case 'icmp-error':
        this.icmp[this.paths.icmpError(now, report.local, report.remote)]++;
        break;
    }
    this.settle();
  }

  handleTimeout(now: number): void {
    this.at(now);
    this.flows.mayHaveMoved();
    this.host.handleTimeout(now);
    this.paths.handleTimeout(now);
    this.settle();
    this.relayAgent.flush(now);
    this.settle();
  }

  // ---- the owner's requests ----

  connect(now: number, peerHit: Uint8Array, remote: Endpoint, local?: Endpoint): void {
    this.at(now);
    this.host.connect(now, peerHit, remote, local);
    this.settle();
  }

  close(now: number, peerHit: Uint8Array): void {
    this.at(now);
    this.host.close(now, peerHit);
    this.settle();
  }

  /** Flow bindings every initiator hears in our R1 (see HipHost.setHostWideFlows). */
  setHostWideFlows(flows: AnnouncedFlow[]): void {
    this.host.setHostWideFlows(flows);
  }

  /** Rekeys the peer's base SA pair, or the further pair whose outbound SA is `outboundSpi`. */
  rekey(now: number, peerHit: Uint8Array, outboundSpi?: number): void {
    this.at(now);
    this.host.rekey(now, peerHit, outboundSpi);
    this.settle();
  }

  /** Gives up on a peer (see HipHost.abandon): its association fails here, and may be built afresh. */
  abandon(now: number, peerHit: Uint8Array, reason: string): void {
    this.at(now);
    this.host.abandon(now, peerHit, reason);
    this.settle();
  }

  /** A HIP-level ping; its answer or loss comes as a 'probe-answered' or 'probe-lost' event. */
  probe(now: number, peerHit: Uint8Array): ReturnType<HipHost['probe']> {
    this.at(now);
    const r = this.host.probe(now, peerHit);
    this.settle();
    return r;
  }

  cancelProbe(now: number, peerHit: Uint8Array): void {
    this.at(now);
    this.host.cancelProbe(now, peerHit);
    this.settle();
  }

  /** Moves a peer's traffic off its primary pair now: to `to`, or to the best other pair. */
  failover(now: number, peerHit: Uint8Array, to?: LocatorPair): FailoverResult {
    this.at(now);
    this.flows.mayHaveMoved();
    const view = this.paths.status(now, peerHit);
    const r = this.paths.failover(now, peerHit, to);
    if (r.ok) this.flows.failedOver(hitKey(peerHit), view, to);
    this.settle();
    return r;
  }

  /** New keepalive / failure-detection settings, for every peer now and every association to come. */
  setDetectionPolicy(now: number, detection: DetectionPolicy): void {
    this.at(now);
    this.paths.setDetectionPolicy(now, detection);
    this.settle();
  }

  /**
   * Our flow bindings (all of them, for every peer): each flow's route follows from them and
   * the pairs, and is given to the data plane whenever either changes.
   */
  setFlowBindings(now: number, bindings: readonly PeerFlowBinding[]): void {
    this.at(now);
    this.flows.set(bindings);
    this.settle();
  }

  /** Where each of our flows to the peer goes now (by FID); undefined for a peer without bindings. */
  flowPlacements(peerHit: Uint8Array): FlowPlacement[] | undefined {
    return this.flows.placements(this.now, peerHit);
  }

  /** Credit-based authorization (RFC 8046 §5.6): may `bytes` of ESP go to `to` now? */
  authorizeSend(now: number, peerHit: Uint8Array, to: Endpoint, bytes: number): boolean {
    return this.host.authorizeSend(now, peerHit, to, bytes);
  }

  /**
   * The relays to use from now on (the user changed the setting): new ones get a base exchange
   * and a registration at once; with one no longer listed our association is closed.
   */
  setRelays(now: number, relays: readonly RelayConfig[]): void {
    this.at(now);
    this.relayAgent.setRelays(now, relays);
    this.relayAgent.flush(now);
    this.settle();
  }

  // ---- outputs ----

  /** A HIP datagram to send (through a relay, wrapped for it: RelayAgent.toRelay). */
  pollTransmit(): Transmit | undefined {
    const t = this.host.pollTransmit();
    return t === undefined ? t : this.relayAgent.toRelay(t);
  }

  pollCommand(): DataplaneCommand | undefined {
    return this.commands.shift();
  }

  pollEvent(): CoreEvent | undefined {
    return this.events.shift();
  }

  /** When `handleTimeout` is next due; undefined when nothing is pending. */
  pollTimeout(): number | undefined {
    let next: number | undefined;
    for (const t of [this.host.nextTimeout(), this.paths.nextTimeout(), this.relays.nextDue()]) {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  // ---- what the owner may read ----

  associations(): AssociationSnapshot[] {
    return this.host.associations();
  }

  association(peerHit: Uint8Array): AssociationSnapshot | undefined {
    const peer = hitKey(peerHit);
    return this.host.associations().find((a) => a.peerHitText === peer);
  }

  get counters(): HipHost['counters'] {
    return this.host.counters;
  }

  /** Our relays: registration, reflexive and relayed addresses (status, UI). */
  relayStatus(now: number): RelayView[] {
    return this.relays.view(now);
  }

  /** CONNECTIVITY_CHECKS_FAILED notices sent and received (signed ones only), and the pairs they held. */
  get checkFailureCounters(): Readonly<{ sent: number; received: number; heldPairs: number }> {
    return this.relayAgent.checkFailureCounters;
  }

  /** Relayed control packets refused, by reason. */
  get relayCounters(): Readonly<Record<string, number>> {
    return this.relayAgent.counters;
  }

  /** Whether a peer's traffic goes straight to it or through one of our relays. */
  via(peerHit: Uint8Array): PeerVia {
    const out = this.sas.outbound.get(hitKey(peerHit));
    return this.relayAgent.via(peerHit, out?.remote ?? this.association(peerHit)?.remote);
  }

  /** The relays' addresses, to reach a peer known by HIT alone (the first is tried first). */
  relayEndpoints(): Endpoint[] {
    return this.relays.configs().map((c) => ({ ...c.endpoint }));
  }

  /** ICMP errors by what became of them: hints acted on, and those limited or ignored. */
  get icmpHints(): Readonly<Record<IcmpOutcome, number>> {
    return { ...this.icmp };
  }

  responderStatus(now: number): ResponderSnapshot {
    return this.host.responderStatus(now);
  }

  /** The locators that have a socket now, as pair selection uses them. */
  localLocators(): readonly EngineLocator[] {
    return this.paths.localLocators();
  }

  /**
   * The peer's installed outbound ESP as the data plane was told it: the pair it leaves on and
   * the suite. Undefined while the data plane holds no SA of the peer's.
   */
  dataPath(peerHit: Uint8Array): { local: Endpoint; remote: Endpoint; suite: number } | undefined {
    const out = this.sas.outbound.get(hitKey(peerHit));
    return out && { local: { ...out.local }, remote: { ...out.remote }, suite: out.suite };
  }

  /** The pair the peer's ESP leaves on, as the data plane was told. */
  path(peerHit: Uint8Array): { local: Endpoint; remote: Endpoint } | undefined {
    return this.paths.path(peerHit);
  }

  /**
   * Every locator pair of the peer, its test state and which is primary; in simultaneous
   * multihoming with each pair's SAs (the outbound one the peer listed with the remote locator,
   * the inbound one serving our interface).
   */
  pathsView(now: number, peerHit: Uint8Array): PeerPathsView | undefined {
    const view = this.paths.status(now, peerHit);
    const a = this.association(peerHit);
    const out = this.sas.outbound.get(hitKey(peerHit));
    if (view === undefined || a === undefined || out === undefined || a.multihoming !== 'simultaneous') return view;
    return {
      ...view,
      pairs: view.pairs.map((p) => {
        const inbound = pairSpis(a, p.ifname, p.remote).spiIn;
        const spread = this.flows.spreadCarries(a.peerHitText, p.local, p.remote);
        return { ...p, spiOut: this.sas.outbound.spiFor(out, a, p.ifname ?? undefined, p.remote), ...(inbound === undefined ? {} : { spiIn: inbound }), ...(spread ? { spread: true as const } : {}) };
      }),
    };
  }

  // ---- internals ----

  private at(now: number): void {
    this.now = now;
    this.sas.inbound.expire(now);
  }

  /** HIP's events, until it has nothing more to say: each may make pair selection act. */
  private settle(): void {
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) this.onHostEvent(this.now, e);
    this.flows.refresh(this.now);
  }

  private onHostEvent(now: number, e: HostEvent): void {
    const peer = hitKey(e.peerHit);
    this.flows.changed(peer);
    const peerHit = e.peerHit;
    switch (e.type) {
      case 'state':
        this.events.push({ type: 'association', peer, peerHit, from: e.from, to: e.to });
        if (e.from === 'R2-SENT' && e.to === 'ESTABLISHED') this.paths.peerConfirmed(now, peerHit);
        return;
      case 'established':
        this.sas.install(peer, e.peerHit, e.sa, e.local, e.remote);
        this.relayAgent.established(now, peer, e.remote);
        this.traffic.forget(peer);
        this.paths.onHostEvent(now, e, () => this.association(peerHit)?.peerLocators ?? []);
        this.events.push({ type: 'established', peer, peerHit, local: e.local, remote: e.remote, initiator: e.initiator, suite: e.sa.suite });
        return;
      case 'rekeyed':
        if (!this.sas.rekeyed(now, peer, e.peerHit, e.sa, e.oldInboundSpi, e.oldOutboundSpi, e.confirmed)) return;
        this.events.push({ type: 'rekeyed', peer, peerHit, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi });
        this.relayAgent.permissionsChanged(now, peer);
        return;
      case 'registration':
        this.relays.answered(now, peer, e.answer);
        this.announce(now);
        this.relayAgent.registered(now, peer);
        this.events.push({ type: 'relay-registration', relay: peer, registered: this.relays.view(now).find((r) => r.hit === peer)?.registered ?? false });
        return;
      case 'registration-lost':
        this.relays.lost(now, peer);
        this.announce(now);
        return;
      case 'closed':
      case 'failed':
        if (this.relays.isRelay(peer)) this.relays.lost(now, peer);
        this.relays.forget(peer);
        this.sas.drop(peer, e.peerHit);
        this.arrivals.delete(peer);
        this.traffic.forget(peer);
        this.paths.onHostEvent(now, e, () => []);
        this.events.push(e.type === 'closed' ? { type: 'closed', peer, peerHit, byPeer: e.byPeer } : { type: 'failed', peer, peerHit, reason: e.reason });
        return;
      case 'notify':
        this.events.push({ type: 'notify', peer, peerHit, notifyType: e.notifyType, authenticated: e.authenticated });
        return;
      case 'peer-checks-failed':
        this.relayAgent.checksFailedHeard(this.paths.peerChecksFailed(now, peerHit));
        return;
      case 'probe-answered':
        this.events.push({ type: 'probe-answered', peer, peerHit, local: e.local, remote: e.remote });
        return;
      case 'probe-lost':
        this.events.push({ type: 'probe-lost', peer, peerHit, reason: e.reason });
        return;
      case 'sa-added':
        this.sas.add(peer, e.peerHit, e.sa);
        return;
      case 'sa-rekeyed':
        if (this.sas.replace(now, peer, e.peerHit, e.sa, e.oldInboundSpi, e.oldOutboundSpi, e.confirmed)) this.relayAgent.permissionsChanged(now, peer);
        this.events.push({ type: 'rekeyed', peer, peerHit, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi });
        return;
      case 'sa-rekey-confirmed':
        this.sas.successorConfirmed(peer, e.peerHit, e.outboundSpi);
        return;
      case 'sa-removed':
        this.sas.remove(now, peer, e.peerHit, e.inboundSpi, e.outboundSpi);
        return;
      case 'peer-locators':
        this.paths.onHostEvent(now, e, () => []);
        this.sas.reselect(peer, e.peerHit);
        this.sas.verificationChanged(peer, e.peerHit);
        return;
      case 'peer-flows':
      case 'flows-acked':
        // Re-planned with the others of this peer (flows.changed, above): the peer's flows get
        // their return routes; ours turn from pending to bound once the peer holds their binding.
        return;
      case 'locator-verified':
        this.sas.verificationChanged(peer, e.peerHit);
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

  /**
   * Pair selection (or HIP) moved a peer: its outbound ESP follows, on the SA of that pair. A
   * relay's association that moved takes our registration along at once: the relay forwards to
   * where it sees the registration come from, and our srflx candidate of the new uplink comes
   * with its answer.
   */
  private setDataPath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, cause: PathMoveCause): void {
    const peer = hitKey(peerHit);
    if (cause !== 'connect' && this.relays.isRelay(peer)) this.relays.due(this.now, peer);
    if (this.sas.moveTo(peer, peerHit, local, remote, cause)) this.flows.changed(peer);
  }

  /** Pair selection found a spare worth copying the data onto for a while (DataplaneSas.copyTo). */
  private setSparePath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void {
    const peer = hitKey(peerHit);
    // With a relay, the spare is another uplink of ours: the registration moves there for the
    // while, so peers' traffic through the relay reaches us on it (the relayed bridge).
    if (this.relays.isRelay(peer)) this.relays.bridge(this.now, peer, local, forMs);
    else this.sas.copyTo(peer, peerHit, local, remote, forMs);
  }

  /** The pair a report says the peer's ESP came in on, remembered as its inbound pair. */
  private arrived(report: { peerHit: Uint8Array; from: Endpoint; to: Endpoint }): LocatorPair {
    const pair = { local: report.to.address, remote: report.from.address };
    this.arrivals.set(hitKey(report.peerHit), pair);
    return pair;
  }
}
