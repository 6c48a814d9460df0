// The data-plane core's peers: what it keeps per peer (its outbound SAs and pair, credit, flow
// routes, counters) and the two ways a packet finds its peer, by HIT and by the LSI we gave it.

import type { CreditAccount } from '../hip/credit.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { same16 } from '../base/addr16.js';
import type { FlowCounters, OutboundSealer, PeerStats, SparePath } from './core-contract.js';
import type { RouteState } from './flow-match.js';
import { readU32 } from './packet.js';

export interface OutboundState {
  /** The SA the peer's traffic is sealed with now, and its SPI. */
  sa: OutboundSealer;
  spi: number;
  /** The SA install() set (the base exchange's or its rekey). */
  baseSpi: number;
  /** Every outbound SA of the peer by SPI: the base one and further ones (simultaneous multihoming). */
  sealers: Map<number, OutboundSealer>;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  local: string;
  /** Outbound SAs whose rekey was asked for: each asks once, the base one and further ones alike. */
  rekeyAsked: Set<number>;
  spare: SparePath | undefined;
  /** The control plane doubts the pair: copies of what is sent go to the sink's hold. */
  held: boolean;
  /**
   * Whether the peer's address on this pair is verified (RFC 8046 §5.4). While it is not, what
   * is sent there is paid from the peer's credit, and what credit cannot pay is dropped.
   */
  verified: boolean;
}

export interface PeerState extends PeerStats {
  lsi: number;
  out: OutboundState | undefined;
  connectAskedAt: number;
  /** What the peer's authenticated ESP earned us to send to its unverified addresses. */
  credit: CreditAccount | undefined;
  /**
   * The pair (source address|port > our address|port) its authenticated ESP last arrived on,
   * reported in an 'esp-source' event each time it changes; cleared by a new inbound SA.
   */
  arrival: { addr16: Uint8Array; port: number; to: UdpEndpoint } | undefined;
  /** Per-flow steering (setFlowRoutes), first match wins. */
  flows: RouteState[];
  /** Load sharing: the pairs unbound traffic is spread over (routes with a spreadKey). */
  spread: RouteState[];
  /** Each FID's counters, kept while its route is replaced (the pair moved) and dropped with it. */
  flowCounters: Map<number, FlowCounters>;
}

/** Map key of a HIT: its low 48 bits, all hash output (RFC 7343), so collisions are rare; checked. */
function hitKey(b: Uint8Array, at: number): number {
  return readU32(b, at + 10) * 65536 + ((b[at + 14]! << 8) | b[at + 15]!);
}

export class PeerTable {
  private readonly byHit = new Map<number, PeerState[]>();
  private readonly byLsi = new Map<number, PeerState>();

  /** Every peer, in lists that share a HIT key (iterate each list). */
  groups(): IterableIterator<PeerState[]> {
    return this.byHit.values();
  }

  find(hit: Uint8Array): PeerState | undefined {
    return hit.length === 16 ? this.findAt(hit, 0) : undefined;
  }

  /** The peer whose HIT stands at b[at..at+16]. */
  findAt(b: Uint8Array, at: number): PeerState | undefined {
    const list = this.byHit.get(hitKey(b, at));
    if (!list) return undefined;
    for (const p of list) if (same16(p.hit, b, at)) return p;
    return undefined;
  }

  /** The peer we gave this LSI. */
  withLsi(lsi: number): PeerState | undefined {
    return this.byLsi.get(lsi);
  }

  /** The peer with this HIT, added when not known yet; the LSI it is found by becomes `lsi`. */
  peerFor(hit: Uint8Array, lsi: number): PeerState {
    let peer = this.find(hit);
    if (!peer) {
      peer = {
        hit: hit.slice(), lsi, out: undefined, connectAskedAt: -Infinity, credit: undefined, arrival: undefined, flows: [], spread: [], flowCounters: new Map(),
        packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, lastHeardAt: null,
      };
      const key = hitKey(hit, 0);
      const list = this.byHit.get(key);
      if (list) list.push(peer);
      else this.byHit.set(key, [peer]);
    } else if (peer.lsi !== lsi) {
      if (this.byLsi.get(peer.lsi) === peer) this.byLsi.delete(peer.lsi);
      peer.lsi = lsi;
    }
    this.byLsi.set(lsi, peer);
    return peer;
  }

  forget(peer: PeerState): void {
    const key = hitKey(peer.hit, 0);
    const list = this.byHit.get(key)?.filter((p) => p !== peer) ?? [];
    if (list.length > 0) this.byHit.set(key, list);
    else this.byHit.delete(key);
    if (this.byLsi.get(peer.lsi) === peer) this.byLsi.delete(peer.lsi);
  }
}
