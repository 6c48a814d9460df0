// The daemon's flow bindings: the table, kept in flows.json, changed one request at a time
// (persisted before it is acknowledged), and shown in the status with where each flow goes now.
// Speaks the control API's types at its edge; the model underneath is flow-table.ts.

import type { Endpoint, FlowBinding as ApiFlowBinding, FlowStatus, PeerStatus, Uplink } from '../../src-shared/control-api.js';
import { SerialQueue } from '../platform/state-file.js';
import { placeFromStatus, type FlowPair, type FlowWorld } from './flow-state.js';
import { flowsPath, loadFlows, saveFlows } from './flow-store.js';
import { FlowTable, type FlowBinding, type FlowChange, type FlowRefusal } from './flow-table.js';

export type FlowResult<T> = { ok: true; value: T } | { ok: false; error: FlowRefusal };

/**
 * The control API's binding. Prefixes (a hand-edited flows.json may have them) are not in the
 * API schema yet, so they stay out of what the API reports rather than break its validation.
 */
export function apiBinding(b: FlowBinding): ApiFlowBinding {
  const selector: ApiFlowBinding['selector'] = { protocol: b.selector.protocol };
  if (b.selector.localPorts) selector.localPorts = { ...b.selector.localPorts };
  if (b.selector.remotePorts) selector.remotePorts = { ...b.selector.remotePorts };
  const out: ApiFlowBinding = { fid: b.fid, peer: b.peer, selector, interface: b.interface };
  if (b.policy !== undefined) out.policy = b.policy;
  return out;
}

/** The world flow-state.ts places unplaced bindings in, from the status the daemon reports. */
export function flowWorld(peers: readonly PeerStatus[], uplinks: readonly Uplink[] | undefined): FlowWorld {
  const byName = new Map(peers.filter((p) => p.name !== null).map((p) => [p.name!, p]));
  return {
    uplinksUp: uplinks === undefined ? null : new Set(uplinks.filter((u) => u.up).map((u) => u.name)),
    knows: (peer) => byName.has(peer),
    pairsOf: (peer) => {
      const p = byName.get(peer);
      if (!p) return undefined;
      if (p.pairs) return p.pairs;
      // An engine without per-pair reporting: its one active pair is the primary.
      if (p.local && p.remote) {
        const keyed = p.state === 'ESTABLISHED' || p.state === 'R2-SENT';
        return [{ local: p.local, remote: p.remote, interface: null, state: keyed ? 'operational' : 'testing', primary: true } satisfies FlowPair];
      }
      return undefined;
    },
  };
}

/** A binding as the engine placed it and the data plane counted it. */
export interface PlacedFlow {
  state: 'bound' | 'pending' | 'fallback';
  reason?: string;
  local?: Endpoint;
  remote?: Endpoint;
  enforced: boolean;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
}

export class FlowService {
  private readonly writes = new SerialQueue();

  private constructor(private readonly path: string, private current: FlowTable) {}

  static async open(stateDirRoot: string, warn: (message: string) => void): Promise<FlowService> {
    const path = flowsPath(stateDirRoot);
    // Flows to peers not (or no longer) on the list are kept: they show as unavailable and come
    // back into use if the peer is added again.
    return new FlowService(path, await loadFlows(path, null, warn));
  }

  get table(): FlowTable {
    return this.current;
  }

  list(): ApiFlowBinding[] {
    return this.current.list().map(apiBinding);
  }

  /** Adds or replaces (by FID) a binding; `knownPeers` are the configured peers' names. */
  set(binding: FlowBinding, knownPeers: readonly string[]): Promise<FlowResult<{ flow: ApiFlowBinding; replaced: boolean }>> {
    return this.change((t) => t.set(binding, knownPeers), (v) => ({ flow: apiBinding(v.binding), replaced: v.replaced }));
  }

  remove(fid: number): Promise<FlowResult<{ removed: ApiFlowBinding }>> {
    return this.change((t) => t.remove(fid), (v) => ({ removed: apiBinding(v) }));
  }

  moveToInterface(fid: number, iface: string | null): Promise<FlowResult<{ flow: ApiFlowBinding }>> {
    return this.change((t) => t.moveToInterface(fid, iface), (v) => ({ flow: apiBinding(v) }));
  }

  /**
   * Each binding with where its packets go now: as the engine placed and counted it when it
   * has (`placed`), else from the status alone (nothing steered, nothing counted).
   */
  status(world: FlowWorld, placed?: (peer: string, fid: number) => PlacedFlow | undefined): FlowStatus[] {
    return this.current.list().map((b) => {
      const engine = world.knows(b.peer) ? placed?.(b.peer, b.fid) : undefined;
      if (engine) {
        const row: FlowStatus = {
          binding: apiBinding(b), state: engine.state, enforced: engine.enforced,
          packetsOut: engine.packetsOut, bytesOut: engine.bytesOut, packetsIn: engine.packetsIn, bytesIn: engine.bytesIn,
        };
        if (engine.local && engine.remote) {
          row.local = copyEndpoint(engine.local);
          row.remote = copyEndpoint(engine.remote);
        }
        if (engine.reason !== undefined) row.reason = engine.reason;
        return row;
      }
      const zero = { enforced: false, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
      // A removed peer's binding is kept (the peer may come back), on no pair meanwhile.
      if (!world.knows(b.peer)) return { binding: apiBinding(b), state: 'fallback', reason: `${b.peer} is not on the peer list`, peerRemoved: true, ...zero };
      const p = placeFromStatus(b, world);
      const row: FlowStatus = { binding: apiBinding(b), state: p.state, ...zero };
      if (p.local && p.remote) {
        row.local = copyEndpoint(p.local);
        row.remote = copyEndpoint(p.remote);
      }
      if (p.reason !== undefined) row.reason = p.reason;
      return row;
    });
  }

  private change<V, R>(step: (t: FlowTable) => FlowChange<V>, result: (v: V) => R): Promise<FlowResult<R>> {
    return this.writes.run(async () => {
      const r = step(this.current);
      if (!r.ok) return r;
      await saveFlows(this.path, r.table);
      this.current = r.table;
      return { ok: true, value: result(r.value) };
    });
  }
}

function copyEndpoint(e: Endpoint): Endpoint {
  return { address: e.address, port: e.port };
}
