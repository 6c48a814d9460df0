// Which locator pair each peer's traffic takes, kept working: one PairSelection (seed 003 §5.2)
// per established association, fed by the engine with our locators, the peer's locators, probe
// outcomes and data counters, and turned back into HIP calls (pair probes, the active pair) and
// data plane path changes. Sans-IO like the selections it holds: the engine owns the clock,
// the sockets and the HipHost, and reaches them through `PathSink`.

import type { HostEvent } from '../hip/host.js';
import { sameEndpoint, type Endpoint, type InterfaceKind } from '../../src-shared/vocabulary.js';
import { hitToText } from '../hip/wire/address.js';
import { toAddr16 } from '../base/addr16.js';
import type { PeerLocator as HipPeerLocator } from '../hip/peer-locators.js';
import type { CandidateName } from '../hip/local-locators.js';
import type { PairLocal, LocatorPair } from '../mobility/pair-order.js';
import { pairKey } from '../mobility/pair-order.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';
import type { LocalLossCause } from '../mobility/local-loss.js';
import { CheckOutcome } from '../mobility/check-outcome.js';
import {
  PairSelection, type IcmpHintOutcome, type PairTestState, type SelectionAction, type SelectionCause, type SelectionState, type SelectionTiming,
} from '../mobility/pair-selection.js';

/** One of our locators as the engine uses it: where its socket is, and what the monitor says. */
export interface EngineLocator {
  address: string;
  port: number;
  ifname: string;
  kind: InterfaceKind;
  /** Packets may leave from it now (interface up, a route out). */
  operational: boolean;
  /** 0 is the most preferred. */
  preferenceRank: number;
  /** A default route leaves through its interface: it reaches beyond its own subnet. */
  defaultRoute: boolean;
  prefixLength: number;
  /** Its uplink is metered (pair-order.ts: a primary there only as failover). Absent = no. */
  metered?: boolean;
}

/**
 * Whether packets from `l` can reach `remote`: through a default route, or on its own subnet.
 * An address whose default route is not installed yet (DHCP sets the address first, the route
 * a moment later) must not carry a probe or an UPDATE that could only fail (ENETUNREACH) and
 * then wait a whole retransmission timeout.
 */
export function reaches(l: Pick<EngineLocator, 'address' | 'defaultRoute' | 'prefixLength'>, remote: string): boolean {
  if (l.defaultRoute) return true;
  const a = toAddr16(l.address);
  const b = toAddr16(remote);
  if (a === null || b === null) return false;
  const v4 = (x: Uint8Array): boolean => x[10] === 0xff && x[11] === 0xff && x.subarray(0, 10).every((o) => o === 0);
  if (v4(a) !== v4(b)) return false;
  const bits = (v4(a) ? 96 : 0) + l.prefixLength;
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i & 7);
    if ((a[i >> 3]! & mask) !== (b[i >> 3]! & mask)) return false;
  }
  return true;
}

/**
 * A pair as events and status name it: endpoints, the uplink our end sits on, and how the peer's
 * end was found ('relayed': through a relay, the others direct).
 */
export interface PathView { local: Endpoint; remote: Endpoint; ifname: string | null; kind: InterfaceKind; candidate: CandidateName }

/** Why a peer's data path moved; the daemon maps it onto the `HandoverCause` users are shown (src-shared/vocabulary.ts). */
export type PathMoveCause = SelectionCause | 'peer-moved';
export type { LocalLossCause } from '../mobility/local-loss.js';

export interface Handover {
  peer: string;
  cause: PathMoveCause;
  from: PathView | null;
  to: PathView;
  gapMs: number;
  /** Why HIP moved on its own ('peer-moved'): the peer's preferred locator, its new source... */
  hipCause?: string;
  /**
   * What the interface monitor said of the local address the traffic left, when that report is
   * what moved it: at once ('pair-deleted'), or once a new pair appeared ('pair-added').
   */
  localCause?: LocalLossCause;
}

/** What became of an ICMP error: a hint acted on, or why not ('icmp-unknown': no peer's address). */
export type IcmpOutcome = IcmpHintOutcome | 'icmp-unknown';
const ICMP_RANK: Readonly<Record<IcmpOutcome, number>> = { 'icmp-hint': 3, 'icmp-hint-limited': 2, 'icmp-not-primary': 1, 'icmp-unknown': 0 };

