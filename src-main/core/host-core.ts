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

import {
  HipHost, type AnnouncedFlow, type AssociationSnapshot, type Endpoint, type HostConfig, type HostEvent, type SaKeys, type Transmit,
} from '../hip/host.js';
import type { OwnLocator } from '../hip/local-locators.js';
import { hitToText } from '../hip/wire/address.js';
import type { ResponderSnapshot } from '../hip/responder.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';
import type { LocatorCause } from '../mobility/local-addresses.js';
import { localLosses } from '../mobility/local-loss.js';
import type { LocatorPair } from '../mobility/pair-order.js';
import {
  DEFAULT_PATH_POLICY, PathManager, type EngineLocator, type PathMoveCause, type IcmpOutcome, type PathPolicy, type PeerPathsView,
} from './path-manager.js';
import { pairSpis } from './sa-choice.js';
import { routesKey, type FlowPlacement, type OwnFlow, type PlannedFlowRoute } from './flow-routes.js';
import { FlowPlanner } from './flow-planner.js';
import { spreadPlacement, spreadRoutes } from './flow-spread.js';
import { FlowSpreads } from './flow-spreads.js';
import { PeerBalancer } from './peer-balance.js';
import type { CoreEvent, DataplaneCommand, DataplaneReport, PathCause } from './core-io.js';
import { EspTraffic } from './esp-traffic.js';
import { OutboundSas } from './outbound-sas.js';
import { RelayClients, REGISTRATION_RETRY_MS, type RelayConfig, type RelayView } from './relay-clients.js';
import { unwrapRelayed, wrapForRelay } from '../relay/relayed-packet.js';
import { ipToBytes16, textToHit } from '../hip/wire/address.js';
import { NatTraversalMode } from '../hip/wire/constants.js';
import type { PeerPermission } from '../hip/wire/params.js';

export type { CoreEvent, DataplaneCommand, DataplaneReport, PathCause, PeerTrafficStats } from './core-io.js';

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

/** One of our flow bindings, to the peer with this HIT. */
export interface PeerFlowBinding extends OwnFlow {
  peerHit: Uint8Array;
}

/** How a peer's traffic travels: straight to its address, or through one of our relays. */
export type PeerVia = { via: 'direct' } | { via: 'relay'; relay: string; relayHit: string };

const HIT_SENDER = 8;
const HIT_RECEIVER = 24;
const HIT_LENGTH = 16;

export type FailoverResult = { ok: true } | { ok: false; reason: 'no-association' | 'unknown-pair' | 'no-alternative' };

const DEFAULT_REKEY_OVERLAP_MS = 5000;

export class HostCore {
  readonly hit: Uint8Array;
  private readonly host: HipHost;
  private readonly paths: PathManager;
  private readonly outbound = new OutboundSas();
  private readonly traffic = new EspTraffic();
  /** Inbound SPIs in use (ours to choose), and when a retired one is free again. */
  private readonly inboundSpis = new Map<number, { peer: string; retireAt: number | undefined }>();
  private readonly commands: DataplaneCommand[] = [];
  /** Per peer, the pair its ESP last arrived on (ours → theirs), as the data plane reported it. */
  private readonly arrivals = new Map<string, LocatorPair>();
  /** Per peer, the verified addresses the data plane was last told of (set-verified-addresses), as a key. */
  private readonly verifiedTold = new Map<string, string>();
  private readonly events: CoreEvent[] = [];
  private readonly overlapMs: number;
  private readonly icmp: Record<IcmpOutcome, number> = { 'icmp-hint': 0, 'icmp-hint-limited': 0, 'icmp-not-primary': 0, 'icmp-unknown': 0 };
  /** The time of the input being handled: PathManager's calls back into HIP carry it. */
  private now: number;
  private readonly relays: RelayClients;
  /** Relayed control packets refused, by reason (bad RELAY_HMAC, malformed, no key). */
  private readonly relayDrops: Record<string, number> = {};
  /** When a relay whose association is gone is next tried. */
  private readonly relayRetryAt = new Map<string, number>();
  /** Peers whose path was lost: each gets a new offer once the relay it is reached through answers our new registration. */
  private readonly offersDue = new Set<string>();
  /** CONNECTIVITY_CHECKS_FAILED notices: sent through a relay, and taken from peers (held pairs). */
  private readonly checkNotices = { sent: 0, received: 0, heldPairs: 0 };
  /** Our flow bindings by peer (HIT text) as set, and as placed (shared flows balanced among uplinks). */
  private flowBindingsSet = new Map<string, OwnFlow[]>();
  private flowBindings = new Map<string, OwnFlow[]>();
  private readonly balancer = new PeerBalancer();
  /** Per peer, the routes the data plane was last given (as routesKey), and where each flow is. */
  private readonly flowRoutesSent = new Map<string, string>();
  private readonly flowPlans = new Map<string, readonly FlowPlacement[]>();
  private readonly flowPlanner = new FlowPlanner();
  /** Peers whose flow routes may have changed since they were last planned. */
  private readonly flowsDirty = new Set<string>();
  /** Load sharing: unbound traffic spread over pairs per flow. */
  private readonly spreads: FlowSpreads;

