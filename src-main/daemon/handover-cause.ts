// Why a handover happened, in the words the UI and the tray use. The engine's handover says why
// pair selection moved (a probe failed, a pair was deleted, a better one passed) and, when the
// interface monitor's report moved it, what the monitor said of the address it left: its uplink
// went down, or the address went away.

import type { HandoverCause } from '../../src-shared/vocabulary.js';
import type { PathMoveCause } from '../core/path-manager.js';
import type { Handover } from '../engine/engine.js';

const FROM_ENGINE: Record<PathMoveCause, HandoverCause> = {
  'data-silence': 'pair-failed', keepalive: 'pair-failed', icmp: 'pair-failed', 'peer-poll': 'pair-failed',
  // 'pair-added' moves traffic only when no pair was left: the old one's interface went away.
  'pair-deleted': 'address-lost', 'pair-added': 'interface-down', 'better-pair': 'better-path', policy: 'policy',
  manual: 'user', 'peer-moved': 'peer-moved', connect: 'better-path',
};

/** The cause to show for an engine handover. */
export function handoverCause(h: Pick<Handover, 'cause' | 'localCause'>): HandoverCause {
  if ((h.cause === 'pair-deleted' || h.cause === 'pair-added') && h.localCause !== undefined) return h.localCause;
  return FROM_ENGINE[h.cause] ?? 'policy';
}
