// When each peer last proved itself alive: ESP the data plane opened, or a HIP exchange the core
// authenticated (a base exchange completing, a rekey, an answered probe). One record for both,
// so a peer that only talks HIP (an idle tunnel kept by UPDATEs) does not look silent.

export class PeerLiveness {
  /** By peer HIT key: when an authenticated HIP exchange with the peer last completed. */
  private readonly hipHeardAt = new Map<string, number>();

  hipHeard(peer: string, now: number): void {
    this.hipHeardAt.set(peer, now);
  }

  /**
   * How long ago the peer was last heard, whichever came later of its HIP exchanges and the data
   * plane's ESP (`espAgoMs`); undefined when neither ever was. The HIP record outlives the
   * association, so a peer that went away still says when it was last seen.
   */
  agoMs(peer: string, now: number, espAgoMs: number | null | undefined): number | undefined {
    const hip = this.hipHeardAt.get(peer);
    const ages = [espAgoMs ?? undefined, hip === undefined ? undefined : now - hip].filter((x): x is number => x !== undefined);
    return ages.length === 0 ? undefined : Math.max(0, Math.round(Math.min(...ages)));
  }
}
