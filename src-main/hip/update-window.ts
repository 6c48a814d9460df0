// Which of the peer's Update IDs we have processed (RFC 7401 §6.12.1). Several UPDATEs may be in
// flight at once — a LOCATOR_SET, address checks, pair probes — and may arrive out of order or
// twice, so a single "last ID" is not enough: an ID is new, a retransmission (answer again with
// the same octets, process nothing twice), or too old to tell apart from a replay.

export type UpdateIdVerdict = 'new' | 'duplicate' | 'replay' | 'too-far';

/** How many IDs below the highest we still remember; older ones are refused as replays. */
const WINDOW = 1024;
/** How many of our answers we keep for re-sending; a peer re-sends only its recent UPDATEs. */
const KEPT_REPLIES = 32;

export class UpdateIdWindow {
  private highest: number | undefined;
  private readonly seen = new Set<number>();
  private readonly replies = new Map<number, { bytes: Uint8Array; to: unknown; from: unknown }>();

  /** `maxJump`: how far beyond the highest ID a new one may be; peers re-send rather than skip far. */
  constructor(private readonly maxJump: number) {}

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

  keepReply<E>(id: number, bytes: Uint8Array, to: E, from: E | undefined): void {
    this.replies.set(id, { bytes, to, from });
    while (this.replies.size > KEPT_REPLIES) this.replies.delete(this.replies.keys().next().value!);
  }

  replyFor<E>(id: number): { bytes: Uint8Array; to: E; from: E | undefined } | undefined {
    return this.replies.get(id) as { bytes: Uint8Array; to: E; from: E | undefined } | undefined;
  }
}
