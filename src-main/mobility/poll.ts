// The Poll protocol of seed 003 §5.4: reachability tests that still work when a path carries
// packets one way only.
//
// Every probe carries an identifier and a report: the identifiers of the peer's probes we
// received recently. A probe of ours is confirmed either by its answer (which the peer sends
// back on the same pair, proving both directions) or by appearing in a report inside any of
// the peer's probes (proving our direction only: the report may have come back on another
// pair). So when A→B works only on (A1, B1) and B→A only on (B2, A1), A learns that (A1, B1)
// carries its traffic from B's probes arriving over (B2, A1), and each side picks its own
// outbound pair: they need not be the reverse of each other.
//
// Identifiers: 31 bits of a per-session counter, plus the top bit set when the sender is
// testing and wants the receiver to send its own probes back so the receipt is reported even
// if the reverse of the probed pair is dead. Probes without that bit (reports sent in reply,
// see pair-selection.ts) never ask for anything in return, so two hosts can never bounce
// probes between them forever. The peer treats our identifiers as opaque apart from that bit.
// Pure: no I/O, no clock.

import type { LocatorPair } from './pair-order.js';
import { pairKey } from './pair-order.js';

export const REPLY_WANTED = 0x8000_0000;
const SEQUENCE_MASK = 0x7fff_ffff;

export function isReplyWanted(probeId: number): boolean {
  return probeId >>> 0 >= REPLY_WANTED;
}

export interface PollOptions {
  /** Counter start; give each session a random one so a restarted host's ids do not collide. */
  firstSequence: number;
  /** Most identifiers one report carries (4 octets each on the wire). */
  reportSize: number;
  /** A received identifier is reported for this long. */
  reportWindowMs: number;
  /** A sent probe can be confirmed late for this long after it timed out. */
  sentMemoryMs: number;
}

export const DEFAULT_POLL: PollOptions = {
  firstSequence: 1,
  reportSize: 8,
  reportWindowMs: 10_000,
  sentMemoryMs: 30_000,
};

export type ProbeOutcome = 'pending' | 'timed-out' | 'confirmed';

export interface SentProbe<Tag> {
  probeId: number;
  pair: LocatorPair;
  key: string;
  sentAt: number;
  timeoutAt: number;
  tag: Tag;
  outcome: ProbeOutcome;
  /** The answer came (both directions proven), not only a report. */
  answered: boolean;
  /** Its timeout passed (and was acted on). */
  expired: boolean;
}

export interface ReceivedProbe<Tag> {
  /** Our probes this report proves arrived (each reported at most once). */
  confirmed: SentProbe<Tag>[];
  /** The same identifier arrived before (a retransmitted UPDATE): nothing new to act on. */
  duplicate: boolean;
  replyWanted: boolean;
}

export class PollSession<Tag> {
  private sequence: number;
  private readonly sent = new Map<number, SentProbe<Tag>>();
  /** Peer identifiers, newest last. */
  private readonly heard: { probeId: number; at: number }[] = [];

  constructor(readonly options: PollOptions = DEFAULT_POLL) {
    this.sequence = options.firstSequence & SEQUENCE_MASK;
  }

  /** Register a probe about to be sent; returns what it must carry. */
  send(now: number, pair: LocatorPair, replyWanted: boolean, timeoutMs: number, tag: Tag): { probeId: number; report: number[] } {
    this.sequence = (this.sequence + 1) & SEQUENCE_MASK;
    const probeId = (this.sequence | (replyWanted ? REPLY_WANTED : 0)) >>> 0;
    this.sent.set(probeId, {
      probeId, pair: { ...pair }, key: pairKey(pair), sentAt: now, timeoutAt: now + timeoutMs, tag, outcome: 'pending', answered: false, expired: false,
    });
    return { probeId, report: this.report(now) };
  }

  /**
   * The peer answered our probe on the pair it went out on. Undefined when unknown or already
   * answered; a probe a report confirmed first still counts, as the answer proves more.
   */
  answered(probeId: number): SentProbe<Tag> | undefined {
    const probe = this.sent.get(probeId >>> 0);
    if (probe === undefined || probe.answered) return undefined;
    probe.outcome = 'confirmed';
    probe.answered = true;
    return probe;
  }

  /** A probe of the peer's arrived (authenticated by the HIP layer). */
  received(now: number, rawProbeId: number, report: readonly number[]): ReceivedProbe<Tag> {
    const probeId = rawProbeId >>> 0; // as unsigned 32 bits, whatever arithmetic made it
    const duplicate = this.heard.some((r) => r.probeId === probeId);
    if (!duplicate) {
      this.heard.push({ probeId, at: now });
      if (this.heard.length > 4 * this.options.reportSize) this.heard.shift();
    }
    const confirmed: SentProbe<Tag>[] = [];
    for (const id of report) {
      const probe = this.sent.get(id >>> 0);
      if (probe !== undefined && probe.outcome !== 'confirmed') {
        probe.outcome = 'confirmed';
        confirmed.push(probe);
      }
    }
    return { confirmed, duplicate, replyWanted: isReplyWanted(probeId) };
  }

  /**
   * Probes whose timeout passed (each returned once): `timedOut` neither answered nor
   * reported, `oneWay` reported but not answered — the pair carries our packets, but the
   * answer did not come back on it. Forgets very old probes.
   */
  expire(now: number): { timedOut: SentProbe<Tag>[]; oneWay: SentProbe<Tag>[] } {
    const timedOut: SentProbe<Tag>[] = [];
    const oneWay: SentProbe<Tag>[] = [];
    for (const [id, probe] of this.sent) {
      if (now >= probe.timeoutAt && !probe.expired) {
        probe.expired = true;
        if (probe.outcome === 'pending') {
          probe.outcome = 'timed-out';
          timedOut.push(probe);
        } else if (!probe.answered) {
          oneWay.push(probe);
        }
      }
      if (now - probe.sentAt > this.options.sentMemoryMs) this.sent.delete(id);
    }
    return { timedOut, oneWay };
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const probe of this.sent.values()) {
      const open = !probe.expired && !probe.answered;
      if (open && (next === undefined || probe.timeoutAt < next)) next = probe.timeoutAt;
    }
    return next;
  }

  /** A probe on this pair is still waiting for its answer or report. */
  pendingOn(key: string, accept: (tag: Tag) => boolean = () => true): boolean {
    for (const probe of this.sent.values()) {
      if (probe.key === key && probe.outcome === 'pending' && accept(probe.tag)) return true;
    }
    return false;
  }

  /** The peer identifiers to report: the newest few within the report window. */
  report(now: number): number[] {
    const out: number[] = [];
    for (let i = this.heard.length - 1; i >= 0 && out.length < this.options.reportSize; i--) {
      const r = this.heard[i]!;
      if (now - r.at < this.options.reportWindowMs) out.push(r.probeId);
    }
    return out;
  }
}
