// Credit-based authorization (RFC 8046 §5.6; overview in §3.3.2): before an address is
// verified, we may send there only as many bytes as the peer has recently sent us, so a forged
// or mistaken locator cannot turn us into a flooding tool aimed at a third party. §5.6.1: every
// packet from the peer adds its size; a packet for an UNVERIFIED address is sent (and its size
// deducted) only when the counter covers it, and otherwise dropped. §5.6.2: the counter is aged
// by multiplying it by CreditAgingFactor every CreditAgingInterval. The HIP
// association keeps one account for what it sends; the data plane keeps one per peer for ESP
// (DataplaneCore in JS, fp_peer in native/src/fastpath.c with the same policy).

export interface CreditPolicy {
  /** Credit is multiplied by this at every aging interval, so old traffic stops buying new sends. */
  agingFactor: number;
  agingIntervalMs: number;
}

/**
 * The values RFC 8046 §5.6.2 proposes: CreditAgingFactor 7/8, CreditAgingInterval 5 s. The RFC
 * reports they work for a TCP transfer at round-trip times up to 500 ms, leaves other values to
 * further study, and warns that a smaller factor or interval can starve the unverified window
 * before the address check ends; ours is one round trip, so the proposed values stand.
 */
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
