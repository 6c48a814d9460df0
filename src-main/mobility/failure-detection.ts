// Noticing that the primary pair stopped working, quickly while traffic flows and cheaply while
// it does not. Pure: fed times, it answers "when should I look again?" and "what is due now?".
//
// Two mechanisms, as seed 000 §5.2 and seed 003 §3.3 divide the work:
// - Idle: a keepalive probe on the primary every `keepaliveMs` (20 s, seed 000 §5.2), omitted
//   whenever ESP flowed in either direction or the primary was probed within that time: such
//   traffic already refreshes NAT bindings, and data is watched by the fast detector below.
// - Busy: outbound data with no authenticated inbound for the silence threshold means the
//   primary is suspect, and the caller starts probing at once. The threshold is
//   max(3 × SRTT, 150 ms), doubled after each false alarm up to 500 ms:
//     * a healthy conversation hears back within about one RTT: a TCP receiver acknowledges at
//       least every second full segment, and delays a lone ACK by at most 40 ms on Linux
//       (200 ms on some stacks: a false alarm there costs one probe, nothing more);
//     * 3 × SRTT keeps long paths (satellite, congested cellular) from probing on every
//       queueing spike, while the 150 ms floor keeps short paths from probing on every
//       delayed ACK;
//     * a one-way stream (UDP video, a 100 packets/s sender) hears nothing by nature; each
//       probe that comes back clean doubles the threshold (up to 500 ms) so such a stream costs
//       about two probes a second rather than seven, and any inbound data resets it;
//     * one packet alone is never suspect, only a second one sent into the same silence: every
//       exchange ends with a packet nobody answers (the last ACK of a transfer, the ACK of an
//       ssh echo), and probing after each would cost a probe per keystroke. A sender whose
//       packet really is lost sends again (TCP retransmits after its RTO, a stream sends its
//       next packet), and that second packet makes the silence suspect at once if the
//       threshold has already passed;
//     * the budget: a silent failure must be left within 1 s. Worst case 500 ms of silence,
//       then the primary's probe and the first alternative go out 50 ms apart (RTO floor and
//       pace below), and the alternative answers after one RTT: about 600 ms on a 50 ms path.
//
// Retransmission timeouts for probes follow RFC 6298 (SRTT, RTTVAR, RTO = SRTT + 4·RTTVAR),
// but with a 50 ms floor instead of RFC 6298's 1 s: that floor protects a TCP sender from
// collapsing its window on a spurious timeout, whereas a spurious probe timeout here costs one
// extra probe to the next candidate, and a late answer still counts.

export interface RttPolicy {
  /** Lower bound of a probe timeout (RFC 9028's Ta pacing is 50 ms as well). */
  minRtoMs: number;
  /** Upper bound: a probe unanswered this long is given up on. */
  maxRtoMs: number;
  /** Timeout for a pair with no RTT sample yet (RFC 6298 §2.1 uses 1 s). */
  initialRtoMs: number;
}

export const DEFAULT_RTT_POLICY: RttPolicy = { minRtoMs: 50, maxRtoMs: 3_000, initialRtoMs: 1_000 };

/** RFC 6298 §2 smoothed round-trip time of one pair. */
export class RttEstimator {
  private srttMs: number | undefined;
  private rttvarMs = 0;

  get srtt(): number | undefined {
    return this.srttMs;
  }

  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    if (this.srttMs === undefined) {
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
      return;
    }
    this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rttMs);
    this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
  }

  rto(policy: RttPolicy = DEFAULT_RTT_POLICY): number {
    if (this.srttMs === undefined) return policy.initialRtoMs;
    const rto = this.srttMs + 4 * this.rttvarMs;
    return Math.min(policy.maxRtoMs, Math.max(policy.minRtoMs, rto));
  }
}

export interface DetectionPolicy {
  /** Idle keepalive interval (seed 000 §5.2: 20 s). */
  keepaliveMs: number;
  /** Sending without hearing back for at least this long is suspect... */
  silenceFloorMs: number;
  /** ...or for this many smoothed RTTs, whichever is longer... */
  silenceRttFactor: number;
  /** ...and never longer than this, however many false alarms came before. */
  silenceMaxMs: number;
  /** Packets sent into one silence before it can be suspect (see above: not 1). */
  silencePackets: number;
}