export interface PairView extends PathView {
  state: PairTestState;
  primary: boolean;
  remoteState: HipPeerLocator['state'];
  rttMs?: number;
  lastHeardMs?: number;
  /** The peer's packets last arrived on this pair (seed 003 §5.4: not always the primary). */
  inbound?: true;
  /** Load sharing: the pair carries a share of the peer's unbound traffic, spread per flow (HostCore fills it in). */
  spread?: true;
  /** Simultaneous multihoming: the SA pair this pair's traffic uses (the engine fills these in). */
  spiIn?: number;
  spiOut?: number;
  /** Not checked in the background: the peer said its checks failed (CONNECTIVITY_CHECKS_FAILED). */
  checksHeld?: true;
}

export interface PeerPathsView {
  state: SelectionState;
  primary: PathView | undefined;
  /** The pair the peer's packets last arrived on (ours ← theirs); with one-way failures not the primary. */
  inbound: PathView | undefined;
  pairs: PairView[];
}

/** What the path manager needs from the engine. */
export interface PathSink {
  probePair(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[]): void;
  /** Tell HIP the pair changed (its control packets follow); false when HIP refused it. */
  setActivePair(peerHit: Uint8Array, local: Endpoint, remote: Endpoint): boolean;
  /** Move the peer's outbound ESP (the same SA) to this pair, for `cause`. */
  setDataPath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, cause: PathMoveCause): void;
  /**
   * For `forMs`, send a copy of every ESP packet to the peer on this pair too (the same SA and
   * sequence number: the peer's anti-replay window drops the later copy). 0 stops the copies.
   */
  setSparePath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void;
  handover(h: Handover): void;
  /**
   * The peer's pair is in doubt (on: no primary, or a search for one, e.g. data silence was
   * noticed): the data plane keeps copies of the ESP it sends the peer and re-sends them at once
   * on the pair `setDataPath` moves it to. Off (the pair proved itself) discards the copies.
   */
  holdForPeer(peerHit: Uint8Array, on: boolean): void;
  /**
   * Every pair failed for `abandonAfterMs` while we had pairs to try: the peer likely restarted
   * and forgot our SAs. True when the association was given up (the peer is forgotten here);
   * false keeps trying (nobody could build a new one: we do not know where the peer is).
   */
  unreachable(peerHit: Uint8Array): boolean;
  /** Whether this address of the peer's is one of our relays, which the peer is reached through. */
  relayedTo(peerHit: Uint8Array, remote: Endpoint): boolean;
  /**
   * Every direct pair's checks failed for this offer, while the relay carries the peer: tell the
   * peer (RFC 9028 CONNECTIVITY_CHECKS_FAILED, through the relay). Whether the notice went out:
   * asked again at later judgements until it does, then not again for this offer.
   */
  checksFailed?(peerHit: Uint8Array): boolean;
  /**
   * The pair in use stopped answering (keepalives, silence) and no other pair works: gather our
   * candidates again and send the peer a new offer (seed 000 §3.3). Repeated, backing off, while
   * it lasts.
   */
  pathLost?(peerHit: Uint8Array): void;
}

export interface PathPolicy {
  timing?: Partial<SelectionTiming>;
  /** How long a peer may stay with every pair failed before its association is given up. */
  abandonAfterMs: number;
  /**
   * How long a spare pair carries a copy of the data once it qualifies (a new uplink or peer
   * address passed its first test while the primary works); 0 never copies.
   */
  spareWindowMs: number;
}

/**
 * Long enough for a laptop between uplinks (while we have no locator the clock does not run at
 * all), short enough that a restarted peer is rebuilt well within a TCP retransmission budget.
 */
export const DEFAULT_PATH_POLICY: PathPolicy = { abandonAfterMs: 8_000, spareWindowMs: 5_000 };

/** A lost path's new gathering and offer is repeated after this long, doubling up to the cap. */
const REGATHER_FIRST_RETRY_MS = 2_000;
const REGATHER_MAX_RETRY_MS = 30_000;

interface PeerTrack {
  hit: Uint8Array;
  sel: PairSelection;
  /** Peer address → the port it listens on, from its locators. */
  remotePorts: Map<string, number>;
  peerLocators: HipPeerLocator[];
  /** The pair our ESP leaves on now. */
  path: { local: Endpoint; remote: Endpoint };
  noPrimarySince: number | undefined;
  /** The last packet heard before the primary went away (no pair left at all). */
  lostAt: number;
  state: SelectionState;
  /** What the data plane was last told by holdForPeer. */
  held: boolean;
  /** Why the monitor took the primary's local address away when no pair was left to move to. */
  lostCause: LocalLossCause | undefined;
  /** How the checks of the current offer and answer went (CONNECTIVITY_CHECKS_FAILED). */
  checks: CheckOutcome;
  /** The peer's candidates the checks are about ("address|port", sorted): a change is a new offer. */
  candidatePrint: string;
  /** While the path is lost: when gathering and offering again is next due, and the back-off. */
  regatherAt: number | undefined;
  regatherGapMs: number;
}

