// Choosing, per peer, the locator pair our packets leave on, and keeping it working: the pair
// selection state machine of seed 003 §5.2 (NO PRIMARY, TESTING PRIMARY, PRIMARY OPERATIONAL)
// with the Poll protocol of §5.4 for its reachability tests.
//
// Sans-IO: fed events and `now`, it queues actions (send this probe, the primary changed, a
// pair's state changed) for `pollAction()` and says when it next wants `handleTimeout()`.
//
// The events of seed 003 and where they enter:
//   connect            connect()
//   test OK / fail     probeAnswered(), probeReceived() (reports), and probe timeouts
//   ULP feedback       dataReceived(): authenticated inbound ESP from the peer
//   ICMP               icmpError(): a hint to search at once, never a reason to leave by itself
//   timer              handleTimeout(): keepalives, silence detection, probe pacing
//   add / delete pair  setLocalLocators(), setPeerLocators()
//   policy change      the same, when a locator's rank or Preferred bit changes; failover()
//
// The search when the primary is in doubt (a "round") probes the primary first (unless a probe
// of it just failed), then the other candidates in search order (pair-order.ts), one at a time:
// the first few 50 ms apart (RFC 9028 Ta), then with the gap doubling up to 2 s. Sequential, as
// seed 003 §5.3 requires against signalling storms, but bounded: 16 pairs are all tried within
// 20 s, not the 3,200 s that seed 003 warns of; a pair that appears is probed at once whatever
// the back-off reached, and so is the reverse of a pair a peer's probe just arrived on.
//
// Each side chooses its own outbound pair (seed 003 §5.2): a pair the peer's reports prove to
// carry our packets is usable even if nothing comes back on it, so A→B and B→A may use pairs
// that are not the reverse of each other.
//
// Make-before-break: while the primary works, pairs the policy prefers and a spare through each
// other interface and to each other peer locator are tested in the background; a preferred pair
// that passes becomes primary at once (nothing was broken, so nothing is lost), and when the
// primary's interface goes away a recently tested spare takes over without waiting for a test.
// A spare that appeared while the primary works (a new uplink or peer address is the sign that
// the old one may be going: phones bring cellular up as Wi-Fi fades) also carries a copy of the
// data for a while once it passes its first test (the 'spare' action): packets in flight on the
// primary when it dies then arrive on the spare. Not while the primary is merely in doubt: the
// copies reaching the peer would hide the failure from the peer's own detection, which must
// move its direction too.

import type { Candidate, PairLocal, LocatorPair, PeerLocator, TestHistory } from './pair-order.js';
import { buildCandidates, comparePreference, compareSearch, pairKey, testTier } from './pair-order.js';
import type { DetectionPolicy, RttPolicy } from './failure-detection.js';
import { DEFAULT_DETECTION, DEFAULT_RTT_POLICY, FailureDetector, RttEstimator } from './failure-detection.js';
import type { PollOptions, SentProbe } from './poll.js';
import { DEFAULT_POLL, PollSession } from './poll.js';

/** What became of an ICMP error about a pair (icmpError). */
export type IcmpHintOutcome = 'icmp-hint' | 'icmp-hint-limited' | 'icmp-not-primary';

export type SelectionState = 'no-primary' | 'testing-primary' | 'primary-operational';

/** A pair's test result, as status shows it. */
export type PairTestState = 'untested' | 'testing' | 'operational' | 'failed';

/** Which directions the last successful test proved. */
export type PairDirection = 'bidirectional' | 'outbound';

/** Why probing started, and so why the primary moved. */
export type SelectionCause =
  | 'connect'
  | 'data-silence' // outbound data, no authenticated inbound for the silence threshold
  | 'keepalive' // the idle keepalive went unanswered
  | 'icmp' // an ICMP error hinted, and a test confirmed it
  | 'peer-poll' // the peer is testing, and our direction proved dead too
  | 'pair-added'
  | 'pair-deleted'
  | 'better-pair' // a preferred pair passed its background test (make-before-break)
  | 'policy' // the interface order or the peer's preference changed
  | 'manual';

export type SelectionAction =
  | { type: 'probe'; pair: LocatorPair; probeId: number; report: number[] }
  | {
      type: 'primary-changed';
      old: LocatorPair | undefined;
      new: LocatorPair | undefined;
      cause: SelectionCause;
      /** From the moment the failure was detected (or the move decided) to this switch. */
      gapMs: number;
      detectedAt: number;
      /** The last authenticated packet from the peer before the move: `at` minus this bounds the outage. */
      lastHeardAt: number;
      at: number;
    }
  | { type: 'pair-state'; pair: LocatorPair; state: PairTestState; direction: PairDirection | undefined; rttMs: number | undefined }
  /** Copy data onto `pair` as well, for a bounded while. */
  | { type: 'spare'; pair: LocatorPair }
  | { type: 'state'; from: SelectionState; to: SelectionState; cause: SelectionCause };

export interface PairStatus {
  pair: LocatorPair;
  ifname: string;
  kind: PairLocal['kind'];
  state: PairTestState;
  direction: PairDirection | undefined;
  primary: boolean;
  rttMs: number | undefined;
  lastOkAt: number | undefined;
  lastFailAt: number | undefined;
  /** Last authenticated packet from the peer that arrived on the reverse of this pair. */
  lastHeardAt: number | undefined;
  /** Left out of the background checks: the peer said its checks on it failed (holdChecks). */
  checksHeld: boolean;
}

export interface SelectionStatus {
  state: SelectionState;
  primary: LocatorPair | undefined;
  /** The pair the peer's packets last arrived on (ours → theirs): may differ from `primary`. */
  inbound: LocatorPair | undefined;
  pairs: PairStatus[];
}

