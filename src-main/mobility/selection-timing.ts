// The timing of pair selection (pair-selection.ts): search pacing, background checks, how long
// test results are trusted, and the failure-detection and Poll policies it runs with.

import type { DetectionPolicy, RttPolicy } from './failure-detection.js';
import { DEFAULT_DETECTION, DEFAULT_RTT_POLICY } from './failure-detection.js';
import type { SearchOrderOptions } from './pair-order.js';
import type { PollOptions } from './poll.js';
import { DEFAULT_POLL } from './poll.js';

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

/** How long test results count in the search order (pair-order.ts testTier). */
export function searchMemory(t: SelectionTiming): SearchOrderOptions {
  return { freshOkMs: t.freshOkMs, failMemoryMs: t.failMemoryMs };
}
