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
// The search when the primary is in doubt (a "round", search-round.ts) probes one pair at a time,
// as seed 003 §5.3 requires against signalling storms, but bounded: 16 pairs are all tried within
// 20 s, not the 3,200 s that seed 003 warns of; a pair that appears is probed at once whatever
// the back-off reached, and so is the reverse of a pair a peer's probe just arrived on.
//
// Each side chooses its own outbound pair (seed 003 §5.2): a pair the peer's reports prove to
// carry our packets is usable even if nothing comes back on it, so A→B and B→A may use pairs
// that are not the reverse of each other.
//
// Make-before-break: while the primary works, preferred pairs and spares are tested in the
// background (background-checks.ts); a preferred pair that passes becomes primary at once (nothing was broken, so nothing is lost), and when the
// primary's interface goes away a recently tested spare takes over without waiting for a test.
// A spare that appeared while the primary works (a new uplink or peer address is the sign that
// the old one may be going: phones bring cellular up as Wi-Fi fades) also carries a copy of the
// data for a while once it passes its first test (the 'spare' action): packets in flight on the
// primary when it dies then arrive on the spare. Not while the primary is merely in doubt: the
// copies reaching the peer would hide the failure from the peer's own detection, which must
// move its direction too.

import type { PairLocal, LocatorPair, PeerLocator } from './pair-order.js';
import { pairKey } from './pair-order.js';
import type { DetectionPolicy } from './failure-detection.js';
import { FailureDetector } from './failure-detection.js';
import type { SentProbe } from './poll.js';
import type { PairRecord } from './candidate-pairs.js';
import {
  allFailedSince, bestOkSince, candidatesFor, isSpare, pairStatuses, prefers, relayBridge, searchOrder, successorOfDeleted,
} from './candidate-pairs.js';
import type { BackgroundScope } from './background-checks.js';
import { nextBackgroundDue, planBackground, takeDueBackgroundCheck } from './background-checks.js';
import type { ProbeTag } from './pair-checks.js';
import { PairChecks } from './pair-checks.js';
import type { Round } from './search-round.js';
import { heardAfterQuiet, newRound, nextToProbe, probeFirst, probeGap } from './search-round.js';
import type {
  IcmpHintOutcome, PairDirection, SelectionAction, SelectionCause, SelectionState, SelectionStatus,
} from './selection-events.js';
import type { SelectionTiming } from './selection-timing.js';
import { DEFAULT_TIMING, searchMemory } from './selection-timing.js';

export type {
  IcmpHintOutcome, PairDirection, PairStatus, PairTestState, SelectionAction, SelectionCause, SelectionState, SelectionStatus,
} from './selection-events.js';
export { DEFAULT_TIMING, type SelectionTiming } from './selection-timing.js';