export interface SelectionTiming {
  /** Gap between the first probes of a search (RFC 9028 Ta). */
  paceMs: number;
  /** How many probes go out at `paceMs` before the gap starts doubling. */
  quickProbes: number;
  /** The gap between probes never grows beyond this: a path that heals is found this fast. */
  maxPaceMs: number;
  /** First retry of a failed background test; doubles up to `backgroundMaxMs`. */
  backgroundMinMs: number;
  backgroundMaxMs: number;
  /**
   * Spare pairs (one per other interface and peer locator) are re-tested this often; 0 = cold
   * backup. Each test also refreshes the NAT mappings the spare crosses: within half the 30 s
   * that Linux conntrack and many routers keep an unanswered UDP mapping, a hot backup through
   * a NAT is still open when the primary dies (seed 000 §5.2).
   */
  backupProbeMs: number;
  /** A pair that passed within this long may take over without a new test. */
  freshOkMs: number;
  /** A pair that failed within this long is tried after all others. */
  failMemoryMs: number;
  /** At most one ICMP hint acted on per this long: the rest are counted and ignored. */
  icmpHintIntervalMs: number;
  /** A peer's test does not make us re-test a primary confirmed this recently. */
  peerTriggerFreshMs: number;
  rtt: RttPolicy;
  detection: DetectionPolicy;
  poll: PollOptions;
}

export const DEFAULT_TIMING: SelectionTiming = {
  paceMs: 50,
  quickProbes: 4,
  maxPaceMs: 2_000,
  backgroundMinMs: 1_000,
  backgroundMaxMs: 30_000,
  backupProbeMs: 15_000,
  freshOkMs: 60_000,
  failMemoryMs: 30_000,
  icmpHintIntervalMs: 1_000,
  peerTriggerFreshMs: 2_000,
  rtt: DEFAULT_RTT_POLICY,
  detection: DEFAULT_DETECTION,
  poll: DEFAULT_POLL,
};

type ProbePurpose = 'round' | 'verify' | 'background' | 'report';

interface ProbeTag {
  purpose: ProbePurpose;
  /** For 'verify': what made us check the primary. */
  cause?: SelectionCause;
}

interface PairRecord {
  cand: Candidate;
  rtt: RttEstimator;
  history: TestHistory;
  state: PairTestState;
  direction: PairDirection | undefined;
  lastAnsweredAt: number | undefined;
  lastHeardAt: number | undefined;
  /** Next background test, when this pair is on the background plan. */
  backgroundAt: number | undefined;
  backgroundIntervalMs: number;
  /** Appeared while a primary worked and has not passed a test yet: its first pass makes it a spare. */
  appearedAsSpare: boolean;
  /** The last triggered check outside a search: at most one per TRIGGERED_CHECK_MIN_MS while one is in flight. */
  triggeredAt?: number;
}

/**
 * A probe already in flight on a pair the peer's probe just came in on was most likely sent
 * before the peer's NAT let anything in (both sides punch at once): the pair is tested again
 * (RFC 8445 §7.3.1.4 does the same for an in-progress pair), but only this often, so two hosts
 * cannot bounce triggered checks off each other.
 */
const TRIGGERED_CHECK_MIN_MS = 1_000;

interface Round {
  cause: SelectionCause;
  startedAt: number;
  detectedAt: number;
  probesSent: number;
  nextAt: number;
  /** Pairs probed in the current pass over the candidates. */
  probedThisPass: Set<string>;
  /** Pairs that appeared during the search: probed before anything else. */
  fresh: string[];
}

const UNKNOWN_LOCAL_RANK = 1_000;

export class PairSelection {
  private timing: SelectionTiming;
  private readonly poll: PollSession<ProbeTag>;
  private detector: FailureDetector;
  private readonly pairs = new Map<string, PairRecord>();
  private readonly actions: SelectionAction[] = [];
  private locals: PairLocal[] | undefined;
  private remotes: PeerLocator[] | undefined;
  /** The connect pair stands in for locator lists not reported yet. */
  private seedPair: LocatorPair | undefined;
  private current: SelectionState = 'no-primary';
  /** Nothing is probed before the association exists: there is no one to answer. */
  private connected = false;
  private primaryKey: string | undefined;
  /** Kept apart from the pair records: a deleted primary must still be named in the event. */
  private primaryPair: LocatorPair | undefined;
  private primaryConfirmedAt = Number.NEGATIVE_INFINITY;
  private round: Round | undefined;
  /** A manual choice is not undone by the background tests; a failure search lifts it. */
  private pinned = false;
  private inboundPair: LocatorPair | undefined;
  private lastBackgroundAt = Number.NEGATIVE_INFINITY;
  private lastIcmpHintAt = Number.NEGATIVE_INFINITY;
  /** Pairs the background tests leave alone until the candidates change or the pair passes (holdChecks). */
  private readonly heldChecks = new Set<string>();

  /**
   * The user changed keepalive or detection sensitivity: later decisions use the new policy. The
   * detector starts afresh, as after a quiet spell: nothing it measured says the path is bad.
   */
  setDetectionPolicy(now: number, detection: DetectionPolicy): void {
    this.timing = { ...this.timing, detection };
    this.detector = new FailureDetector(detection, now);
  }

  constructor(now: number, timing: Partial<SelectionTiming> = {}) {
    this.timing = { ...DEFAULT_TIMING, ...timing };
    this.poll = new PollSession<ProbeTag>(this.timing.poll);
    this.detector = new FailureDetector(this.timing.detection, now);
  }

  // ---- inputs ----

  /**
   * The association is up. With `pair`, the base exchange ran over it, which is a test passed
   * both ways (seed 003 §5.2: the test is embedded in the connection setup); without, search.
   */
  connect(now: number, pair?: LocatorPair, rttMs?: number): void {
    this.connected = true;
    if (pair !== undefined) {
      this.seedPair = { ...pair };
      this.recompute(now);
      const key = pairKey(pair);
      if (this.pairs.has(key)) {
        this.switchPrimary(now, key, 'connect', now);
        this.setState('primary-operational', 'connect');
        this.pairOk(now, key, 'bidirectional', rttMs, now);
        // Without a measured RTT, one probe at once: status shows an RTT from the start, and a
        // responder waiting in R2-SENT learns from the UPDATE that its R2 arrived (RFC 7401 §4.4.2).
        if (rttMs === undefined) this.verifyPrimary(now, 'connect');
        return;
      }
    }
    this.startRound(now, 'connect', now);
  }