export const DEFAULT_DETECTION: DetectionPolicy = {
  keepaliveMs: 20_000,
  silenceFloorMs: 150,
  silenceRttFactor: 3,
  silenceMaxMs: 500,
  silencePackets: 2,
};

export type Verdict = 'suspect' | 'keepalive';

/** Watches the traffic on one peer's primary pair. */
export class FailureDetector {
  private lastHeardAt: number;
  private lastDataInAt = Number.NEGATIVE_INFINITY;
  private lastActivityAt: number;
  /** The first send since we last heard from the peer: the start of a possible silence. */
  private unansweredSince: number | undefined;
  private unansweredPackets = 0;
  private falseAlarms = 0;

  constructor(readonly policy: DetectionPolicy = DEFAULT_DETECTION, now = 0) {
    this.lastHeardAt = now;
    this.lastActivityAt = now;
  }

  /** A new primary: nothing sent on it is in doubt yet. */
  restart(now: number): void {
    this.lastHeardAt = now;
    this.lastActivityAt = now;
    this.unansweredSince = undefined;
    this.unansweredPackets = 0;
    this.falseAlarms = 0;
  }

  dataSent(now: number, packets = 1): void {
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
    if (this.unansweredSince === undefined) this.unansweredSince = now;
    this.unansweredPackets += packets;
  }

  /** Authenticated inbound ESP from the peer: the upper layers are getting answers. */
  dataReceived(now: number): void {
    this.lastDataInAt = Math.max(this.lastDataInAt, now);
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
    this.heard(now);
    this.falseAlarms = 0;
  }

  /**
   * A probe on the primary, sent at `sentAt`, was answered or reported: as good as hearing
   * data, for what was sent up to then.
   */
  primaryConfirmed(sentAt: number): void {
    this.lastHeardAt = Math.max(this.lastHeardAt, sentAt);
    if (this.unansweredSince !== undefined && this.unansweredSince <= sentAt) {
      this.unansweredSince = undefined;
      this.unansweredPackets = 0;
    }
  }

  /** A probe went out on the primary: a keepalive is not due for another interval. */
  primaryProbed(now: number): void {
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
  }

  /**
   * The probing that a suspicion started found the primary fine. If no data came back during
   * it, the traffic is one-way by nature, so wait longer before doubting it again.
   */
  suspicionCleared(suspectedAt: number): void {
    if (this.lastDataInAt < suspectedAt) this.falseAlarms = Math.min(this.falseAlarms + 1, 16);
  }

  silenceThresholdMs(srttMs: number | undefined): number {
    const base = Math.max(this.policy.silenceFloorMs, this.policy.silenceRttFactor * (srttMs ?? 0));
    const cap = Math.max(this.policy.silenceMaxMs, base);
    return Math.min(cap, base * 2 ** this.falseAlarms);
  }

  /** When the current silence becomes suspect, if data is waiting for an answer. */
  suspicionAt(srttMs: number | undefined): number | undefined {
    if (this.unansweredSince === undefined || this.unansweredPackets < this.policy.silencePackets) return undefined;
    return this.unansweredSince + this.silenceThresholdMs(srttMs);
  }

  keepaliveAt(): number {
    return this.lastActivityAt + this.policy.keepaliveMs;
  }

  nextDeadline(srttMs: number | undefined): number {
    return Math.min(this.suspicionAt(srttMs) ?? Number.POSITIVE_INFINITY, this.keepaliveAt());
  }

  /** What is due at `now`: a suspicion takes precedence over a keepalive. */
  check(now: number, srttMs: number | undefined): Verdict | undefined {
    const suspectAt = this.suspicionAt(srttMs);
    if (suspectAt !== undefined && now >= suspectAt) return 'suspect';
    if (now >= this.keepaliveAt()) return 'keepalive';
    return undefined;
  }

  private heard(now: number): void {
    this.lastHeardAt = Math.max(this.lastHeardAt, now);
    this.unansweredSince = undefined;
    this.unansweredPackets = 0;
  }

  get heardAt(): number {
    return this.lastHeardAt;
  }
}
