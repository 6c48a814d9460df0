// What the engine is given and what it gives back: its options, the events it emits, the views
// of associations, flows and pings in its snapshot, and its two error classes. engine.ts
// re-exports all of it, so callers keep importing from there.

import type { CryptoProvider } from '../hip/crypto/provider.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import type { HostConfig } from '../hip/host.js';
import type { PeerVia } from '../core/host-core.js';
import type { FlowPlacement } from '../core/flow-routes.js';
import type { FlowProtocol, PortRange } from '../../src-shared/flow-selector.js';
import type { RelayConfig, RelayView } from '../core/relay-clients.js';
import type { UdpEndpoint } from '../platform/udp.js';
import type { Clock } from '../platform/clock.js';
import type { OutboundSaTuning } from '../dataplane/core.js';
import type { Handover, PathPolicy, PeerPathsView } from '../core/path-manager.js';
import type { EngineCounters } from './counters.js';

export interface EngineOptions {
  identity: LocalHostIdentity;
  crypto: CryptoProvider;
  /** Local addresses to listen on (one socket each). */
  addresses: string[];
  /** UDP port; RFC 9028 uses 10500. 0 = ephemeral (tests). */
  port?: number;
  allowPeer?: (hit: Uint8Array) => boolean;
  host?: Partial<Omit<HostConfig, 'identity' | 'crypto' | 'allowPeer'>>;
  clock?: Clock;
  /** Called with every datagram sent or received, for packet captures. */
  tap?: (direction: 'in' | 'out', datagram: Uint8Array, from: UdpEndpoint, to: UdpEndpoint) => void;
  /** How long an inbound SA replaced by a rekey keeps accepting in-flight packets. */
  rekeyOverlapMs?: number;
  /** Without a TUN: where new outbound SAs start their sequence numbers (tests force a run-out). */
  esp?: OutboundSaTuning;
  /**
   * Carry IP traffic through a TUN device, with the data plane (TUN, UDP sockets, ESP) in a
   * worker thread. Undefined: no TUN, the same data plane in this thread, and 'payload' events.
   */
  tun?: { name: string; create: boolean; mtu?: number };
  /** Interface to bind each local address's socket to (TUN mode), by address. */
  devices?: Record<string, string>;
  /** Accept base exchanges from any HIT, not only configured peers (default false). */
  acceptAny?: boolean;
  /**
   * Pair selection and failure detection (timing), and how long a peer may have every pair
   * failed before its association is given up and built again (a restarted peer has forgotten
   * our SAs). `abandonAfterMs: Infinity` never gives up.
   */
  paths?: Partial<PathPolicy>;
  /**
   * 'static' (default): the addresses listened on are our locators for good. 'monitor': the
   * owner reports them as they change (setLocalLocators), and sockets open and close with them.
   */
  locators?: 'static' | 'monitor';
  /**
   * Relays we register with (RFC 8003) and reach peers through (RFC 9028), first preferred. A
   * peer with no locator is reached through its own relay, else through the first of these.
   */
  relays?: readonly RelayConfig[];
}

export type EngineEvent =
  | { type: 'association'; peer: string; from: string; to: string }
  | { type: 'established'; peer: string; local: UdpEndpoint; remote: UdpEndpoint; initiator: boolean; suite: number }
  | { type: 'rekeyed'; peer: string; inboundSpi: number; outboundSpi: number }
  | { type: 'closed'; peer: string; byPeer: boolean }
  | { type: 'failed'; peer: string; reason: string }
  | { type: 'notify'; peer: string; notifyType: number; authenticated: boolean }
  | { type: 'payload'; peer: string; peerHit: Uint8Array; nextHeader: number; payload: Uint8Array }
  /** A peer's traffic moved to another locator pair. */
  | ({ type: 'handover' } & Handover)
  /** A relay answered our registration, or the registration lapsed. */
  | { type: 'relay-registration'; relay: string; registered: boolean }
  /** Our path to a peer was lost: candidates gathered again went to it through this relay. */
  | { type: 'offer'; peer: string; relay: string }
  /** Something an operator should know that is not an association event (TUN mode: the data plane). */
  | { type: 'warning'; message: string };

export interface AssociationView {
  peer: string;
  state: string;
  local?: UdpEndpoint;
  remote?: UdpEndpoint;
  inboundSpi?: number;
  outboundSpi?: number;
  suite?: number;
  espPacketsOut: number;
  espPacketsIn: number;
  /** The configured peer's name. */
  name?: string;
  /** The LSI this host gives the peer. */
  lsi?: string;
  /** How long ago the peer was last heard: ESP, or an authenticated HIP exchange. */
  lastHeardMs?: number;
  espBytesIn: number;
  espBytesOut: number;
  /** How several local locators are used with this peer. */
  multihoming?: string;
  /** Every locator pair, its test state, and which one is primary. */
  paths?: PeerPathsView;
  /** Straight to the peer, or through one of our relays (which one). */
  via: PeerVia;
  /** Our flow bindings to the peer: where each goes, and what the data plane counted of it. */
  flows?: EngineFlowView[];
  /** The peer's flow bindings (E-LOCATOR), its selectors mirrored to our side. */
  peerFlows?: PeerFlowView[];
}

export interface PeerFlowView {
  fid: number;
  selector: { protocol: FlowProtocol; localPorts?: PortRange; remotePorts?: PortRange };
  locator: UdpEndpoint;
}

export interface EngineFlowView extends FlowPlacement {
  /** Packets of the flow were seen leaving on its own pair since it was put there. */
  enforced: boolean;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
}

/** What `ping` reports: the round trip and the locator pair the peer's answer came over. */
export interface PingResult { rttMs: number; local: UdpEndpoint; remote: UdpEndpoint }

export type PingFailure = 'no-association' | 'not-established' | 'busy' | 'in-flight' | 'timeout' | 'lost';

export class FailoverError extends Error {
  constructor(readonly reason: 'no-association' | 'unknown-pair' | 'no-alternative', message: string) {
    super(message);
    this.name = 'FailoverError';
  }
}

export class PingError extends Error {
  constructor(readonly reason: PingFailure, message: string) {
    super(message);
    this.name = 'PingError';
  }
}


export interface EngineSnapshot {
  hit: string;
  locals: UdpEndpoint[];
  associations: AssociationView[];
  counters: ReturnType<EngineCounters['snapshot']>;
  /** K a new initiator must solve now, and the K the responder falls back to when idle. */
  puzzle: { difficulty: number; baseDifficulty: number; busiestPrefixDifficulty: number };
  /** Our relays: registration, and where each sees us. */
  relays: RelayView[];
}
