// Every timer and limit of the HIP host, in one place, each named for what it protects and
// carrying its reason. The protocol code never reads a clock: it compares these durations
// against the `now` it is handed.

export interface HipTimers {
  /**
   * First wait before re-sending an unanswered I1, I2, UPDATE or CLOSE. RFC 7401 leaves the
   * value to the implementation; one second is above any sane path RTT yet short enough that a
   * lost first packet costs the user about a second, not a noticeable stall.
   */
  initialRetransmitMs: number;
  /**
   * Ceiling for the doubling back-off. Without it a host that lost several packets in a row
   * would wait minutes; with it, a path that comes back is noticed within this bound.
   */
  maxRetransmitMs: number;
  /** I1 re-sends before the attempt is E-FAILED (RFC 7401 I1_RETRIES_MAX): a dead peer must not be probed forever. */
  i1RetriesMax: number;
  /** I2 re-sends before E-FAILED (RFC 7401 I2_RETRIES_MAX); each one costs the responder a DH and a signature check. */
  i2RetriesMax: number;
  /** UPDATE re-sends before the rekey is abandoned and the association reported failed. */
  updateRetriesMax: number;
  /** CLOSE re-sends before the closing side gives up and forgets the association anyway. */
  closeRetriesMax: number;
  /**
   * How long a responder stays in R2-SENT when neither ESP nor an UPDATE confirms that the
   * initiator got R2 (RFC 7401 §4.4.2: R2-SENT times out into ESTABLISHED). Long enough to
   * answer every I2 retransmission of a peer whose R2 was lost.
   */
  r2SentHoldMs: number;
  /**
   * How long CLOSED keeps the keys so a re-sent CLOSE (our CLOSE_ACK was lost) still gets an
   * authenticated CLOSE_ACK. Stands in for the RFC's UAL + MSL, scaled to a desktop client.
   */
  closedHoldMs: number;
  /** How long an E-FAILED association lingers, so a flood of retries from the app does not hammer a dead peer. */
  failedHoldMs: number;
  /**
   * Age at which the responder signs a new R1 generation (new DH key, new puzzle secret,
   * R1_COUNTER + 1). Limits how long one DH key is shared by many initiators.
   */
  r1RefreshMs: number;
  /**
   * How long an I2 answering an older R1 generation is still accepted. Covers an initiator that
   * solved a puzzle just before the refresh, plus its I2 retransmissions.
   */
  r1GraceMs: number;
  /**
   * Minimum spacing of the NOTIFYs we send in answer to bad packets. Each one is signed, so
   * without a limit a flood of junk would turn into a flood of signatures.
   */
  notifyMinIntervalMs: number;
  /**
   * Shortest spacing of two re-sent answers to one UPDATE whose SEQ we processed already. A
   * peer re-sends after `initialRetransmitMs` or later, so it is always answered; a recorded
   * UPDATE replayed at full speed from the peer's own address earns at most two answers a second.
   */
  duplicateAnswerMinMs: number;
  /**
   * Lifetime we give our own locators in every LOCATOR_SET (RFC 8046 §4); the peer deprecates a
   * locator whose lifetime runs out. We announce again after half of it, so a lost announcement
   * has the other half (more than all its retransmissions take) to get through. A few minutes:
   * an address we lost without noticing stops being used soon, at the price of one small
   * UPDATE per peer every half lifetime.
   */
  locatorLifetimeMs: number;
  /**
   * Spacing of the LOCATOR_TYPE_UNSUPPORTED NOTIFYs one association sends (RFC 8047 §6.2). Only
   * a fresh, authenticated UPDATE earns one, but each costs a signature, and a peer stuck on a
   * locator type we lack would otherwise get one per UPDATE.
   */
  unsupportedLocatorNotifyMinMs: number;
  /**
   * Address checks a LOCATOR_SET carried in a NOTIFY may start: a burst, then one per interval.
   * A NOTIFY has no SEQ, so a recorded one can be replayed at will; each check it starts is an
   * UPDATE (and its retransmissions) to an address it names, so the checks must be rationed.
   */
  notifyVerifyBurst: number;
  notifyVerifyIntervalMs: number;
}

