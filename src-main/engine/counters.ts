// Traffic and drop counters of one engine. Every packet the engine refuses is counted under
// the reason it was refused, so an operator can tell a forged flood from a broken path.

export class EngineCounters {
  hipIn = 0;
  hipOut = 0;
  espIn = 0;
  espOut = 0;
  /** Make-before-break: ESP packets also sent on a spare pair (copies, not in espOut). */
  espSpareCopies = 0;
  /** Sent while the path was in doubt and sent again on the new pair (not in espOut). */
  espResent = 0;
  private readonly drops = new Map<string, number>();

  count(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  /** Merges the engine's own drops with the protocol host's (prefixed "hip-"). */
  snapshot(host: { received: number; sent: number; dropped: Record<string, number> }, icmpHints: Readonly<Record<string, number>> = {}): {
    hipIn: number; hipOut: number; espIn: number; espOut: number; espSpareCopies: number; espResent: number; dropped: Record<string, number>; droppedTotal: number;
    icmpHints: Record<string, number>;
  } {
    const dropped: Record<string, number> = {};
    for (const [k, v] of this.drops) dropped[k] = v;
    for (const [k, v] of Object.entries(host.dropped)) if (v > 0) dropped[`hip-${k}`] = v;
    const droppedTotal = Object.values(dropped).reduce((a, b) => a + b, 0);
    return { hipIn: this.hipIn, hipOut: this.hipOut, espIn: this.espIn, espOut: this.espOut, espSpareCopies: this.espSpareCopies, espResent: this.espResent, dropped, droppedTotal, icmpHints: { ...icmpHints } };
  }
}