  constructor(private readonly config: HostCoreConfig, now: number) {
    this.now = now;
    this.overlapMs = config.rekeyOverlapMs ?? DEFAULT_REKEY_OVERLAP_MS;
    this.relays = new RelayClients(config.relays ?? []);
    this.host = new HipHost({
      // RFC 9028's mode first, plain UDP encapsulation accepted (a relay offers neither).
      natTraversalModes: [NatTraversalMode.ICE_HIP_UDP, NatTraversalMode.UDP_ENCAPSULATION],
      ...config.host,
      allocateSpi: () => this.allocateSpi(),
      registrationRequestFor: (hit) => (this.relays.isRelay(hitToText(hit)) ? this.relays.request() : config.host.registrationRequestFor?.(hit)),
    }, now);
    this.hit = this.host.hit;
    this.spreads = new FlowSpreads(this.hit);
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
          const peer = hitToText(hit);
          // A relay is ours to find again: its association goes, and a new base exchange follows.
          if (this.relays.isRelay(peer)) {
            this.host.abandon(this.now, hit, 'relay-unreachable');
            this.relays.due(this.now, peer);
            return true;
          }
          this.events.push({ type: 'unreachable', peer, peerHit: hit });
          return false;
        },
        relayedTo: (hit, remote) => this.relays.atEndpoint(remote) !== undefined && !this.relays.isRelay(hitToText(hit)),
        checksFailed: (hit) => this.notifyChecksFailed(hit),
        pathLost: (hit) => this.gatherAgain(hit),
      },
      { ...DEFAULT_PATH_POLICY, ...config.paths },
    );
  }

  // ---- inputs ----

  /** A HIP datagram (the RFC 9028 zero marker already taken off). */
  handleDatagram(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.at(now);
    const relay = this.relays.atEndpoint(from);
    if (relay === undefined || bytes.length < HIT_RECEIVER + HIT_LENGTH) {
      this.host.handlePacket(now, bytes, from, to);
    } else {
      this.fromRelay(now, relay, bytes, from, to);
    }
    this.flushRelays(now);
    this.settle();
  }

  /**
   * A HIP packet from one of our relays: its own, or a peer's it passed on. A passed-on packet's
   * RELAY_HMAC must hold under our association with the relay; then HIP sees the packet as its
   * sender signed it, from the relay, with the original source for the per-source limits.
   */
  private fromRelay(now: number, relay: RelayConfig, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const keys = this.host.integrityKeys(relay.hit);
    const unwrapped = unwrapRelayed(this.config.host.crypto, bytes, keys && { hash: keys.hash, key: keys.inbound });
    if (!unwrapped.relayed) {
      this.host.handlePacket(now, bytes, from, to);
      return;
    }
    if (!unwrapped.ok) {
      this.relayDrops[unwrapped.reason] = (this.relayDrops[unwrapped.reason] ?? 0) + 1;
      return;
    }
    const peerHit = unwrapped.bytes.slice(HIT_SENDER, HIT_SENDER + HIT_LENGTH);
    const peer = hitToText(peerHit);
    const relayHit = hitToText(relay.hit);
    const establishedBefore = this.association(peerHit)?.state === 'ESTABLISHED';
    const dropsBefore = this.dropTotal();
    this.host.handlePacket(now, unwrapped.bytes, from, to, unwrapped.origin);
    const accepted = this.dropTotal() === dropsBefore;
    // Our answers go back through the relay to where it saw the sender. For a peer we hold an
    // association with, only a packet HIP accepted may move that, and then the relay's
    // permission for the peer's ESP follows; a handshake's answer goes wherever the I1 or I2 came from.
    if (establishedBefore ? accepted : true) {
      if (this.relays.reachedThrough(peer, relayHit, unwrapped.origin) && this.association(peerHit)?.state === 'ESTABLISHED') {
        this.relays.due(now, relayHit);
      }
    }
  }

  /**
   * Registrations that are due: with each relay we hold an association with, one UPDATE carrying
   * the REG_REQUEST and a PEER_PERMISSION for every peer we reach through it (the data relay
   * forwards their ESP to us only with one); a relay we hold none with gets a base exchange.
   */
  private flushRelays(now: number): void {
    for (const relayHit of this.relays.dueNow(now)) {
      const hit = textToHit(relayHit)!;
      const state = this.association(hit)?.state;
      if (state === 'ESTABLISHED' || state === 'R2-SENT') {
        const bridge = this.relays.registerFrom(now, relayHit);
        const via = bridge !== undefined && this.paths.localLocators().some((l) => l.operational && l.address === bridge.address) ? bridge : undefined;
        const r = this.host.register(now, hit, this.relays.request(), this.permissionsThrough(relayHit), via);
        if (r.ok) this.relays.sent(now, relayHit, (via ?? this.association(hit)?.local)?.address);
      } else {
        this.connectRelay(now, relayHit);
        this.relays.sent(now, relayHit);
      }
    }
  }

  private connectRelay(now: number, relayHit: string): void {
    const relay = this.relays.config(relayHit);
    const state = relay && this.association(relay.hit)?.state;
    if (relay === undefined || (state !== undefined && state !== 'CLOSED' && state !== 'E-FAILED' && state !== 'UNASSOCIATED')) return;
    if ((this.relayRetryAt.get(relayHit) ?? 0) > now) return;
    this.relayRetryAt.set(relayHit, now + REGISTRATION_RETRY_MS);
    this.host.connect(now, relay.hit, relay.endpoint);
  }

  /** The relay a peer is reached through, if it is one of ours. */
  private relayFor(peer: string): RelayConfig | undefined {
    const route = this.relays.route(peer);
    return route === undefined ? undefined : this.relays.config(route.relay);
  }

  /**
   * Every check toward the peer's direct candidates failed while the relay carries it: the peer
   * hears so through the relay (seed 000 §5.1.2, RFC 9028 §5.10), signed, so that it stops
   * spending checks on the same pairs.
   */
  private notifyChecksFailed(peerHit: Uint8Array): boolean {
    const relay = this.relayFor(hitToText(peerHit));
    if (relay === undefined || !this.host.notifyChecksFailed(peerHit, relay.endpoint)) return false;
    this.checkNotices.sent++;
    return true;
  }

  /**
   * The pair in use stopped answering and no other works (seed 000 §3.3): register with every
   * relay again, which tells us where each sees us now (REG_FROM: a NAT that forgot our mapping
   * moved us) and where peers reach us, and once the relay the peer is reached through has
   * answered, send the peer a new offer through it (see `offerAfterRegistration`).
   */
  private gatherAgain(peerHit: Uint8Array): void {
    const peer = hitToText(peerHit);
    if (this.relays.isRelay(peer) || this.relayFor(peer) === undefined) return;
    this.offersDue.add(peer);
    for (const relay of this.relays.configs()) this.relays.due(this.now, hitToText(relay.hit));
  }

  /** The relay answered our registration: peers waiting for a new offer through it get one now. */
  private offerAfterRegistration(now: number, relayHit: string): void {
    for (const peer of [...this.offersDue]) {
      const relay = this.relayFor(peer);
      if (relay === undefined) {
        this.offersDue.delete(peer);
        continue;
      }
      if (hitToText(relay.hit) !== relayHit) continue;
      this.offersDue.delete(peer);
      const peerHit = textToHit(peer)!;
      if (!this.host.offer(now, peerHit, relay.endpoint)) continue;
      this.paths.offered(now, peerHit);
      this.events.push({ type: 'offer', peer, peerHit, relay: relayHit });
    }
  }

  /** Our data-relay permissions at this relay: per peer reached through it, our inbound SPIs. */
  private permissionsThrough(relayHit: string): PeerPermission[] {
    const out: PeerPermission[] = [];
    for (const peer of this.relays.peersThrough(relayHit)) {
      const peerHit = textToHit(peer)!;
      const origin = this.relays.route(peer)?.origin;
      // Without the address the relay saw the peer at, the relay matches the peer's own registration.
      const address = (origin && ipToBytes16(origin.address)) || new Uint8Array(16);
      for (const [spi, e] of this.inboundSpis) {
        if (e.peer !== peer || e.retireAt !== undefined) continue;
        out.push({ kind: 'PEER_PERMISSION', port: origin?.port ?? 0, protocol: 17, address, peerHit, connectedSpi: spi });
      }
    }
    return out;
  }

  /**
   * Our locators now (a complete list: those with a socket), and the interface monitor's causes
   * for the change. Pair selection goes first: a peer whose pair just lost its address moves to
   * a spare before the (signed) UPDATE telling the peer is even built, and that UPDATE then
   * leaves from the new pair. The UPDATE goes out before the pair probes: the peer moves on it.
   */
  handleInterfaces(now: number, locators: readonly EngineLocator[], causes: readonly LocatorCause[] = []): void {
    this.at(now);
    this.flowsMayHaveMoved();
    this.paths.setLocalLocators(now, locators, localLosses(causes));
    if (this.flowBindingsSet.size > 0) this.placeFlowBindings(now);
    this.announce(now);
    this.settle();
    this.paths.releaseProbes();
    this.settle();
    // Every relay hears of a change of our locators at once: the UPDATE with REG_REQUEST both
    // renews and tells us where the relay sees us now (REG_FROM).
    for (const relay of this.relays.configs()) this.relays.due(now, hitToText(relay.hit));
    this.flushRelays(now);
    this.settle();
  }

  /**
   * Tells HIP what to list to peers: our host locators that reach a peer (see path-manager.ts
   * `reaches`), then for each relay that holds our registration the address it sees each uplink
   * at (server reflexive, from the registrations that left from it) and its relayed address, on
   * the uplink our registration is keyed by (seed 000 §4.2 and §5.1.1, RFC 9028 §4.2). A peer
   * behind its own NAT can punch through to the first; the second is the way in when no direct
   * pair works. An uplink keeps its srflx candidate while the registration sits on another.
   */
  private announce(now: number): void {
    const hosts = this.paths.localLocators().filter((l) => l.operational && this.paths.reachesAnyPeer(l));
    this.relays.keepLocals(this.paths.localLocators().filter((l) => l.operational).map((l) => l.address));
    const own: OwnLocator[] = hosts.map((l, i) => ({ address: l.address, port: l.port, ifname: l.ifname, kind: l.kind, preferred: i === 0 }));
    const isOurs = (e: Endpoint): boolean => own.some((l) => l.address === e.address && l.port === e.port);
    for (const r of this.relays.view(now)) {
      if (!r.registered) continue;
      const local = this.relays.registeredVia(r.hit) ?? this.association(textToHit(r.hit)!)?.local?.address;
      const base = hosts.find((l) => l.address === local) ?? hosts[0];
      if (base === undefined) continue;
      const add = (e: Endpoint | null | undefined, candidate: 'srflx' | 'relayed', on: EngineLocator): void => {
        if (e != null && !isOurs(e)) own.push({ address: e.address, port: e.port, ifname: on.ifname, kind: on.kind, preferred: false, candidate });
      };
      for (const l of hosts) add(this.relays.reflexiveOf(r.hit, l.address) ?? (l === base ? r.reflexive : undefined), 'srflx', l);
      add(r.relayed, 'relayed', base);
    }
    // One fixed address and no relay: every exchange runs over it, there is nothing to tell a peer.
    const fixedSingle = (this.config.locators ?? 'static') === 'static' && own.length <= 1;
    if (!fixedSingle) this.host.setLocalLocators(now, own);
  }

  handleDataplane(now: number, report: DataplaneReport): void {
    this.at(now);
    switch (report.type) {
      case 'esp': {
        const peer = hitToText(report.peerHit);
        const heard = this.traffic.heard(now, peer, report.bytes, report.from);
        this.host.espAuthenticated(now, report.peerHit, heard && this.learnable(report.peerHit, heard));
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
        this.host.espAuthenticated(now, report.peerHit, this.learnable(report.peerHit, { bytes: report.bytes, from: report.from }));
        this.settle();
        // A data plane holding this peer already followed the new source; if HIP did not (the
        // address is deprecated or unusable), our path stands and the data plane is told.
        const path = this.paths.path(report.peerHit);
        const out = this.outbound.get(hitToText(report.peerHit));
        if (path && out && (path.remote.address !== report.from.address || path.remote.port !== report.from.port)) {
          const verified = this.host.isVerified(report.peerHit, path.remote);
          this.commands.push({ type: 'set-path', peerHit: report.peerHit, local: path.local, remote: path.remote, spi: out.activeSpi, verified, cause: 'source-refused' });
        }
        // Where the peer's traffic comes in, and nothing more: the counters report the data itself
        // (stats), so a search this packet did not answer goes on.
        this.paths.inboundSeen(now, report.peerHit, this.arrived(report));
        break;
      }
      case 'sent':
        this.paths.dataSent(now, report.peerHit, report.packets);
        break;
      case 'stats':
        this.flowsMayHaveMoved();
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
        const peer = hitToText(report.peerHit);
        const successor = [...(this.outbound.get(peer)?.standIn ?? [])].find(([, old]) => old === report.spi)?.[0];
        if (successor !== undefined) this.successorConfirmed(peer, report.peerHit, successor);
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
    this.flowsMayHaveMoved();
    this.host.handleTimeout(now);
    this.paths.handleTimeout(now);
    this.settle();
    this.flushRelays(now);
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
    this.flowsMayHaveMoved();
    const view = this.paths.status(now, peerHit);
    const r = this.paths.failover(now, peerHit, to);
    // Load sharing (flow-spreads.ts): leaving an interface takes it out of the spread; choosing a pair pins unbound traffic to it.
    const left = view?.primary?.ifname;
    const target = to && view?.pairs.find((p) => p.local.address === to.local && p.remote.address === to.remote);
    if (r.ok && to === undefined && left) this.spreads.failedAway(hitToText(peerHit), left);
    if (r.ok && target) this.spreads.chosen(hitToText(peerHit), target.ifname, target.local, target.remote);
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
    const next = new Map<string, OwnFlow[]>();
    for (const b of bindings) {
      const peer = hitToText(b.peerHit);
      const list = next.get(peer) ?? [];
      const own: OwnFlow = { fid: b.fid, selector: b.selector, interface: b.interface };
      if (b.policy !== undefined) own.policy = b.policy;
      list.push(own);
      next.set(peer, list);
    }
    this.flowBindingsSet = next;
    this.placeFlowBindings(now);
    this.settle();
  }

  /** The bindings as set, with shared flows balanced among our uplinks (peer-balance.ts); each peer hears of a change. */
  private placeFlowBindings(now: number): void {
    const loadSharing = this.config.host.multihoming === 'simultaneous' && this.config.locators === 'monitor';
    const uplinks = loadSharing
      ? [...new Set(this.paths.localLocators().filter((l) => l.operational && l.metered !== true).sort((a, b) => a.preferenceRank - b.preferenceRank).map((l) => l.ifname))]
      : [];
    const next = this.balancer.apply(this.flowBindingsSet, uplinks);
    for (const peer of new Set([...this.flowBindings.keys(), ...next.keys()])) {
      this.flowsDirty.add(peer);
      const flows = next.get(peer) ?? [];
      // The peer hears every change of its bindings (an empty set withdraws them), so its
      // return traffic follows ours; an unchanged set sends nothing.
      // A policy stays on this host: the peer hears of a change in what it steers back only.
      const announced = (list: readonly OwnFlow[]) => list.map((f) => ({ fid: f.fid, selector: { ...f.selector }, ifname: f.interface }));
      if (JSON.stringify(announced(flows)) === JSON.stringify(announced(this.flowBindings.get(peer) ?? []))) continue;
      this.host.announceFlows(now, textToHit(peer)!, announced(flows));
    }
    this.flowBindings = next;
  }

  /** Where each of our flows to the peer goes now (by FID); undefined for a peer without bindings. */
  flowPlacements(peerHit: Uint8Array): FlowPlacement[] | undefined {
    const peer = hitToText(peerHit);
    if (!this.flowBindings.has(peer)) return undefined;
    if (!this.flowPlans.has(peer)) this.planFlows(peer);
    return this.flowPlans.get(peer)?.map((f) => ({ ...f }));
  }

  /** Credit-based authorization (RFC 8046 §5.6): may `bytes` of ESP go to `to` now? */
  authorizeSend(now: number, peerHit: Uint8Array, to: Endpoint, bytes: number): boolean {
    return this.host.authorizeSend(now, peerHit, to, bytes);
  }

  // ---- outputs ----

  /**
   * A HIP datagram to send. One for a peer we reach through a relay, which saw that peer at an
   * address of its own NAT, goes to the relay with RELAY_TO and our RELAY_HMAC.
   */
  pollTransmit(): Transmit | undefined {
    const t = this.host.pollTransmit();
    if (t === undefined || t.bytes.length < HIT_RECEIVER + HIT_LENGTH) return t;
    const relay = this.relays.atEndpoint(t.to);
    if (relay === undefined) return t;
    const receiver = hitToText(t.bytes.subarray(HIT_RECEIVER, HIT_RECEIVER + HIT_LENGTH));
    const origin = this.relays.route(receiver)?.origin;
    if (receiver === hitToText(relay.hit) || origin === undefined) return t;
    const keys = this.host.integrityKeys(relay.hit);
    const wrapped = keys && wrapForRelay(this.config.host.crypto, t.bytes, origin, { hash: keys.hash, key: keys.outbound });
    if (wrapped === undefined) {
      this.relayDrops['relay-unwrappable'] = (this.relayDrops['relay-unwrappable'] ?? 0) + 1;
      return t;
    }
    return { ...t, bytes: wrapped };
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
    const peer = hitToText(peerHit);
    return this.host.associations().find((a) => a.peerHitText === peer);
  }

  get counters(): HipHost['counters'] {
    return this.host.counters;
  }

  /**
   * The relays to use from now on (the user changed the setting): new ones get a base exchange
   * and a registration at once; with one no longer listed our association is closed, which ends
   * what it relayed for us (its registration lapses, and the relay drops hosts holding none).
   */
  setRelays(now: number, relays: readonly RelayConfig[]): void {
    this.at(now);
    const removed = this.relays.set(now, relays);
    for (const hit of removed) {
      this.relayRetryAt.delete(hit);
      this.host.close(now, textToHit(hit)!);
    }
    this.flushRelays(now);
    this.settle();
  }

  /** Our relays: registration, reflexive and relayed addresses (status, UI). */
  relayStatus(now: number): RelayView[] {
    return this.relays.view(now);
  }

  /** CONNECTIVITY_CHECKS_FAILED notices sent and received (signed ones only), and the pairs they held. */
  get checkFailureCounters(): Readonly<{ sent: number; received: number; heldPairs: number }> {
    return { ...this.checkNotices };
  }

  /** Relayed control packets refused, by reason. */
  get relayCounters(): Readonly<Record<string, number>> {
    return { ...this.relayDrops };
  }

  /** Whether a peer's traffic goes straight to it or through one of our relays. */
  via(peerHit: Uint8Array): PeerVia {
    const out = this.outbound.get(hitToText(peerHit));
    const remote = out?.remote ?? this.association(peerHit)?.remote;
    const relay = remote && this.relays.atEndpoint(remote);
    if (relay === undefined || this.relays.isRelay(hitToText(peerHit))) return { via: 'direct' };
    const relayHit = hitToText(relay.hit);
    return { via: 'relay', relay: relay.name ?? relayHit, relayHit };
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
    const out = this.outbound.get(hitToText(peerHit));
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
    const out = this.outbound.get(hitToText(peerHit));
    if (view === undefined || a === undefined || out === undefined || a.multihoming !== 'simultaneous') return view;
    return {
      ...view,
      pairs: view.pairs.map((p) => {
        const inbound = pairSpis(a, p.ifname, p.remote).spiIn;
        const spread = this.spreads.carries(a.peerHitText, p.local, p.remote);
        return { ...p, spiOut: this.outbound.spiFor(out, a, p.ifname ?? undefined, p.remote), ...(inbound === undefined ? {} : { spiIn: inbound }), ...(spread ? { spread: true as const } : {}) };
      }),
    };
  }

  // ---- internals ----

  /**
   * What HIP may learn from the peer's ESP: its size always (credit), its source unless that is
   * one of our relays the peer never named: the data relay forwards a peer's ESP to our
   * registration, and its address reaches the peer only as a candidate the peer listed.
   */
  private learnable(peerHit: Uint8Array, packet: { bytes: number; from: Endpoint }): { bytes: number; from: Endpoint } {
    if (this.relays.atEndpoint(packet.from) === undefined) return packet;
    const known = this.association(peerHit)?.peerLocators.some((l) => l.address === packet.from.address && l.port === packet.from.port);
    return known === true ? packet : { bytes: packet.bytes, from: this.association(peerHit)?.remote ?? packet.from };
  }

  private dropTotal(): number {
    let n = 0;
    for (const v of Object.values(this.host.counters.dropped)) n += v;
    return n;
  }

  private at(now: number): void {
    this.now = now;
    for (const [spi, e] of this.inboundSpis) if (e.retireAt !== undefined && e.retireAt <= now) this.inboundSpis.delete(spi);
  }

  /** HIP's events, until it has nothing more to say: each may make pair selection act. */
  private settle(): void {
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) this.onHostEvent(this.now, e);
    this.refreshFlowRoutes();
  }

  /** Every peer with flows may see them move: pair tests and uplinks change without a HIP event. */
  private flowsMayHaveMoved(): void {
    for (const peer of this.flowBindings.keys()) this.flowsDirty.add(peer);
    for (const peer of this.flowRoutesSent.keys()) this.flowsDirty.add(peer);
    for (const peer of this.spreads.peers()) this.flowsDirty.add(peer);
  }

  /** Plans the dirty peers' flows; routes that changed go to the data plane. */
  private refreshFlowRoutes(): void {
    if (this.flowsDirty.size === 0) return;
    const peers = [...this.flowsDirty];
    this.flowsDirty.clear();
    for (const peer of peers) {
      const { routes, routesKey: key } = this.planFlows(peer);
      if ((this.flowRoutesSent.get(peer) ?? '[]') === key) continue;
      if (routes.length > 0) this.flowRoutesSent.set(peer, key);
      else this.flowRoutesSent.delete(peer);
      this.commands.push({ type: 'set-flow-routes', peerHit: textToHit(peer)!, routes });
    }
  }

  /** The peer's flow plan (and in load sharing its spread), remembered for status; returns the routes and their key. */
  private planFlows(peer: string): { routes: PlannedFlowRoute[]; routesKey: string } {
    const own = this.flowBindings.get(peer) ?? [];
    const peerHit = textToHit(peer)!;
    const a = this.association(peerHit);
    const peerFlows = a?.peerFlows ?? [];
    const loadSharing = a?.multihoming === 'simultaneous';
    if (!loadSharing) this.spreads.forget(peer);
    if (own.length === 0 && peerFlows.length === 0 && !loadSharing) {
      this.flowPlans.delete(peer);
      this.flowPlanner.forget(peer);
      return { routes: [], routesKey: '[]' };
    }
    const out = this.outbound.get(peer);
    const keyed = a !== undefined && (a.state === 'ESTABLISHED' || a.state === 'R2-SENT');
    const view = keyed && out ? this.paths.status(this.now, peerHit) : undefined;
    const dataPath = keyed && out ? { local: out.local, remote: out.remote, spiOut: out.activeSpi } : undefined;
    const locals = this.paths.localLocators();
    const pairs = (view?.pairs ?? []).map((p) => ({
      local: p.local, remote: p.remote, ifname: p.ifname, state: p.state,
      verified: this.host.isVerified(peerHit, p.remote),
      spiOut: out ? this.outbound.spiFor(out, a, p.ifname ?? undefined, p.remote) : 0,
      metered: locals.some((l) => l.ifname === p.ifname && l.metered === true),
      relayed: p.candidate === 'relayed',
    }));
    const plan = this.flowPlanner.plan(peer, {
      own,
      peerFlows,
      flowsAcked: a?.flowsAcked ?? true,
      flowsLeftOut: a?.flowsLeftOut ?? [],
      dataPath,
      pairs,
      uplinksUp: this.config.locators === 'monitor' ? new Set(locals.filter((l) => l.operational).map((l) => l.ifname)) : null,
      spreadUnbound: loadSharing,
    });
    for (const f of plan.flows) if (f.state === 'bound' && f.reason === undefined) this.balancer.reason(peer, f.fid, f);
    if (!loadSharing) {
      this.flowPlans.set(peer, plan.flows);
      return plan;
    }
    const members = this.spreads.plan(peer, peerHit, view?.primary?.ifname ?? null, { pairs, dataPath });
    this.flowPlans.set(peer, members.length < 2 ? plan.flows : plan.flows.map((f) => (f.spread ? spreadPlacement(f, members) : f)));
    const routes = [...plan.routes, ...spreadRoutes(members)];
    return { routes, routesKey: routesKey(routes) };
  }

  private onHostEvent(now: number, e: HostEvent): void {
    const peer = hitToText(e.peerHit);
    this.flowsDirty.add(peer);
    const peerHit = e.peerHit;
    switch (e.type) {
      case 'state':
        this.events.push({ type: 'association', peer, peerHit, from: e.from, to: e.to });
        if (e.from === 'R2-SENT' && e.to === 'ESTABLISHED') this.paths.peerConfirmed(now, peerHit);
        return;
      case 'established':
        this.installSa(peer, e.peerHit, e.sa, e.local, e.remote);
        this.relayEstablished(now, peer, e.remote);
        this.traffic.forget(peer);
        this.paths.onHostEvent(now, e, () => this.association(peerHit)?.peerLocators ?? []);
        this.events.push({ type: 'established', peer, peerHit, local: e.local, remote: e.remote, initiator: e.initiator, suite: e.sa.suite });
        return;
      case 'rekeyed': {
        const out = this.outbound.get(peer);
        if (!out) return;
        this.retireInbound(e.oldInboundSpi);
        if (e.confirmed) this.installSa(peer, e.peerHit, e.sa, out.local, out.remote);
        else this.addBaseSuccessor(peer, e.peerHit, e.sa, e.oldOutboundSpi);
        this.events.push({ type: 'rekeyed', peer, peerHit, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi });
        const route = this.relays.route(peer);
        if (route !== undefined) this.relays.due(now, route.relay);
        return;
      }
      case 'registration':
        this.relays.answered(now, peer, e.answer);
        this.announce(now);
        this.offerAfterRegistration(now, peer);
        this.retryThroughRelay(peer);
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
        this.dropSas(peer, e.peerHit);
        this.traffic.forget(peer);
        this.paths.onHostEvent(now, e, () => []);
        this.events.push(e.type === 'closed' ? { type: 'closed', peer, peerHit, byPeer: e.byPeer } : { type: 'failed', peer, peerHit, reason: e.reason });
        return;
      case 'notify':
        this.events.push({ type: 'notify', peer, peerHit, notifyType: e.notifyType, authenticated: e.authenticated });
        return;
      case 'peer-checks-failed':
        this.checkNotices.received++;
        this.checkNotices.heldPairs += this.paths.peerChecksFailed(now, peerHit);
        return;
      case 'probe-answered':
        this.events.push({ type: 'probe-answered', peer, peerHit, local: e.local, remote: e.remote });
        return;
      case 'probe-lost':
        this.events.push({ type: 'probe-lost', peer, peerHit, reason: e.reason });
        return;
      case 'sa-added':
        this.addSas(peer, e.peerHit, e.sa);
        return;
      case 'sa-rekeyed':
        this.replaceSas(peer, e.peerHit, e.sa, e.oldInboundSpi, e.oldOutboundSpi, e.confirmed);
        this.events.push({ type: 'rekeyed', peer, peerHit, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi });
        return;
      case 'sa-rekey-confirmed':
        this.successorConfirmed(peer, e.peerHit, e.outboundSpi);
        return;
      case 'sa-removed':
        this.removeSas(peer, e.peerHit, e.inboundSpi, e.outboundSpi);
        return;
      case 'peer-locators':
        this.paths.onHostEvent(now, e, () => []);
        this.reselectOutboundSa(peer, e.peerHit);
        this.refreshVerified(peer, e.peerHit);
        this.tellVerifiedAddresses(peer, e.peerHit);
        return;
      case 'peer-flows':
      case 'flows-acked':
        // Re-planned with the others of this peer (flowsDirty, above): the peer's flows get their
        // return routes; ours turn from pending to bound once the peer holds their binding.
        return;
      case 'locator-verified':
        this.refreshVerified(peer, e.peerHit);
        this.tellVerifiedAddresses(peer, e.peerHit);
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
   * A new association: with a relay, register (its R2 may have answered already; a relay that
   * restarted and ran the exchange itself has not); with a peer reached through a relay, that
   * relay needs our permission for the peer's ESP.
   */
  private relayEstablished(now: number, peer: string, remote: Endpoint): void {
    if (this.relays.isRelay(peer)) {
      this.relayRetryAt.delete(peer);
      this.relays.due(now + 1, peer);
      return;
    }
    const relay = this.relays.atEndpoint(remote);
    if (relay === undefined) return;
    const relayHit = hitToText(relay.hit);
    this.relays.reachedThrough(peer, relayHit, undefined);
    this.relays.due(now, relayHit);
  }

  /**
   * Our I1s sent through this relay before it had our registration were likely dropped there,
   * and so were the peer's if it registered after them: whichever of us registers second sends
   * its I1 again at once, instead of after the retransmission back-off (~1 s).
   */
  private retryThroughRelay(relayHit: string): void {
    const relay = this.relays.config(relayHit);
    if (relay === undefined) return;
    for (const a of this.host.associations()) {
      if (a.state === 'I1-SENT' && a.remote.address === relay.endpoint.address && a.remote.port === relay.endpoint.port) this.host.resendI1(a.peerHit);
    }
  }

  private installSa(peer: string, peerHit: Uint8Array, sa: SaKeys, local: Endpoint, remote: Endpoint): void {
    const verified = this.host.isVerified(peerHit, remote);
    const activeSpi = this.outbound.install(peer, sa.outboundSpi, sa.suite, local, remote, verified);
    this.inboundSpis.set(sa.inboundSpi, { peer, retireAt: undefined });
    this.commands.push({ type: 'install-sa', peerHit, sa, local, remote, activeSpi, verified });
    this.tellVerifiedAddresses(peer, peerHit);
  }

  /** A further SA pair (simultaneous multihoming): installed beside the base one. */
  private addSas(peer: string, peerHit: Uint8Array, sa: SaKeys): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    out.extra.add(sa.outboundSpi);
    this.inboundSpis.set(sa.inboundSpi, { peer, retireAt: undefined });
    this.commands.push({ type: 'add-sas', peerHit, sa });
    this.reselectOutboundSa(peer, peerHit);
    this.tellVerifiedAddresses(peer, peerHit);
  }

  /**
   * A further SA pair was rekeyed, make-before-break: the new pair is installed and takes the
   * traffic of the old one before the old outbound SA goes; the old inbound SA keeps taking
   * what is in flight for the overlap. Until the peer is known to hold the new pair
   * (`confirmed`), the old outbound SA stands in for the new one.
   */
  private replaceSas(peer: string, peerHit: Uint8Array, sa: SaKeys, oldInboundSpi: number, oldOutboundSpi: number, confirmed: boolean): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    if (!confirmed && out.extra.has(oldOutboundSpi)) out.standIn.set(sa.outboundSpi, oldOutboundSpi);
    this.addSas(peer, peerHit, sa);
    if (confirmed && out.extra.delete(oldOutboundSpi)) this.commands.push({ type: 'remove-outbound', peerHit, spi: oldOutboundSpi });
    this.retireInbound(oldInboundSpi);
    const route = this.relays.route(peer);
    if (route !== undefined) this.relays.due(this.now, route.relay);
  }

  /**
   * The base pair was rekeyed at the peer's request: we hold the new pair before the peer does,
   * so its outbound SA waits beside the old base SA, which keeps the traffic, until the peer is
   * known to hold it (successorConfirmed promotes it). Its inbound SA takes packets at once.
   */
  private addBaseSuccessor(peer: string, peerHit: Uint8Array, sa: SaKeys, oldOutboundSpi: number): void {
    const out = this.outbound.get(peer)!;
    if (out.baseSpi !== oldOutboundSpi) {
      this.installSa(peer, peerHit, sa, out.local, out.remote);
      return;
    }
    out.standIn.set(sa.outboundSpi, oldOutboundSpi);
    this.addSas(peer, peerHit, sa);
  }

  /** The peer holds the successor of a rekeyed SA: the traffic moves onto it, then the old SA goes. */
  private successorConfirmed(peer: string, peerHit: Uint8Array, outboundSpi: number): void {
    const out = this.outbound.get(peer);
    const old = out?.standIn.get(outboundSpi);
    if (!out || old === undefined) return;
    if (old === out.baseSpi) {
      this.outbound.promoteBase(out, outboundSpi);
      this.commands.push({ type: 'promote-base', peerHit, spi: outboundSpi });
      this.reselectOutboundSa(peer, peerHit);
      this.tellVerifiedAddresses(peer, peerHit);
      return;
    }
    out.standIn.delete(outboundSpi);
    this.reselectOutboundSa(peer, peerHit);
    if (out.extra.delete(old)) this.commands.push({ type: 'remove-outbound', peerHit, spi: old });
  }

  /** An SA pair was deprecated: its outbound half goes now, its inbound half after the overlap. */
  private removeSas(peer: string, peerHit: Uint8Array, inboundSpi: number, outboundSpi: number): void {
    this.retireInbound(inboundSpi);
    const out = this.outbound.get(peer);
    if (!out) return;
    // The base exchange's own pair stays installed when deprecated (only a rekey replaces it);
    // spiFor no longer picks it, as the association's next pair took its place.
    if (out.extra.delete(outboundSpi)) this.commands.push({ type: 'remove-outbound', peerHit, spi: outboundSpi });
    for (const [successor, old] of out.standIn) if (old === outboundSpi) out.standIn.delete(successor);
    this.reselectOutboundSa(peer, peerHit);
    this.tellVerifiedAddresses(peer, peerHit);
  }

  private retireInbound(spi: number): void {
    const entry = this.inboundSpis.get(spi);
    if (entry) entry.retireAt = this.now + this.overlapMs;
    this.commands.push({ type: 'retire-inbound', spi, afterMs: this.overlapMs });
  }

  private dropSas(peer: string, peerHit: Uint8Array): void {
    this.commands.push({ type: 'drop-sas', peerHit });
    this.arrivals.delete(peer);
    this.verifiedTold.delete(peer);
    this.outbound.drop(peer);
    for (const [spi, e] of this.inboundSpis) if (e.peer === peer) this.inboundSpis.delete(spi);
  }

  /**
   * Pair selection (or HIP) moved a peer: its outbound ESP follows, on the SA of that pair. A
   * relay's association that moved takes our registration along at once: the relay forwards to
   * where it sees the registration come from, and our srflx candidate of the new uplink comes
   * with its answer.
   */
  private setDataPath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, cause: PathMoveCause): void {
    if (cause !== 'connect' && this.relays.isRelay(hitToText(peerHit))) this.relays.due(this.now, hitToText(peerHit));
    const out = this.outbound.get(hitToText(peerHit));
    if (!out) return;
    out.local = { ...local };
    out.remote = { ...remote };
    out.activeSpi = this.spiFor(peerHit, local, remote);
    out.verified = this.host.isVerified(peerHit, remote);
    this.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi: out.activeSpi, verified: out.verified, cause });
    this.flowsDirty.add(hitToText(peerHit));
  }

  /** The SAs or the peer's locators changed: the traffic takes the SA its locator names now. */
  private reselectOutboundSa(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    const spi = this.spiFor(peerHit, out.local, out.remote);
    if (spi === out.activeSpi) return;
    out.activeSpi = spi;
    const cause: PathCause = 'sa-changed';
    this.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi, verified: out.verified, cause });
  }

  /**
   * The data plane follows a held peer's ESP to a new source on its own, before we hear of it;
   * it must know which of the peer's addresses HIP verified, and on which SA each is reached,
   * or it charges the move to credit and may refuse the answer to the very packet it followed.
   */
  private tellVerifiedAddresses(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    const a = this.association(peerHit);
    if (!out || !a) return;
    const addresses = a.peerLocators
      .filter((l) => l.state === 'ACTIVE')
      .map((l) => ({ remote: { address: l.address, port: l.port }, spi: this.outbound.spiFor(out, a, undefined, l) }));
    const key = addresses.map((x) => `${x.remote.address}|${x.remote.port}|${x.spi}`).join(' ');
    if (this.verifiedTold.get(peer) === key) return;
    this.verifiedTold.set(peer, key);
    this.commands.push({ type: 'set-verified-addresses', peerHit, addresses });
  }

  /** The peer's address the traffic goes to was verified (or stopped being): the credit limit follows. */
  private refreshVerified(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    const verified = this.host.isVerified(peerHit, out.remote);
    if (verified === out.verified) return;
    out.verified = verified;
    this.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi: out.activeSpi, verified, cause: 'verification' });
  }

  private spiFor(peerHit: Uint8Array, local: Endpoint, remote: Endpoint): number {
    const out = this.outbound.get(hitToText(peerHit))!;
    const ifname = this.paths.localLocators().find((l) => l.address === local.address)?.ifname;
    return this.outbound.spiFor(out, this.association(peerHit), ifname, remote);
  }

  /**
   * Pair selection found a spare worth copying the data onto for a while (fault tolerance only:
   * with one SA the peer's anti-replay window drops the later copy; simultaneous multihoming
   * has an SA per pair, and copies there would be delivered twice).
   */
  private setSparePath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void {
    // With a relay, the spare is another uplink of ours: the registration moves there for the
    // while, so peers' traffic through the relay reaches us on it (the relayed bridge).
    if (this.relays.isRelay(hitToText(peerHit))) {
      this.relays.bridge(this.now, hitToText(peerHit), local, forMs);
      return;
    }
    if (!this.outbound.get(hitToText(peerHit))) return;
    if (this.association(peerHit)?.multihoming === 'simultaneous') return;
    this.commands.push({ type: 'set-spare', peerHit, local: { ...local }, remote: { ...remote }, forMs });
  }

  /** The pair a report says the peer's ESP came in on, remembered as its inbound pair. */
  private arrived(report: { peerHit: Uint8Array; from: Endpoint; to: Endpoint }): LocatorPair {
    const pair = { local: report.to.address, remote: report.from.address };
    this.arrivals.set(hitToText(report.peerHit), pair);
    return pair;
  }

  /** Inbound SPIs are ours to choose: random, unique, outside the reserved 0–255. */
  private allocateSpi(): number {
    for (;;) {
      const b = this.config.host.crypto.randomBytes(4);
      const spi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (spi > 255 && !this.inboundSpis.has(spi)) return spi;
    }
  }
}
