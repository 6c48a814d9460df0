// The background checks of pair selection while the primary works (make-before-break): which
// pairs are on the plan and when each is next due. Pure: it sets the records' `backgroundAt`;
// pair-selection.ts sends the probes and paces them.

import type { PairRecord } from './candidate-pairs.js';
import { byPreference, prefers } from './candidate-pairs.js';
import { comparePreference, testTier } from './pair-order.js';
import type { SelectionTiming } from './selection-timing.js';
import { searchMemory } from './selection-timing.js';

export interface BackgroundScope {
  pairs: ReadonlyMap<string, PairRecord>;
  primaryKey: string | undefined;
  /** Pairs the peer's failed checks hold out of the plan (holdChecks). */
  heldChecks: ReadonlySet<string>;
  timing: SelectionTiming;
}

/**
 * Which pairs to test while the primary works: those the policy prefers to it (so we move
 * up as soon as one works) and spares (a hot backup, seed 000 §3.2.1, so losing the
 * primary's interface or the peer's address needs no test before moving). `restart` puts
 * every planned pair back to its first due time and shortest retry.
 */
export function planBackground(s: BackgroundScope, now: number, restart: boolean): void {
  const { pairs, primaryKey, heldChecks, timing } = s;
  const wanted = new Set<string>();
  const primary = primaryKey === undefined ? undefined : pairs.get(primaryKey);
  if (primary !== undefined) {
    // Spares: the best pair through each other local interface, and to each other peer
    // locator, so that losing either end of the primary leaves a tested way out. Through
    // another interface, the spare goes to the peer address that answers now: another address
    // the peer lists (its private one behind a port forward, say) may be unreachable, and a
    // spare that never passes is no way out. If that one just failed (the answering address is
    // on the primary's LAN), the interface's best pair is its spare instead.
    const spareIfs = new Set<string>([primary.cand.local.ifname]);
    const spareRemotes = new Set<string>([primary.cand.remote.address]);
    const byPref = byPreference(pairs);
    if (timing.backupProbeMs > 0) {
      for (const [key, rec] of byPref) {
        if (rec.cand.remote.address !== primary.cand.remote.address || spareIfs.has(rec.cand.local.ifname) || heldChecks.has(key)) continue;
        if (prefers(pairs, key, primaryKey) || testTier(rec.history, now, searchMemory(timing)) === 2) continue;
        wanted.add(key);
        spareIfs.add(rec.cand.local.ifname);
      }
    }
    for (const [key, rec] of byPref) {
      if (key === primaryKey || heldChecks.has(key)) continue;
      if (prefers(pairs, key, primaryKey)) {
        wanted.add(key);
        continue;
      }
      if (timing.backupProbeMs <= 0) continue;
      const newIf = !spareIfs.has(rec.cand.local.ifname);
      const newRemote = !spareRemotes.has(rec.cand.remote.address);
      if (newIf || newRemote) wanted.add(key);
      spareIfs.add(rec.cand.local.ifname);
      spareRemotes.add(rec.cand.remote.address);
    }
  }
  for (const [key, rec] of pairs) {
    if (!wanted.has(key)) {
      rec.backgroundAt = undefined;
    } else if (rec.backgroundAt === undefined || restart) {
      // A spare that passed recently is next due a backup interval after that pass; anything
      // else is tested now.
      const fresh = testTier(rec.history, now, searchMemory(timing)) === 0 && !prefers(pairs, key, primaryKey);
      rec.backgroundAt = fresh ? Math.max(now, rec.history.lastOkAt! + timing.backupProbeMs) : now;
      if (restart) rec.backgroundIntervalMs = timing.backgroundMinMs;
    }
  }
}

/**
 * The most preferred pair whose background check is due at `now`, if any; until the outcome
 * reschedules it, it waits as long as the probe may take. A due pair with a probe in flight
 * (`busy`: a search left one out) is looked at again once that one is done.
 */
export function takeDueBackgroundCheck(s: BackgroundScope, now: number, busy: (key: string) => boolean): string | undefined {
  const due: [string, PairRecord][] = [];
  for (const [k, rec] of s.pairs) {
    if (rec.backgroundAt === undefined || rec.backgroundAt > now) continue;
    if (busy(k)) rec.backgroundAt = now + rec.rtt.rto(s.timing.rtt);
    else due.push([k, rec]);
  }
  const first = due.sort(([, a], [, b]) => comparePreference(a.cand, b.cand))[0];
  if (first !== undefined) first[1].backgroundAt = now + first[1].rtt.rto(s.timing.rtt);
  return first?.[0];
}

/** When the next background check is due, checks being at least `paceMs` apart. */
export function nextBackgroundDue(pairs: ReadonlyMap<string, PairRecord>, lastCheckAt: number, paceMs: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const rec of pairs.values()) if (rec.backgroundAt !== undefined) next = Math.min(next, Math.max(rec.backgroundAt, lastCheckAt + paceMs));
  return next;
}

/** A background check failed: the next waits twice as long, up to `backgroundMaxMs`. */
export function backOffBackground(rec: PairRecord, now: number, timing: SelectionTiming): void {
  rec.backgroundIntervalMs = Math.min(timing.backgroundMaxMs, rec.backgroundIntervalMs * 2);
  if (rec.backgroundAt !== undefined) rec.backgroundAt = now + rec.backgroundIntervalMs;
}

/** A check passed: the pair is next due a backup interval on (none for a cold backup). */
export function passedBackground(rec: PairRecord, now: number, timing: SelectionTiming): void {
  if (rec.backgroundAt === undefined) return;
  rec.backgroundIntervalMs = timing.backgroundMinMs;
  rec.backgroundAt = timing.backupProbeMs > 0 ? now + timing.backupProbeMs : undefined;
}
