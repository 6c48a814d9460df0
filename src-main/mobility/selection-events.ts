// What pair selection (pair-selection.ts) says and shows: its states, why the primary moved,
// the actions it queues for its owner, and the status rows of its pairs.

import type { InterfaceKind } from '../../src-shared/vocabulary.js';
import type { LocatorPair } from './pair-order.js';

/** What became of an ICMP error about a pair (icmpError). */
export type IcmpHintOutcome = 'icmp-hint' | 'icmp-hint-limited' | 'icmp-not-primary';

export type SelectionState = 'no-primary' | 'testing-primary' | 'primary-operational';

/** A pair's test result, as status shows it. */
export type PairTestState = 'untested' | 'testing' | 'operational' | 'failed';

/** Which directions the last successful test proved. */
export type PairDirection = 'bidirectional' | 'outbound';

/** Why probing started, and so why the primary moved. */
export type SelectionCause =
  | 'connect'
  | 'data-silence' // outbound data, no authenticated inbound for the silence threshold
  | 'keepalive' // the idle keepalive went unanswered
  | 'icmp' // an ICMP error hinted, and a test confirmed it
  | 'peer-poll' // the peer is testing, and our direction proved dead too
  | 'pair-added'
  | 'pair-deleted'
  | 'better-pair' // a preferred pair passed its background test (make-before-break)
  | 'policy' // the interface order or the peer's preference changed
  | 'manual';

export type SelectionAction =
  | { type: 'probe'; pair: LocatorPair; probeId: number; report: number[] }
  | {
      type: 'primary-changed';
      old: LocatorPair | undefined;
      new: LocatorPair | undefined;
      cause: SelectionCause;
      /** From the moment the failure was detected (or the move decided) to this switch. */
      gapMs: number;
      detectedAt: number;
      /** The last authenticated packet from the peer before the move: `at` minus this bounds the outage. */
      lastHeardAt: number;
      at: number;
    }
  | { type: 'pair-state'; pair: LocatorPair; state: PairTestState; direction: PairDirection | undefined; rttMs: number | undefined }
  /** Copy data onto `pair` as well, for a bounded while. */
  | { type: 'spare'; pair: LocatorPair }
  | { type: 'state'; from: SelectionState; to: SelectionState; cause: SelectionCause };

export interface PairStatus {
  pair: LocatorPair;
  ifname: string;
  kind: InterfaceKind;
  state: PairTestState;
  direction: PairDirection | undefined;
  primary: boolean;
  rttMs: number | undefined;
  lastOkAt: number | undefined;
  lastFailAt: number | undefined;
  /** Last authenticated packet from the peer that arrived on the reverse of this pair. */
  lastHeardAt: number | undefined;
  /** Left out of the background checks: the peer said its checks on it failed (holdChecks). */
  checksHeld: boolean;
}

export interface SelectionStatus {
  state: SelectionState;
  primary: LocatorPair | undefined;
  /** The pair the peer's packets last arrived on (ours → theirs): may differ from `primary`. */
  inbound: LocatorPair | undefined;
  pairs: PairStatus[];
}
