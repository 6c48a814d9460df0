// Messages between the engine (main thread) and the data-plane worker. Everything here
// survives structured cloning: plain objects, numbers, strings and Uint8Arrays.
// Times cross as durations, because each thread's performance.now() has its own origin.

import type { UdpEndpoint } from '../platform/udp.js';
import type { CoreEvent, PeerRoute, SaInstall, SaSpec } from './core.js';

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

export type ToWorker =
  | { type: 'routes'; routes: PeerRoute[] }
  | { type: 'install-sa'; sa: SaInstall }
  | { type: 'drop-sas'; hit: Uint8Array }
  | { type: 'retire-inbound'; spi: number; afterMs: number }
  /**
   * `outboundSpi`: which of the peer's outbound SAs carries its traffic from now (simultaneous
   * multihoming). `verified` false: only what the peer's credit pays for goes there.
   */
  | { type: 'set-path'; hit: Uint8Array; remote: UdpEndpoint; remoteAddr16: Uint8Array; local: string; verified: boolean; outboundSpi?: number }
  /** A further SA pair of the peer (simultaneous multihoming); either half may be absent. */
  | { type: 'add-sas'; hit: Uint8Array; outbound?: SaSpec; inbound?: SaSpec }
  | { type: 'remove-outbound'; hit: Uint8Array; spi: number }
  /** Make-before-break: copies of the peer's ESP also go to this pair for `forMs` (0 stops). */
  | { type: 'set-spare'; hit: Uint8Array; remote: UdpEndpoint; remoteAddr16: Uint8Array; local: string; forMs: number }
  /** The peer's pair is in doubt (on): keep copies of its ESP for a re-send on the next pair; off discards them. */
  | { type: 'set-held'; hit: Uint8Array; on: boolean }
  | { type: 'send-datagram'; datagram: Uint8Array; to: UdpEndpoint; toAddr16: Uint8Array; from: string }
  | { type: 'send-payload'; hit: Uint8Array; payload: Uint8Array; nextHeader: number }
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

export interface DataplaneStats {
  peers: WirePeerStats[];
  drops: Record<string, number>;
  tunPacketsIn: number;
  tunPacketsOut: number;
  udpPacketsIn: number;
  udpPacketsOut: number;
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
  | { type: 'fatal'; message: string }
  | { type: 'warning'; message: string }
  | { type: 'hip'; packet: Uint8Array; from: UdpEndpoint; to: UdpEndpoint }
  | { type: 'event'; event: CoreEvent }
  | { type: 'stats'; stats: DataplaneStats }
  /** The sockets now, after an open-socket or close-socket (or its failure: `failed`, `error`). */
  | { type: 'locals'; locals: UdpEndpoint[]; failed?: string; error?: string }
  | { type: 'stopped' };
