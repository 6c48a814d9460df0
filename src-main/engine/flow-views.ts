// Our flow bindings as status shows them: where each is placed, what the data plane counted of
// it, and whether its packets were seen leaving on its own pair since its route was last set.
// Plus the peer's bindings mirrored to our side.

import type { AssociationSnapshot } from '../hip/host.js';
import type { FlowPlacement, PlannedFlowRoute } from '../core/flow-routes.js';
import type { UdpEndpoint } from '../platform/udp.js';
import type { EngineFlowView, PeerFlowView } from './engine-types.js';
import { endpointKey, hitKey } from '../../src-shared/vocabulary.js';

type FlowCounts = ReadonlyMap<number, { packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }>;

function flowPairKey(local: UdpEndpoint, remote: UdpEndpoint): string {
  return `${endpointKey(local)}|${endpointKey(remote)}`;
}

export class FlowViews {
  /** Per peer (HIT key) and FID, the pair its route named last and the flow's packetsOut then (enforced counts from there). */
  private readonly baselines = new Map<string, { pair: string; packetsOut: number }>();

  /** The core set the peer's flow routes: a flow whose pair changed counts its packets afresh. */
  routesSet(peerHit: Uint8Array, routes: readonly Pick<PlannedFlowRoute, 'fid' | 'local' | 'remote' | 'spreadKey'>[], counted: FlowCounts): void {
    const peer = hitKey(peerHit);
    for (const r of routes) {
      if (r.spreadKey !== undefined) continue;
      const key = `${peer}|${r.fid}`;
      const pair = flowPairKey(r.local, r.remote);
      if (this.baselines.get(key)?.pair !== pair) this.baselines.set(key, { pair, packetsOut: counted.get(r.fid)?.packetsOut ?? 0 });
    }
  }

  views(peerHit: Uint8Array, placements: readonly FlowPlacement[], counted: FlowCounts): EngineFlowView[] {
    const peer = hitKey(peerHit);
    return placements.map((f) => {
      const c = counted.get(f.fid) ?? { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
      const baseline = this.baselines.get(`${peer}|${f.fid}`);
      // A flow spread over several pairs has no one pair: any of its packets sent since its route was set counts.
      const onPair = f.local !== undefined && f.remote !== undefined ? baseline?.pair === flowPairKey(f.local, f.remote) : f.spread === true;
      const sentSince = baseline !== undefined && c.packetsOut > baseline.packetsOut;
      return {
        ...f, enforced: f.state === 'bound' && onPair && sentSince,
        packetsOut: c.packetsOut, bytesOut: c.bytesOut, packetsIn: c.packetsIn, bytesIn: c.bytesIn,
      };
    });
  }
}

/** The peer's binding as we apply it: its local ports are our remote ones. */
export function peerFlowView(f: AssociationSnapshot['peerFlows'][number]): PeerFlowView {
  const selector: PeerFlowView['selector'] = { protocol: f.selector.protocol };
  if (f.selector.remotePorts) selector.localPorts = { ...f.selector.remotePorts };
  if (f.selector.localPorts) selector.remotePorts = { ...f.selector.localPorts };
  return { fid: f.fid, selector, locator: { ...f.locator } };
}
