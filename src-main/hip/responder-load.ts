// What I1s and I2s cost the responder, and what it answers with: the puzzle difficulty K and
// whether an R1 goes out at all (RFC 7401 §4.1.1: a responder under load may drop I1s). An
// I1's sender HIT and source are unauthenticated, so load is kept per source prefix (/24 for
// IPv4, /56 for IPv6) as well as for the host: a flood from one prefix raises K and exhausts
// R1s for that prefix only, and counts toward the host's load no more than a busy honest prefix
// would. R1s are rationed per prefix and per host, so a flooding (or spoofed) source gets back
// fewer bytes than it sends.

import { ipToBytes16, isIpv4Mapped } from './wire/address.js';
import type { PuzzlePolicy } from './timers.js';

/** K that follows the I1/I2 rate of one window: up by `stepUp` above high water, down by one per quiet window. */
class DifficultyWindow {
  private k: number;
  private windowStart: number;
  private count = 0;

  constructor(private readonly policy: PuzzlePolicy, private readonly highWater: number, now: number) {
    this.k = policy.baseK;
    this.windowStart = now;
  }

  /** Counts one packet; a burst above high water raises K at once and starts a new window. */
  note(now: number): void {
    this.roll(now);
    this.count++;
    if (this.count > this.highWater) {
      this.k = Math.min(this.policy.maxK, this.k + this.policy.stepUp);
      this.windowStart = now;
      this.count = 0;
    }
  }

  current(now: number): number {
    this.roll(now);
    return this.k;
  }

  inWindow(now: number): number {
    this.roll(now);
    return this.count;
  }

  /** Idle for good: back at base K with nothing counted. */
  settled(now: number): boolean {
    return this.current(now) === this.policy.baseK && this.count === 0;
  }

  private roll(now: number): void {
    const { windowMs, lowWater, baseK } = this.policy;
    if (now < this.windowStart + windowMs) return;
    const windows = Math.floor((now - this.windowStart) / windowMs);
    let fall = this.count < lowWater ? 1 : 0;
    fall += windows - 1; // every further window passed with no traffic at all
    this.k = Math.max(baseK, this.k - fall);
    this.windowStart += windows * windowMs;
    this.count = 0;
  }
}

/** A token bucket: `perSecond` refill, up to `burst`. */
class Ration {
  private tokens: number;
  private at: number;

  constructor(private readonly perSecond: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface PrefixState {
  difficulty: DifficultyWindow;
  r1s: Ration;
  /** How much of this prefix's load the host's window may count: a busy honest prefix's worth. */
  hostShare: Ration;
}

/** The source prefix an I1 or I2 is accounted to: /24 for IPv4, /56 for IPv6. */
export function sourcePrefix(address: string): string {
  const b = ipToBytes16(address);
  if (b === null) return address;
  const v4 = isIpv4Mapped(b);
  const bytes = v4 ? b.subarray(12, 15) : b.subarray(0, 7);
  return `${v4 ? '4' : '6'}:${Buffer.from(bytes).toString('hex')}`;
}

export interface ResponderLoadSnapshot {
  /** K an initiator from a quiet prefix must solve now. */
  k: number;
  /** I1s and I2s counted toward the host's load in the current window. */
  loadInWindow: number;
  /** Prefixes whose own load is tracked now. */
  prefixes: number;
  /** The highest K any prefix is asked for now. */
  busiestPrefixK: number;
}

export class ResponderLoad {
  private readonly host: DifficultyWindow;
  private readonly hostR1s: Ration;
  /** Least recently seen first, so the oldest is dropped when the table is full. */
  private readonly prefixes = new Map<string, PrefixState>();

  constructor(private readonly policy: PuzzlePolicy, now: number) {
    this.host = new DifficultyWindow(policy, policy.hostHighWater, now);
    this.hostR1s = new Ration(policy.r1PerSecond, policy.r1PerSecond, now);
  }

  /**
   * Counts an I1 or I2 from `address`. Beyond its own high water, a prefix's packets count
   * toward its own K only: one prefix alone cannot raise K for everyone.
   */
  note(now: number, address: string): void {
    const p = this.prefix(now, sourcePrefix(address));
    p.difficulty.note(now);
    if (p.hostShare.take(now)) this.host.note(now);
  }

  /** K for an initiator at `address`: its prefix's or the host's, whichever is higher. */
  k(now: number, address: string): number {
    const p = this.prefixes.get(sourcePrefix(address));
    return Math.max(this.host.current(now), p?.difficulty.current(now) ?? this.policy.baseK);
  }

  /** Whether an R1 may go to `address` now: within its prefix's ration and the host's. */
  mayAnswer(now: number, address: string): boolean {
    return this.prefix(now, sourcePrefix(address)).r1s.take(now) && this.hostR1s.take(now);
  }

  snapshot(now: number): ResponderLoadSnapshot {
    let busiest = this.policy.baseK;
    for (const [key, p] of this.prefixes) {
      if (p.difficulty.settled(now)) this.prefixes.delete(key);
      else busiest = Math.max(busiest, p.difficulty.current(now));
    }
    return { k: this.host.current(now), loadInWindow: this.host.inWindow(now), prefixes: this.prefixes.size, busiestPrefixK: busiest };
  }

  private prefix(now: number, key: string): PrefixState {
    let p = this.prefixes.get(key);
    if (p !== undefined) {
      this.prefixes.delete(key);
    } else {
      p = {
        difficulty: new DifficultyWindow(this.policy, this.policy.highWater, now),
        r1s: new Ration(this.policy.r1PerPrefixPerSecond, this.policy.r1PerPrefixBurst, now),
        hostShare: new Ration((this.policy.highWater * 1000) / this.policy.windowMs, this.policy.highWater, now),
      };
      if (this.prefixes.size >= this.policy.maxPrefixes) this.prefixes.delete(this.prefixes.keys().next().value!);
    }
    this.prefixes.set(key, p);
    return p;
  }
}
