// Credit-based authorization (RFC 8046 §5.5 / §3.3.2 of its model): before an address is
// verified, we may send there only as many bytes as the peer has recently sent us, so a forged
// or mistaken locator cannot turn us into a flooding tool aimed at a third party. The HIP
// association keeps one account for what it sends; the data plane keeps one per peer for ESP
// (DataplaneCore in JS, fp_peer in native/src/fastpath.c with the same policy).

export interface CreditPolicy {
  /** Credit is multiplied by this at every aging interval, so old traffic stops buying new sends. */
  agingFactor: number;
  agingIntervalMs: number;
}

/** RFC 8046's suggested aging: 7/8 every 5 s (recalled; documented in docs/design-notes.md). */
export const DEFAULT_CREDIT_POLICY: CreditPolicy = { agingFactor: 7 / 8, agingIntervalMs: 5_000 };

export class CreditAccount {
  private credit = 0;
  private agedAt: number;

  constructor(now: number, private readonly policy: CreditPolicy = DEFAULT_CREDIT_POLICY) {
    this.agedAt = now;
  }

  private age(now: number): void {
    if (now < this.agedAt) {
      this.agedAt = now; // the clock went back: restart the interval, keep the credit
      return;
    }
    const intervals = Math.floor((now - this.agedAt) / this.policy.agingIntervalMs);
    if (intervals <= 0) return;
    this.credit *= this.policy.agingFactor ** intervals;
    if (this.credit < 1) this.credit = 0;
    this.agedAt += intervals * this.policy.agingIntervalMs;
  }

  /** Bytes of an authenticated packet received from the peer (at any address). */
  received(now: number, bytes: number): void {
    this.age(now);
    this.credit += Math.max(0, bytes);
  }

  /** Whether `bytes` may go to an unverified address now; if so they are charged. */
  trySpend(now: number, bytes: number): boolean {
    this.age(now);
    if (bytes > this.credit) return false;
    this.credit -= bytes;
    return true;
  }

  balance(now: number): number {
    this.age(now);
    return Math.floor(this.credit);
  }
}