/** Causes that mean the old pair stopped carrying traffic (the others move a working flow). */
const OUTAGE_CAUSES: ReadonlySet<SelectionCause> = new Set(['data-silence', 'keepalive', 'icmp', 'peer-poll', 'pair-deleted']);
/** Causes that mean the pair in use stopped answering, rather than our own addresses going away. */
const LOST_PATH_CAUSES: ReadonlySet<SelectionCause> = new Set(['data-silence', 'keepalive', 'icmp', 'peer-poll']);
/** Last heard longer ago than this before the failure was noticed: the peer was idle, not cut off. */
const IDLE_BEFORE_DETECTION_MS = 2_000;

/**
 * The gap a handover cost: from the last packet heard from the peer to the switch when traffic
 * was flowing; from detection to switch when the tunnel was idle or the loss was reported by the
 * interface monitor; 0 for a move off a working pair.
 */
function outageMs(a: Extract<SelectionAction, { type: 'primary-changed' }>, searching: boolean): number {
  if (!OUTAGE_CAUSES.has(a.cause) && !searching) return 0;
  // The monitor reports a pair's interface or address going away within milliseconds: the
  // failure began at detection, not at the last packet heard (which may be seconds older).
  if (a.cause === 'pair-deleted' && !searching) return Math.max(0, a.gapMs);
  // A search already running (silence noticed, every pair failed) says traffic was cut off.
  const flowing = searching || a.detectedAt - a.lastHeardAt <= IDLE_BEFORE_DETECTION_MS;
  return Math.max(0, flowing ? a.at - a.lastHeardAt : a.gapMs);
}

export class PathManager {
  private readonly peers = new Map<string, PeerTrack>();
  private locals: EngineLocator[] = [];
  /** Probes held back while something more urgent (the peer's UPDATE) goes out first. */
  private heldProbes: Array<() => void> | undefined;
  /** While our locators are being applied: what the monitor said of each address that went. */
  private losses: ReadonlyMap<string, LocalLossCause> = new Map();

  constructor(private readonly sink: PathSink, private policy: PathPolicy = DEFAULT_PATH_POLICY) {}

  /** New keepalive / detection settings: for every peer now and every association to come. */
  setDetectionPolicy(now: number, detection: DetectionPolicy): void {
    this.policy = { ...this.policy, timing: { ...this.policy.timing, detection } };
    for (const t of this.peers.values()) t.sel.setDetectionPolicy(now, detection);
  }

  /**
   * Our locators changed (complete list; only those with a socket). Data paths move at once;
   * the probes this causes are held until `releaseProbes()`, so that the UPDATE telling each
   * peer of our new locators (signed, and what the peer needs to move its own traffic) can go
   * out before them.
   */
  setLocalLocators(now: number, locators: readonly EngineLocator[], losses: ReadonlyMap<string, LocalLossCause> = new Map()): void {
    const print = (ls: readonly EngineLocator[]): string => ls.filter((l) => l.operational).map((l) => l.address).sort().join(',');
    const newCandidates = print(this.locals) !== print(locators);
    this.locals = locators.map((l) => ({ ...l }));
    this.heldProbes ??= [];
    this.losses = losses;
    try {
      for (const t of this.peers.values()) {
        if (newCandidates) this.newOffer(now, t);
        t.sel.setLocalLocators(now, this.pairLocals(t));
        this.drain(now, t);
        this.tryNewPair(now, t);
      }
    } finally {
      this.losses = new Map();
    }
  }

  /** Whether some established peer can be reached from `l` (or there is none yet to ask). */
  reachesAnyPeer(l: EngineLocator): boolean {
    if (this.peers.size === 0) return true;
    for (const t of this.peers.values()) if (this.remotesOf(t).some((r) => reaches(l, r))) return true;
    return false;
  }