export class PairSelection {
  private timing: SelectionTiming;
  private detector: FailureDetector;
  private readonly actions: SelectionAction[] = [];
  private readonly checks: PairChecks;
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
    this.checks = new PairChecks(() => this.timing, (a) => this.actions.push(a));
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
      if (this.checks.pairs.has(key)) {
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
    const probe = this.checks.poll.answered(probeId);
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
    const res = this.checks.poll.received(now, probeId, report);
    // Newest first, so each pair is credited with its most recent evidence.
    const byKey = new Set<string>();
    for (const probe of [...res.confirmed].sort((x, y) => y.sentAt - x.sentAt)) {
      if (!byKey.has(probe.key)) {
        byKey.add(probe.key);
        this.pairOk(now, probe.key, 'outbound', undefined, probe.sentAt);
      }
      // Reported after its answer was already overdue: the pair works our way only.
      if (probe.expired) this.checks.oneWayOnly(probe);
    }
    if (res.duplicate || !res.replyWanted) return;
    const arrivalKey = pairKey(pair);
    if (this.round !== undefined) {
      // A triggered check (as ICE does, RFC 8445 §7.3.1.4): the peer's packets come in on
      // this pair, so its reverse is the likeliest way out; test it now, out of turn. It
      // carries the report too. One probe per probe of the peer's at most: no storm.
      if (this.checks.pairs.has(arrivalKey) && !this.checks.awaitingAnswer(arrivalKey)) {
        this.round.probedThisPass.add(arrivalKey);
        this.sendProbe(now, arrivalKey, { purpose: 'round' });
        return;
      }
    }
    if (this.primaryKey === undefined) return;
    if (this.round === undefined && !this.pinned && this.checks.pairs.has(arrivalKey) && arrivalKey !== this.primaryKey && this.prefers(arrivalKey, this.primaryKey)
      && this.checks.triggerCheck(now, arrivalKey)) {
      // A triggered check outside a search: the peer's probe came in on a pair we would rather
      // use (a direct path while the relay carries the traffic). Its reverse most likely works
      // now that the peer's packets passed both NATs, so it is tested now, not at the next
      // background slot; if it passes it becomes primary like any better pair.
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
    const held = this.checks.hold(pairs, this.primaryKey);
    this.planBackground(now, false);
    return held;
  }

  /**
   * The peer's locator at `remote` moved to a new port (its NAT mapped it afresh): the pairs to
   * it are new candidates whatever their test history or a hold says, and are checked now, first.
   */
  recheck(now: number, remote: string): void {
    const keys = this.checks.forgetTests(now, remote);
    if (keys.length === 0) return;
    const r = this.round;
    if (r !== undefined) {
      probeFirst(r, keys, now);
      this.runRound(now);
    } else {
      this.planBackground(now, true);
      this.runBackground(now);
    }
  }

  releaseChecks(now: number): void {
    if (this.checks.held.size === 0) return;
    this.checks.held.clear();
    this.planBackground(now, true);
  }

  /**
   * The peer holds the association now (we answered its base exchange, and its first packet
   * under the new keys arrived): probes we sent before it had our R2 were most likely dropped
   * unread, so each pair still waiting on one is tested again now, not after that probe's
   * timeout and the back-off after it. The primary proved itself in the exchange.
   */
  peerConfirmed(now: number): void {
    const waiting = [...this.checks.pairs.keys()].filter((key) => key !== this.primaryKey && this.checks.awaitingAnswer(key));
    for (const key of waiting) this.sendProbe(now, key, { purpose: this.round === undefined ? 'background' : 'round' });
  }

  /** Move now: to `to`, or to the best alternative. False when there is nowhere to go. */
  failover(now: number, to?: LocatorPair): boolean {
    let key: string | undefined;
    if (to !== undefined) {
      key = pairKey(to);
      if (!this.checks.pairs.has(key)) return false;
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
    const expired = this.checks.poll.expire(now);
    for (const probe of expired.oneWay) this.checks.oneWayOnly(probe);
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
    let next = this.checks.poll.nextDeadline() ?? Number.POSITIVE_INFINITY;
    if (this.round !== undefined) next = Math.min(next, this.round.nextAt);
    else if (this.current === 'primary-operational' && this.primaryKey !== undefined) {
      next = Math.min(next, this.detector.nextDeadline(this.primaryRecord()?.rtt.srtt));
      next = Math.min(next, nextBackgroundDue(this.checks.pairs, this.lastBackgroundAt, this.timing.paceMs));
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
    const pairs = pairStatuses(this.checks.pairs, this.primaryKey, this.checks.held);
    return { state: this.current, primary: this.primary, inbound: this.inboundPair && { ...this.inboundPair }, pairs };
  }

  // ---- candidates ----

  private recompute(now: number): void {
    const next = candidatesFor(this.locals, this.remotes, this.seedPair);
    const appearedAsSpare = this.connected && this.primaryKey !== undefined && this.current === 'primary-operational';
    const { removed, added, policyChanged } = this.checks.follow(next, appearedAsSpare);
    if (this.primaryKey !== undefined && removed.includes(this.primaryKey)) this.primaryDeleted(now);
    if (added.length > 0) this.pairsAdded(now, added);
    if (policyChanged) this.policyChanged(now);
    this.planBackground(now, added.length > 0 || policyChanged);
    if (added.length > 0) this.bridgeThroughRelay(now);
  }

  /** A relayed pair bridges the change of locators (see relayBridge): tested at once, a spare when it passes. */
  private bridgeThroughRelay(now: number): void {
    const primary = this.primaryRecord();
    if (primary === undefined || primary.cand.remote.relayed === true || this.round !== undefined || this.current !== 'primary-operational') return;
    const key = relayBridge(this.checks.pairs, this.primaryKey!);
    if (key === undefined) return;
    this.checks.pairs.get(key)!.appearedAsSpare = true;
    if (!this.checks.awaitingAnswer(key)) this.sendProbe(now, key, { purpose: 'background' });
  }

  /**
   * Seed 003: delete pair. A recent spare takes over at once; otherwise test the best guess,
   * which is an address the peer was heard from or verified at when there is one: data is not
   * sent on the strength of a listing alone (the one rule for a peer's new address).
   */
  private primaryDeleted(now: number): void {
    this.pinned = false;
    if (this.round !== undefined) this.endRound(now, this.round);
    this.switchPrimary(now, successorOfDeleted(this.checks.pairs, now, searchMemory(this.timing)), 'pair-deleted', now);
    this.startRound(now, 'pair-deleted', now);
  }

  /** Seed 003: add pair. Acts at once only while we lack a working primary. */
  private pairsAdded(now: number, keys: string[]): void {
    if (this.round === undefined && this.current === 'no-primary' && this.connected) this.startRound(now, 'pair-added', now);
    const r = this.round;
    if (r === undefined) return;
    probeFirst(r, keys, now);
    this.runRound(now);
  }

  /** Seed 003: policy change. Move now to a preferred pair known to work; test the others. */
  private policyChanged(now: number): void {
    if (this.current !== 'primary-operational' || this.pinned) return;
    const best = bestOkSince(this.checks.pairs, now - this.timing.freshOkMs);
    if (best !== undefined && best !== this.primaryKey && this.prefers(best, this.primaryKey)) {
      this.switchPrimary(now, best, 'policy', now);
    }
  }

  // ---- the search ----

  /** `primaryJustFailed`: its probe timed out a moment ago, so start with the alternatives. */
  private startRound(now: number, cause: SelectionCause, detectedAt: number, primaryJustFailed = false): void {
    if (this.round !== undefined) return;
    // The user's choice survives a search that confirms it; it ends when the primary moves.
    this.round = newRound(now, cause, detectedAt, primaryJustFailed ? this.primaryKey : undefined);
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
    const key = nextToProbe(r, {
      exists: (k) => this.checks.pairs.has(k), busy: (k) => this.checks.awaitingAnswer(k), primaryKey: this.primaryKey, searchOrder: () => this.searchOrder(now),
    });
    if (key === undefined) {
      // Nothing to probe right now (no pairs, or all waiting on answers): look again later.
      r.nextAt = now + probeGap(this.timing, r.probesSent);
      return;
    }
    r.probedThisPass.add(key);
    r.probesSent++;
    r.nextAt = now + probeGap(this.timing, r.probesSent);
    this.sendProbe(now, key, { purpose: 'round' });
  }

  // ---- probes and their outcomes ----

  private sendProbe(now: number, key: string, tag: ProbeTag): void {
    if (this.checks.send(now, key, tag) && key === this.primaryKey) this.detector.primaryProbed(now);
  }

  private verifyPrimary(now: number, cause: SelectionCause): void {
    const key = this.primaryKey;
    if (key === undefined) return;
    if (this.checks.poll.pendingOn(key, (t) => t.purpose === 'verify')) {
      this.detector.primaryProbed(now); // one check at a time; it counts as this keepalive
      return;
    }
    this.sendProbe(now, key, { purpose: 'verify', cause });
  }

  /** A test passed (see PairChecks.recordPass). */
  private pairOk(now: number, key: string, direction: PairDirection, rttMs: number | undefined, evidenceAt: number): void {
    const rec = this.checks.recordPass(now, key, direction, rttMs, evidenceAt);
    if (rec === undefined) return;
    if (key === this.primaryKey) {
      this.primaryConfirmedAt = Math.max(this.primaryConfirmedAt, evidenceAt);
      this.detector.primaryConfirmed(evidenceAt);
    }
    const firstPassAsSpare = rec.appearedAsSpare;
    rec.appearedAsSpare = false;
    // Proof older than the search it would end is no proof for that search.
    if (this.round !== undefined && evidenceAt < this.round.startedAt) return;
    this.afterOk(now, key);
    if (firstPassAsSpare && this.round === undefined && this.current === 'primary-operational' && isSpare(this.checks.pairs, key, this.primaryKey)) {
      this.actions.push({ type: 'spare', pair: { ...rec.cand.pair } });
    }
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
    const better = !this.pinned && this.prefers(key, this.primaryKey);
    // An ICMP error said the primary is unreachable: its own check is not worth waiting for.
    if (this.checks.failedOrGone(this.primaryKey) || better || r.cause === 'icmp') {
      // Either the primary failed its test (or is gone), or this pair is better anyway: move.
      // Until the primary's test has an outcome a worse pair waits, and so does one the user's
      // choice outranks. A probe the peer reported but has not answered yet is no failure:
      // our packets got through, and the round tests the primary again if no answer comes.
      this.adopt(now, bestOkSince(this.checks.pairs, r.startedAt) ?? key, r);
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

  private probeTimedOut(now: number, probe: SentProbe<ProbeTag>): void {
    if (!this.checks.recordTimeout(now, probe)) return;
    const r = this.round;
    if (probe.key === this.primaryKey) {
      if (r === undefined) {
        // A keepalive, ICMP hint or peer test found the primary silent: search the others
        // (the primary just had its chance).
        this.startRound(now, probe.tag.cause ?? 'keepalive', now, true);
        return;
      }
      const best = bestOkSince(this.checks.pairs, r.startedAt);
      if (best !== undefined) {
        this.adopt(now, best, r);
        return;
      }
    }
    if (r !== undefined && this.current !== 'no-primary' && allFailedSince(this.checks.pairs, r.startedAt)) {
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
    this.primaryPair = key === undefined ? undefined : { ...this.checks.pairs.get(key)!.cand.pair };
    this.primaryConfirmedAt = Number.NEGATIVE_INFINITY;
    this.detector.restart(now);
    this.pinned = false;
    const next = this.primary;
    this.actions.push({ type: 'primary-changed', old, new: next, cause, gapMs: now - detectedAt, detectedAt, lastHeardAt, at: now });
    if (next === undefined) this.setState('no-primary', cause);
    this.planBackground(now, true);
  }

  // ---- background tests (make-before-break) ----

  private planBackground(now: number, restart: boolean): void {
    planBackground(this.backgroundScope(), now, restart);
  }

  private backgroundScope(): BackgroundScope {
    return { pairs: this.checks.pairs, primaryKey: this.primaryKey, heldChecks: this.checks.held, timing: this.timing };
  }

  private runBackground(now: number): void {
    if (now < this.lastBackgroundAt + this.timing.paceMs) return;
    const key = takeDueBackgroundCheck(this.backgroundScope(), now, (k) => this.checks.poll.pendingOn(k));
    if (key === undefined) return;
    this.lastBackgroundAt = now;
    this.sendProbe(now, key, { purpose: 'background' });
  }

  // ---- helpers ----

  private prefers(key: string, than: string | undefined): boolean {
    return prefers(this.checks.pairs, key, than);
  }

  private searchOrder(now: number): string[] {
    return searchOrder(this.checks.pairs, now, searchMemory(this.timing));
  }

  private primaryRecord(): PairRecord | undefined {
    return this.primaryKey === undefined ? undefined : this.checks.pairs.get(this.primaryKey);
  }

  /** The peer's packets came in on `pair`: the inbound pair (seed 003 §5.4), heard now. */
  inboundSeen(now: number, pair: LocatorPair): void {
    this.noteInbound(now, pair);
  }

  private noteInbound(now: number, pair: LocatorPair): void {
    this.inboundPair = { ...pair };
    const quietFor = this.checks.heard(now, pair);
    if (quietFor !== undefined && this.round !== undefined) heardAfterQuiet(this.round, quietFor, now, this.timing);
  }

  private setState(to: SelectionState, cause: SelectionCause): void {
    if (to === this.current) return;
    this.actions.push({ type: 'state', from: this.current, to, cause });
    this.current = to;
  }
}
