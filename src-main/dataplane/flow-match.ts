// Which of a peer's flow routes a packet belongs to: the first route whose selector (protocol,
// local and remote port ranges) it matches, or for unbound traffic the spread member whose key
// scores highest against its flow hash. The data-plane core classifies each packet once and asks
// both; the stranded-datagram matcher (sealed-flows.ts) asks with a packet it opened itself.

import { portInRange } from '../base/packet-tuple.js';
import { flowHash, spreadScore } from '../core/flow-spread.js';
import type { FlowCounters, FlowRoute, OutboundSealer } from './core-contract.js';
import { flowKeyOf, type FlowKey } from './flow-key.js';

/** A route as the core keeps it: with the counters of what it carried. */
export interface RouteState extends FlowRoute {
  counters: FlowCounters;
}

/** The packet being classified (one at a time: the core is single-threaded), so that classifying allocates nothing. */
const KEY: FlowKey = { protocol: 0, src: -1, dst: -1 };

/** Classifies a payload for matchClassified and spreadMember, which read it until the next call. */
export function classify(payload: Uint8Array, nextHeader: number): void {
  flowKeyOf(payload, nextHeader, KEY);
}

/**
 * The first route the classified packet matches. `inbound` mirrors the selector: the peer's
 * source port is the route's remote port.
 */
export function matchClassified<R extends FlowRoute>(routes: readonly R[], inbound: boolean): R | undefined {
  const localPort = inbound ? KEY.dst : KEY.src;
  const remotePort = inbound ? KEY.src : KEY.dst;
  const protocol = KEY.protocol;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if ((r.protocol === 0 || r.protocol === protocol) && portInRange(r.localPorts, localPort) && portInRange(r.remotePorts, remotePort)) return r;
  }
  return undefined;
}

/** The first of `routes` a payload matches as it is sealed (`inbound`: as it was opened). */
export function matchRoute<R extends FlowRoute>(routes: readonly R[], payload: Uint8Array, nextHeader: number, inbound: boolean): R | undefined {
  classify(payload, nextHeader);
  return matchClassified(routes, inbound);
}

/** The spread member the classified packet goes to: the highest score among those whose SA is installed. */
export function spreadMember(members: readonly RouteState[], sealers: ReadonlyMap<number, OutboundSealer>): RouteState | undefined {
  const flow = flowHash(KEY.protocol, KEY.src, KEY.dst);
  let best: RouteState | undefined;
  let bestScore = -1;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (!sealers.has(m.outboundSpi)) continue;
    const score = spreadScore(flow, m.spreadKey!);
    if (score > bestScore) {
      bestScore = score;
      best = m;
    }
  }
  return best;
}

/**
 * A peer's routes as the core keeps them: the spread members (routes with a spreadKey, fresh
 * counters) and the flows in array order, each FID keeping the counters it had in `previous`.
 */
export function routeStates(routes: readonly FlowRoute[], previous: ReadonlyMap<number, FlowCounters>): {
  spread: RouteState[]; flows: RouteState[]; flowCounters: Map<number, FlowCounters>;
} {
  const counters = new Map<number, FlowCounters>();
  const spread = routes.filter((r) => r.spreadKey !== undefined).map((r) => ({
    fid: 0, protocol: 0, localPorts: null, remotePorts: null, remote: { ...r.remote }, remoteAddr16: r.remoteAddr16.slice(), local: r.local,
    outboundSpi: r.outboundSpi, spreadKey: r.spreadKey!, counters: { fid: 0, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 },
  }));
  const flows = routes.filter((r) => r.spreadKey === undefined).map((r) => {
    const c = counters.get(r.fid) ?? previous.get(r.fid) ?? { fid: r.fid, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
    counters.set(r.fid, c);
    return {
      fid: r.fid, protocol: r.protocol,
      localPorts: r.localPorts && { ...r.localPorts }, remotePorts: r.remotePorts && { ...r.remotePorts },
      remote: { ...r.remote }, remoteAddr16: r.remoteAddr16.slice(), local: r.local, outboundSpi: r.outboundSpi, counters: c,
      ...(r.drop === true ? { drop: true } : {}),
      ...(r.spread === true ? { spread: true } : {}),
    };
  });
  return { spread, flows, flowCounters: counters };
}
