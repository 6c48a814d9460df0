// The one real clock the engine reads. Monotonic, in milliseconds: wall-clock jumps (NTP,
// suspend) must never make a retransmission fire early or an SA look expired.

import { performance } from 'node:perf_hooks';

export interface Clock {
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