  /** Our usable locators (a complete list), from the local-address tracker. */
  setLocalLocators(now: number, locators: readonly PairLocal[]): void {
    this.locals = locators.map((l) => ({ ...l }));
    this.recompute(now);
  }

  /** The peer's locators we may send to (a complete list: verified or in their credit window). */
  setPeerLocators(now: number, locators: readonly PeerLocator[]): void {
    this.remotes = locators.map((r) => ({ ...r }));
    this.recompute(now);
  }

  /** We sent ESP to this peer: `packets` of them since the last call (call per batch). */
  dataSent(now: number, packets = 1): void {
    if (this.primaryKey !== undefined) this.detector.dataSent(now, packets);
  }

  /**
   * Authenticated inbound ESP from the peer (`pair`: our address, their source): upper-layer
   * feedback. It ends a search that the lack of inbound traffic started; it does not end one
   * that a failed test started, because the peer's packets arriving say nothing about whether
   * ours get through (the peer's own tests will tell us, through the Poll reports).
   */
  dataReceived(now: number, pair?: LocatorPair): void {
    this.detector.dataReceived(now);
    if (pair !== undefined) this.noteInbound(now, pair);
    const r = this.round;
    if (r !== undefined && r.cause === 'data-silence' && this.primaryKey !== undefined) {
      this.endRound(now, r);
      this.setState('primary-operational', r.cause);
    }
  }

  /**
   * An ICMP error about a pair (seed 003 §3.3). Anyone on the path, or anyone who can guess
   * the addresses, can send one, so it is only a hint: one per `icmpHintIntervalMs` starts a
   * search at once, probing the primary and the other pairs side by side. Traffic stays where
   * it is until a probe, which is authenticated, passes: the primary's answer ends the search
   * where it began, and another pair's answer moves the traffic there without waiting for the
   * primary's probe to time out (a real ICMP error usually means it never will).
   */
  icmpError(now: number, pair: LocatorPair): IcmpHintOutcome {
    if (pairKey(pair) !== this.primaryKey) return 'icmp-not-primary';
    if (now - this.lastIcmpHintAt < this.timing.icmpHintIntervalMs) return 'icmp-hint-limited';
    this.lastIcmpHintAt = now;
    if (this.round !== undefined) return 'icmp-hint';
    // The alternatives first (the round), then the primary's own check beside them.
    this.startRound(now, 'icmp', now, true);
    this.verifyPrimary(now, 'icmp');
    return 'icmp-hint';
  }

  /** Our probe on `pair` was answered on the same pair (both directions work). */
  probeAnswered(now: number, probeId: number, rttMs: number): void {
    // The identifier names the pair; answers come back on the pair the probe went out on.
    const probe = this.poll.answered(probeId);
    if (probe === undefined) return;
    this.pairOk(now, probe.key, 'bidirectional', rttMs, probe.sentAt);
  }

  /**
   * A probe of the peer's arrived on `pair` (our local address, their source address). Its
   * report may confirm our own probes; if it asks for a reply, the peer must learn we got it,
   * even if the answer the HIP layer sends back on `pair` is lost.
   */
  probeReceived(now: number, pair: LocatorPair, probeId: number, report: readonly number[]): void {
    this.noteInbound(now, pair);
    const res = this.poll.received(now, probeId, report);
    // Newest first, so each pair is credited with its most recent evidence.
    const byKey = new Set<string>();
    for (const probe of [...res.confirmed].sort((x, y) => y.sentAt - x.sentAt)) {
      if (!byKey.has(probe.key)) {
        byKey.add(probe.key);
        this.pairOk(now, probe.key, 'outbound', undefined, probe.sentAt);
      }
      // Reported after its answer was already overdue: the pair works our way only.
      if (probe.expired) this.oneWayOnly(probe);
    }
    if (res.duplicate || !res.replyWanted) return;
    const arrivalKey = pairKey(pair);
    if (this.round !== undefined) {
      // A triggered check (as ICE does, RFC 8445 §7.3.1.4): the peer's packets come in on
      // this pair, so its reverse is the likeliest way out; test it now, out of turn. It
      // carries the report too. One probe per probe of the peer's at most: no storm.
      if (this.pairs.has(arrivalKey) && !this.poll.pendingOn(arrivalKey, (t) => t.purpose !== 'report')) {
        this.round.probedThisPass.add(arrivalKey);
        this.sendProbe(now, arrivalKey, { purpose: 'round' });
        return;
      }
    }
    if (this.primaryKey === undefined) return;
    const arrival = this.pairs.get(arrivalKey);
    const inFlight = this.poll.pendingOn(arrivalKey, (t) => t.purpose !== 'report');
    if (this.round === undefined && !this.pinned && arrival !== undefined && arrivalKey !== this.primaryKey && this.prefers(arrivalKey, this.primaryKey)
      && (!inFlight || arrival.triggeredAt === undefined || now - arrival.triggeredAt >= TRIGGERED_CHECK_MIN_MS)) {
      // A triggered check outside a search: the peer's probe came in on a pair we would rather
      // use (a direct path while the relay carries the traffic). Its reverse most likely works
      // now that the peer's packets passed both NATs, so it is tested now, not at the next
      // background slot; if it passes it becomes primary like any better pair.
      arrival.triggeredAt = now;
      this.sendProbe(now, arrivalKey, { purpose: 'background' });
    }
    const primaryFresh = now - this.primaryConfirmedAt < this.timing.peerTriggerFreshMs;
    if (this.round === undefined && this.current === 'primary-operational' && !primaryFresh) {
      // The peer doubts the path; our direction may be the broken one (packets arriving say
      // nothing about ours). The verification probe carries the report as well.
      this.verifyPrimary(now, 'peer-poll');
    } else if (arrivalKey !== this.primaryKey) {
      // The HIP answer goes back on `pair`, which may be dead that way: report on our primary.
      this.sendProbe(now, this.primaryKey, { purpose: 'report' });
    }
  }

