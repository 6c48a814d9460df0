// How the path manager (path-manager.ts) shows a peer's pairs: in events and in status.

import type { Endpoint } from '../hip/host.js';
import type { PeerLocator as HipPeerLocator } from '../hip/peer-locators.js';
import type { CandidateName } from '../hip/local-locators.js';
import type { InterfaceKind } from '../../src-shared/vocabulary.js';
import type { PairTestState, SelectionState } from '../mobility/pair-selection.js';

/**
 * A pair as events and status name it: endpoints, the uplink our end sits on, and how the peer's
 * end was found ('relayed': through a relay, the others direct).
 */
export interface PathView { local: Endpoint; remote: Endpoint; ifname: string | null; kind: InterfaceKind; candidate: CandidateName }

export interface PairView extends PathView {
  state: PairTestState;
  primary: boolean;
  remoteState: HipPeerLocator['state'];
  rttMs?: number;
  lastHeardMs?: number;
  /** The peer's packets last arrived on this pair (seed 003 §5.4: not always the primary). */
  inbound?: true;
  /** Load sharing: the pair carries a share of the peer's unbound traffic, spread per flow (HostCore fills it in). */
  spread?: true;
  /** Simultaneous multihoming: the SA pair this pair's traffic uses (the engine fills these in). */
  spiIn?: number;
  spiOut?: number;
  /** Not checked in the background: the peer said its checks failed (CONNECTIVITY_CHECKS_FAILED). */
  checksHeld?: true;
}

export interface PeerPathsView {
  state: SelectionState;
  primary: PathView | undefined;
  /** The pair the peer's packets last arrived on (ours ← theirs); with one-way failures not the primary. */
  inbound: PathView | undefined;
  pairs: PairView[];
}
