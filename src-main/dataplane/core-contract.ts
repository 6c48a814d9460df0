// What the data-plane core takes and gives: the SAs and routes the control plane installs, the
// sink its packets and events go to, and the counters it reports. The JS core (core.ts), the
// native fast path's adapter (fastpath.ts) and the worker messages (messages.ts) share it.

import type { EspKeyMaterial } from '../esp/index.js';
import type { UdpEndpoint } from '../platform/udp.js';

export interface SaSpec { spi: number; suite: number; keys: EspKeyMaterial }

export interface PeerRoute {
  hit: Uint8Array;
  /** The LSI this host gave the peer (numeric IPv4). */
  lsi: number;
}

export interface SaInstall extends PeerRoute {
  outbound: SaSpec;
  inbound: SaSpec;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  /** Local address whose socket the SA sends from. */
  local: string;
}

export type CoreEvent =
  /** A packet for a known peer without an SA: the control plane may want to connect. */
  | { type: 'need-connect'; peerHit: Uint8Array }
  /** Outbound SA `spi` is near its sequence limit or old: the control plane should rekey its pair. */
  | { type: 'rekey-needed'; peerHit: Uint8Array; spi: number }
  /** First authenticated packet on an inbound SA: the peer has our keys (R2-SENT → ESTABLISHED). */
  | { type: 'esp-heard'; peerHit: Uint8Array }
  /**
   * Authenticated ESP from the peer arrived from `from` on our socket `to`, and its last packet
   * did not (or it is the first since an inbound SA was installed): the pair its traffic comes
   * in on changed, and the peer may have moved. Once per change, not per packet.
   */
  | { type: 'esp-source'; peerHit: Uint8Array; from: UdpEndpoint; to: UdpEndpoint; bytes: number }
  /** An ICMP destination-unreachable came back for a datagram `local` sent to `remote` (unauthenticated). */
  | { type: 'icmp-error'; local: UdpEndpoint; remote: UdpEndpoint };

export interface CoreSink {
  /** Queues a sealed datagram on the socket bound to `local`. False when there is none. */
  udp(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean;
  /** A writable view of `length` octets in the TUN write batch (flushing first if full). */
  tunReserve(length: number): Uint8Array | null;
  tunCommit(length: number): void;
  hip(packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  event(e: CoreEvent): void;
  /** A datagram just queued for a held peer (setHeld): keep a copy for a re-send on its next pair. */
  hold?(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void;
  /**
   * A data plane without a TUN: every opened payload goes here as it was sealed (any next
   * header, no LSI rewrite), with the pair it came over and the datagram's size.
   */
  payload?(peerHit: Uint8Array, nextHeader: number, payload: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
}

/** A flow's own path (seed 002): the peer's outbound packets matching the selector leave on this pair and SA. */
export interface FlowRoute {
  fid: number;
  /** IP protocol number of the inner packet; 0 = any. */
  protocol: number;
  /** Inclusive port ranges as the packet leaves (source = local, destination = remote); null = any. A route with ports matches only packets that have ports (TCP, UDP). */
  localPorts: { from: number; to: number } | null;
  remotePorts: { from: number; to: number } | null;
  remote: UdpEndpoint;
  remoteAddr16: Uint8Array;
  /** Our local address (socket) the packets leave from. */
  local: string;
  outboundSpi: number;
  /**
   * The flow is held ('only' on an interface with no working pair): its outbound packets are
   * dropped and counted ('flow-held'), never sent on the peer's path; outboundSpi is unused.
   */
  drop?: boolean;
  /**
   * Load sharing: the flow rides the peer's unbound traffic, so its packets go where the spread
   * puts them (when the peer has one) and are counted here.
   */
  spread?: boolean;
  /**
   * A member of the peer's spread (core/flow-spread.ts), not a flow: it matches no packet. The
   * peer's unbound packets (and `spread` flows) go to the member whose key scores highest
   * against the packet's flow hash; with no member, to setPath's pair.
   */
  spreadKey?: number;
}

/** A flow's packets: out on its route's pair, and in from the peer under the mirrored selector. */
export interface FlowCounters {
  fid: number;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
}

export interface FlowStats extends FlowCounters {
  hit: Uint8Array;
}

export interface PeerStats {
  hit: Uint8Array;
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Monotonic ms of the last authenticated packet from the peer. */
  lastHeardAt: number | null;
}

/**
 * What seals a peer's outbound packets: a JS EspOutboundSa, or a handle on an SA the native
 * fast path holds (so packets sealed here take that SA's sequence numbers too).
 */
export interface OutboundSealer {
  /** Throws SealDropError (or any Error: sequence numbers exhausted) when it cannot seal. */
  seal(payload: Uint8Array, nextHeader: number, now: number): Uint8Array;
  needsRekey(now: number): boolean;
}

/** A seal refused for a reason the drop counters should name. */
export class SealDropError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** How the JS core starts its own outbound SAs (tests start one near the end of its sequence space). */
export interface OutboundSaTuning {
  /** The first sequence number of a new outbound SA: the base one (installSa) or a further one (addSas). */
  firstSeq?(kind: 'base' | 'further'): number | undefined;
}

/** A second pair each sealed datagram also goes to, until `until` (make-before-break). */
export interface SparePath { local: string; remote: UdpEndpoint; remoteAddr16: Uint8Array; until: number }
