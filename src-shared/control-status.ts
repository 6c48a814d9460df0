// The control API's status records: what `status` (a host's daemon) and `relay.status` (a relay
// server) report. Part of the one schema that control-api.ts gathers and re-exports.

import { array, boolean, integer, nullable, number, object, oneOf, record, string, type Infer } from './validate.js';
import {
  endpoint, flowStatus, hitText, locatorPair, pairRef, peerFlowStatus, peerName, relayConfig, uplink,
} from './control-records.js';

export const engineCounters = object({
  hipIn: integer({ min: 0 }),
  hipOut: integer({ min: 0 }),
  espIn: integer({ min: 0 }),
  espOut: integer({ min: 0 }),
  /** Packets refused, by reason ("hip-policy" = a base exchange from a HIT not on the peer list). */
  dropped: record(integer({ min: 0 })),
  droppedTotal: integer({ min: 0 }),
}, {
  /** Make-before-break: ESP packets also sent on a spare pair while a new uplink settled. */
  espSpareCopies: integer({ min: 0 }),
  /** ESP packets sent while the path was in doubt, sent again on the pair traffic moved to. */
  espResent: integer({ min: 0 }),
  /**
   * ICMP destination-unreachable errors on our sockets, by what became of them: "icmp-hint"
   * (started probing the other pairs), "icmp-hint-limited" (within a second of the last hint),
   * "icmp-not-primary" (about a pair no traffic uses), "icmp-unknown" (about no peer of ours).
   */
  icmpHints: record(integer({ min: 0 })),
});
export type EngineCounters = Infer<typeof engineCounters>;

export const peerCounters = object(
  { espPacketsIn: integer({ min: 0 }), espPacketsOut: integer({ min: 0 }) },
  { espBytesIn: integer({ min: 0 }), espBytesOut: integer({ min: 0 }), retransmissions: integer({ min: 0 }), rekeys: integer({ min: 0 }) },
);

/** HIP association states (RFC 7401 §4.4), UNASSOCIATED for a configured peer with none. */
export const associationState = oneOf([
  'UNASSOCIATED', 'I1-SENT', 'I2-SENT', 'R2-SENT', 'ESTABLISHED', 'CLOSING', 'CLOSED', 'E-FAILED',
] as const);
export type AssociationState = Infer<typeof associationState>;

/**
 * A base exchange towards a peer that is not connected, so a UI can say why it is not: where it
 * went, how long it has gone unanswered, and, once the engine gave up, its reason.
 */
export const connectAttempt = object(
  {
    /** The peer locator the I1 went to. */
    remote: endpoint,
    /** Time since the first I1 of this attempt. */
    sinceMs: number({ min: 0 }),
    /** Whether the peer answered at all (an R1 came, so the exchange got to I2-SENT). */
    answered: boolean,
  },
  {
    /** Time since the engine gave up (E-FAILED); absent while it still tries. */
    failedAgoMs: number({ min: 0 }),
    /** The engine's reason word: i1-retries-exceeded, i2-retries-exceeded, ... */
    reason: string({ pattern: /^[a-z0-9][a-z0-9-]{0,63}$/, expected: 'a reason word (a-z, 0-9, "-")' }),
  },
);
export type ConnectAttempt = Infer<typeof connectAttempt>;

export const peerStatus = object(
  {
    /** null for a peer that is not on the list (only with --accept-any). */
    name: nullable(peerName),
    hit: hitText,
    /** The IPv4 stand-in this host gave the peer (1.0.0.0/8; local to this host). */
    lsi: nullable(string({ maxLength: 15 })),
    state: associationState,
    counters: peerCounters,
    configuredLocators: array(endpoint),
  },
  {
    /** The active locator pair: our address and the peer's. */
    local: endpoint,
    remote: endpoint,
    /** Age of the last packet authenticated from the peer. */
    lastHeardMs: number({ min: 0 }),
    /** Time since the association reached ESTABLISHED (or R2-SENT). */
    upMs: number({ min: 0 }),
    /** Every local × peer locator pair the engine knows; absent until the association has pairs. */
    pairs: array(locatorPair, { maxItems: 1024 }),
    /** The pair the peer's packets last arrived on (`local` is ours); may differ from `local`/`remote`, the way out. */
    inbound: pairRef,
    /** How several local locators are used with this peer (seed 000 §4, RFC 8047 §4.1). */
    multihoming: oneOf(['fault-tolerance', 'simultaneous'] as const),
    /** While the peer is not connected: the base exchange under way or the last one that failed. */
    attempt: connectAttempt,
    /** How its traffic travels: straight to its address, or through one of our relays. */
    via: oneOf(['direct', 'relay'] as const),
    /** With via "relay": the relay's name (its HIT when unnamed). */
    relay: string({ minLength: 1, maxLength: 63 }),
    /** The relay the peer's entry names (`peer add --relay`), as configured. */
    configuredRelay: relayConfig,
    /** The peer's flow bindings (E-LOCATOR): where our traffic of each of its flows goes; absent when it announced none. */
    peerFlows: array(peerFlowStatus, { maxItems: 1024 }),
  },
);
export type PeerStatus = Infer<typeof peerStatus>;

/** The HIP puzzle (RFC 7401 §4.1.1) this host's responder asks of new initiators. */
export const puzzleStatus = object(
  {
    /** K a new initiator from a quiet prefix must solve now: it rises under a flood of I1/I2 from many prefixes and decays when quiet. */
    difficulty: integer({ min: 0, max: 255 }),
  },
  {
    /** K when idle: how far `difficulty` stands above it is the flood defence at work. */
    baseDifficulty: integer({ min: 0, max: 255 }),
    /** The highest K any one source prefix (/24, /56) is asked for now: a flood from there. */
    busiestPrefixDifficulty: integer({ min: 0, max: 255 }),
  },
);
export type PuzzleStatus = Infer<typeof puzzleStatus>;

