// Load balancing among peers (seed 002 §3.3.3, Figure 3): the same flow (one FID, one
// selector) runs with several peers, and the host places each peer's instance of it on one of
// its suitable interfaces so that the interfaces carry the instances evenly, telling each peer
// with E-LOCATOR naming the one interface's locator. Here "the same flow with several peers"
// is a binding without an interface ("follow the primary pair") that the user set with the same
// selector towards two or more peers (FIDs are unique in our table, so each peer's instance has
// its own), in load sharing; suitable interfaces are our
// unmetered uplinks that are up. The seed leaves the policy open; ours is the instance count:
// each interface carries as many instances as any other, give or take one.
//
// Pure and sticky: an instance keeps the interface it had while that interface is suitable and
// the counts stay within one, so a peer joining or leaving moves at most one other instance
// (each move is an UPDATE to that peer, and its flow's packets change path).

/** One peer's instance of a shared flow. */
export interface FlowInstance {
  peer: string;
  fid: number;
}

const keyOf = (i: FlowInstance): string => `${i.fid}|${i.peer}`;

/**
 * The interface each instance goes on (by `${fid}|${peer}`). `uplinks` best first; `previous`
 * the last answer. No uplink: an empty map (the instances follow their primary pairs).
 */
export function balanceInstances(instances: readonly FlowInstance[], uplinks: readonly string[], previous: ReadonlyMap<string, string>): Map<string, string> {
  const placed = new Map<string, string>();
  if (uplinks.length === 0) return placed;
  const order = [...instances].sort((a, b) => a.fid - b.fid || a.peer.localeCompare(b.peer));
  const load = new Map(uplinks.map((u) => [u, 0]));
  const leastLoaded = (): string => uplinks.reduce((best, u) => (load.get(u)! < load.get(best)! ? u : best));
  for (const i of order) {
    const had = previous.get(keyOf(i));
    if (had !== undefined && load.has(had)) {
      placed.set(keyOf(i), had);
      load.set(had, load.get(had)! + 1);
    }
  }
  for (const i of order) {
    if (placed.has(keyOf(i))) continue;
    const u = leastLoaded();
    placed.set(keyOf(i), u);
    load.set(u, load.get(u)! + 1);
  }
  // Kept places may leave the counts uneven (an uplink came back, a peer left): move the last
  // instances of the busiest interface, one at a time, until no two differ by more than one.
  for (;;) {
    const most = uplinks.reduce((best, u) => (load.get(u)! > load.get(best)! ? u : best));
    const least = leastLoaded();
    if (load.get(most)! - load.get(least)! <= 1) break;
    const moving = [...order].reverse().find((i) => placed.get(keyOf(i)) === most)!;
    placed.set(keyOf(moving), least);
    load.set(most, load.get(most)! - 1);
    load.set(least, load.get(least)! + 1);
  }
  return placed;
}

/**
 * The instances of shared flows among bindings: a binding without an interface whose selector
 * (as text) another peer's binding without an interface also has.
 */
export function sharedInstances(bindings: readonly { peer: string; fid: number; selectorKey: string; interface: string | null }[]): FlowInstance[] {
  const peersOf = new Map<string, Set<string>>();
  for (const b of bindings) {
    if (b.interface === null) peersOf.set(b.selectorKey, (peersOf.get(b.selectorKey) ?? new Set()).add(b.peer));
  }
  return bindings.filter((b) => b.interface === null && (peersOf.get(b.selectorKey)?.size ?? 0) >= 2).map((b) => ({ peer: b.peer, fid: b.fid }));
}

/** A binding as HostCore holds it (by peer): the balancer gives shared ones an interface. */
export interface BalancedFlow {
  fid: number;
  selector: unknown;
  interface: string | null;
}

/** HostCore's: the last placement, applied to each new set of bindings and uplinks. */
export class PeerBalancer {
  private placed = new Map<string, string>();

  /**
   * Copies of the bindings with each shared flow's instance on its interface; `uplinks` are the
   * suitable interfaces, best first ([]: no balancing, e.g. not in load sharing).
   */
  apply<T extends BalancedFlow>(byPeer: ReadonlyMap<string, readonly T[]>, uplinks: readonly string[]): Map<string, T[]> {
    const all = [...byPeer].flatMap(([peer, list]) => list.map((b) => ({ peer, fid: b.fid, selectorKey: JSON.stringify(b.selector), interface: b.interface })));
    this.placed = uplinks.length === 0 ? new Map<string, string>() : balanceInstances(sharedInstances(all), uplinks, this.placed);
    return new Map([...byPeer].map(([peer, list]) => [peer, list.map((b) => {
      const on = this.placed.get(keyOf({ peer, fid: b.fid }));
      return on === undefined ? b : { ...b, interface: on };
    })]));
  }

  /** Says in a flow's status row why a balanced flow is where it is; leaves other rows alone. */
  reason(peer: string, fid: number, row: { reason?: string }): void {
    const on = this.placed.get(keyOf({ peer, fid }));
    if (on !== undefined) row.reason = `placed on ${on} to balance the load among peers`;
  }
}
