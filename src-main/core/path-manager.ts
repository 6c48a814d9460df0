// Which locator pair each peer's traffic takes, kept working: one PairSelection (seed 003 §5.2)
// per established association, fed by the engine with our locators, the peer's locators, probe
// outcomes and data counters, and turned back into HIP calls (pair probes, the active pair) and
// data plane path changes. Sans-IO like the selections it holds: the engine owns the clock,
// the sockets and the HipHost, and reaches them through `PathSink`.

import type { HostEvent } from '../hip/host.js';
import { hitKey, sameEndpoint, type Endpoint } from '../../src-shared/vocabulary.js';

import type { PeerLocator as HipPeerLocator } from '../hip/peer-locators.js';
import type { CandidateName } from '../hip/local-locators.js';
import type { PairLocal, LocatorPair } from '../mobility/pair-order.js';
import { pairKey } from '../mobility/pair-order.js';
import type { DetectionPolicy } from '../mobility/failure-detection.js';
import type { LocalLossCause } from '../mobility/local-loss.js';
import { CheckOutcome } from '../mobility/check-outcome.js';
import {
  PairSelection, type IcmpHintOutcome, type SelectionAction, type SelectionCause, type SelectionState, type SelectionTiming,
} from '../mobility/pair-selection.js';
import type { EngineLocator } from './engine-locator.js';
import { reaches } from './engine-locator.js';
import type { PathMoveCause, PathSink } from './path-sink.js';
import type { PairView, PathView, PeerPathsView } from './path-views.js';
import { outageMs } from './handover-outage.js';
import { movedToNewPort, pairPorts } from './peer-locator-ports.js';

export type { EngineLocator } from './engine-locator.js';
export type { Handover, PathMoveCause, PathSink } from './path-sink.js';
export type { PairView, PathView, PeerPathsView } from './path-views.js';
export type { LocalLossCause } from '../mobility/local-loss.js';

/** What became of an ICMP error: a hint acted on, or why not ('icmp-unknown': no peer's address). */
export type IcmpOutcome = IcmpHintOutcome | 'icmp-unknown';
const ICMP_RANK: Readonly<Record<IcmpOutcome, number>> = { 'icmp-hint': 3, 'icmp-hint-limited': 2, 'icmp-not-primary': 1, 'icmp-unknown': 0 };

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

/** Causes that mean the pair in use stopped answering, rather than our own addresses going away. */
const LOST_PATH_CAUSES: ReadonlySet<SelectionCause> = new Set(['data-silence', 'keepalive', 'icmp', 'peer-poll']);

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
    const t = this.peers.get(hitKey(peerHit));
    if (t === undefined) return 0;
    const direct = t.sel.status().pairs.filter((p) => !this.isRelayed(t, p.pair.remote)).map((p) => p.pair);
    const held = t.sel.holdChecks(now, direct);
    this.judgeChecks(t);
    this.drain(now, t);
    return held;
  }

  /** We sent the peer a new offer (our candidates as gathered again): its checks start afresh. */
  offered(now: number, peerHit: Uint8Array): void {
    const t = this.peers.get(hitKey(peerHit));
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
    const key = hitKey(e.peerHit);
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
    const t = this.peers.get(hitKey(peerHit));
    if (t === undefined) return;
    t.sel.peerConfirmed(now);
    this.drain(now, t);
  }

  /** Our ESP to the peer: `packets` since the last call. */
  dataSent(now: number, peerHit: Uint8Array, packets: number): void {
    this.peers.get(hitKey(peerHit))?.sel.dataSent(now, packets);
  }

  /** Authenticated ESP from the peer; `pair` (ours → theirs) when the data plane knows it. */
  dataReceived(now: number, peerHit: Uint8Array, pair?: LocatorPair): void {
    const t = this.peers.get(hitKey(peerHit));
    if (t === undefined) return;
    t.sel.dataReceived(now, pair);
    this.drain(now, t);
  }

  /** The peer's authenticated ESP came in on `pair` (the inbound pair, seed 003 §5.4). */
  inboundSeen(now: number, peerHit: Uint8Array, pair: LocatorPair): void {
    this.peers.get(hitKey(peerHit))?.sel.inboundSeen(now, pair);
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
    const t = this.peers.get(hitKey(peerHit));
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
        if (this.sink.unreachable(t.hit)) this.forget(hitKey(t.hit));
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
    const t = this.peers.get(hitKey(peerHit));
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
    const t = this.peers.get(hitKey(peerHit));
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
    const changed = movedToNewPort(t.peerLocators, live);
    t.peerLocators = locators.map((l) => ({ ...l }));
    for (const [address, port] of pairPorts(locators, (l) => this.candidateOf(t, l) === 'relayed')) t.remotePorts.set(address, port);
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
      peer: hitKey(t.hit), cause: 'pair-added', from, to: this.viewOf(t, local, remote), gapMs: Math.max(0, now - t.lostAt),
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
    if (tested && this.peers.get(hitKey(t.hit)) === t) this.judgeChecks(t);
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
            peer: hitKey(t.hit), cause: a.cause, from, to, gapMs: outageMs(a, t.state !== 'primary-operational'),
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