const addressPort = object({ address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }), port: integer({ min: 0, max: 65535 }) });

/** One of our relays as the client side sees it: registration (RFC 8003) and the addresses it gave. */
export const relayStatus = object({
  /** The configured name, or the relay's HIT. */
  name: string({ minLength: 1, maxLength: 63 }),
  hit: hitText,
  address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }),
  port: integer({ min: 0, max: 65535 }),
  /** Relaying of HIP granted and not lapsed: peers reach us through this relay. */
  registered: boolean,
  /** Where the relay sees us (REG_FROM); null until it answered. */
  reflexive: nullable(addressPort),
  /** Where peers' ESP reaches us through its data relay (RELAYED_ADDRESS); null until granted. */
  relayed: nullable(addressPort),
  lifetimeS: nullable(number({ min: 0 })),
  expiresInS: nullable(number({ min: 0 })),
  /** Registration types refused, with RFC 8003's failure type. */
  failed: array(object({ failureType: integer({ min: 0, max: 255 }), regTypes: array(integer({ min: 0, max: 255 }), { maxItems: 255 }) }), { maxItems: 255 }),
});
export type RelayStatus = Infer<typeof relayStatus>;

export const daemonStatus = object(
  {
    version: integer({ min: 1 }),
    identity: object({ hit: hitText, lsi: string({ maxLength: 15 }) }),
    listening: array(endpoint),
    /** TUN device name, or null in control-plane-only mode (`--tun none`). */
    tun: nullable(string({ maxLength: 15 })),
    acceptAny: boolean,
    uptimeMs: number({ min: 0 }),
    peers: array(peerStatus),
    counters: engineCounters,
  },
  {
    /** false after `tunnel.set {up:false}`: associations closed, none started (engine: tunnel switch). */
    tunnelUp: boolean,
    /** Uplinks, most preferred first; absent when the daemon runs without its interface monitor (listen addresses given). */
    interfaces: array(uplink, { maxItems: 64 }),
    /** Every flow binding, placed on the current pairs and uplinks. */
    flows: array(flowStatus, { maxItems: 4096 }),
    puzzle: puzzleStatus,
    /**
     * Datagrams the kernel dropped because one of our UDP sockets' receive buffers was full,
     * summed over all of them since the daemon started: a flood, or a daemon too slow to read.
     */
    socketDrops: integer({ min: 0 }),
    /** Our relays, first preferred; absent from a daemon that knows none. */
    relays: array(relayStatus, { maxItems: 64 }),
  },
);
export type DaemonStatus = Infer<typeof daemonStatus>;

// ---------------------------------------------------------------------------------------------
// The relay server (`hipvpn relay serve`, issue 11): its clients and what it forwarded and dropped

const count = integer({ min: 0 });

export const relayRegistration = object({
  /** RFC 8003 registration type: 1 RENDEZVOUS, 2 RELAY_UDP_HIP, 3 RELAY_UDP_ESP, 4 CANDIDATE_DISCOVERY. */
  type: integer({ min: 0, max: 255 }),
  name: string({ maxLength: 32 }),
  lifetimeS: number({ min: 0 }),
  expiresInS: number({ min: 0 }),
});

export const relayClient = object({
  hit: hitText,
  /** The client's name on the relay's peer list; null when it is not listed (--accept-any). */
  name: nullable(peerName),
  /** Live registrations only; a client whose registrations lapsed is not listed. */
  registrations: array(relayRegistration, { maxItems: 16 }),
  /** The address and port the relay sees the client at (REG_FROM). */
  reflexive: endpoint,
  /** The relay address and port the client registered to: its RELAYED_ADDRESS, where relayed packets come from. */
  relayedAddress: nullable(endpoint),
  /** Data-relay permissions (PEER_PERMISSION) the client holds. */
  permissions: count,
  /** Packets towards or from this client dropped by its rate limits: HIP control, ESP. */
  rateLimited: object({ control: count, data: count }),
  /** The relay's HIP association with the client. */
  association: associationState,
});

export const relayCounters = object({
  forwarded: object({ hipToClient: count, hipFromClient: count, espPackets: count, espBytes: count }),
  /** HIP control packets the control relay dropped, by reason (every reason listed, zeros too). */
  control: record(count),
  /** ESP datagrams the data relay dropped, by reason. */
  data: record(count),
  /** PEER_PERMISSIONs refused, by reason (spi-conflict, permission-unregistered). */
  permissions: record(count),
  /** Packets for the relay's own HIP host that it refused, by reason. */
  host: record(count),
  /** Datagrams shorter than the 4-octet marker. */
  runts: count,
});

export const relayServerStatus = object({
  version: integer({ min: 1 }),
  hit: hitText,
  listening: array(endpoint),
  acceptAny: boolean,
  uptimeMs: number({ min: 0 }),
  clients: array(relayClient, { maxItems: 100_000 }),
  counters: relayCounters,
}, {
  /** Datagrams the kernel dropped because a relay socket's receive buffer was full (a flood, or a relay too slow). */
  socketDrops: count,
  /** Datagrams longer than the relay reads (2048 octets), dropped. */
  oversized: count,
  /** Datagrams the relay was to send (forwarded or its own) that never left: refused by the kernel, a full send buffer, no socket for the address family. */
  unsent: count,
});
export type RelayServerStatus = Infer<typeof relayServerStatus>;
