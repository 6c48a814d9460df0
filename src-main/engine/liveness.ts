// When to doubt that a peer is still there. The data plane tells us how many packets we sent
// and when we last heard anything authenticated; a peer that has our traffic but says nothing
// for `silenceMs` gets a HIP probe, and one that does not answer that probe within
// `probeWindowMs` is given up on, so its association can be built afresh (a restarted peer
// has forgotten our SAs and would otherwise swallow our traffic forever). Pure: fed time and
// counters, it only answers "probe now?".

export interface LivenessPolicy {
  /** Sending without hearing anything for this long makes us ask. */
  silenceMs: number;
  /** How long the probe (with its retransmissions) may take before the peer is given up. */
  probeWindowMs: number;
}

export const DEFAULT_LIVENESS: LivenessPolicy = { silenceMs: 3_000, probeWindowMs: 6_000 };

interface PeerTrack { packetsOut: number; lastSentAt: number; lastHeardAt: number }

export class LivenessMonitor {
  private readonly peers = new Map<string, PeerTrack>();

  constructor(readonly policy: LivenessPolicy = DEFAULT_LIVENESS) {}

  /**
   * One look at a peer's counters. `heardAt` is the last authenticated inbound packet (ESP or
   * HIP), or the time the association was established. Returns true when a probe is due.
   */
  observe(peer: string, now: number, packetsOut: number, heardAt: number): boolean {
    let t = this.peers.get(peer);
    if (t === undefined) {
      t = { packetsOut, lastSentAt: Number.NEGATIVE_INFINITY, lastHeardAt: heardAt };
      this.peers.set(peer, t);
    }
    if (packetsOut !== t.packetsOut) {
      t.packetsOut = packetsOut;
      t.lastSentAt = now;
    }
    t.lastHeardAt = Math.max(t.lastHeardAt, heardAt);
    // Only traffic sent after the last thing we heard is in doubt: an idle tunnel is not dead.
    return t.lastSentAt > t.lastHeardAt && now - t.lastHeardAt >= this.policy.silenceMs;
  }

  /** The peer answered a probe: that counts as hearing from it. */
  heard(peer: string, now: number): void {
    const t = this.peers.get(peer);
    if (t !== undefined) t.lastHeardAt = Math.max(t.lastHeardAt, now);
  }

  forget(peer: string): void {
    this.peers.delete(peer);
  }
}
