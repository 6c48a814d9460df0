// Our flow bindings and where each peer's flows go, sans-IO: the bindings as set and as placed
// (shared flows balanced among uplinks, peer-balance.ts), the peer told of each change, each
// peer's flow plan (flow-routes.ts through FlowPlanner) and in load sharing its spread
// (flow-spread.ts through FlowSpreads), and the routes the data plane is given when they change.
// HostCore marks the peers whose plan may have moved and asks for the routes once per input.

import { hitKey } from '../../src-shared/vocabulary.js';
import type { AnnouncedFlow, AssociationSnapshot, Endpoint } from '../hip/host.js';
import { textToHit } from '../hip/wire/address.js';
import type { LocatorPair } from '../mobility/pair-order.js';
import type { DataplaneCommand } from './core-io.js';
import { FlowPlanner, type KeyedFlowPlan } from './flow-planner.js';
import { routesKey, type FlowPlacement, type OwnFlow, type PlannedFlowRoute } from './flow-routes.js';
import { spreadPlacement, spreadRoutes, type SpreadPairView } from './flow-spread.js';
import { FlowSpreads } from './flow-spreads.js';
import type { OutboundSas } from './outbound-sas.js';
import type { PathManager, PeerPathsView } from './path-manager.js';
import { PeerBalancer } from './peer-balance.js';

/** One of our flow bindings, to the peer with this HIT. */
export interface PeerFlowBinding extends OwnFlow {
  peerHit: Uint8Array;
}

export interface FlowSteeringContext {
  readonly ownHit: Uint8Array;
  /** Where the commands go, in order. */
  readonly commands: DataplaneCommand[];
  readonly paths: Pick<PathManager, 'status' | 'localLocators'>;
  readonly outbound: OutboundSas;
  /** The interface monitor reports our locators: uplinks come and go. */
  readonly monitored: boolean;
  /** Shared flows are balanced among our uplinks (load sharing, with monitored locators). */
  readonly balanced: boolean;
  association(peerHit: Uint8Array): AssociationSnapshot | undefined;
  isVerified(peerHit: Uint8Array, remote: Endpoint): boolean;
  announceFlows(peerHit: Uint8Array, flows: AnnouncedFlow[]): void;
}

interface PlannedRoutes { routes: PlannedFlowRoute[]; routesKey: string }

/** Load sharing's plan of a peer, with what it was made from. */
interface SpreadPlan extends PlannedRoutes {
  basis: KeyedFlowPlan;
  primaryIfname: string | null;
  revision: number;
  flows: readonly FlowPlacement[];
}

export class FlowSteering {
  /** Our flow bindings by peer (HIT text) as set, and as placed. */
  private bindingsSet = new Map<string, OwnFlow[]>();
  private bindings = new Map<string, OwnFlow[]>();
  private readonly balancer = new PeerBalancer();
  /** Per peer, the routes the data plane was last given (as routesKey), and where each flow is. */
  private readonly routesSent = new Map<string, string>();
  private readonly placed = new Map<string, readonly FlowPlacement[]>();
  private readonly planner = new FlowPlanner();
  /** Peers whose flow routes may have changed since they were last planned. */
  private readonly dirty = new Set<string>();
  /** Load sharing: unbound traffic spread over pairs per flow. */
  private readonly spreads: FlowSpreads;
  private readonly spreadPlans = new Map<string, SpreadPlan>();

  constructor(private readonly ctx: FlowSteeringContext) {
    this.spreads = new FlowSpreads(ctx.ownHit);
  }

  /** Our flow bindings, all of them for every peer. */
  set(bindings: readonly PeerFlowBinding[]): void {
    const next = new Map<string, OwnFlow[]>();
    for (const b of bindings) {
      const peer = hitKey(b.peerHit);
      const list = next.get(peer) ?? [];
      const own: OwnFlow = { fid: b.fid, selector: b.selector, interface: b.interface };
      if (b.policy !== undefined) own.policy = b.policy;
      list.push(own);
      next.set(peer, list);
    }
    this.bindingsSet = next;
    this.place();
  }

  hasBindings(): boolean {
    return this.bindingsSet.size > 0;
  }

  /** The bindings as set, with shared flows balanced among our uplinks (peer-balance.ts); each peer hears of a change. */
  place(): void {
    const uplinks = this.ctx.balanced
      ? [...new Set(this.ctx.paths.localLocators().filter((l) => l.operational && l.metered !== true).sort((a, b) => a.preferenceRank - b.preferenceRank).map((l) => l.ifname))]
      : [];
    const next = this.balancer.apply(this.bindingsSet, uplinks);
    for (const peer of new Set([...this.bindings.keys(), ...next.keys()])) {
      this.dirty.add(peer);
      const flows = next.get(peer) ?? [];
      // The peer hears every change of its bindings (an empty set withdraws them), so its
      // return traffic follows ours; an unchanged set sends nothing.
      // A policy stays on this host: the peer hears of a change in what it steers back only.
      const announced = (list: readonly OwnFlow[]) => list.map((f) => ({ fid: f.fid, selector: { ...f.selector }, ifname: f.interface }));
      if (JSON.stringify(announced(flows)) === JSON.stringify(announced(this.bindings.get(peer) ?? []))) continue;
      this.ctx.announceFlows(textToHit(peer)!, announced(flows));
    }
    this.bindings = next;
  }

  /** Where each of our flows to the peer goes now (by FID); undefined for a peer without bindings. */
  placements(now: number, peerHit: Uint8Array): FlowPlacement[] | undefined {
    const peer = hitKey(peerHit);
    if (!this.bindings.has(peer)) return undefined;
    if (!this.placed.has(peer)) this.plan(now, peer);
    return this.placed.get(peer)?.map((f) => ({ ...f }));
  }

