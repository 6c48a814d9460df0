// Messages between the engine (main thread) and the data-plane worker. Everything here
// survives structured cloning: plain objects, numbers, strings and Uint8Arrays.
// Times cross as durations, because each thread's performance.now() has its own origin.

import type { UdpEndpoint } from '../platform/udp.js';
import type { FastPathStats } from '../platform/native.js';
import type { CoreEvent, FlowRoute, PeerRoute, SaInstall, SaSpec } from './core-contract.js';

/** 'native': the addon's batched I/O. 'node': node:dgram and a node:fs TUN reader (slow). */
export type DataplaneIoMode = 'native' | 'node';

/** 'native': established AES-GCM SAs are sealed and opened by the addon's threads. 'js': all in JS. */
export type DataplaneEspMode = 'native' | 'js';

export interface DataplaneInit {
  ownHit: Uint8Array;
  /** Our own LSI, numeric. */
  ownLsi: number;
  tun: { name: string; mtu: number };
  addresses: string[];
  port: number;
  /** Interface to bind each address's socket to (SO_BINDTODEVICE), by address. */
  devices: Record<string, string>;
  io: DataplaneIoMode | 'auto';
  statsIntervalMs: number;
}

/**
 * The data-plane contract: everything the control plane tells a data plane, in one place.
 * DataplaneRunner implements it in-process (in the worker, or wherever a test runs it);
 * DataplaneClient.commands implements it for the engine by posting DataplaneCommand messages,
 * which are derived from it, and the worker applies each to its runner (applyCommand). A new
 * command is a method here and in the runner; nothing else restates it.
 */
