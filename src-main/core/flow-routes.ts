// Where each flow to one peer goes (seed 002 §3): our bindings put a flow on one of our
// interfaces, the peer's announced bindings (E-LOCATOR) name its locator for a FID, and the
// association's pairs say which of those work. Only an operational pair whose peer address is
// verified carries a flow of its own; otherwise the flow rides the peer's data path, and says
// why. Pure: fed a snapshot, it answers the data plane's routes and each flow's state.
//
//   bound     on the interface it is bound to (unbound: on the data path, which is its place)
//   pending   the interface is up and a pair on it is still being checked, or the peer has not
//             acknowledged the binding yet (its return traffic does not follow until it has)
//   fallback  the interface is down, or no pair on it works: on the data path meanwhile
//
// A binding's policy says what happens while its interface has no working pair: 'prefer' (the
// default) falls back to the data path as above; 'only' keeps the flow off every other
// interface, so its packets are dropped (a route with `drop`) and it stays pending, held for
// its interface. A flow that must not leave on a metered or untrusted uplink needs the latter.
//
// Every flow gets a route, also those on the data path: the routes keep the FID order where
// selectors overlap (a lower FID on the data path is not caught by a higher one bound
// elsewhere), and the data plane counts each flow's packets.

import { sameEndpoint, type Endpoint } from '../../src-shared/vocabulary.js';
import type { FlowPolicy } from '../../src-shared/control-api.js';
import type { PairTestState } from '../mobility/pair-selection.js';
import type { FlowProtocol, PortRange } from '../../src-shared/flow-selector.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../base/packet-tuple.js';

/** A selector as flows carry it: protocol and port ranges, seen from the side that bound it. */
export interface FlowPorts {
  protocol: FlowProtocol;
  localPorts?: PortRange;
  remotePorts?: PortRange;
}

/** One of our bindings to this peer. */
export interface OwnFlow {
  fid: number;
  selector: FlowPorts;
  /** Our interface; null follows the data path. */
  interface: string | null;
  /** Absent = 'prefer'. 'only' never sends the flow on another interface (meaningless without one). */
  policy?: FlowPolicy;
}


/** A binding the peer announced (E-LOCATOR): its flow `fid` should reach it at `locator`. The selector is the peer's view. */
export interface PeerFlow {
  fid: number;
  selector: FlowPorts;
  locator: Endpoint;
}

/** A locator pair of the peer's association, as flow placement needs it. */
export interface FlowPairView {
  local: Endpoint;
  remote: Endpoint;
  /** Our interface the local end sits on. */
  ifname: string | null;
  state: PairTestState;
  /** HIP has verified the peer's address on it (RFC 8046). */
  verified: boolean;
  /** The outbound SA traffic on this pair takes. */
  spiOut: number;
}

export interface FlowRoutesInput {
  own: readonly OwnFlow[];
  /** Absent or empty until the peer announces bindings. */
  peerFlows?: readonly PeerFlow[] | undefined;
  /** The peer acknowledged our last announced bindings (E-LOCATOR); absent = nothing outstanding. */
  flowsAcked?: boolean;
  /** FIDs of ours the last announcement had no room for (one HIP packet holds a few dozen): the peer does not know them. */
  flowsLeftOut?: readonly number[];
  /** The pair and SA the peer's traffic takes now; undefined while there is no SA. */
  dataPath: { local: Endpoint; remote: Endpoint; spiOut: number } | undefined;
  /** Best first, as pair selection ranks them. */
  pairs: readonly FlowPairView[];
  /** Our interfaces with an operational address; null when this host does not follow its interfaces. */
  uplinksUp: ReadonlySet<string> | null;
  /**
   * Load sharing (flow-spread.ts): a flow that rides the data path (no interface of its own, or
   * fallen back from it) is spread with the unbound traffic; its route is marked `spread`.
   */
  spreadUnbound?: boolean;
}

