// What the worker passes up about failures, kept from flooding the control plane: a socket
// warning at most once per interval, ICMP errors at most so many a second (the rest counted).

/** A socket error is reported at most this often: an ICMP storm must not flood the log. */
const WARN_INTERVAL_MS = 5000;
/**
 * ICMP errors passed up to the control plane, at most this many a second: it acts on one a
 * second per peer anyway, and a storm must not flood the worker's messages. The rest are counted.
 */
const ICMP_REPORTS_PER_S = 50;

export class ReportLimits {
  private lastWarnAt = -Infinity;
  private icmpWindow = { startedAt: -Infinity, reported: 0 };

  /** `drops`: the data plane's drop counters, where ICMP errors not passed up are counted. */
  constructor(private readonly drops: Record<string, number>) {}

  /** Whether a warning may go up now. */
  warning(now: number): boolean {
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return false;
    this.lastWarnAt = now;
    return true;
  }

  /** Whether an ICMP error may go up now; one that may not is counted as `icmp-excess`. */
  icmpError(now: number): boolean {
    if (now - this.icmpWindow.startedAt >= 1000) this.icmpWindow = { startedAt: now, reported: 0 };
    if (this.icmpWindow.reported >= ICMP_REPORTS_PER_S) {
      this.drops['icmp-excess'] = (this.drops['icmp-excess'] ?? 0) + 1;
      return false;
    }
    this.icmpWindow.reported++;
    return true;
  }
}