export interface DataplaneCommands {
  /** The peers we may route to (by HIT and the LSI we gave each); installed SAs stay. */
  setRoutes(routes: PeerRoute[]): void;
  installSa(sa: SaInstall): void;
  /** A further SA pair of the peer (simultaneous multihoming); either half may be absent. */
  addSas(hit: Uint8Array, outbound: SaSpec | undefined, inbound: SaSpec | undefined): void;
  removeOutbound(hit: Uint8Array, spi: number): void;
  /**
   * The further outbound SA `spi` (addSas) becomes the peer's base SA, replacing the one
   * installSa set: a base-pair rekey answered by us waits beside the old SA until the peer
   * holds the new pair. The traffic the old base SA carried moves onto it, on the same path.
   */
  promoteBase(hit: Uint8Array, spi: number): void;
  /**
   * Moves the peer's outbound ESP to this pair. `verified` false: only what the peer's credit
   * pays for goes there (RFC 8046). `outboundSpi`: which of the peer's outbound SAs carries it
   * from now (simultaneous multihoming).
   */
  setPath(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, verified: boolean, outboundSpi?: number): void;
  /** Make-before-break: copies of the peer's ESP also go to this pair for `forMs` (0 stops). */
  setSpare(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, forMs: number): void;
  /** The peer's pair is in doubt (on): keep copies of its ESP for a re-send on the next pair; off discards them. */
  setHeld(hit: Uint8Array, on: boolean): void;
  /** Per-flow steering: the peer's outbound packets matching a route leave on its pair and SA, in array order (lower FID first); the rest take setPath's pair. Replaces the peer's routes; [] removes them. */
  setFlowRoutes(hit: Uint8Array, routes: FlowRoute[]): void;
  /**
   * The peer's addresses HIP has verified (RFC 8046 ACTIVE), each with the outbound SA our
   * traffic there takes: when a held peer's ESP comes from one of them, its traffic follows
   * there as to a verified address, on that SA, instead of within credit. Replaces the last list.
   */
  setVerifiedAddresses(hit: Uint8Array, addresses: VerifiedAddress[]): void;
  /**
   * Test hook only (HIPVPN_TEST_SEQ_LEFT, see test-hooks.ts): every further outbound SA that
   * carries a peer's traffic is moved to `left` sequence numbers before the end of its space, to
   * force its run-out and rekey. Only SAs the native fast path holds move; each is reported.
   */
  testSeqRunOut(left: number): void;
  /** An inbound SA replaced by a rekey keeps accepting stragglers for `afterMs`. */
  retireInbound(spi: number, afterMs: number): void;
  dropSas(hit: Uint8Array): void;
  /** A HIP control datagram, sent at once from the socket bound to `local`. */
  sendDatagram(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void;
  /** A payload sealed on the peer's SA (the engine's own packets in TUN mode). */
  sendPayload(hit: Uint8Array, payload: Uint8Array, nextHeader: number): void;
}

/** A peer's address that HIP verified, and the SPI of the outbound SA that reaches it. */
export interface VerifiedAddress {
  remote: UdpEndpoint;
  spi: number;
}

/** One DataplaneCommands call as a message. */
export type DataplaneCommand = {
  [K in keyof DataplaneCommands]: { type: K; args: Parameters<DataplaneCommands[K]> };
}[keyof DataplaneCommands];

/** Carries out a command on an implementation of the contract. */
export function applyCommand(target: DataplaneCommands, command: DataplaneCommand): void {
  (target[command.type] as (...args: DataplaneCommand['args']) => void).apply(target, command.args);
}

/** A DataplaneCommands whose every call becomes a message (the worker proxy). */
export function commandPoster(post: (command: DataplaneCommand) => void): DataplaneCommands {
  return new Proxy({} as DataplaneCommands, {
    get: (_target, type) => (...args: unknown[]) => post({ type, args } as DataplaneCommand),
  });
}

export type ToWorker =
  | DataplaneCommand
  /** Mobility: a local address appeared; open its socket (bound to `device` when given). */
  | { type: 'open-socket'; address: string; device?: string }
  /** Mobility: a local address went away; stop using its socket. */
  | { type: 'close-socket'; address: string }
  | { type: 'stop' };

export interface WirePeerStats {
  hit: Uint8Array;
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** How long ago the peer was last heard, when the stats were taken; null if never. */
  lastHeardAgoMs: number | null;
}

/**
 * One routed flow's counters (setFlowRoutes): out, what left on its route's pair; in, the peer's
 * packets matching the mirrored selector (source port = remote port).
 */
export type WireFlowStats = FastPathStats['flows'][number];

/** Packets through the TUN and the sockets: where JS moved them, plus what the fast path moved. */
export type PacketCounts = Pick<FastPathStats, 'tunPacketsIn' | 'tunPacketsOut' | 'udpPacketsIn' | 'udpPacketsOut'>;

export interface DataplaneStats extends PacketCounts {
  peers: WirePeerStats[];
  flows: WireFlowStats[];
  drops: Record<string, number>;
  /** ESP datagrams also sent on a spare pair (make-before-break copies; not in packetsOut). */
  spareCopies: number;
  /** Copies kept of datagrams sent while the peer's pair was in doubt (set-held). */
  heldCopies: number;
  /** Datagrams re-sent on a peer's new pair: held copies and sends that failed with the interface gone. */
  heldResent: number;
  /** Held copies dropped unused: too old, too many, or the fast path's queue was full. */
  heldDropped: number;
}

export type FromWorker =
  | { type: 'ready'; locals: UdpEndpoint[]; io: DataplaneIoMode; esp: DataplaneEspMode; tunName: string }
  | { type: 'fatal'; message: string; /** A socket that could not be bound, for the caller to act on (errors lose their class in a message). */ bind?: { address: string; port: number; errno?: string; reason: string } }
  | { type: 'warning'; message: string }
  | { type: 'hip'; packet: Uint8Array; from: UdpEndpoint; to: UdpEndpoint }
  | { type: 'event'; event: CoreEvent }
  | { type: 'stats'; stats: DataplaneStats }
  /** The sockets now, after an open-socket or close-socket (or its failure: `failed`, `error`). */
  | { type: 'locals'; locals: UdpEndpoint[]; failed?: string; error?: string }
  | { type: 'stopped' };
