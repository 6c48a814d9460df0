// The settings the engine applies, in the engine's own terms: keepalive in milliseconds, the
// failure detector's thresholds, the HIP multihoming mode, and the interface preferences. Pure;
// the daemon hands the result to the engine whenever the settings change.
//
// Failure-detection sensitivity scales the silence detector (mobility/failure-detection.ts):
// "normal" is its default, tuned to leave a silent failure within about 1 s. The others move
// the trade-off between probes spent on false alarms and time to notice:
//   relaxed     floor 400 ms, 4 × SRTT, at most 1.5 s, 3 packets into the silence: for links
//               with long latency spikes (congested cellular), where "normal" probes often for
//               nothing; a silent failure is left within about 2 s.
//   aggressive  floor 100 ms, 2 × SRTT, at most 300 ms: fails over within about 0.5 s on short
//               paths, at the price of more probes on bursty ones. Still 2 packets: one
//               unanswered packet ends every exchange (see failure-detection.ts).

import type { Settings } from '../../src-shared/control-api.js';
import { DEFAULT_DETECTION, type DetectionPolicy } from '../mobility/failure-detection.js';
import type { MultihomingMode } from '../hip/locator-plan.js';
import { RANKED_KINDS } from '../mobility/local-interface-kind.js';
import type { InterfaceKind } from '../../src-shared/vocabulary.js';

export type FailureDetectionSetting = Settings['failureDetection'];

export interface EngineTuning {
  /** Idle keepalive interval on the primary pair. */
  keepaliveMs: number;
  /** The failure detector's policy; its keepaliveMs equals the one above. */
  detection: DetectionPolicy;
  /**
   * failover → fault tolerance (one SA, one pair at a time); load-sharing → simultaneous
   * multihoming (RFC 8047 §4.1: an SA pair per uplink, so traffic can move between uplinks
   * without tripping the anti-replay window), and a peer's unbound traffic is spread per flow
   * over its working unmetered uplinks (core/flow-spread.ts).
   */
  multihoming: MultihomingMode;
  /** Uplink names, most preferred first; ahead of the kind preference. */
  interfaceOrder: string[];
  /** Kinds of uplink, most preferred first, every kind the engine knows listed once. */
  kindPreference: InterfaceKind[];
  /** Uplinks whose pairs become the primary only as failover (pair-order.ts). */
  meteredInterfaces: string[];
}

const SENSITIVITY: Record<FailureDetectionSetting, Omit<DetectionPolicy, 'keepaliveMs'>> = {
  relaxed: { silenceFloorMs: 400, silenceRttFactor: 4, silenceMaxMs: 1_500, silencePackets: 3 },
  normal: {
    silenceFloorMs: DEFAULT_DETECTION.silenceFloorMs,
    silenceRttFactor: DEFAULT_DETECTION.silenceRttFactor,
    silenceMaxMs: DEFAULT_DETECTION.silenceMaxMs,
    silencePackets: DEFAULT_DETECTION.silencePackets,
  },
  aggressive: { silenceFloorMs: 100, silenceRttFactor: 2, silenceMaxMs: 300, silencePackets: 2 },
};

export function detectionPolicy(sensitivity: FailureDetectionSetting, keepaliveMs: number): DetectionPolicy {
  return { keepaliveMs, ...SENSITIVITY[sensitivity] };
}

/**
 * The user's kind order completed for the engine: kinds the user left out keep the engine's
 * default order after the listed ones; "other" is not a kind the engine ranks.
 */
export function kindPreference(order: readonly InterfaceKind[]): InterfaceKind[] {
  const listed = order.filter((k) => RANKED_KINDS.includes(k));
  return [...listed, ...RANKED_KINDS.filter((k) => !listed.includes(k))];
}

export function engineTuning(s: Settings): EngineTuning {
  const keepaliveMs = s.keepaliveIntervalS * 1000;
  return {
    keepaliveMs,
    detection: detectionPolicy(s.failureDetection, keepaliveMs),
    multihoming: s.multihomingMode === 'load-sharing' ? 'simultaneous' : 'fault-tolerance',
    interfaceOrder: [...s.interfaceOrder],
    kindPreference: kindPreference(s.interfacePreference),
    meteredInterfaces: [...s.meteredInterfaces],
  };
}

/** Which parts changed, so the engine re-applies only those (a new order re-ranks pairs; a new keepalive does not). */
export function tuningChanges(next: EngineTuning, previous: EngineTuning): Array<'keepalive' | 'detection' | 'multihoming' | 'interfaces' | 'metered'> {
  const out: Array<'keepalive' | 'detection' | 'multihoming' | 'interfaces' | 'metered'> = [];
  if (next.keepaliveMs !== previous.keepaliveMs) out.push('keepalive');
  if (JSON.stringify(next.detection) !== JSON.stringify(previous.detection)) out.push('detection');
  if (next.multihoming !== previous.multihoming) out.push('multihoming');
  if (JSON.stringify([next.interfaceOrder, next.kindPreference]) !== JSON.stringify([previous.interfaceOrder, previous.kindPreference])) out.push('interfaces');
  if (JSON.stringify([...next.meteredInterfaces].sort()) !== JSON.stringify([...previous.meteredInterfaces].sort())) out.push('metered');
  return out;
}
