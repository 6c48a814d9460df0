// One search of pair selection (a "round"), started when the primary is in doubt: which pair
// to probe next and how long to wait before the one after. The primary first (unless a probe
// of it just failed), pairs that appeared during the search before anything else, then the
// candidates in search order, each once per pass; the first `quickProbes` gaps are `paceMs`
// (RFC 9028 Ta), then they double up to `maxPaceMs`. Pure: pair-selection.ts sends the probes.

import type { SelectionCause } from './selection-events.js';
import type { SelectionTiming } from './selection-timing.js';

export interface Round {
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

/** `skip`: a pair already probed this pass (the primary, whose probe just failed). */
export function newRound(now: number, cause: SelectionCause, detectedAt: number, skip?: string): Round {
  const r: Round = { cause, startedAt: now, detectedAt, probesSent: 0, nextAt: now, probedThisPass: new Set(), fresh: [] };
  if (skip !== undefined) r.probedThisPass.add(skip);
  return r;
}

/** Probe gaps: `quickProbes` at the base pace, then doubling, capped. */
export function probeGap(t: Pick<SelectionTiming, 'paceMs' | 'quickProbes' | 'maxPaceMs'>, probesSent: number): number {
  if (probesSent < t.quickProbes) return t.paceMs;
  return Math.min(t.maxPaceMs, t.paceMs * 2 ** (probesSent - t.quickProbes + 1));
}

/** Whatever the back-off reached, pairs that just appeared (or changed) are worth a probe now, before the others. */
export function probeFirst(r: Round, keys: readonly string[], now: number): void {
  r.fresh.push(...keys);
  r.nextAt = now;
  r.probesSent = 0;
}

/**
 * The peer's packets arrived on a pair quiet for `quietForMs`. When that way in had been quiet,
 * something changed on the path (it healed, or the peer found it): a search that has backed off
 * starts its quick probes again. A pair heard steadily never does this, so two hosts probing
 * dead paths cannot keep resetting each other.
 */
export function heardAfterQuiet(r: Round, quietForMs: number, now: number, t: Pick<SelectionTiming, 'paceMs' | 'quickProbes' | 'maxPaceMs'>): void {
  if (quietForMs > 2 * t.maxPaceMs && r.probesSent > t.quickProbes) {
    r.probesSent = 0;
    r.nextAt = Math.min(r.nextAt, now + t.paceMs);
  }
}

export interface RoundCandidates {
  exists: (key: string) => boolean;
  /** A probe that wants an answer is in flight on the pair. */
  busy: (key: string) => boolean;
  primaryKey: string | undefined;
  searchOrder: () => string[];
}

/** The primary first, then candidates in search order; each once per pass. */
export function nextToProbe(r: Round, c: RoundCandidates): string | undefined {
  while (r.fresh.length > 0) {
    const key = r.fresh.shift()!;
    if (c.exists(key) && !c.busy(key)) return key;
  }
  const pick = (): string | undefined => {
    if (c.primaryKey !== undefined && !r.probedThisPass.has(c.primaryKey) && !c.busy(c.primaryKey)) return c.primaryKey;
    return c.searchOrder().find((k) => !r.probedThisPass.has(k) && !c.busy(k));
  };
  let key = pick();
  if (key === undefined && r.probedThisPass.size > 0) {
    r.probedThisPass.clear();
    key = pick();
  }
  return key;
}
