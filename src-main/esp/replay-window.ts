// Anti-replay window (RFC 4303 §3.4.3) as a ring of bits over Uint32 words, cleared a word at a
// time as the right edge moves (the RFC 6479 layout): constant work per packet, no allocation.
// One spare word beyond the window keeps the right edge's own word free of stale bits.

export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

/** RFC 4303 asks for at least 32 and recommends 64; we require far more (see constructor). */
export const DEFAULT_REPLAY_WINDOW = 2048;
export const MIN_REPLAY_WINDOW = 1024;

export class ReplayWindow {
  /** Sequence numbers in (top − size, top] are judged by the bitmap; older ones are too old. */
  readonly size: number;
  private readonly words: Uint32Array;
  private readonly ringBits: number;
  /** Highest sequence number accepted so far; 0 before the first (senders start at 1). */
  private top = 0;

  /**
   * A window this wide keeps packets that multipath, Wi-Fi retries and handovers reorder by
   * hundreds of packets; it is rounded up to whole 32-bit words.
   */
  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < MIN_REPLAY_WINDOW || size > 1 << 24) {
      throw new RangeError(`replay window must be an integer in [${MIN_REPLAY_WINDOW}, 2^24], got ${size}`);
    }
    this.size = Math.ceil(size / 32) * 32;
    this.words = new Uint32Array(this.size / 32 + 1);
    this.ringBits = this.words.length * 32;
  }

  /** Highest sequence number accepted (0 if none). */
  get highest(): number {
    return this.top;
  }

  /** Whether a packet with this sequence number may be authenticated; changes nothing. */
  check(seq: number): ReplayVerdict {
    if (!Number.isInteger(seq) || seq <= 0 || seq > 0xffffffff) return 'too-old';
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.size) return 'too-old';
    const bit = seq % this.ringBits;
    return (this.words[bit >>> 5]! & (1 << (bit & 31))) !== 0 ? 'replay' : 'ok';
  }

  /** Records a packet whose ICV verified. Call only after check() said 'ok'. */
  accept(seq: number): void {
    if (!Number.isInteger(seq) || seq <= 0 || seq > 0xffffffff) return;
    if (seq > this.top) {
      const n = this.words.length;
      const topWord = Math.floor((this.top % this.ringBits) / 32);
      // Words the edge passes over hold bits of sequence numbers a whole ring older: clear them.
      const jump = Math.floor(seq / 32) - Math.floor(this.top / 32);
      if (jump >= n) {
        this.words.fill(0);
      } else {
        for (let w = topWord, k = 0; k < jump; k++) {
          w = w + 1 === n ? 0 : w + 1;
          this.words[w] = 0;
        }
      }
      this.top = seq;
    } else if (this.top - seq >= this.size) {
      return;
    }
    const bit = seq % this.ringBits;
    const w = bit >>> 5;
    this.words[w] = this.words[w]! | (1 << (bit & 31));
  }
}
