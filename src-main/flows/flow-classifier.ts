// Which flow binding an inner packet belongs to: the peer from the packet's inner address on the
// peer's side (its HIT, or the LSI we gave it), then that peer's bindings in FID order, first
// match wins. Built once per change of the table or the peer list; classify() is per packet and
// does not allocate beyond the address key. The data plane will use the answer to pick the
// locator pair (flow-state.ts says which pair a binding uses now).

import type { FlowBinding, FlowTable } from './flow-table.js';
import { packetTuple, type PacketTuple } from '../base/packet-tuple.js';
import { compileSelector, selectorMatches, type CompiledSelector, type PacketDirection } from './traffic-selector.js';

export interface PeerInnerAddresses {
  name: string;
  /** 16 octets. */
  hit: Uint8Array;
  /** 4 octets; null when the peer has none. */
  lsi: Uint8Array | null;
}

export interface Classified {
  binding: FlowBinding;
  peer: string;
  tuple: PacketTuple;
}

interface Entry { binding: FlowBinding; selector: CompiledSelector }

function addressKey(b: Uint8Array): string {
  let key = '';
  for (let i = 0; i < b.length; i++) key += String.fromCharCode(b[i]!);
  return key;
}

export class FlowClassifier {
  private readonly byAddress = new Map<string, { peer: string; entries: Entry[] }>();

  constructor(table: FlowTable, peers: readonly PeerInnerAddresses[]) {
    for (const p of peers) {
      const entries = table.forPeer(p.name).map((binding) => ({ binding, selector: compileSelector(binding.selector) }));
      if (entries.length === 0) continue;
      const value = { peer: p.name, entries };
      this.byAddress.set(addressKey(p.hit), value);
      if (p.lsi) this.byAddress.set(addressKey(p.lsi), value);
    }
  }

  /** The binding of a packet we send (outbound) or received (inbound); null when none applies. */
  classify(packet: Uint8Array, direction: PacketDirection, length = packet.length): Classified | null {
    const tuple = packetTuple(packet, length);
    return tuple ? this.classifyTuple(tuple, direction) : null;
  }

  classifyTuple(tuple: PacketTuple, direction: PacketDirection): Classified | null {
    const remote = direction === 'outbound' ? tuple.dst : tuple.src;
    const found = this.byAddress.get(addressKey(remote));
    if (!found) return null;
    for (const e of found.entries) {
      if (selectorMatches(e.selector, tuple, direction)) return { binding: e.binding, peer: found.peer, tuple };
    }
    return null;
  }
}
