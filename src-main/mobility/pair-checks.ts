// The checks of one peer's candidate pairs, below the choice pair-selection.ts makes from them:
// the pair records, the Poll session (poll.ts) that carries the probes, the pairs held out of
// background checks, and what each probe's outcome writes into its pair's record. It emits the
// 'probe' and 'pair-state' actions; which pair becomes primary is not its business. Sans-IO.

import type { Candidate, LocatorPair } from './pair-order.js';
import { pairKey } from './pair-order.js';
import { RttEstimator } from './failure-detection.js';
import type { SentProbe } from './poll.js';
import { PollSession } from './poll.js';
import type { CandidateChanges, PairRecord, PairRecords } from './candidate-pairs.js';
import { applyCandidates, newPairRecord } from './candidate-pairs.js';
import { backOffBackground, passedBackground } from './background-checks.js';
import type { PairDirection, PairTestState, SelectionAction, SelectionCause } from './selection-events.js';
import type { SelectionTiming } from './selection-timing.js';

export type ProbePurpose = 'round' | 'verify' | 'background' | 'report';

export interface ProbeTag {
  purpose: ProbePurpose;
  /** For 'verify': what made us check the primary. */
  cause?: SelectionCause;
}

/**
 * A probe already in flight on a pair the peer's probe just came in on was most likely sent
 * before the peer's NAT let anything in (both sides punch at once): the pair is tested again
 * (RFC 8445 §7.3.1.4 does the same for an in-progress pair), but only this often, so two hosts
 * cannot bounce triggered checks off each other.
 */
const TRIGGERED_CHECK_MIN_MS = 1_000;

export class PairChecks {
  readonly pairs: PairRecords = new Map();
  /** Pairs the background tests leave alone until the candidates change or the pair passes (hold). */
  readonly held = new Set<string>();
  readonly poll: PollSession<ProbeTag>;

  constructor(private readonly timing: () => SelectionTiming, private readonly emit: (a: SelectionAction) => void) {
    this.poll = new PollSession<ProbeTag>(timing().poll);
  }

  /** The records follow the candidates: new ones untested, gone ones dropped with their hold. */
  follow(next: ReadonlyMap<string, Candidate>, appearedAsSpare: boolean): CandidateChanges {
    const changes = applyCandidates(this.pairs, next, (cand) => newPairRecord(cand, this.timing().backgroundMinMs, appearedAsSpare));
    for (const key of changes.removed) this.held.delete(key);
    return changes;
  }

  /** Probes the pair; false when there is no such pair. */
  send(now: number, key: string, tag: ProbeTag): boolean {
    const rec = this.pairs.get(key);
    if (rec === undefined) return false;
    const replyWanted = tag.purpose !== 'report';
    const { probeId, report } = this.poll.send(now, rec.cand.pair, replyWanted, rec.rtt.rto(this.timing().rtt), tag);
    this.emit({ type: 'probe', pair: { ...rec.cand.pair }, probeId, report });
    if (replyWanted && (rec.state === 'untested' || rec.state === 'failed')) this.setPairState(rec, 'testing', rec.direction);
    return true;
  }

  /** The pair is unknown, or its latest test went unanswered and nothing has passed since. */
  failedOrGone(key: string | undefined): boolean {
    const rec = key === undefined ? undefined : this.pairs.get(key);
    return rec === undefined || rec.state === 'failed';
  }

  /** A probe that wants an answer is in flight on the pair. */
  awaitingAnswer(key: string): boolean {
    return this.poll.pendingOn(key, (t) => t.purpose !== 'report');
  }