  /**
   * The peer's checks toward our candidates all failed (its CONNECTIVITY_CHECKS_FAILED): those
   * of `pairs` that have not passed stop being tested in the background, so neither side keeps
   * spending checks where both found nothing. A search when the primary fails still tries
   * them, a probe of the peer's arriving on one still triggers a check, and one that passes is
   * released. `releaseChecks` ends the hold (new candidates: a new offer or answer).
   */
  holdChecks(now: number, pairs: readonly LocatorPair[]): number {
    let held = 0;
    for (const p of pairs) {
      const key = pairKey(p);
      const rec = this.pairs.get(key);
      if (rec === undefined || key === this.primaryKey || rec.state === 'operational') continue;
      this.heldChecks.add(key);
      rec.backgroundAt = undefined;
      held++;
    }
    this.planBackground(now, false);
    return held;
  }

  /**
   * The peer's locator at `remote` moved to a new port (its NAT mapped it afresh): the pairs to
   * it are new candidates whatever their test history or a hold says, and are checked now, first.
   */
  recheck(now: number, remote: string): void {
    const keys = [...this.pairs.entries()].filter(([, rec]) => rec.cand.pair.remote === remote).map(([key]) => key);
    for (const key of keys) {
      const rec = this.pairs.get(key)!;
      rec.history = {};
      rec.rtt = new RttEstimator();
      rec.backgroundIntervalMs = this.timing.backgroundMinMs;
      this.heldChecks.delete(key);
      if (rec.backgroundAt !== undefined) rec.backgroundAt = now;
    }
    if (keys.length === 0) return;
    const r = this.round;
    if (r !== undefined) {
      r.fresh.push(...keys);
      r.nextAt = now;
      r.probesSent = 0;
      this.runRound(now);
    } else {
      this.planBackground(now, true);
      this.runBackground(now);
    }
  }

  releaseChecks(now: number): void {
    if (this.heldChecks.size === 0) return;
    this.heldChecks.clear();
    this.planBackground(now, true);
  }

  /**
   * The peer holds the association now (we answered its base exchange, and its first packet
   * under the new keys arrived): probes we sent before it had our R2 were most likely dropped
   * unread, so each pair still waiting on one is tested again now, not after that probe's
   * timeout and the back-off after it. The primary proved itself in the exchange.
   */
  peerConfirmed(now: number): void {
    const waiting = [...this.pairs.keys()].filter((key) => key !== this.primaryKey && this.poll.pendingOn(key, (t) => t.purpose !== 'report'));
    for (const key of waiting) this.sendProbe(now, key, { purpose: this.round === undefined ? 'background' : 'round' });
  }

  /** Move now: to `to`, or to the best alternative. False when there is nowhere to go. */
  failover(now: number, to?: LocatorPair): boolean {
    let key: string | undefined;
    if (to !== undefined) {
      key = pairKey(to);
      if (!this.pairs.has(key)) return false;
    } else {
      key = this.searchOrder(now).find((k) => k !== this.primaryKey);
    }
    if (key === undefined) return false;
    if (this.round !== undefined) this.endRound(now, this.round);
    if (key !== this.primaryKey) this.switchPrimary(now, key, 'manual', now);
    this.startRound(now, 'manual', now);
    this.pinned = true;
    return true;
  }

  handleTimeout(now: number): void {
    const expired = this.poll.expire(now);
    for (const probe of expired.oneWay) this.oneWayOnly(probe);
    for (const probe of expired.timedOut) this.probeTimedOut(now, probe);
    if (this.round === undefined && this.primaryKey !== undefined && this.current === 'primary-operational') {
      const verdict = this.detector.check(now, this.primaryRecord()?.rtt.srtt);
      if (verdict === 'suspect') this.startRound(now, 'data-silence', now);
      else if (verdict === 'keepalive') this.verifyPrimary(now, 'keepalive');
    }
    if (this.round !== undefined) this.runRound(now);
    else if (this.current === 'primary-operational') this.runBackground(now);
  }

  nextTimeout(): number | undefined {
    let next = this.poll.nextDeadline() ?? Number.POSITIVE_INFINITY;
    if (this.round !== undefined) next = Math.min(next, this.round.nextAt);
    else if (this.current === 'primary-operational' && this.primaryKey !== undefined) {
      next = Math.min(next, this.detector.nextDeadline(this.primaryRecord()?.rtt.srtt));
      for (const rec of this.pairs.values()) {
        if (rec.backgroundAt !== undefined) next = Math.min(next, Math.max(rec.backgroundAt, this.lastBackgroundAt + this.timing.paceMs));
      }
    }
    return Number.isFinite(next) ? next : undefined;
  }

  pollAction(): SelectionAction | undefined {
    return this.actions.shift();
  }

  // ---- views ----

  get state(): SelectionState {
    return this.current;
  }

  /** The pair outbound packets use; kept in NO PRIMARY as the best guess while it exists. */
  get primary(): LocatorPair | undefined {
    return this.primaryPair && { ...this.primaryPair };
  }

  status(): SelectionStatus {
    const pairs = [...this.pairs.values()]
      .sort((a, b) => comparePreference(a.cand, b.cand))
      .map((rec) => ({
        pair: { ...rec.cand.pair },
        ifname: rec.cand.local.ifname,
        kind: rec.cand.local.kind,
        state: rec.state,
        direction: rec.direction,
        primary: pairKey(rec.cand.pair) === this.primaryKey,
        rttMs: rec.rtt.srtt,
        lastOkAt: rec.history.lastOkAt,
        lastFailAt: rec.history.lastFailAt,
        lastHeardAt: rec.lastHeardAt,
        checksHeld: this.heldChecks.has(pairKey(rec.cand.pair)),
      }));
    return { state: this.current, primary: this.primary, inbound: this.inboundPair && { ...this.inboundPair }, pairs };
  }

