// The candidate pairs of one peer as pair selection (pair-selection.ts) keeps them: each pair's
// test record, how the records follow the locator lists, the questions the state machine asks
// of them (which pair is preferred, which passed since when, the search order, which is a
// spare) and the rows status shows. Pure: the records are data the caller owns and schedules.

import type { Candidate, PairLocal, LocatorPair, PeerLocator, SearchOrderOptions, TestHistory } from './pair-order.js';
import { buildCandidates, comparePreference, compareSearch, pairKey, testTier } from './pair-order.js';
import { RttEstimator } from './failure-detection.js';
import type { PairDirection, PairStatus, PairTestState } from './selection-events.js';

export interface PairRecord {
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

/** The records by pairKey. */
export type PairRecords = Map<string, PairRecord>;

const UNKNOWN_LOCAL_RANK = 1_000;

/** The pairs our and the peer's locators form; the connect pair stands in for lists not reported yet. */
export function candidatesFor(
  locals: readonly PairLocal[] | undefined, remotes: readonly PeerLocator[] | undefined, seed: LocatorPair | undefined,
): Map<string, Candidate> {
  const ls = locals ?? (seed ? [{ address: seed.local, ifname: '', kind: 'other' as const, operational: true, preferenceRank: UNKNOWN_LOCAL_RANK }] : []);
  const rs = remotes ?? (seed ? [{ address: seed.remote, preferred: false }] : []);
  return new Map(buildCandidates(ls, rs).map((c) => [pairKey(c.pair), c] as const));
}

export function newPairRecord(cand: Candidate, backgroundIntervalMs: number, appearedAsSpare: boolean): PairRecord {
  return {
    cand, rtt: new RttEstimator(), history: {}, state: 'untested', direction: undefined,
    lastAnsweredAt: undefined, lastHeardAt: undefined, backgroundAt: undefined, backgroundIntervalMs, appearedAsSpare,
  };
}

export interface CandidateChanges {
  removed: string[];
  added: string[];
  /** A kept pair's rank, Preferred bit, metering or relaying changed. */
  policyChanged: boolean;
}

/** Brings `pairs` in line with `next`: records of pairs gone are dropped, new ones made by `create`. */
export function applyCandidates(pairs: PairRecords, next: ReadonlyMap<string, Candidate>, create: (cand: Candidate) => PairRecord): CandidateChanges {
  const removed: string[] = [];
  for (const key of [...pairs.keys()]) {
    if (next.has(key)) continue;
    pairs.delete(key);
    removed.push(key);
  }
  const added: string[] = [];
  let policyChanged = false;
  for (const [key, cand] of next) {
    const rec = pairs.get(key);
    if (rec === undefined) {
      pairs.set(key, create(cand));
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
  return { removed, added, policyChanged };
}

/** Whether the policy prefers the pair at `key` to the one at `than` (any pair beats none). */
export function prefers(pairs: ReadonlyMap<string, PairRecord>, key: string, than: string | undefined): boolean {
  if (than === undefined) return true;
  const a = pairs.get(key);
  const b = pairs.get(than);
  if (a === undefined) return false;
  if (b === undefined) return true;
  return comparePreference(a.cand, b.cand) < 0;
}

/** The preferred pair among those whose last test, at or after `since`, passed. */
export function bestOkSince(pairs: ReadonlyMap<string, PairRecord>, since: number): string | undefined {
  let best: string | undefined;
  for (const [key, rec] of pairs) {
    const ok = rec.history.lastOkAt;
    if (ok === undefined || ok < since || (rec.history.lastFailAt ?? Number.NEGATIVE_INFINITY) > ok) continue;
    if (best === undefined || prefers(pairs, key, best)) best = key;
  }
  return best;
}

export function allFailedSince(pairs: ReadonlyMap<string, PairRecord>, since: number): boolean {
  for (const rec of pairs.values()) {
    const fail = rec.history.lastFailAt ?? Number.NEGATIVE_INFINITY;
    if (fail < since || (rec.history.lastOkAt ?? Number.NEGATIVE_INFINITY) > fail) return false;
  }
  return true;
}

export function searchOrder(pairs: ReadonlyMap<string, PairRecord>, now: number, opts: SearchOrderOptions): string[] {
  return [...pairs.entries()]
    .map(([key, rec]) => ({ key, ...rec.cand, history: rec.history }))
    .sort((a, b) => compareSearch(a, b, now, opts))
    .map((c) => c.key);
}

/** The records sorted by preference, with their keys. */
export function byPreference(pairs: ReadonlyMap<string, PairRecord>): [string, PairRecord][] {
  return [...pairs.entries()].sort(([, a], [, b]) => comparePreference(a.cand, b.cand));
}

/**
 * What takes over from a deleted primary: a pair that passed recently, else the first in search
 * order that is an address the peer was heard from or verified at (data is not sent on the
 * strength of a listing alone: the one rule for a peer's new address), else the first.
 */
export function successorOfDeleted(pairs: ReadonlyMap<string, PairRecord>, now: number, opts: SearchOrderOptions): string | undefined {
  const fresh = byPreference(pairs).filter(([, rec]) => testTier(rec.history, now, opts) === 0);
  const guesses = searchOrder(pairs, now, opts);
  return fresh[0]?.[0] ?? guesses.find((key) => pairs.get(key)?.cand.remote.listedOnly !== true) ?? guesses[0];
}

/** A pair that leaves the primary's interface or reaches another peer locator (not the primary). */
export function isSpare(pairs: ReadonlyMap<string, PairRecord>, key: string, primaryKey: string | undefined): boolean {
  const rec = pairs.get(key);
  const primary = primaryKey === undefined ? undefined : pairs.get(primaryKey);
  if (rec === undefined || primary === undefined || key === primaryKey) return false;
  return rec.cand.local.ifname !== primary.cand.local.ifname || rec.cand.remote.address !== primary.cand.remote.address;
}

/**
 * The relayed pair that bridges a change of locators (seed 000 §5.1.2): a new uplink of ours or
 * a new locator of the peer's while a direct primary works may be there because the old one is
 * going, and the direct pairs it brings may never pass (a symmetric NAT on the new side). The
 * relayed pair that best survives the primary (another interface of ours first) is tested at
 * once, and its pass copies the data onto it for a while like any new spare's, so traffic
 * arrives through the relay while the direct pairs are checked or after the primary died.
 */
export function relayBridge(pairs: ReadonlyMap<string, PairRecord>, primaryKey: string): string | undefined {
  const primary = pairs.get(primaryKey);
  if (primary === undefined) return undefined;
  const otherIf = (rec: PairRecord): number => (rec.cand.local.ifname === primary.cand.local.ifname ? 1 : 0);
  return [...pairs.entries()]
    .filter(([key, rec]) => key !== primaryKey && rec.cand.remote.relayed === true)
    .sort(([, a], [, b]) => otherIf(a) - otherIf(b) || comparePreference(a.cand, b.cand))[0]?.[0];
}

/** The status rows, in preference order. */
export function pairStatuses(pairs: ReadonlyMap<string, PairRecord>, primaryKey: string | undefined, held: ReadonlySet<string>): PairStatus[] {
  return [...pairs.values()]
    .sort((a, b) => comparePreference(a.cand, b.cand))
    .map((rec) => ({
      pair: { ...rec.cand.pair },
      ifname: rec.cand.local.ifname,
      kind: rec.cand.local.kind,
      state: rec.state,
      direction: rec.direction,
      primary: pairKey(rec.cand.pair) === primaryKey,
      rttMs: rec.rtt.srtt,
      lastOkAt: rec.history.lastOkAt,
      lastFailAt: rec.history.lastFailAt,
      lastHeardAt: rec.lastHeardAt,
      checksHeld: held.has(pairKey(rec.cand.pair)),
    }));
}