  /**
   * The peer said its checks toward our candidates all failed (a signed CONNECTIVITY_CHECKS_FAILED):
   * our direct pairs to it that have not passed are no longer checked in the background (see
   * PairSelection.holdChecks) until either side's candidates change. How many were held.
   */
  peerChecksFailed(now: number, peerHit: Uint8Array): number {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return 0;
    const direct = t.sel.status().pairs.filter((p) => !this.isRelayed(t, p.pair.remote)).map((p) => p.pair);
    const held = t.sel.holdChecks(now, direct);
    this.judgeChecks(t);
    this.drain(now, t);
    return held;
  }

  /** We sent the peer a new offer (our candidates as gathered again): its checks start afresh. */
  offered(now: number, peerHit: Uint8Array): void {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return;
    this.newOffer(now, t);
    this.drain(now, t);
  }

  releaseProbes(): void {
    const held = this.heldProbes ?? [];
    this.heldProbes = undefined;
    for (const send of held) send();
  }

  localLocators(): readonly EngineLocator[] {
    return this.locals;
  }

  /** The HIP host said something about a peer: the events that concern its paths. */
  onHostEvent(now: number, e: HostEvent, peerLocators: () => HipPeerLocator[]): void {
    const key = hitToText(e.peerHit);
    if (e.type === 'established') {
      this.forget(key); // a new association replacing one that was in doubt
      const track: PeerTrack = {
        hit: e.peerHit.slice(), sel: new PairSelection(now, this.policy.timing), remotePorts: new Map(), peerLocators: [],
        path: { local: { ...e.local }, remote: { ...e.remote } }, noPrimarySince: undefined, lostAt: now, state: 'no-primary',
        held: false, lostCause: undefined, checks: new CheckOutcome(), candidatePrint: '', regatherAt: undefined, regatherGapMs: REGATHER_FIRST_RETRY_MS,
      };
      this.peers.set(key, track);
      this.applyPeerLocators(now, track, peerLocators());
      track.sel.setLocalLocators(now, this.pairLocals(track));
      track.sel.connect(now, { local: e.local.address, remote: e.remote.address });
      this.drain(now, track);
      return;
    }
    if (e.type === 'closed' || e.type === 'failed') {
      this.forget(key);
      return;
    }
    const t = this.peers.get(key);
    if (t === undefined) return;
    switch (e.type) {
      case 'peer-locators':
        this.applyPeerLocators(now, t, e.locators);
        this.drain(now, t);
        this.tryNewPair(now, t);
        break;
      case 'pair-probe-received':
        t.sel.probeReceived(now, { local: e.pair.local.address, remote: e.pair.remote.address }, e.probeId, e.report);
        break;
      case 'pair-probe-answered':
        t.sel.probeAnswered(now, e.probeId, e.rttMs);
        break;
      case 'address-changed':
        // HIP moved the peer on its own (the peer's preferred locator, its new source address):
        // the data follows; pair selection hears of it through the peer's locators.
        if (e.cause !== 'selected' && (e.to.address !== t.path.remote.address || e.to.port !== t.path.remote.port)) {
          const from = this.viewOf(t, t.path.local, t.path.remote);
          const local = this.locals.some((l) => l.address === t.path.local.address) ? t.path.local : this.bestLocalFor(e.to) ?? t.path.local;
          this.moveData(t, local, e.to, 'peer-moved');
          this.sink.handover({ peer: key, cause: 'peer-moved', from, to: this.viewOf(t, local, e.to), gapMs: 0, hipCause: e.cause });
        }
        break;
      default:
        return;
    }
    this.drain(now, t);
  }

  /** The peer confirmed the association we answered (R2-SENT to ESTABLISHED): see PairSelection.peerConfirmed. */
  peerConfirmed(now: number, peerHit: Uint8Array): void {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return;
    t.sel.peerConfirmed(now);
    this.drain(now, t);
  }

  /** Our ESP to the peer: `packets` since the last call. */
  dataSent(now: number, peerHit: Uint8Array, packets: number): void {
    this.peers.get(hitToText(peerHit))?.sel.dataSent(now, packets);
  }

  /** Authenticated ESP from the peer; `pair` (ours → theirs) when the data plane knows it. */
  dataReceived(now: number, peerHit: Uint8Array, pair?: LocatorPair): void {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return;
    t.sel.dataReceived(now, pair);
    this.drain(now, t);
  }

  /** The peer's authenticated ESP came in on `pair` (the inbound pair, seed 003 §5.4). */
  inboundSeen(now: number, peerHit: Uint8Array, pair: LocatorPair): void {
    this.peers.get(hitToText(peerHit))?.sel.inboundSeen(now, pair);
  }