  // ---- candidates ----

  private recompute(now: number): void {
    const seed = this.seedPair;
    const locals = this.locals ?? (seed ? [{ address: seed.local, ifname: '', kind: 'other' as const, operational: true, preferenceRank: UNKNOWN_LOCAL_RANK }] : []);
    const remotes = this.remotes ?? (seed ? [{ address: seed.remote, preferred: false }] : []);
    const next = new Map(buildCandidates(locals, remotes).map((c) => [pairKey(c.pair), c] as const));

    let primaryGone = false;
    for (const key of [...this.pairs.keys()]) {
      if (next.has(key)) continue;
      this.pairs.delete(key);
      this.heldChecks.delete(key);
      if (key === this.primaryKey) primaryGone = true;
    }
    const added: string[] = [];
    let policyChanged = false;
    for (const [key, cand] of next) {
      const rec = this.pairs.get(key);
      if (rec === undefined) {
        this.pairs.set(key, {
          cand, rtt: new RttEstimator(), history: {}, state: 'untested', direction: undefined,
          lastAnsweredAt: undefined, lastHeardAt: undefined, backgroundAt: undefined,
          backgroundIntervalMs: this.timing.backgroundMinMs,
          appearedAsSpare: this.connected && this.primaryKey !== undefined && this.current === 'primary-operational',
        });
        added.push(key);
      } else {
        if (rec.cand.local.preferenceRank !== cand.local.preferenceRank || rec.cand.remote.preferred !== cand.remote.preferred
          || (rec.cand.local.metered === true) !== (cand.local.metered === true)
          || (rec.cand.remote.relayed === true) !== (cand.remote.relayed === true)) {
          policyChanged = true;
        }
        rec.cand = cand;
      }
    }

    if (primaryGone) this.primaryDeleted(now);
    if (added.length > 0) this.pairsAdded(now, added);
    if (policyChanged) this.policyChanged(now);
    this.planBackground(now, added.length > 0 || policyChanged);
    if (added.length > 0) this.bridgeThroughRelay(now);
  }

  /**
   * The relayed pair bridges a change of locators (seed 000 §5.1.2): a new uplink of ours or a
   * new locator of the peer's while a direct primary works may be there because the old one is
   * going, and the direct pairs it brings may never pass (a symmetric NAT on the new side). The
   * relayed pair that best survives the primary (another interface of ours first) is tested at
   * once, and its pass copies the data onto it for a while like any new spare's, so traffic
   * arrives through the relay while the direct pairs are checked or after the primary died.
   */
  private bridgeThroughRelay(now: number): void {
    const primary = this.primaryRecord();
    if (primary === undefined || primary.cand.remote.relayed === true || this.round !== undefined || this.current !== 'primary-operational') return;
    const otherIf = (rec: PairRecord): number => (rec.cand.local.ifname === primary.cand.local.ifname ? 1 : 0);
    const bridge = [...this.pairs.entries()]
      .filter(([key, rec]) => key !== this.primaryKey && rec.cand.remote.relayed === true)
      .sort(([, a], [, b]) => otherIf(a) - otherIf(b) || comparePreference(a.cand, b.cand))[0];
    if (bridge === undefined) return;
    const [key, rec] = bridge;
    rec.appearedAsSpare = true;
    if (!this.poll.pendingOn(key, (t) => t.purpose !== 'report')) this.sendProbe(now, key, { purpose: 'background' });
  }

  /**
   * Seed 003: delete pair. A recent spare takes over at once; otherwise test the best guess,
   * which is an address the peer was heard from or verified at when there is one: data is not
   * sent on the strength of a listing alone (the one rule for a peer's new address).
   */
  private primaryDeleted(now: number): void {
    this.pinned = false;
    if (this.round !== undefined) this.endRound(now, this.round);
    const fresh = [...this.pairs.entries()]
      .filter(([, rec]) => testTier(rec.history, now, this.searchOpts()) === 0)
      .sort(([, a], [, b]) => comparePreference(a.cand, b.cand));
    const guesses = this.searchOrder(now);
    const next = fresh[0]?.[0] ?? guesses.find((key) => this.pairs.get(key)?.cand.remote.listedOnly !== true) ?? guesses[0];
    this.switchPrimary(now, next, 'pair-deleted', now);
    this.startRound(now, 'pair-deleted', now);
  }

  /** Seed 003: add pair. Acts at once only while we lack a working primary. */
  private pairsAdded(now: number, keys: string[]): void {
    if (this.round === undefined && this.current === 'no-primary' && this.connected) this.startRound(now, 'pair-added', now);
    const r = this.round;
    if (r === undefined) return;
    // Whatever the back-off reached, a new pair is worth a probe now, before the others.
    r.fresh.push(...keys);
    r.nextAt = now;
    r.probesSent = 0;
    this.runRound(now);
  }

  /** Seed 003: policy change. Move now to a preferred pair known to work; test the others. */
  private policyChanged(now: number): void {
    if (this.current !== 'primary-operational' || this.pinned) return;
    const best = this.bestFreshOk(now);
    if (best !== undefined && best !== this.primaryKey && this.prefers(best, this.primaryKey)) {
      this.switchPrimary(now, best, 'policy', now);
    }
  }

  // ---- the search ----

  /** `primaryJustFailed`: its probe timed out a moment ago, so start with the alternatives. */
  private startRound(now: number, cause: SelectionCause, detectedAt: number, primaryJustFailed = false): void {
    if (this.round !== undefined) return;
    this.pinned = false;
    this.round = { cause, startedAt: now, detectedAt, probesSent: 0, nextAt: now, probedThisPass: new Set(), fresh: [] };
    if (primaryJustFailed && this.primaryKey !== undefined) this.round.probedThisPass.add(this.primaryKey);
    if (this.primaryKey !== undefined) this.setState('testing-primary', cause);
    this.runRound(now);
  }