/** A data-plane route before the engine maps its endpoints to sockets. */
export interface PlannedFlowRoute {
  fid: number;
  /** IP protocol number; 0 = any. */
  protocol: number;
  localPorts: PortRange | null;
  remotePorts: PortRange | null;
  local: Endpoint;
  remote: Endpoint;
  outboundSpi: number;
  /**
   * The flow's packets are dropped (and counted), not sent: an 'only' flow whose interface has
   * no working pair. Its endpoints are the data path's and its outboundSpi is 0 (no SA).
   */
  drop?: true;
  /**
   * Load sharing: the flow rides the data path, which the spread replaces: the data plane sends
   * its packets where the spread puts them (when the peer has a spread), and counts them here.
   */
  spread?: true;
  /** A member of the peer's spread (flow-spread.ts), not a flow: matches nothing, names a pair. */
  spreadKey?: number;
}

export type FlowRouteState = 'bound' | 'pending' | 'fallback';

export interface FlowPlacement {
  fid: number;
  state: FlowRouteState;
  /** Why a flow is not on its interface (fallback, pending). */
  reason?: string;
  /** The pair its packets take now; absent without a data path. */
  local?: Endpoint;
  remote?: Endpoint;
  /** Load sharing: the flow rides the data path, so its packets go where the peer's spread puts them. */
  spread?: true;
}

export interface FlowRoutesPlan {
  routes: PlannedFlowRoute[];
  /** Our bindings, by FID. */
  flows: FlowPlacement[];
}

/** The inner protocol numbers a selector's protocol stands for (ICMP: the IPv4 and IPv6 ones). */
export function protocolNumbers(p: FlowProtocol): number[] {
  switch (p) {
    case 'any': return [0];
    case 'tcp': return [IPPROTO_TCP];
    case 'udp': return [IPPROTO_UDP];
    case 'icmp': return [IPPROTO_ICMP, IPPROTO_ICMPV6];
  }
}

function works(p: FlowPairView): boolean {
  return p.state === 'operational' && p.verified;
}

type Path = { local: Endpoint; remote: Endpoint; spiOut: number };

function routesFor(fid: number, s: FlowPorts, path: Path, mirrored: boolean, drop = false, spread = false): PlannedFlowRoute[] {
  const local = (mirrored ? s.remotePorts : s.localPorts) ?? null;
  const remote = (mirrored ? s.localPorts : s.remotePorts) ?? null;
  return protocolNumbers(s.protocol).map((protocol) => {
    const r: PlannedFlowRoute = {
      fid, protocol,
      localPorts: local && { ...local }, remotePorts: remote && { ...remote },
      local: { ...path.local }, remote: { ...path.remote }, outboundSpi: drop ? 0 : path.spiOut,
    };
    if (drop) r.drop = true;
    if (spread && !drop) r.spread = true;
    return r;
  });
}

type Placed = { path: Path | undefined; state: FlowRouteState; reason?: string; drop?: boolean; onIface?: boolean };

/** Our binding on the pairs, under its policy: an 'only' flow holds where 'prefer' falls back. */
function place(b: OwnFlow, input: FlowRoutesInput, announced: PeerFlow | undefined): Placed {
  const placed = placeOnPairs(b, input, announced);
  // Without an association nothing leaves at all; on its interface it is where it belongs.
  if (b.policy !== 'only' || b.interface === null || placed.path === undefined || placed.onIface) return placed;
  return { path: placed.path, state: 'pending', reason: `held for ${b.interface} (only on ${b.interface}): ${placed.reason ?? 'no working pair'}`, drop: true };
}