  /**
   * A test passed; the pair's record, or undefined when the pair is unknown or the proof is
   * nothing new. `evidenceAt` is when the proof was sent: a report may name a probe sent
   * seconds ago, which says the pair worked then, not that it works now.
   */
  recordPass(now: number, key: string, direction: PairDirection, rttMs: number | undefined, evidenceAt: number): PairRecord | undefined {
    const rec = this.pairs.get(key);
    if (rec === undefined) return undefined;
    if ((rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > evidenceAt && direction !== 'bidirectional') return undefined;
    rec.history.lastOkAt = Math.max(rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY, evidenceAt);
    if (rttMs !== undefined) rec.rtt.sample(rttMs);
    if (direction === 'bidirectional') rec.lastAnsweredAt = now;
    // A report proves our direction only; until an answer fails to follow it (oneWayOnly),
    // what an earlier answer proved still stands.
    this.setPairState(rec, 'operational', direction === 'bidirectional' ? direction : rec.direction ?? 'outbound');
    passedBackground(rec, now, this.timing());
    this.held.delete(key);
    return rec;
  }

  /**
   * A probe went unanswered. True when that is a failed test the choice of primary must hear of:
   * not for a report (it asks for nothing, so silence proves nothing), a pair since passed, or a
   * background check (it only backs off).
   */
  recordTimeout(now: number, probe: SentProbe<ProbeTag>): boolean {
    if (probe.tag.purpose === 'report') return false;
    const rec = this.pairs.get(probe.key);
    if (rec === undefined) return false;
    // A later success overrides an older probe's timeout.
    if ((rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > probe.sentAt) return false;
    rec.history.lastFailAt = probe.sentAt;
    this.setPairState(rec, 'failed', rec.direction);
    if (probe.tag.purpose !== 'background') return true;
    backOffBackground(rec, now, this.timing());
    return false;
  }

  /** Whether a triggered check of the pair may go out now (see TRIGGERED_CHECK_MIN_MS); if so, it is noted as sent. */
  triggerCheck(now: number, key: string): boolean {
    const rec = this.pairs.get(key);
    if (rec === undefined) return false;
    if (this.awaitingAnswer(key) && rec.triggeredAt !== undefined && now - rec.triggeredAt < TRIGGERED_CHECK_MIN_MS) return false;
    rec.triggeredAt = now;
    return true;
  }

  /** Reported by the peer, but its answer never came back on the pair. */
  oneWayOnly(probe: SentProbe<ProbeTag>): void {
    const rec = this.pairs.get(probe.key);
    if (rec === undefined || (rec.lastAnsweredAt ?? Number.NEGATIVE_INFINITY) >= probe.sentAt) return;
    this.setPairState(rec, rec.state, 'outbound');
  }

  /** Holds those of `pairs` that are known, not `primaryKey` and not operational; how many. */
  hold(pairs: readonly LocatorPair[], primaryKey: string | undefined): number {
    let count = 0;
    for (const p of pairs) {
      const key = pairKey(p);
      const rec = this.pairs.get(key);
      if (rec === undefined || key === primaryKey || rec.state === 'operational') continue;
      this.held.add(key);
      rec.backgroundAt = undefined;
      count++;
    }
    return count;
  }

  /** The pairs to `remote` start over as untested, unheld, due now if planned; their keys. */
  forgetTests(now: number, remote: string): string[] {
    const keys = [...this.pairs.entries()].filter(([, rec]) => rec.cand.pair.remote === remote).map(([key]) => key);
    for (const key of keys) {
      const rec = this.pairs.get(key)!;
      rec.history = {};
      rec.rtt = new RttEstimator();
      rec.backgroundIntervalMs = this.timing().backgroundMinMs;
      this.held.delete(key);
      if (rec.backgroundAt !== undefined) rec.backgroundAt = now;
    }
    return keys;
  }

  /** The peer's packets arrived on `pair`: how long that way in had been quiet (undefined: no such pair). */
  heard(now: number, pair: LocatorPair): number | undefined {
    const rec = this.pairs.get(pairKey(pair));
    if (rec === undefined) return undefined;
    const quietFor = now - (rec.lastHeardAt ?? Number.NEGATIVE_INFINITY);
    rec.lastHeardAt = now;
    return quietFor;
  }

  private setPairState(rec: PairRecord, state: PairTestState, direction: PairDirection | undefined): void {
    if (rec.state === state && rec.direction === direction) return;
    rec.state = state;
    rec.direction = direction;
    this.emit({ type: 'pair-state', pair: { ...rec.cand.pair }, state, direction, rttMs: rec.rtt.srtt });
  }
}