  private endRound(now: number, round: Round): void {
    if (this.round !== round) return;
    this.round = undefined;
    if (round.cause === 'data-silence') this.detector.suspicionCleared(round.startedAt);
    this.planBackground(now, false);
  }

  private runRound(now: number): void {
    const r = this.round;
    if (r === undefined || now < r.nextAt) return;
    const key = this.nextToProbe(now, r);
    if (key === undefined) {
      // Nothing to probe right now (no pairs, or all waiting on answers): look again later.
      r.nextAt = now + this.pace(r.probesSent);
      return;
    }
    r.probedThisPass.add(key);
    r.probesSent++;
    r.nextAt = now + this.pace(r.probesSent);
    this.sendProbe(now, key, { purpose: 'round' });
  }

  /** The primary first, then candidates in search order; each once per pass. */
  private nextToProbe(now: number, r: Round): string | undefined {
    const busy = (k: string): boolean => this.poll.pendingOn(k, (t) => t.purpose !== 'report');
    while (r.fresh.length > 0) {
      const key = r.fresh.shift()!;
      if (this.pairs.has(key) && !busy(key)) return key;
    }
    const pick = (): string | undefined => {
      if (this.primaryKey !== undefined && !r.probedThisPass.has(this.primaryKey) && !busy(this.primaryKey)) return this.primaryKey;
      return this.searchOrder(now).find((k) => !r.probedThisPass.has(k) && !busy(k));
    };
    let key = pick();
    if (key === undefined && r.probedThisPass.size > 0) {
      r.probedThisPass.clear();
      key = pick();
    }
    return key;
  }

  /** Probe gaps: `quickProbes` at the base pace, then doubling, capped. */
  private pace(probesSent: number): number {
    const t = this.timing;
    if (probesSent < t.quickProbes) return t.paceMs;
    return Math.min(t.maxPaceMs, t.paceMs * 2 ** (probesSent - t.quickProbes + 1));
  }

  // ---- probes and their outcomes ----

  private sendProbe(now: number, key: string, tag: ProbeTag): void {
    const rec = this.pairs.get(key);
    if (rec === undefined) return;
    const replyWanted = tag.purpose !== 'report';
    const { probeId, report } = this.poll.send(now, rec.cand.pair, replyWanted, rec.rtt.rto(this.timing.rtt), tag);
    this.actions.push({ type: 'probe', pair: { ...rec.cand.pair }, probeId, report });
    if (key === this.primaryKey) this.detector.primaryProbed(now);
    if (replyWanted && (rec.state === 'untested' || rec.state === 'failed')) this.setPairState(rec, 'testing', rec.direction);
  }

  private verifyPrimary(now: number, cause: SelectionCause): void {
    const key = this.primaryKey;
    if (key === undefined) return;
    if (this.poll.pendingOn(key, (t) => t.purpose === 'verify')) {
      this.detector.primaryProbed(now); // one check at a time; it counts as this keepalive
      return;
    }
    this.sendProbe(now, key, { purpose: 'verify', cause });
  }