/** Our binding on the pairs: the pair it takes and its state. */
function placeOnPairs(b: OwnFlow, input: FlowRoutesInput, announced: PeerFlow | undefined): Placed {
  const data = input.dataPath;
  if (data === undefined) return { path: undefined, state: 'pending', reason: 'no association with the peer yet' };
  if (b.interface === null) return { path: data, state: 'bound' };
  const iface = b.interface;
  if (input.uplinksUp !== null && !input.uplinksUp.has(iface)) return { path: data, state: 'fallback', reason: `${iface} is down` };
  const onIface = input.pairs.filter((p) => p.ifname === iface);
  const working = onIface.filter(works);
  // §3.2 step 5: the peer's locator bound to the same FID comes first, then the data path's own
  // pair if it is on this interface, then the best ranked.
  const best = working.find((p) => announced !== undefined && sameEndpoint(p.remote, announced.locator))
    ?? working.find((p) => data !== undefined && sameEndpoint(p.local, data.local) && sameEndpoint(p.remote, data.remote))
    ?? working[0];
  if (best) {
    const path = { local: best.local, remote: best.remote, spiOut: best.spiOut };
    // Ours leave on the interface already; the peer's return traffic follows once it has the binding.
    if (input.flowsAcked === false) return { path, state: 'pending', reason: 'waiting for the peer to acknowledge the binding', onIface: true };
    if (input.flowsLeftOut?.includes(b.fid)) {
      return { path, state: 'bound', reason: 'not announced to the peer (no room left in one HIP packet): its return traffic takes the primary pair', onIface: true };
    }
    return { path, state: 'bound', onIface: true };
  }
  if (onIface.some((p) => p.state === 'testing' || p.state === 'untested' || (p.state === 'operational' && !p.verified))) {
    return { path: data, state: 'pending', reason: `a pair on ${iface} is still being checked` };
  }
  // A host that does not follow its interfaces cannot tell a missing uplink from one not used yet.
  if (input.uplinksUp === null && onIface.length === 0) return { path: data, state: 'pending', reason: `no pair on ${iface} yet` };
  return { path: data, state: 'fallback', reason: `no working pair on ${iface}` };
}

/**
 * The peer's binding for its flow (`fid`, its selector mirrored to ours): to its locator, on
 * the working pair from our data path's address if there is one, else the best ranked.
 */
function placePeerFlow(f: PeerFlow, input: FlowRoutesInput): Path | undefined {
  const toLocator = input.pairs.filter((p) => works(p) && sameEndpoint(p.remote, f.locator));
  const data = input.dataPath;
  const best = toLocator.find((p) => data !== undefined && sameEndpoint(p.local, data.local)) ?? toLocator[0];
  return best && { local: best.local, remote: best.remote, spiOut: best.spiOut };
}

export function planFlowRoutes(input: FlowRoutesInput): FlowRoutesPlan {
  const own = [...input.own].sort((a, b) => a.fid - b.fid);
  const announced = new Map((input.peerFlows ?? []).map((f) => [f.fid, f]));
  const entries: { fid: number; routes: PlannedFlowRoute[] }[] = [];
  const flows: FlowPlacement[] = [];
  for (const b of own) {
    const placed = place(b, input, announced.get(b.fid));
    const row: FlowPlacement = { fid: b.fid, state: placed.state };
    if (placed.reason !== undefined) row.reason = placed.reason;
    if (placed.path) {
      // A held flow leaves on no pair at all.
      if (placed.drop !== true) {
        row.local = { ...placed.path.local };
        row.remote = { ...placed.path.remote };
      }
      const spread = input.spreadUnbound === true && placed.onIface !== true;
      if (spread && placed.drop !== true) row.spread = true;
      if (input.dataPath) entries.push({ fid: b.fid, routes: routesFor(b.fid, b.selector, placed.path, false, placed.drop === true, spread) });
    }
    flows.push(row);
  }
  // The peer's own flows, where no binding of ours has the FID: what it sends back comes in on
  // its locator for the FID, so what we send of that flow goes there too.
  const ownFids = new Set(own.map((b) => b.fid));
  for (const f of input.peerFlows ?? []) {
    if (ownFids.has(f.fid) || input.dataPath === undefined) continue;
    const path = placePeerFlow(f, input);
    if (path) entries.push({ fid: f.fid, routes: routesFor(f.fid, f.selector, path, true) });
  }
  entries.sort((a, b) => a.fid - b.fid);
  return { routes: entries.flatMap((e) => e.routes), flows };
}

/** A stable text of the routes, to tell whether the data plane needs them again. */
export function routesKey(routes: readonly PlannedFlowRoute[]): string {
  return JSON.stringify(routes);
}