  /**
   * An ICMP destination-unreachable came back for a datagram we sent from `local` to `remote`:
   * a hint for the peer whose primary pair that is (see PairSelection.icmpError).
   */
  icmpError(now: number, local: Endpoint, remote: Endpoint): IcmpOutcome {
    let outcome: IcmpOutcome = 'icmp-unknown';
    for (const t of this.peers.values()) {
      const known = t.path.remote.address === remote.address || t.peerLocators.some((l) => l.address === remote.address);
      if (!known) continue;
      const ours = this.remoteEndpoint(t, remote.address).port === remote.port;
      const o = ours ? t.sel.icmpError(now, { local: local.address, remote: remote.address }) : 'icmp-not-primary';
      this.drain(now, t);
      if (ICMP_RANK[o] > ICMP_RANK[outcome]) outcome = o;
    }
    return outcome;
  }

  /** Forces a move: to `to` or the best alternative. Why not, when it cannot. */
  failover(now: number, peerHit: Uint8Array, to?: LocatorPair): { ok: true } | { ok: false; reason: 'no-association' | 'unknown-pair' | 'no-alternative' } {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return { ok: false, reason: 'no-association' };
    if (to !== undefined && !t.sel.status().pairs.some((p) => p.pair.local === to.local && p.pair.remote === to.remote)) {
      return { ok: false, reason: 'unknown-pair' };
    }
    const moved = t.sel.failover(now, to);
    this.drain(now, t);
    return moved ? { ok: true } : { ok: false, reason: 'no-alternative' };
  }

  handleTimeout(now: number): void {
    for (const t of [...this.peers.values()]) {
      const due = t.sel.nextTimeout();
      if (due !== undefined && due <= now) t.sel.handleTimeout(now);
      this.drain(now, t);
      if (t.regatherAt !== undefined && t.regatherAt <= now) this.regather(now, t);
      // Without a single pair we are the one offline, not the peer: that is no reason to give up.
      if (t.noPrimarySince !== undefined && t.sel.status().pairs.length === 0) t.noPrimarySince = now;
      if (t.noPrimarySince !== undefined && now - t.noPrimarySince >= this.policy.abandonAfterMs) {
        if (this.sink.unreachable(t.hit)) this.forget(hitToText(t.hit));
        else t.noPrimarySince = now;
      }
    }
  }

