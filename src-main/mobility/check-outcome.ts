// Whether the connectivity checks of one offer and answer all failed (RFC 9028 §4.6.2, seed 000
// §5.1.2: "in the case of failure, the end-hosts send a NOTIFY through the relay to each other").
// Pure: fed pair test results and told when the candidates change, it answers until told the
// peer heard (reported), then not again for that offer: a notice that found no way out is tried
// again at the next judgement.
//
// A direct pair counts as failed once its check failed FAILURES_TO_GIVE_UP times. Once is not
// enough: two hosts behind NATs check each other at once, and the first check of either side
// usually meets a NAT that has not seen the other side's packet yet; the retry after it (the
// background back-off, a second or two later) is the one that tells.

/** Failed checks of every direct pair before the offer's checks count as failed. */
export const FAILURES_TO_GIVE_UP = 2;

export class CheckOutcome {
  private readonly failures = new Map<string, number>();
  private passed = false;
  private told = false;

  /** New candidates on either side: a new offer and answer, judged afresh. */
  restart(): void {
    this.failures.clear();
    this.passed = false;
    this.told = false;
  }

  /** A direct pair's test result (relayed pairs are the fallback, not a check of this kind). */
  pairState(key: string, state: 'untested' | 'testing' | 'operational' | 'failed'): void {
    if (state === 'operational') this.passed = true;
    else if (state === 'failed') this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }

  /**
   * Whether the peer is to be told: every direct pair failed or is held (the peer told us its
   * checks failed, so we stop checking those too and must tell it the same, or it checks on
   * alone), none passed since the offer, the peer is reached through a relay that works (the
   * NOTIFY has a way to go, and the traffic a place), and no notice for this offer went out yet.
   */
  allFailed(directPairs: readonly string[], heldPairs: readonly string[], relayWorks: boolean): boolean {
    if (this.told || this.passed || !relayWorks || directPairs.length + heldPairs.length === 0) return false;
    return directPairs.every((k) => (this.failures.get(k) ?? 0) >= FAILURES_TO_GIVE_UP);
  }

  /** The notice for this offer went out: allFailed answers false until the next offer. */
  reported(): void {
    this.told = true;
  }
}
