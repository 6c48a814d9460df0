// Where each flow goes right now, from what the engine reports (uplinks, each peer's locator
// pairs). Pure: the same inputs always give the same answer, so the status, the UI and later
// the data plane agree.
//
//   active       the bound interface carries an operational pair to the peer (or, unbound,
//                the peer's primary pair is up): the flow uses that pair.
//   requested    the interface is there but no proven pair to the peer uses it yet (E-LOCATOR
//                would announce it; until then the flow rides the primary pair).
//   unavailable  the interface is gone (or the peer is): the flow falls back to the primary.
//
// E-LOCATOR (seed 002 §3.3): once signalling exists, "requested" is the time between sending
// the UPDATE with E-LOCATOR for this FID and the peer's acknowledgement (RFC 6089 status 0).
// The hook is `requested` here, and the encoding is binary-selector.ts.

import type { Endpoint } from '../../src-shared/control-api.js';
import type { FlowBinding } from './flow-table.js';

export type FlowState = 'requested' | 'active' | 'unavailable';

/** A locator pair as the flow model needs it (a subset of the control API's LocatorPair). */
export interface FlowPair {
  local: Endpoint;
  remote: Endpoint;
  interface: string | null;
  state: 'operational' | 'testing' | 'failed';
  primary: boolean;
}

export interface FlowWorld {
  /** Names of the uplinks that are up; null when this host does not follow its interfaces. */
  uplinksUp: ReadonlySet<string> | null;
  /** The pairs of the peer's association, best first; undefined for a peer with none (or unknown). */
  pairsOf(peer: string): readonly FlowPair[] | undefined;
  /** Whether the peer is on the peer list. */
  knows(peer: string): boolean;
}

export interface FlowPlacement {
  state: FlowState;
  /** The pair the flow's packets take now; absent while the peer has no usable pair. */
  pair?: { local: Endpoint; remote: Endpoint };
}

function route(p: FlowPair | undefined): FlowPlacement['pair'] {
  return p ? { local: p.local, remote: p.remote } : undefined;
}

function placement(state: FlowState, pair: FlowPair | undefined): FlowPlacement {
  const r = route(pair);
  return r ? { state, pair: r } : { state };
}

export function placeFlow(b: FlowBinding, world: FlowWorld): FlowPlacement {
  if (!world.knows(b.peer)) return { state: 'unavailable' };
  const pairs = world.pairsOf(b.peer) ?? [];
  const primary = pairs.find((p) => p.primary);
  const primaryUp = primary?.state === 'operational' ? primary : undefined;
  if (b.interface === null) return placement(primaryUp ? 'active' : 'requested', primary);
  if (world.uplinksUp !== null && !world.uplinksUp.has(b.interface)) return placement('unavailable', primary);
  const onInterface = pairs.filter((p) => p.interface === b.interface && p.state === 'operational');
  const best = onInterface.find((p) => p.primary) ?? onInterface[0];
  if (best) return placement('active', best);
  // The uplink is there, or this host cannot tell: until a pair on it is proven the flow rides the primary.
  return placement('requested', primary);
}

/** The control API's words for the states (src-shared flowStatus). */
export const API_FLOW_STATE: Record<FlowState, 'bound' | 'pending' | 'fallback'> = {
  active: 'bound',
  requested: 'pending',
  unavailable: 'fallback',
};
