// The gap a handover cost, as the path manager (path-manager.ts) reports it.

import type { SelectionAction, SelectionCause } from '../mobility/pair-selection.js';

/** Causes that mean the old pair stopped carrying traffic (the others move a working flow). */
const OUTAGE_CAUSES: ReadonlySet<SelectionCause> = new Set(['data-silence', 'keepalive', 'icmp', 'peer-poll', 'pair-deleted']);
/** Last heard longer ago than this before the failure was noticed: the peer was idle, not cut off. */
const IDLE_BEFORE_DETECTION_MS = 2_000;

/**
 * The gap a handover cost: from the last packet heard from the peer to the switch when traffic
 * was flowing; from detection to switch when the tunnel was idle or the loss was reported by the
 * interface monitor; 0 for a move off a working pair.
 */
export function outageMs(a: Extract<SelectionAction, { type: 'primary-changed' }>, searching: boolean): number {
  if (!OUTAGE_CAUSES.has(a.cause) && !searching) return 0;
  // The monitor reports a pair's interface or address going away within milliseconds: the
  // failure began at detection, not at the last packet heard (which may be seconds older).
  if (a.cause === 'pair-deleted' && !searching) return Math.max(0, a.gapMs);
  // A search already running (silence noticed, every pair failed) says traffic was cut off.
  const flowing = searching || a.detectedAt - a.lastHeardAt <= IDLE_BEFORE_DETECTION_MS;
  return Math.max(0, flowing ? a.at - a.lastHeardAt : a.gapMs);
}