export const DEFAULT_TIMERS: HipTimers = {
  initialRetransmitMs: 1000,
  maxRetransmitMs: 8000,
  i1RetriesMax: 5,
  i2RetriesMax: 5,
  updateRetriesMax: 5,
  closeRetriesMax: 5,
  r2SentHoldMs: 30_000,
  closedHoldMs: 30_000,
  failedHoldMs: 5_000,
  r1RefreshMs: 120_000,
  r1GraceMs: 60_000,
  notifyMinIntervalMs: 100,
  duplicateAnswerMinMs: 500,
  locatorLifetimeMs: 300_000,
  unsupportedLocatorNotifyMinMs: 1_000,
  notifyVerifyBurst: 4,
  notifyVerifyIntervalMs: 10_000,
};

/**
 * Puzzle difficulty policy (RFC 7401 §4.1.1, §6.3): K is what an initiator must pay per I2.
 * It rises when I1s or I2s arrive faster than a legitimate population would send them, so an
 * attacker's cost grows with the load it causes, and falls back once the flood is over.
 */
export interface PuzzlePolicy {
  /** K when idle. Low: honest initiators, often phones, should not notice the puzzle. */
  baseK: number;
  /** Highest K the responder will ask for; beyond this, honest initiators time out too. */
  maxK: number;
  /** Highest K this host will solve as initiator; a larger K from a forged R1 would burn CPU. */
  maxSolvableK: number;
  /** Length of one load-measurement window. */
  windowMs: number;
  /** I1s + I2s from one source prefix per window above which that prefix's K rises by `stepUp`. */
  highWater: number;
  /**
   * I1s + I2s per window, from all prefixes, above which K rises for everyone. Each prefix
   * counts here up to its own `highWater` only, so it takes several busy prefixes: a flood
   * from one prefix must not price honest peers elsewhere out.
   */
  hostHighWater: number;
  /** Per window below which K falls by one toward `baseK`. */
  lowWater: number;
  stepUp: number;
  /** PUZZLE lifetime field: the solution is good for 2^(lifetime - 32) seconds (RFC 7401 §5.2.4). */
  lifetimeExponent: number;
  /**
   * R1s per second to one source prefix, and the burst allowed. An R1 is several times the size
   * of the I1 that earns it; rationed, a flooding or spoofed source gets back less than it sends,
   * while an honest host (or a NAT full of them) rarely needs more than a few a second.
   */
  r1PerPrefixPerSecond: number;
  r1PerPrefixBurst: number;
  /** R1s per second in all: bounds what a flood from many spoofed prefixes can reflect. */
  r1PerSecond: number;
  /** Source prefixes tracked at once; the least recently seen is forgotten first. */
  maxPrefixes: number;
}

export const DEFAULT_PUZZLE_POLICY: PuzzlePolicy = {
  baseK: 1,
  maxK: 20,
  maxSolvableK: 24,
  windowMs: 1000,
  highWater: 64,
  lowWater: 16,
  stepUp: 2,
  lifetimeExponent: 37, // 32 s
  hostHighWater: 256,
  r1PerPrefixPerSecond: 10,
  r1PerPrefixBurst: 20,
  r1PerSecond: 500,
  maxPrefixes: 4096,
};

/**
 * Spacing of re-sent answers to a packet already processed (a duplicate UPDATE SEQ, a re-sent
 * I2): `duplicateAnswerMinMs`, and at most half our own first retransmission delay, so a peer
 * timed like us is answered every time it re-sends.
 */
export function duplicateAnswerSpacing(timers: HipTimers): number {
  return Math.min(timers.duplicateAnswerMinMs, timers.initialRetransmitMs / 2);
}

/** Wait before retransmission number `attempt` (0 = after the first send): doubling, capped. */
export function retransmitDelay(timers: HipTimers, attempt: number): number {
  const doubled = timers.initialRetransmitMs * 2 ** Math.min(attempt, 30);
  return Math.min(doubled, timers.maxRetransmitMs);
}
