// Which of the peer's Update IDs we have processed (RFC 7401 §6.12.1). Several UPDATEs may be in
// flight at once — a LOCATOR_SET, address checks, pair probes — and may arrive out of order or
// twice, so a single "last ID" is not enough: an ID is new, a retransmission (answer again with
// the same octets, process nothing twice), or too old to tell apart from a replay.
//
// A retransmission and a recorded packet replayed by someone else look the same, so an ID seen
// before is never processed again: it can only earn our kept answer again, sent where the
// original came from, at most once per `minResendMs`, and only when the packet is the one we
// authenticated (the caller compares its HIP_MAC with the one kept, or checks the MAC), so a
// replay costs a comparison instead of a signature check.

export type UpdateIdVerdict = 'new' | 'duplicate' | 'replay' | 'too-far';

/** How many IDs below the highest we still remember; older ones are refused as replays. */
const WINDOW = 1024;
/** How many of our answers we keep for re-sending; a peer re-sends only its recent UPDATEs. */
const KEPT_REPLIES = 32;

interface KeptReply {
  bytes: Uint8Array;
  /** Where the peer's UPDATE came from, and so where its answer goes. */
  to: unknown;
  from: unknown;
  /** The HIP_MAC of the peer's UPDATE that earned this answer. */
  fingerprint: Uint8Array;
  resentAt: number;
}

export class UpdateIdWindow {
  private highest: number | undefined;
  private readonly seen = new Set<number>();
  private readonly replies = new Map<number, KeptReply>();

  /**
   * `maxJump`: how far beyond the highest ID a new one may be; peers re-send rather than skip far.
   * `minResendMs`: the shortest spacing of two re-sent answers to one ID.
   */
  constructor(private readonly maxJump: number, private readonly minResendMs: number) {}

  classify(id: number): UpdateIdVerdict {
    if (this.highest === undefined) return 'new';
    if (this.seen.has(id)) return 'duplicate';
    if (id > this.highest + this.maxJump) return 'too-far';
    if (id <= this.highest - WINDOW) return 'replay';
    return 'new';
  }

  record(id: number): void {
    this.seen.add(id);
    if (this.highest === undefined || id > this.highest) this.highest = id;
    const floor = this.highest - WINDOW;
    if (this.seen.size > WINDOW * 2) for (const x of this.seen) if (x <= floor) this.seen.delete(x);
  }

  get highestSeen(): number | undefined {
    return this.highest;
  }

  /** Keeps our answer to `id`; `fingerprint` identifies the UPDATE it answered. */
  keepReply<E>(id: number, bytes: Uint8Array, to: E, from: E | undefined, fingerprint: Uint8Array, now: number): void {
    this.replies.set(id, { bytes, to, from, fingerprint, resentAt: now });
    while (this.replies.size > KEPT_REPLIES) this.replies.delete(this.replies.keys().next().value!);
  }

  /**
   * A duplicate of `id` arrived from `source`: our kept answer to send again, or undefined when
   * none is kept, it came from elsewhere, too soon, or is not authentic. `sameSource` compares
   * endpoints (the window does not know their shape); `authentic` is asked last, with the
   * fingerprint kept, since it may cost a MAC.
   */
  reanswer<E>(
    id: number, source: E, now: number, sameSource: (a: E, b: E) => boolean, authentic: (kept: Uint8Array) => boolean,
  ): { bytes: Uint8Array; to: E; from: E | undefined } | undefined {
    const kept = this.replies.get(id);
    if (kept === undefined || !sameSource(kept.to as E, source)) return undefined;
    if (now - kept.resentAt < this.minResendMs || !authentic(kept.fingerprint)) return undefined;
    kept.resentAt = now;
    return { bytes: kept.bytes, to: kept.to as E, from: kept.from as E | undefined };
  }
}