  /** The peer's flows may have moved (a HIP event of its, or its path moved). */
  changed(peer: string): void {
    this.dirty.add(peer);
  }

  /** Every peer with flows may see them move: pair tests and uplinks change without a HIP event. */
  mayHaveMoved(): void {
    for (const peer of this.bindings.keys()) this.dirty.add(peer);
    for (const peer of this.routesSent.keys()) this.dirty.add(peer);
    for (const peer of this.spreads.peers()) this.dirty.add(peer);
  }

  /** Plans the dirty peers' flows; routes that changed go to the data plane. */
  refresh(now: number): void {
    if (this.dirty.size === 0) return;
    const peers = [...this.dirty];
    this.dirty.clear();
    for (const peer of peers) {
      const { routes, routesKey: key } = this.plan(now, peer);
      if ((this.routesSent.get(peer) ?? '[]') === key) continue;
      if (routes.length > 0) this.routesSent.set(peer, key);
      else this.routesSent.delete(peer);
      this.ctx.commands.push({ type: 'set-flow-routes', peerHit: textToHit(peer)!, routes });
    }
  }

  /**
   * The user moved the peer off its primary pair (`view` is from before): leaving an interface
   * takes it out of the spread; choosing a pair (`to`) pins unbound traffic to it (flow-spreads.ts).
   */
  failedOver(peer: string, view: PeerPathsView | undefined, to: LocatorPair | undefined): void {
    const left = view?.primary?.ifname;
    const target = to && view?.pairs.find((p) => p.local.address === to.local && p.remote.address === to.remote);
    if (to === undefined && left) this.spreads.failedAway(peer, left);
    if (target) this.spreads.chosen(peer, target.ifname, target.local, target.remote);
  }

  /** Whether the pair is one the peer's unbound traffic is spread over now. */
  spreadCarries(peer: string, local: Endpoint, remote: Endpoint): boolean {
    return this.spreads.carries(peer, local, remote);
  }

  /** The peer's flow plan (and in load sharing its spread), remembered for status; returns the routes and their key. */
  private plan(now: number, peer: string): PlannedRoutes {
    const own = this.bindings.get(peer) ?? [];
    const peerHit = textToHit(peer)!;
    const a = this.ctx.association(peerHit);
    const peerFlows = a?.peerFlows ?? [];
    const loadSharing = a?.multihoming === 'simultaneous';
    if (!loadSharing) this.forgetSpread(peer);
    if (own.length === 0 && peerFlows.length === 0 && !loadSharing) {
      this.placed.delete(peer);
      this.planner.forget(peer);
      return { routes: [], routesKey: '[]' };
    }
    const { outbound, paths } = this.ctx;
    const out = outbound.get(peer);
    const keyed = a !== undefined && (a.state === 'ESTABLISHED' || a.state === 'R2-SENT');
    const view = keyed && out ? paths.status(now, peerHit) : undefined;
    const dataPath = keyed && out ? { local: out.local, remote: out.remote, spiOut: out.activeSpi } : undefined;
    const locals = paths.localLocators();
    const pairs: SpreadPairView[] = (view?.pairs ?? []).map((p) => ({
      local: p.local, remote: p.remote, ifname: p.ifname, state: p.state,
      verified: this.ctx.isVerified(peerHit, p.remote),
      spiOut: out ? outbound.spiFor(out, a, p.ifname ?? undefined, p.remote) : 0,
      metered: locals.some((l) => l.ifname === p.ifname && l.metered === true),
      relayed: p.candidate === 'relayed',
    }));
    const plan = this.planner.plan(peer, {
      own,
      peerFlows,
      flowsAcked: a?.flowsAcked ?? true,
      flowsLeftOut: a?.flowsLeftOut ?? [],
      dataPath,
      pairs,
      uplinksUp: this.ctx.monitored ? new Set(locals.filter((l) => l.operational).map((l) => l.ifname)) : null,
      spreadUnbound: loadSharing,
    });
    for (const f of plan.flows) if (f.state === 'bound' && f.reason === undefined) this.balancer.reason(peer, f.fid, f);
    if (!loadSharing) {
      this.placed.set(peer, plan.flows);
      return plan;
    }
    const spread = this.spreadPlan(peer, peerHit, plan, view?.primary?.ifname ?? null, { pairs, dataPath });
    this.placed.set(peer, spread.flows);
    return spread;
  }

  /**
   * Load sharing: the flow plan with the spread, made again only when the flow plan (which the
   * pairs and the data path make: FlowPlanner keeps it while they are the same), the primary's
   * interface or the spread's own state changed. Otherwise every counters report would plan
   * the spread and key its routes again for every peer.
   */
  private spreadPlan(peer: string, peerHit: Uint8Array, basis: KeyedFlowPlan, primaryIfname: string | null, input: Parameters<FlowSpreads['plan']>[3]): SpreadPlan {
    const last = this.spreadPlans.get(peer);
    if (last !== undefined && last.basis === basis && last.primaryIfname === primaryIfname && last.revision === this.spreads.revision(peer)) return last;
    const members = this.spreads.plan(peer, peerHit, primaryIfname, input);
    const routes = [...basis.routes, ...spreadRoutes(members)];
    const flows = members.length < 2 ? basis.flows : basis.flows.map((f) => (f.spread ? spreadPlacement(f, members) : f));
    const next: SpreadPlan = { basis, primaryIfname, revision: this.spreads.revision(peer), flows, routes, routesKey: routesKey(routes) };
    this.spreadPlans.set(peer, next);
    return next;
  }

  private forgetSpread(peer: string): void {
    this.spreads.forget(peer);
    this.spreadPlans.delete(peer);
  }
}
