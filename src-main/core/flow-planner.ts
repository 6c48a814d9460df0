// Flow plans per peer, made again only when what they are made from changed. The core asks at
// every counters report from the data plane (25 a second) because pair tests and uplinks change
// without a HIP event; planning a hundred bindings and comparing their routes each time took
// the daemon's main thread several percent of a core while traffic flowed.

import { planFlowRoutes, routesKey, type FlowRoutesInput, type FlowRoutesPlan, type OwnFlow } from './flow-routes.js';

export interface KeyedFlowPlan extends FlowRoutesPlan {
  /** routesKey(routes): to tell whether the data plane has these routes already. */
  readonly routesKey: string;
}

interface Planned {
  readonly own: readonly OwnFlow[];
  readonly situation: string;
  readonly plan: KeyedFlowPlan;
}

/** Everything of the input but our bindings, which are replaced whole when they change (compared by identity). */
function situation(input: FlowRoutesInput): string {
  return JSON.stringify([
    input.peerFlows ?? [], input.flowsAcked ?? true, input.flowsLeftOut ?? [], input.dataPath ?? null, input.pairs,
    input.uplinksUp === null ? null : [...input.uplinksUp].sort(), input.spreadUnbound ?? false,
  ]);
}

export class FlowPlanner {
  private readonly last = new Map<string, Planned>();

  /** planFlowRoutes(input) for the peer: the previous plan while the input is the same. */
  plan(peer: string, input: FlowRoutesInput): KeyedFlowPlan {
    const now = situation(input);
    const last = this.last.get(peer);
    const sameOwn = last !== undefined && (last.own === input.own || (last.own.length === 0 && input.own.length === 0));
    if (last !== undefined && sameOwn && last.situation === now) return last.plan;
    const plan = planFlowRoutes(input);
    const keyed: KeyedFlowPlan = { ...plan, routesKey: routesKey(plan.routes) };
    this.last.set(peer, { own: input.own, situation: now, plan: keyed });
    return keyed;
  }

  forget(peer: string): void {
    this.last.delete(peer);
  }
}