  /**
   * A test passed. `evidenceAt` is when the proof was sent: a report may name a probe sent
   * seconds ago, which says the pair worked then, not that it works now.
   */
  private pairOk(now: number, key: string, direction: PairDirection, rttMs: number | undefined, evidenceAt: number): void {
    const rec = this.pairs.get(key);
    if (rec === undefined) return;
    if ((rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > evidenceAt && direction !== 'bidirectional') return; // nothing new
    rec.history.lastOkAt = Math.max(rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY, evidenceAt);
    if (rttMs !== undefined) rec.rtt.sample(rttMs);
    if (direction === 'bidirectional') rec.lastAnsweredAt = now;
    // A report proves our direction only; until an answer fails to follow it (oneWayOnly),
    // what an earlier answer proved still stands.
    this.setPairState(rec, 'operational', direction === 'bidirectional' ? direction : rec.direction ?? 'outbound');
    if (rec.backgroundAt !== undefined) {
      rec.backgroundIntervalMs = this.timing.backgroundMinMs;
      rec.backgroundAt = this.timing.backupProbeMs > 0 ? now + this.timing.backupProbeMs : undefined;
    }
    if (key === this.primaryKey) {
      this.primaryConfirmedAt = Math.max(this.primaryConfirmedAt, evidenceAt);
      this.detector.primaryConfirmed(evidenceAt);
    }
    this.heldChecks.delete(key);
    const firstPassAsSpare = rec.appearedAsSpare;
    rec.appearedAsSpare = false;
    // Proof older than the search it would end is no proof for that search.
    if (this.round !== undefined && evidenceAt < this.round.startedAt) return;
    this.afterOk(now, key);
    if (firstPassAsSpare && this.round === undefined && this.current === 'primary-operational' && this.isSpare(key)) {
      this.actions.push({ type: 'spare', pair: { ...rec.cand.pair } });
    }
  }

  /** A pair that leaves the primary's interface or reaches another peer locator (not the primary). */
  private isSpare(key: string): boolean {
    const rec = this.pairs.get(key);
    const primary = this.primaryRecord();
    if (rec === undefined || primary === undefined || key === this.primaryKey) return false;
    return rec.cand.local.ifname !== primary.cand.local.ifname || rec.cand.remote.address !== primary.cand.remote.address;
  }

  /** Seed 003 "test OK" in each state. */
  private afterOk(now: number, key: string): void {
    const r = this.round;
    if (this.current === 'primary-operational' && r === undefined) {
      // Make-before-break: a preferred pair passed while the primary works.
      if (key !== this.primaryKey && !this.pinned && this.prefers(key, this.primaryKey)) {
        const left = this.primaryRecord();
        this.switchPrimary(now, key, 'better-pair', now);
        if (left !== undefined && left.cand.remote.relayed === true && left.cand.local.ifname !== this.primaryRecord()?.cand.local.ifname) this.keepRelayedCopies(left);
      }
      this.planBackground(now, false);
      return;
    }
    if (r === undefined) return;
    if (key === this.primaryKey) {
      this.endRound(now, r);
      this.setState('primary-operational', r.cause);
      return;
    }
    const primaryPending = this.primaryKey !== undefined && this.poll.pendingOn(this.primaryKey, (t) => t.purpose !== 'report');
    const better = !this.pinned && this.prefers(key, this.primaryKey);
    // An ICMP error said the primary is unreachable: its own check is not worth waiting for.
    if (this.primaryKey === undefined || !primaryPending || better || r.cause === 'icmp') {
      // Either the primary already failed this round (or is gone), or this pair is better
      // anyway: move. While the primary's own probe may still come back, a worse pair waits.
      this.adopt(now, this.bestOkSince(r.startedAt) ?? key, r);
    }
  }

  /**
   * Moving to a new uplink, off a working relayed pair through the old one, the relayed pair
   * carries a copy of the data for a while (the 'spare' action), as the relayed bridge does the
   * other way. One passed check does not make the new pair safe both ways yet: the peer's NAT
   * may keep our data out until its own packets have opened the mapping toward ours (its filter
   * state for us forgotten, or never opened by the check alone), and the relay still delivers
   * what the direct path drops. The peer's anti-replay window drops the copy that arrives
   * second. On one uplink there is no old path to keep: the relay and the direct pair leave
   * through the same NAT, and copies arriving from the relay would hold the peer there while
   * it waits for our direct packets to reach it.
   */
  private keepRelayedCopies(left: PairRecord): void {
    this.actions.push({ type: 'spare', pair: { ...left.cand.pair } });
  }

  /** Reported by the peer, but its answer never came back on the pair. */
  private oneWayOnly(probe: SentProbe<ProbeTag>): void {
    const rec = this.pairs.get(probe.key);
    if (rec === undefined || (rec.lastAnsweredAt ?? Number.NEGATIVE_INFINITY) >= probe.sentAt) return;
    this.setPairState(rec, rec.state, 'outbound');
  }

  private probeTimedOut(now: number, probe: SentProbe<ProbeTag>): void {
    if (probe.tag.purpose === 'report') return; // reports ask for nothing; silence proves nothing
    const rec = this.pairs.get(probe.key);
    if (rec === undefined) return;
    // A later success overrides an older probe's timeout.
    if ((rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > probe.sentAt) return;
    rec.history.lastFailAt = probe.sentAt;
    this.setPairState(rec, 'failed', rec.direction);
    if (probe.tag.purpose === 'background') {
      rec.backgroundIntervalMs = Math.min(this.timing.backgroundMaxMs, rec.backgroundIntervalMs * 2);
      if (rec.backgroundAt !== undefined) rec.backgroundAt = now + rec.backgroundIntervalMs;
      return;
    }
    const r = this.round;
    if (probe.key === this.primaryKey) {
      if (r === undefined) {
        // A keepalive, ICMP hint or peer test found the primary silent: search the others
        // (the primary just had its chance).
        this.startRound(now, probe.tag.cause ?? 'keepalive', now, true);
        return;
      }
      const best = this.bestOkSince(r.startedAt);
      if (best !== undefined) {
        this.adopt(now, best, r);
        return;
      }
    }
    if (r !== undefined && this.current !== 'no-primary' && this.allFailedSince(r.startedAt)) {
      // Seed 003: "last" pair failed. Keep the old primary as the best guess for sending.
      this.setState('no-primary', r.cause);
    }
  }

  private adopt(now: number, key: string, r: Round): void {
    if (key !== this.primaryKey) this.switchPrimary(now, key, r.cause, r.detectedAt);
    this.endRound(now, r);
    this.setState('primary-operational', r.cause);
  }

  private switchPrimary(now: number, key: string | undefined, cause: SelectionCause, detectedAt: number): void {
    const old = this.primary;
    const lastHeardAt = this.detector.heardAt;
    this.primaryKey = key;
    this.primaryPair = key === undefined ? undefined : { ...this.pairs.get(key)!.cand.pair };
    this.primaryConfirmedAt = Number.NEGATIVE_INFINITY;
    this.detector.restart(now);
    this.pinned = false;
    const next = this.primary;
    this.actions.push({ type: 'primary-changed', old, new: next, cause, gapMs: now - detectedAt, detectedAt, lastHeardAt, at: now });
    if (next === undefined) this.setState('no-primary', cause);
    this.planBackground(now, true);
  }

  // ---- background tests (make-before-break) ----

  /**
   * Which pairs to test while the primary works: those the policy prefers to it (so we move
   * up as soon as one works) and spares (a hot backup, seed 000 §3.2.1, so losing the
   * primary's interface or the peer's address needs no test before moving).
   */
  private planBackground(now: number, restart: boolean): void {
    const wanted = new Set<string>();
    const primary = this.primaryRecord();
    if (primary !== undefined) {
      // Spares: the best pair through each other local interface, and to each other peer
      // locator, so that losing either end of the primary leaves a tested way out. Through
      // another interface, the spare goes to the peer address that answers now: another address
      // the peer lists (its private one behind a port forward, say) may be unreachable, and a
      // spare that never passes is no way out. If that one just failed (the answering address is
      // on the primary's LAN), the interface's best pair is its spare instead.
      const spareIfs = new Set<string>([primary.cand.local.ifname]);
      const spareRemotes = new Set<string>([primary.cand.remote.address]);
      const byPref = [...this.pairs.entries()].sort(([, a], [, b]) => comparePreference(a.cand, b.cand));
      if (this.timing.backupProbeMs > 0) {
        for (const [key, rec] of byPref) {
          if (rec.cand.remote.address !== primary.cand.remote.address || spareIfs.has(rec.cand.local.ifname) || this.heldChecks.has(key)) continue;
          if (this.prefers(key, this.primaryKey) || testTier(rec.history, now, this.searchOpts()) === 2) continue;
          wanted.add(key);
          spareIfs.add(rec.cand.local.ifname);
        }
      }
      for (const [key, rec] of byPref) {
        if (key === this.primaryKey || this.heldChecks.has(key)) continue;
        if (this.prefers(key, this.primaryKey)) {
          wanted.add(key);
          continue;
        }
        if (this.timing.backupProbeMs <= 0) continue;
        const newIf = !spareIfs.has(rec.cand.local.ifname);
        const newRemote = !spareRemotes.has(rec.cand.remote.address);
        if (newIf || newRemote) wanted.add(key);
        spareIfs.add(rec.cand.local.ifname);
        spareRemotes.add(rec.cand.remote.address);
      }
    }
    for (const [key, rec] of this.pairs) {
      if (!wanted.has(key)) {
        rec.backgroundAt = undefined;
      } else if (rec.backgroundAt === undefined || restart) {
        // A spare that passed recently is next due a backup interval after that pass; anything
        // else is tested now.
        const fresh = testTier(rec.history, now, this.searchOpts()) === 0 && !this.prefers(key, this.primaryKey);
        rec.backgroundAt = fresh ? Math.max(now, rec.history.lastOkAt! + this.timing.backupProbeMs) : now;
        if (restart) rec.backgroundIntervalMs = this.timing.backgroundMinMs;
      }
    }
  }

  private runBackground(now: number): void {
    if (now < this.lastBackgroundAt + this.timing.paceMs) return;
    const due: [string, PairRecord][] = [];
    for (const [k, rec] of this.pairs) {
      if (rec.backgroundAt === undefined || rec.backgroundAt > now) continue;
      // Already being probed (a search left a probe out): look again once that one is done.
      if (this.poll.pendingOn(k)) rec.backgroundAt = now + rec.rtt.rto(this.timing.rtt);
      else due.push([k, rec]);
    }
    due.sort(([, a], [, b]) => comparePreference(a.cand, b.cand));
    const first = due[0];
    if (first === undefined) return;
    const [key, rec] = first;
    this.lastBackgroundAt = now;
    // Until the outcome reschedules it, wait as long as the probe may take.
    rec.backgroundAt = now + rec.rtt.rto(this.timing.rtt);
    this.sendProbe(now, key, { purpose: 'background' });
  }

  // ---- helpers ----

  private prefers(key: string, than: string | undefined): boolean {
    if (than === undefined) return true;
    const a = this.pairs.get(key);
    const b = this.pairs.get(than);
    if (a === undefined) return false;
    if (b === undefined) return true;
    return comparePreference(a.cand, b.cand) < 0;
  }

  private bestOkSince(since: number): string | undefined {
    let best: string | undefined;
    for (const [key, rec] of this.pairs) {
      const ok = rec.history.lastOkAt;
      if (ok === undefined || ok < since || (rec.history.lastFailAt ?? Number.NEGATIVE_INFINITY) > ok) continue;
      if (best === undefined || this.prefers(key, best)) best = key;
    }
    return best;
  }

  private bestFreshOk(now: number): string | undefined {
    return this.bestOkSince(now - this.timing.freshOkMs);
  }

  private allFailedSince(since: number): boolean {
    for (const rec of this.pairs.values()) {
      const fail = rec.history.lastFailAt ?? Number.NEGATIVE_INFINITY;
      if (fail < since || (rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > fail) return false;
    }
    return true;
  }

  private searchOpts(): { freshOkMs: number; failMemoryMs: number } {
    return { freshOkMs: this.timing.freshOkMs, failMemoryMs: this.timing.failMemoryMs };
  }

  private searchOrder(now: number): string[] {
    const opts = this.searchOpts();
    return [...this.pairs.entries()]
      .map(([key, rec]) => ({ key, ...rec.cand, history: rec.history }))
      .sort((a, b) => compareSearch(a, b, now, opts))
      .map((c) => c.key);
  }

  private primaryRecord(): PairRecord | undefined {
    return this.primaryKey === undefined ? undefined : this.pairs.get(this.primaryKey);
  }

  /**
   * The peer's packets arrived on `pair`. When that way in had been quiet, something changed
   * on the path (it healed, or the peer found it): a search that has backed off starts its
   * quick probes again. A pair heard steadily never does this, so two hosts probing dead paths
   * cannot keep resetting each other.
   */
  /** The peer's packets came in on `pair`: the inbound pair (seed 003 §5.4), heard now. */
  inboundSeen(now: number, pair: LocatorPair): void {
    this.noteInbound(now, pair);
  }

  private noteInbound(now: number, pair: LocatorPair): void {
    this.inboundPair = { ...pair };
    const rec = this.pairs.get(pairKey(pair));
    if (rec === undefined) return;
    const quietFor = now - (rec.lastHeardAt ?? Number.NEGATIVE_INFINITY);
    rec.lastHeardAt = now;
    const r = this.round;
    if (r !== undefined && quietFor > 2 * this.timing.maxPaceMs && r.probesSent > this.timing.quickProbes) {
      r.probesSent = 0;
      r.nextAt = Math.min(r.nextAt, now + this.timing.paceMs);
    }
  }

  private setState(to: SelectionState, cause: SelectionCause): void {
    if (to === this.current) return;
    this.actions.push({ type: 'state', from: this.current, to, cause });
    this.current = to;
  }

  private setPairState(rec: PairRecord, state: PairTestState, direction: PairDirection | undefined): void {
    if (rec.state === state && rec.direction === direction) return;
    rec.state = state;
    rec.direction = direction;
    this.actions.push({ type: 'pair-state', pair: { ...rec.cand.pair }, state, direction, rttMs: rec.rtt.srtt });
  }
}
