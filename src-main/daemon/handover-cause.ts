// Why a handover happened, in the words the UI and the tray use. The engine knows why pair
// selection moved (a probe failed, a pair was deleted, a better one passed); only the interface
// monitor knows why a pair was deleted: its uplink went down, or its address went away.

import type { HandoverCause } from '../../src-shared/control-api.js';
import type { LocatorCause } from '../mobility/local-addresses.js';

const FROM_ENGINE: Record<string, HandoverCause> = {
  'data-silence': 'pair-failed', keepalive: 'pair-failed', icmp: 'pair-failed', 'peer-poll': 'pair-failed',
  // 'pair-added' moves traffic only when no pair was left: the old one's interface went away.
  'pair-deleted': 'address-lost', 'pair-added': 'interface-down', 'better-pair': 'better-path', policy: 'policy',
  manual: 'user', 'peer-moved': 'peer-moved', connect: 'better-path',
};

/** The monitor's word on a local address counts for a handover this soon after it. */
const MONITOR_CAUSE_FRESH_MS = 10_000;

export class HandoverCauses {
  /** The last reason each local address stopped being usable, and when. */
  private readonly lastLoss = new Map<string, { cause: HandoverCause; at: number }>();

  /** The interface monitor reported these changes at `now`. */
  noteLocatorCauses(causes: readonly LocatorCause[], now: number): void {
    for (const c of causes) {
      if (c.type === 'not-operational') this.lastLoss.set(c.address, { cause: 'interface-down', at: now });
      else if (c.type === 'lost' || c.type === 'withdrawn') {
        // Withdrawn after being down for the hold: the uplink going down is still the reason.
        const earlier = this.lastLoss.get(c.address);
        if (earlier?.cause !== 'interface-down' || now - earlier.at > MONITOR_CAUSE_FRESH_MS) this.lastLoss.set(c.address, { cause: 'address-lost', at: now });
      } else if (c.type === 'appeared' || c.type === 'returned' || c.type === 'operational') this.lastLoss.delete(c.address);
    }
  }

  /** The cause to show for the engine's `engineCause`, moving off `fromLocal` (our address). */
  causeOf(engineCause: string, fromLocal: string | undefined, now: number): HandoverCause {
    const cause = FROM_ENGINE[engineCause] ?? 'policy';
    if ((engineCause !== 'pair-deleted' && engineCause !== 'pair-added') || fromLocal === undefined) return cause;
    const loss = this.lastLoss.get(fromLocal);
    return loss !== undefined && now - loss.at <= MONITOR_CAUSE_FRESH_MS ? loss.cause : cause;
  }
}