  nextTimeout(): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.peers.values()) {
      next = Math.min(next, t.sel.nextTimeout() ?? Number.POSITIVE_INFINITY);
      if (t.noPrimarySince !== undefined) next = Math.min(next, t.noPrimarySince + this.policy.abandonAfterMs);
      if (t.regatherAt !== undefined) next = Math.min(next, t.regatherAt);
    }
    return Number.isFinite(next) ? next : undefined;
  }

  /** The pair each peer's ESP leaves on, as the data plane was told. */
  path(peerHit: Uint8Array): { local: Endpoint; remote: Endpoint } | undefined {
    const t = this.peers.get(hitToText(peerHit));
    return t && { local: { ...t.path.local }, remote: { ...t.path.remote } };
  }

  private viewOf(t: PeerTrack, local: Endpoint, remote: Endpoint): PathView {
    const l = this.locals.find((x) => x.address === local.address);
    return { local: { ...local }, remote: { ...remote }, ifname: l?.ifname ?? null, kind: l?.kind ?? 'other', candidate: this.candidateOf(t, remote) };
  }

  /** How the peer's end of a pair was found: a relay of ours says relayed whatever the listing. */
  private candidateOf(t: PeerTrack, remote: Endpoint): CandidateName {
    if (this.sink.relayedTo(t.hit, remote)) return 'relayed';
    return t.peerLocators.find((l) => l.address === remote.address && l.port === remote.port)?.candidate
      ?? t.peerLocators.find((l) => l.address === remote.address)?.candidate ?? 'host';
  }

  status(now: number, peerHit: Uint8Array): PeerPathsView | undefined {
    const t = this.peers.get(hitToText(peerHit));
    if (t === undefined) return undefined;
    const s = t.sel.status();
    const stateOf = (address: string): HipPeerLocator['state'] => this.peerLocatorAt(t, address)?.state ?? 'ACTIVE';
    const inboundKey = s.inbound && pairKey(s.inbound);
    const pairs = s.pairs.map((p) => {
      const view: PairView = {
        ...this.viewOf(t, this.localEndpoint(p.pair.local), this.remoteEndpoint(t, p.pair.remote)),
        state: p.state, primary: p.primary, remoteState: stateOf(p.pair.remote),
      };
      if (p.rttMs !== undefined) view.rttMs = p.rttMs;
      if (p.lastHeardAt !== undefined) view.lastHeardMs = Math.max(0, now - p.lastHeardAt);
      if (pairKey(p.pair) === inboundKey) view.inbound = true;
      if (p.checksHeld) view.checksHeld = true;
      return view;
    });
    const inbound = s.inbound && this.viewOf(t, this.localEndpoint(s.inbound.local), this.remoteEndpoint(t, s.inbound.remote));
    return { state: s.state, primary: this.viewOf(t, t.path.local, t.path.remote), inbound, pairs };
  }

  // ---- internals ----

  /** Our locators as this peer's pair selection sees them: operational only where they reach it. */
  private pairLocals(t: PeerTrack): PairLocal[] {
    const remotes = this.remotesOf(t);
    return this.locals.map((l) => ({
      address: l.address, ifname: l.ifname, kind: l.kind, preferenceRank: l.preferenceRank,
      operational: l.operational && remotes.some((r) => reaches(l, r)),
      ...(l.metered === true ? { metered: true } : {}),
    }));
  }

  private remotesOf(t: PeerTrack): string[] {
    const listed = t.peerLocators.filter((l) => l.state !== 'DEPRECATED').map((l) => l.address);
    return listed.length > 0 ? listed : [t.path.remote.address];
  }

  private applyPeerLocators(now: number, t: PeerTrack, locators: readonly HipPeerLocator[]): void {
    const before = this.remotesOf(t).join(',');
    const live = locators.filter((l) => l.state !== 'DEPRECATED');
    const candidatePrint = live.map((l) => `${l.address}|${l.port}`).sort().join(',');
    // An address listed before only at other ports: the peer's NAT mapped it afresh. (A symmetric
    // NAT's address may be live at several ports at once: one of them still listed is no move.)
    const portsOf = (ls: readonly HipPeerLocator[]): Map<string, Set<number>> => {
      const m = new Map<string, Set<number>>();
      for (const l of ls) if (l.state !== 'DEPRECATED') m.set(l.address, (m.get(l.address) ?? new Set()).add(l.port));
      return m;
    };
    const previous = portsOf(t.peerLocators);
    const changed = new Set<string>();
    for (const [address, ports] of portsOf(live)) {
      const had = previous.get(address);
      if (had !== undefined && ![...ports].some((p) => had.has(p))) changed.add(address);
    }
    t.peerLocators = locators.map((l) => ({ ...l }));
    // Pairs are per address: where the peer has several ports at one address the pair takes a
    // live one over a deprecated listing, the peer's own over a relay sharing its address (one
    // machine), and a verified one over the rest (a symmetric NAT maps each destination to its
    // own port: the one toward us answers, the one toward the relay does not); else the latest.
    const chosen = new Map<string, HipPeerLocator>();
    const rank = (l: HipPeerLocator): number =>
      (l.state === 'DEPRECATED' ? 4 : 0) + (this.candidateOf(t, l) === 'relayed' ? 2 : 0) + (l.state === 'ACTIVE' ? 0 : 1);
    for (const l of locators) {
      const seen = chosen.get(l.address);
      if (seen === undefined || rank(l) <= rank(seen)) chosen.set(l.address, l);
    }
    for (const l of chosen.values()) t.remotePorts.set(l.address, l.port);
    if (candidatePrint !== t.candidatePrint) {
      if (t.candidatePrint !== '') this.newOffer(now, t);
      t.candidatePrint = candidatePrint;
    }
    const usable = locators.filter((l) => l.state !== 'DEPRECATED').map((l) => ({
      address: l.address, preferred: l.preferred, relayed: this.candidateOf(t, l) === 'relayed',
      listedOnly: l.source === 'locator-set' && l.state !== 'ACTIVE',
    }));
    // Which of our locators reach the peer depends on where the peer is.
    if (this.remotesOf(t).join(',') !== before) t.sel.setLocalLocators(now, this.pairLocals(t));
    t.sel.setPeerLocators(now, usable);
    // The same address at a new port (the peer's NAT mapped it afresh) is a new candidate: what
    // the pairs to the old port proved says nothing of it.
    for (const address of changed) t.sel.recheck(now, address);
  }

  private isRelayed(t: PeerTrack, remoteAddress: string): boolean {
    return this.candidateOf(t, this.remoteEndpoint(t, remoteAddress)) === 'relayed';
  }

  /** A new offer or answer: its checks are judged afresh, and none of its pairs is held back. */
  private newOffer(now: number, t: PeerTrack): void {
    t.checks.restart();
    t.sel.releaseChecks(now);
  }

  /** Gathers again and offers anew (the sink's pathLost), and when to do it again if still lost. */
  private regather(now: number, t: PeerTrack): void {
    t.regatherAt = now + t.regatherGapMs;
    t.regatherGapMs = Math.min(REGATHER_MAX_RETRY_MS, t.regatherGapMs * 2);
    this.sink.pathLost?.(t.hit);
  }

  /** Once per offer, when every direct pair's checks failed and the relay carries the peer. */
  private judgeChecks(t: PeerTrack): void {
    const pairs = t.sel.status().pairs;
    const direct = pairs.filter((p) => !this.isRelayed(t, p.pair.remote));
    const key = (p: (typeof pairs)[number]): string => pairKey(p.pair);
    const relayWorks = pairs.some((p) => p.state === 'operational' && this.isRelayed(t, p.pair.remote));
    if (!t.checks.allFailed(direct.filter((p) => !p.checksHeld).map(key), direct.filter((p) => p.checksHeld).map(key), relayWorks)) return;
    if (this.sink.checksFailed?.(t.hit) === true) t.checks.reported();
  }

  /**
   * The peer's listing a pair to `address` goes to: at the port the pair takes (a symmetric NAT's
   * address may be listed at several ports, some deprecated or unverified), else the first.
   */
  private peerLocatorAt(t: PeerTrack, address: string): HipPeerLocator | undefined {
    const port = t.remotePorts.get(address);
    return t.peerLocators.find((l) => l.address === address && l.port === port) ?? t.peerLocators.find((l) => l.address === address);
  }

  private localEndpoint(address: string): Endpoint {
    const l = this.locals.find((x) => x.address === address);
    return { address, port: l?.port ?? 0 };
  }

  private remoteEndpoint(t: PeerTrack, address: string): Endpoint {
    return { address, port: t.remotePorts.get(address) ?? t.path.remote.port };
  }

  private bestLocalFor(remote: Endpoint): Endpoint | undefined {
    const v6 = remote.address.includes(':');
    const l = [...this.locals].filter((x) => x.operational && x.address.includes(':') === v6).sort((a, b) => a.preferenceRank - b.preferenceRank)[0];
    return l && { address: l.address, port: l.port };
  }

  /**
   * Break before make: with no primary at all (every pair of ours or the peer's went away), the
   * best pair that just appeared carries the data at once, while pair selection still tests it;
   * nothing works otherwise, so nothing is lost by trying, and a round trip is won.
   */
  private tryNewPair(now: number, t: PeerTrack): void {
    if (t.sel.primary !== undefined) return;
    // The peer address that answers (ACTIVE) first, then one it was heard from: another it only
    // lists may be private to its NAT (a server behind a port forward), and the data sent there
    // while that is tested is lost.
    const pairs = t.sel.status().pairs.filter((p) => this.locals.some((l) => l.address === p.pair.local && l.operational));
    const remoteOf = (p: { pair: LocatorPair }): HipPeerLocator | undefined => this.peerLocatorAt(t, p.pair.remote);
    const verified = pairs.find((p) => remoteOf(p)?.state === 'ACTIVE');
    const heard = pairs.find((p) => { const l = remoteOf(p); return l !== undefined && l.state !== 'DEPRECATED' && l.source !== 'locator-set'; });
    const best = (verified ?? heard ?? pairs[0])?.pair;
    if (best === undefined || (best.local === t.path.local.address && best.remote === t.path.remote.address)) return;
    if (!this.locals.some((l) => l.address === best.local && l.operational)) return;
    const local = this.localEndpoint(best.local);
    const remote = this.remoteEndpoint(t, best.remote);
    const from = this.viewOf(t, t.path.local, t.path.remote);
    this.sink.setActivePair(t.hit, local, remote);
    this.moveData(t, local, remote, 'pair-added');
    const lostCause = t.lostCause;
    t.lostCause = undefined;
    this.sink.handover({
      peer: hitToText(t.hit), cause: 'pair-added', from, to: this.viewOf(t, local, remote), gapMs: Math.max(0, now - t.lostAt),
      ...(lostCause === undefined ? {} : { localCause: lostCause }),
    });
  }

  private moveData(t: PeerTrack, local: Endpoint, remote: Endpoint, cause: PathMoveCause): void {
    t.path = { local: { ...local }, remote: { ...remote } };
    this.sink.setDataPath(t.hit, t.path.local, t.path.remote, cause);
  }

  /** Moving the data onto the spare later ends its copies (the data plane sees to that). */
  private setSpare(t: PeerTrack, a: Extract<SelectionAction, { type: 'spare' }>): void {
    const forMs = this.policy.spareWindowMs;
    if (forMs <= 0 || !this.locals.some((l) => l.address === a.pair.local && l.operational)) return;
    const spare = { local: this.localEndpoint(a.pair.local), remote: this.remoteEndpoint(t, a.pair.remote) };
    if (spare.local.address === t.path.local.address && sameEndpoint(spare.remote, t.path.remote)) return;
    this.sink.setSparePath(t.hit, spare.local, spare.remote, forMs);
  }

  /**
   * Any state but PRIMARY OPERATIONAL means the pair in use is in doubt. The state action comes
   * after the move it goes with ('primary-changed' first), so copies reach the new pair before
   * leaving the hold discards what is left.
   */
  private setHeld(t: PeerTrack, on: boolean): void {
    if (t.held === on) return;
    t.held = on;
    this.sink.holdForPeer(t.hit, on);
  }

  /** The association is gone: so is its hold, which a new one must not inherit. */
  private forget(key: string): void {
    const t = this.peers.get(key);
    if (t === undefined) return;
    this.setHeld(t, false);
    this.peers.delete(key);
  }

  private drain(now: number, t: PeerTrack): void {
    let tested = false;
    for (let a = t.sel.pollAction(); a !== undefined; a = t.sel.pollAction()) {
      if (a.type === 'pair-state') tested = true;
      this.act(now, t, a);
    }
    if (tested && this.peers.get(hitToText(t.hit)) === t) this.judgeChecks(t);
  }

  private act(now: number, t: PeerTrack, a: SelectionAction): void {
    switch (a.type) {
      case 'probe': {
        const send = (): void => this.sink.probePair(t.hit, this.localEndpoint(a.pair.local), this.remoteEndpoint(t, a.pair.remote), a.probeId, a.report);
        if (this.heldProbes) this.heldProbes.push(send);
        else send();
        return;
      }
      case 'primary-changed': {
        if (a.new === undefined) {
          // Nowhere to go: keep sending on the old pair as the best guess until a pair appears.
          t.lostAt = a.lastHeardAt;
          t.lostCause = (a.old === undefined ? undefined : this.losses.get(a.old.local)) ?? t.lostCause;
          return;
        }
        const local = this.localEndpoint(a.new.local);
        const remote = this.remoteEndpoint(t, a.new.remote);
        const from = this.viewOf(t, t.path.local, t.path.remote);
        const to = this.viewOf(t, local, remote);
        // Ports count: on one machine the relay and the peer share an address.
        const same = from.local.address === local.address && from.remote.address === remote.address && from.remote.port === remote.port;
        // The first pair of an association is no move, unless it takes the traffic off the relay
        // that carried the exchange (or onto it): that is the upgrade the user waits for.
        const relayChange = (from.candidate === 'relayed') !== (to.candidate === 'relayed');
        this.sink.setActivePair(t.hit, local, remote);
        this.moveData(t, local, remote, a.cause);
        t.lostCause = undefined;
        if (!same && (a.cause !== 'connect' || relayChange)) {
          const localCause = this.losses.get(from.local.address);
          this.sink.handover({
            peer: hitToText(t.hit), cause: a.cause, from, to, gapMs: outageMs(a, t.state !== 'primary-operational'),
            ...(localCause === undefined ? {} : { localCause }),
          });
        }
        return;
      }
      case 'state':
        t.state = a.to;
        t.noPrimarySince = a.to === 'no-primary' ? (t.noPrimarySince ?? now) : undefined;
        this.setHeld(t, a.to !== 'primary-operational');
        // Only a working primary ends the outage: a search in between (a pair deleted or added
        // while the path is lost) keeps the regathering due and its back-off growing.
        if (a.to === 'no-primary' && LOST_PATH_CAUSES.has(a.cause)) {
          if (t.regatherAt === undefined) this.regather(now, t);
        } else if (a.to === 'primary-operational') {
          t.regatherAt = undefined;
          t.regatherGapMs = REGATHER_FIRST_RETRY_MS;
        }
        return;
      case 'pair-state':
        if (!this.isRelayed(t, a.pair.remote)) t.checks.pairState(pairKey(a.pair), a.state);
        return;
      case 'spare':
        this.setSpare(t, a);
        return;
    }
  }
}
