// Where a binding goes when the engine has not placed it (the engine holds no bindings of that
// peer yet, as right after `flow.set`), read from the daemon's status. The engine's placement is
// authoritative; this one feeds the status's pairs to the same pure function the engine plans
// with (core/flow-routes.ts), so the two give the same state and reason for the same pairs.
//
// The status lacks what only the engine knows: each pair's outbound SA (so no route comes of
// this) and whether the peer has acknowledged the binding (taken as acknowledged).

import type { Endpoint } from '../../src-shared/control-api.js';
import { planFlowRoutes, type FlowPairView, type FlowPlacement } from '../core/flow-routes.js';
import type { FlowBinding } from './flow-table.js';

/** A locator pair as the status reports it (a subset of the control API's LocatorPair). */
export interface FlowPair {
  local: Endpoint;
  remote: Endpoint;
  interface: string | null;
  state: 'operational' | 'testing' | 'failed';
  primary: boolean;
  /** The peer locator's verification state; absent = verified (an engine that reports none). */
  remoteState?: 'ACTIVE' | 'UNVERIFIED' | 'DEPRECATED';
}

export interface FlowWorld {
  /** Names of the uplinks that are up; null when this host does not follow its interfaces. */
  uplinksUp: ReadonlySet<string> | null;
  /** The pairs of the peer's association, best first; undefined for a peer with none (or unknown). */
  pairsOf(peer: string): readonly FlowPair[] | undefined;
  /** Whether the peer is on the peer list. */
  knows(peer: string): boolean;
}

/** The binding placed on the peer's pairs as the status shows them (peer list membership aside). */
export function placeFromStatus(b: FlowBinding, world: FlowWorld): FlowPlacement {
  const pairs = world.pairsOf(b.peer) ?? [];
  const primary = pairs.find((p) => p.primary);
  const views: FlowPairView[] = pairs.map((p) => ({
    local: p.local, remote: p.remote, ifname: p.interface, state: p.state, verified: (p.remoteState ?? 'ACTIVE') === 'ACTIVE', spiOut: 0,
  }));
  const own = { fid: b.fid, selector: b.selector, interface: b.interface, ...(b.policy === undefined ? {} : { policy: b.policy }) };
  const plan = planFlowRoutes({
    own: [own],
    dataPath: primary && { local: primary.local, remote: primary.remote, spiOut: 0 },
    pairs: views,
    uplinksUp: world.uplinksUp,
  });
  return plan.flows[0]!;
}
