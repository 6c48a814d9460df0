// What a receiver of a paced, sequence-numbered stream saw: how much arrived, what was missing,
// duplicated or out of order, and where delivery stopped and started again. Pure: the caller
// supplies arrival times, so the same code serves the lab tool and its tests.

/** One stretch without arrivals, longer than the threshold the receiver was given. */
export interface ArrivalGap {
  /** Arrival time (epoch ms) of the last packet before the gap. */
  readonly fromMs: number;
  /** Arrival time (epoch ms) of the first packet after it. */
  readonly toMs: number;
  readonly ms: number;
  /** Sequence numbers on either side of the gap. */
  readonly lastSeqBefore: number;
  readonly firstSeqAfter: number;
}

export interface StreamReport {
  /** Distinct sequence numbers received. */
  readonly received: number;
  readonly duplicates: number;
  /** Packets that arrived after one with a higher sequence number. */
  readonly reordered: number;
  /** Highest sequence number seen (-1 when nothing arrived). */
  readonly highestSeq: number;
  /** Sequence numbers below the highest that never arrived (tail losses need the sender's count). */
  readonly missing: number;
  readonly firstArrivalMs: number | null;
  readonly lastArrivalMs: number | null;
  /** Send time (epoch ms, sender's clock) of the newest packet received. */
  readonly newestSentAtMs: number | null;
  /** The largest inter-arrival gap, whatever its length. */
  readonly largestGap: ArrivalGap | null;
  /** Every gap longer than the threshold, in order. */
  readonly gaps: readonly ArrivalGap[];
  /** What happened from the mark on (see StreamReceiver.mark), if one was set. */
  readonly sinceMark: MarkedWindow | null;
}

export interface MarkedWindow {
  readonly markMs: number;
  /** Distinct packets sent at or after the mark that arrived. */
  readonly received: number;
  /** The largest inter-arrival gap that ended after the mark (one spanning it counts). */
  readonly largestGap: ArrivalGap | null;
}

/** Packets remembered for a late mark: many seconds of any stream rate the lab uses. */
export const RECENT_PACKETS = 2048;

export class StreamReceiver {
  private readonly seen = new Set<number>();
  private duplicates = 0;
  private reordered = 0;
  private highestSeq = -1;
  private firstArrivalMs: number | null = null;
  private lastArrivalMs: number | null = null;
  private lastSeq = -1;
  private newestSentAtMs: number | null = null;
  private largestGap: ArrivalGap | null = null;
  private readonly gaps: ArrivalGap[] = [];
  private markMs: number | null = null;
  private receivedSinceMark = 0;
  private largestGapSinceMark: ArrivalGap | null = null;
  /** Send times of the latest packets: a mark that reaches us late still counts them. */
  private readonly recentSentAt: number[] = [];

  /** @param gapThresholdMs gaps longer than this are listed (the tool uses 3 × the send period). */
  constructor(private readonly gapThresholdMs: number) {}

  get received(): number {
    return this.seen.size;
  }

  get newestSentAt(): number | null {
    return this.newestSentAtMs;
  }

  get lastArrival(): number | null {
    return this.lastArrivalMs;
  }

  /**
   * Count from here: packets sent at or after `markMs` (sender and receiver share the machine's
   * clock, so both sides use the same instant) and gaps ending after it.
   */
  mark(markMs: number): void {
    this.markMs = markMs;
    // The mark reaches each process a little late; what arrived meanwhile but was sent at or
    // after the instant still counts, as the sender's count does.
    this.receivedSinceMark = this.recentSentAt.filter((t) => t >= markMs).length;
    this.largestGapSinceMark = null;
  }

  onPacket(seq: number, sentAtMs: number, arrivedAtMs: number): void {
    if (this.seen.has(seq)) {
      this.duplicates++;
      return;
    }
    this.seen.add(seq);
    if (seq < this.highestSeq) this.reordered++;
    else this.highestSeq = seq;
    if (this.newestSentAtMs === null || sentAtMs > this.newestSentAtMs) this.newestSentAtMs = sentAtMs;
    if (this.markMs !== null && sentAtMs >= this.markMs) this.receivedSinceMark++;
    this.recentSentAt.push(sentAtMs);
    if (this.recentSentAt.length > RECENT_PACKETS) this.recentSentAt.shift();

    if (this.lastArrivalMs !== null) {
      const ms = arrivedAtMs - this.lastArrivalMs;
      const gap: ArrivalGap = { fromMs: this.lastArrivalMs, toMs: arrivedAtMs, ms, lastSeqBefore: this.lastSeq, firstSeqAfter: seq };
      if (this.largestGap === null || ms > this.largestGap.ms) this.largestGap = gap;
      if (ms > this.gapThresholdMs) this.gaps.push(gap);
      if (this.markMs !== null && arrivedAtMs > this.markMs && (this.largestGapSinceMark === null || ms > this.largestGapSinceMark.ms)) {
        this.largestGapSinceMark = gap;
      }
    } else {
      this.firstArrivalMs = arrivedAtMs;
    }
    this.lastArrivalMs = arrivedAtMs;
    this.lastSeq = seq;
  }

  report(): StreamReport {
    return {
      received: this.seen.size,
      duplicates: this.duplicates,
      reordered: this.reordered,
      highestSeq: this.highestSeq,
      missing: this.highestSeq + 1 - this.seen.size,
      firstArrivalMs: this.firstArrivalMs,
      lastArrivalMs: this.lastArrivalMs,
      newestSentAtMs: this.newestSentAtMs,
      largestGap: this.largestGap,
      gaps: [...this.gaps],
      sinceMark: this.markMs === null ? null : { markMs: this.markMs, received: this.receivedSinceMark, largestGap: this.largestGapSinceMark },
    };
  }
}

/** Stream datagram: magic, sequence number, send time; padded to the asked size. */
export const STREAM_MAGIC = 0x48565553; // "HVUS"
export const STREAM_HEADER_BYTES = 16;

export function encodeStreamPacket(seq: number, sentAtMs: number, size: number): Buffer {
  const packet = Buffer.alloc(Math.max(size, STREAM_HEADER_BYTES));
  packet.writeUInt32BE(STREAM_MAGIC, 0);
  packet.writeUInt32BE(seq >>> 0, 4);
  packet.writeDoubleBE(sentAtMs, 8);
  return packet;
}

/** null for anything that is not a stream packet (never throws: the port may see strangers). */
export function decodeStreamPacket(data: Uint8Array): { seq: number; sentAtMs: number } | null {
  if (data.length < STREAM_HEADER_BYTES) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0) !== STREAM_MAGIC) return null;
  const sentAtMs = view.getFloat64(8);
  if (!Number.isFinite(sentAtMs)) return null;
  return { seq: view.getUint32(4), sentAtMs };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across lab processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
