// The control API: every request, response and event between the engine's owner (the hipvpn
// daemon) and its clients (the CLI today, the Electron renderer later), written down once. The
// validators below are the schema; the TypeScript types are derived from them, so the checks at
// the boundary and the types in the code cannot drift apart.
//
// Transport-neutral: over the daemon's Unix socket each frame is one line of JSON
// (newline-delimited); over the WebSocket of `hipvpn web` each frame is one text message; over
// Electron IPC the same objects travel as they are (structured clone), checked by the same
// validators on both sides.
//
//   client → daemon  { "id": 1, "method": "peer.add", "params": { ... } }
//   daemon → client  { "id": 1, "ok": true, "result": { ... } }
//                    { "id": 1, "ok": false, "error": { "code": "unknown-peer", "message": "..." } }
//   daemon → client  { "event": { "type": "established", ... } }   (after "subscribe")

import {
  array, boolean, integer, literal, nullable, number, object, oneOf, record, refine, string, variants,
  type Checked, type Infer, type Validator,
} from './validate.js';
import { isOrchidV2, ipv6Text, parseIPv4, parseIPv6 } from './ip-text.js';

export const CONTROL_API_VERSION = 1;

/** Longest frame either side accepts; a status with hundreds of peers fits easily. */
export const MAX_FRAME_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Peer names are what users type and what logs show: short, no spaces, no shell metacharacters. */
export const peerName = string({
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  expected: 'a peer name (letters, digits, ".", "_", "-"; up to 63, starting with a letter or digit)',
});

/** IPv6 text of a HIT; whether it is a valid ORCHID is checked where addresses can be parsed. */
export const hitText = string({ minLength: 2, maxLength: 45, expected: 'a HIT (IPv6 text, 2001:2x::/28)' });

export const endpoint = object({
  address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }),
  port: integer({ min: 0, max: 65535 }),
});
export type Endpoint = Infer<typeof endpoint>;

/** What is wrong with a relay's HIT or address, in words that say what to give instead. */
function relayProblem(r: { hit: string; address: string }): string | null {
  const hit = parseIPv6(r.hit);
  if (hit === null || !isOrchidV2(hit)) return `${JSON.stringify(r.hit)} is not a HIT (2001:2x:…); the relay's \`hipvpn identity --hit\` prints it`;
  if (parseIPv4(r.address) === null && parseIPv6(r.address) === null) return `${JSON.stringify(r.address)} is not an IP address; give the relay's public IPv4 or IPv6 address`;
  return null;
}

/** A HIT in RFC 5952 text, so one relay or peer is never listed under two spellings. */
export function canonicalHitText(text: string): string {
  const bytes = parseIPv6(text);
  return bytes === null ? text : ipv6Text(bytes);
}

/**
 * A HIP relay and rendezvous server (RFC 8004, RFC 9028): its HIT and where it listens. `name` is
 * what status and the UI call it (its HIT when absent).
 */
export const relayConfig = refine(
  object(
    {
      hit: hitText,
      address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }),
      port: integer({ min: 1, max: 65535 }),
    },
    { name: peerName },
  ),
  relayProblem,
);
export type RelayConfig = Infer<typeof relayConfig>;

export const peerConfig = object(
  {
    name: peerName,
    hit: hitText,
    /** Where to reach the peer; empty for a peer that contacts us or that we reach through a relay. */
    locators: array(endpoint, { maxItems: 64 }),
  },
  {
    /** The relay the peer registered with, for when it has no locator (default: our own relays). */
    relay: relayConfig,
  },
);
export type PeerConfig = Infer<typeof peerConfig>;

// ---------------------------------------------------------------------------------------------
// Mobility: uplinks, locator pairs, handovers, flow bindings (issue 4 fills these in).
//
// Every field below that the engine reports is OPTIONAL in status, so a daemon without
// mobility still validates; the UI shows "not reported by this engine" where they are absent.

/** Linux interface names (IFNAMSIZ - 1); other systems' names fit too. */
export const interfaceName = string({ pattern: /^[A-Za-z0-9_.:-]{1,15}$/, expected: 'an interface name (up to 15 letters, digits, "_", ".", ":", "-")' });

export const INTERFACE_KINDS = ['ethernet', 'wifi', 'cellular', 'virtual', 'other'] as const;
export const interfaceKind = oneOf(INTERFACE_KINDS);
export type InterfaceKind = Infer<typeof interfaceKind>;

/** Address verification state of a locator (RFC 8046 §5.4 / RFC 7401 UPDATE reachability). */
export const locatorState = oneOf(['ACTIVE', 'UNVERIFIED', 'DEPRECATED'] as const);
export type LocatorState = Infer<typeof locatorState>;

/** Whether a locator pair carries traffic: proven, being probed, or given up on. */
export const pairState = oneOf(['operational', 'testing', 'failed'] as const);
export type PairState = Infer<typeof pairState>;

const spi = integer({ min: 0, max: 0xffff_ffff });

/**
 * How the peer's address in a locator pair was found (RFC 9028 §5.7, ICE's candidate types):
 * host, an address of the peer's own interface; srflx (server-reflexive), the peer's NAT mapping
 * as a relay saw it; prflx (peer-reflexive), the source a check from the peer arrived from;
 * relayed, an address on a relay, so packets to it go through that relay. Our end of a pair is
 * always one of our sockets, so the peer's end is what tells a direct path from a relayed one.
 */
export const CANDIDATE_KINDS = ['host', 'srflx', 'prflx', 'relayed'] as const;
export const candidateKind = oneOf(CANDIDATE_KINDS);
export type CandidateKind = Infer<typeof candidateKind>;

/** One local × peer locator pair of an association, as the engine's pair selection sees it. */
export const locatorPair = object(
  {
    local: endpoint,
    remote: endpoint,
    /** The uplink the local locator sits on; null when the engine cannot tell. */
    interface: nullable(interfaceName),
    kind: interfaceKind,
    /** The peer locator's verification state. */
    remoteState: locatorState,
    state: pairState,
    /**
     * The pair traffic goes over now (exactly one per established association). In load sharing
     * other pairs carry traffic too: see `spread`.
     */
    primary: boolean,
  },
  {
    /** How the peer's address in this pair was found; "relayed": the pair goes through a relay. */
    candidate: candidateKind,
    spiIn: spi,
    spiOut: spi,
    rttMs: number({ min: 0 }),
    lastHeardMs: number({ min: 0 }),
    /**
     * The peer's packets arrive on this pair (ours ← theirs): at most one per association. Each
     * side picks its own outbound pair (seed 003 §5.2), so after a one-way failure this may not
     * be the primary.
     */
    inbound: boolean,
    /**
     * Load sharing (multihoming "simultaneous"): the pair carries a share of the peer's unbound
     * traffic, spread per flow over every pair marked so (the primary among them). Absent: it
     * carries only flows bound to it, or nothing.
     */
    spread: boolean,
    /**
     * ESP bytes over this pair, for a per-pair throughput chart. Never filled: the engine counts
     * ESP bytes per association (PeerStatus.counters), not per pair.
     */
    bytesIn: integer({ min: 0 }),
    bytesOut: integer({ min: 0 }),
    /**
     * Not checked in the background: the peer said its checks toward our candidates all failed
     * (RFC 9028 CONNECTIVITY_CHECKS_FAILED), and so did ours on this pair. Checked again when
     * either side's candidates change.
     */
    checksHeld: boolean,
  },
);
export type LocatorPair = Infer<typeof locatorPair>;

export const interfaceAddress = object({ address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }), prefixLength: integer({ min: 0, max: 128 }), state: locatorState });

/** One uplink (a network interface and its addresses) as the daemon's interface monitor sees it. */
export const uplink = object(
  {
    name: interfaceName,
    kind: interfaceKind,
    up: boolean,
    addresses: array(interfaceAddress, { maxItems: 64 }),
    /** 0 = most preferred; from the user's interface order, then the kind preference. */
    preference: integer({ min: 0 }),
  },
  {
    /** The `meteredInterfaces` setting names it (the interface monitor cannot tell); absent = not metered. */
    metered: boolean,
  },
);
export type Uplink = Infer<typeof uplink>;

export const HANDOVER_CAUSES = ['interface-down', 'address-lost', 'pair-failed', 'peer-moved', 'better-path', 'user', 'policy'] as const;
export const handoverCause = oneOf(HANDOVER_CAUSES);
export type HandoverCause = Infer<typeof handoverCause>;

export const pairRef = object(
  { local: endpoint, remote: endpoint, interface: nullable(interfaceName), kind: interfaceKind },
  {
    /** How the peer's address in this pair was found (as in locatorPair); "relayed": through a relay. */
    candidate: candidateKind,
    /** With candidate "relayed" through one of our relays: its name (its HIT when unnamed). */
    relay: string({ minLength: 1, maxLength: 63 }),
  },
);
export type PairRef = Infer<typeof pairRef>;

/** One move of a peer's traffic from one pair to another: the engine's move, with the cause the daemon gives it. */
export const handoverRecord = object(
  {
    /** Increasing per daemon run; `handover.list` pages by it. */
    seq: integer({ min: 0 }),
    /** Wall-clock time (ms since the epoch) the new pair took over. */
    at: number({ min: 0 }),
    peer: nullable(peerName),
    hit: hitText,
    cause: handoverCause,
    /** null for the first pair of an association. */
    from: nullable(pairRef),
    to: pairRef,
    /** Time between the last packet on the old pair and the first on the new; null until measured. */
    gapMs: nullable(number({ min: 0 })),
  },
  {
    packetsLost: integer({ min: 0 }),
    /**
     * The engine's finer reason where `cause` groups several: which detector found the pair
     * failed (data-silence, keepalive, icmp, peer-poll), or why HIP moved to the peer's new
     * address (peer-preferred, locator-deprecated, peer-source-changed, verified).
     */
    detail: string({ pattern: /^[a-z][a-z0-9-]{0,39}$/, expected: 'a reason word (a-z, 0-9, "-")' }),
  },
);
export type HandoverRecord = Infer<typeof handoverRecord>;

export const TRAFFIC_PROTOCOLS = ['any', 'tcp', 'udp', 'icmp'] as const;

export const portRange = refine(
  object({ from: integer({ min: 1, max: 65535 }), to: integer({ min: 1, max: 65535 }) }),
  (r) => (r.from <= r.to ? null : `port range ends (${r.to}) before it starts (${r.from})`),
);

/** Which packets a flow is (seed 002 §1, after RFC 6089): protocol and ports towards the peer. */
export const trafficSelector = object(
  { protocol: oneOf(TRAFFIC_PROTOCOLS) },
  { localPorts: portRange, remotePorts: portRange },
);
export type TrafficSelector = Infer<typeof trafficSelector>;

/**
 * A flow the peer bound to one of its locators (its E-LOCATOR): what we send of that flow goes
 * to `locator`. The selector is seen from our side (local = ours), as our route matches it.
 */
export const peerFlowStatus = object({
  fid: integer({ min: 1, max: 65535 }),
  selector: trafficSelector,
  locator: endpoint,
});
export type PeerFlowStatus = Infer<typeof peerFlowStatus>;

/**
 * What a bound flow does while its interface has no working pair: "prefer" falls back to the
 * best other pair ("prefer cellular" = bound to the cellular uplink, prefer); "only" keeps it
 * off every other uplink ("only on Wi-Fi"), its packets dropped until the interface works.
 */
export const FLOW_POLICIES = ['prefer', 'only'] as const;
export type FlowPolicy = (typeof FLOW_POLICIES)[number];

/** A flow binding: the flow with FID `fid` to `peer` goes over `interface` (seed 002 §3.1). */
export const flowBinding = object({
  /** Flow identifier carried in E-LOCATOR's flow mobility option. */
  fid: integer({ min: 1, max: 65535 }),
  peer: peerName,
  selector: trafficSelector,
  /** null = follow the peer's primary pair. */
  interface: nullable(interfaceName),
}, {
  /** Absent = "prefer". "only" needs an interface. */
  policy: oneOf(FLOW_POLICIES),
});
export type FlowBinding = Infer<typeof flowBinding>;

/** A flow binding placed on the peer's current pairs and our uplinks. */
export const flowStatus = object(
  {
    binding: flowBinding,
    /** bound: on the named uplink; fallback: that uplink is gone, so on the primary; pending: E-LOCATOR not yet acknowledged. */
    state: oneOf(['bound', 'fallback', 'pending'] as const),
    /** Packets of this flow were seen leaving on its pair (steered by the data plane), not only planned. */
    enforced: boolean,
    /** The flow's packets and bytes as the data plane counted them: out on its route, in from the peer. */
    packetsOut: integer({ min: 0 }),
    bytesOut: integer({ min: 0 }),
    packetsIn: integer({ min: 0 }),
    bytesIn: integer({ min: 0 }),
  },
  {
    local: endpoint,
    remote: endpoint,
    /** Why the flow is not on its uplink (fallback, pending), in words: "cell0 is down"; with bound, what of it the peer does not do. */
    reason: string({ maxLength: 200 }),
    /** The binding's peer is not on the peer list (removed, or never added): it applies to nothing until one of that name is. */
    peerRemoved: literal(true),
  },
);
export type FlowStatus = Infer<typeof flowStatus>;

// ---------------------------------------------------------------------------------------------
// Settings: persisted with the state dir, every field checked; a patch changes only what it names.

export const FAILURE_DETECTION = ['relaxed', 'normal', 'aggressive'] as const;
export const MULTIHOMING_MODES = ['failover', 'load-sharing'] as const;

const noDuplicates = <T>(what: string) => (list: readonly T[]): string | null => {
  const seen = new Set<T>();
  for (const x of list) {
    if (seen.has(x)) return `${what} ${JSON.stringify(x)} is listed twice`;
    seen.add(x);
  }
  return null;
};

/** More relays than this only multiply registrations and keepalives. */
export const MAX_RELAYS = 8;

/** One relay per HIT and one per name: status and peers name relays by either. */
function distinctRelays(list: readonly RelayConfig[]): string | null {
  const hits = noDuplicates<string>('relay HIT')(list.map((r) => canonicalHitText(r.hit)));
  if (hits) return `${hits}; give each relay once`;
  const names = noDuplicates<string>('relay name')(list.flatMap((r) => (r.name === undefined ? [] : [r.name])));
  return names ? `${names}; give each relay its own name` : null;
}

const settingsFields = {
  /**
   * Seconds between keepalives on an idle association: they hold the NAT mappings to our relays
   * and on the paths in use. 15 by default: half the 30 s after which Linux conntrack and many
   * home routers forget a UDP mapping, so one lost keepalive costs nothing.
   */
  keepaliveIntervalS: integer({ min: 1, max: 300 }),
  /** How quickly a silent pair is declared failed: relaxed waits longer, aggressive flaps more. */
  failureDetection: oneOf(FAILURE_DETECTION),
  multihomingMode: oneOf(MULTIHOMING_MODES),
  /** Kinds of uplink, most preferred first. */
  interfacePreference: refine(array(interfaceKind, { maxItems: INTERFACE_KINDS.length }), noDuplicates('interface kind')),
  /** Named uplinks, most preferred first; ahead of the kind preference. */
  interfaceOrder: refine(array(interfaceName, { maxItems: 64 }), noDuplicates('interface')),
  /**
   * Uplinks the user pays for by the byte (a cellular plan): each carries the flows bound to it,
   * and the rest of the traffic only while no unmetered uplink works (failover).
   */
  meteredInterfaces: refine(array(interfaceName, { maxItems: 64 }), noDuplicates('interface')),
  startAtLogin: boolean,
  notifications: boolean,
  /**
   * Relays we register with and reach peers through, first preferred; `serve --relay` adds to
   * them for one run. Read when the daemon starts.
   */
  relays: refine(array(relayConfig, { maxItems: MAX_RELAYS }), distinctRelays),
};

export const settings = object(settingsFields);
export type Settings = Infer<typeof settings>;
/** Any subset of the settings; at least one field. */
export const settingsPatch = refine(object({}, settingsFields), (p) => (Object.keys(p).length > 0 ? null : 'names no setting to change'));
export type SettingsPatch = Infer<typeof settingsPatch>;

export const DEFAULT_SETTINGS: Settings = {
  keepaliveIntervalS: 15,
  failureDetection: 'normal',
  multihomingMode: 'failover',
  interfacePreference: ['ethernet', 'wifi', 'cellular', 'virtual', 'other'],
  interfaceOrder: [],
  meteredInterfaces: [],
  startAtLogin: false,
  notifications: true,
  relays: [],
};

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

// ---------------------------------------------------------------------------------------------
// Methods: params and result of each request

const empty = object({});
const peerTarget = string({ minLength: 1, maxLength: 63, expected: 'a peer name or HIT' });

export const CONTROL_METHODS = {
  /** Identity, listening sockets, every peer's association and counters. */
  status: { params: empty, result: daemonStatus },
  /** Adds a peer or replaces the one with that name; takes effect at once. */
  'peer.add': { params: peerConfig, result: object({ peer: peerConfig, replaced: boolean }) },
  'peer.remove': { params: object({ name: peerName }), result: object({ removed: peerConfig }) },
  'peer.list': { params: empty, result: object({ peers: array(peerConfig) }) },
  /** A one-time invite: this host's HIT, name and locators and a secret (docs/design-notes.md, "Invites"). */
  'invite.create': {
    params: object({}, { name: peerName, expiresSeconds: integer({ min: 1, max: 30 * 86_400 }) }),
    result: object({ text: string({ minLength: 1, maxLength: 1000 }), expiresAt: integer({ min: 0, max: 2 ** 32 - 1 }) }),
  },
  /** Adds the inviter of an invite text as a peer; our first base exchange with it proves the invite. */
  'invite.accept': { params: object({ text: string({ minLength: 1, maxLength: 1000 }) }, { name: peerName }), result: object({ peer: peerConfig }) },
  /** Pending invites and how many proofs were accepted or refused since the daemon started. */
  'invite.status': {
    params: empty,
    result: object({ pending: integer({ min: 0, max: 1000 }), 'invite-proof': integer({ min: 0, max: 2 ** 53 }), 'invite-refused': integer({ min: 0, max: 2 ** 53 }) }),
  },
  /** HIP-level ping (UPDATE with ECHO_REQUEST_SIGNED); connects first if a locator is known. */
  ping: {
    params: object({ peer: string({ minLength: 1, maxLength: 63, expected: 'a peer name or HIT' }) }, { timeoutMs: integer({ min: 1, max: 60_000 }) }),
    result: object({ name: nullable(peerName), hit: hitText, rttMs: number({ min: 0 }), local: endpoint, remote: endpoint }),
  },
  /** Asks for events on this connection until it closes. */
  subscribe: { params: empty, result: object({ subscribed: literal(true) }) },

  // --- Desktop app (issue 5). Methods the engine does not implement yet answer 'not-supported'.
  /** The connect/disconnect switch: up starts base exchanges to every peer with a locator; down closes all. */
  'tunnel.set': { params: object({ up: boolean }), result: object({ up: boolean }) },
  /** Make this pair the peer's primary (user choice; cause "user" in the handover). */
  'pair.use': { params: object({ peer: peerTarget, local: endpoint, remote: endpoint }), result: object({ handover: nullable(handoverRecord) }) },
  /** Move the peer (or every peer) off its primary pair to the best other operational one, now. */
  failover: { params: object({}, { peer: peerTarget }), result: object({ handovers: array(handoverRecord) }) },
  /** Handovers after `afterSeq` (all kept ones without it), oldest first. */
  'handover.list': { params: object({}, { afterSeq: integer({ min: 0 }) }), result: object({ handovers: array(handoverRecord, { maxItems: 10_000 }) }) },
  /** Adds a binding or replaces the one with its FID ("move to interface" = set with another interface). */
  'flow.set': { params: flowBinding, result: object({ flow: flowBinding, replaced: boolean }) },
  'flow.remove': { params: object({ fid: integer({ min: 1, max: 65535 }) }), result: object({ removed: flowBinding }) },
  /** Re-read the interfaces now (after resume, or when the user asks). */
  'interfaces.recheck': { params: empty, result: object({ interfaces: array(uplink, { maxItems: 64 }) }) },
  'settings.get': { params: empty, result: settings },
  /** Applies and persists a patch; a bad value refuses the whole patch. */
  'settings.set': { params: settingsPatch, result: settings },
  /** `hipvpn relay serve` only: its clients, their registrations and reflexive addresses, its counters. */
  'relay.status': { params: empty, result: relayServerStatus },
} as const satisfies Record<string, { params: Validator<unknown>; result: Validator<unknown> }>;

export type ControlMethod = keyof typeof CONTROL_METHODS;
export type ParamsOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['params']>;
export type ResultOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['result']>;

export const ERROR_CODES = [
  'bad-frame', // not JSON, not an object, too long
  'unknown-method',
  'invalid-params', // params fail the schema, or a HIT/address that does not parse
  'unknown-peer',
  'conflict', // e.g. a HIT already configured under another name
  'not-connected', // ping: no association and no locator to start one
  'ping-failed', // ping: no answer, or the association went away
  'not-supported', // a method of the schema this daemon does not implement yet
  'unauthorized', // WebSocket: missing or wrong token
  'unavailable', // the daemon behind a bridge (web, Electron) is not running
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const controlError = object({ code: oneOf(ERROR_CODES), message: string({ maxLength: 2000 }) });
export type ControlError = Infer<typeof controlError>;

// ---------------------------------------------------------------------------------------------
// Events

const peerRef = { peer: nullable(peerName), hit: hitText };

export const controlEvent = variants('type', {
  association: object({ type: literal('association'), ...peerRef, from: associationState, to: associationState }),
  established: object({ type: literal('established'), ...peerRef, local: endpoint, remote: endpoint, initiator: boolean }),
  rekeyed: object({ type: literal('rekeyed'), ...peerRef }),
  closed: object({ type: literal('closed'), ...peerRef, byPeer: boolean }),
  failed: object({ type: literal('failed'), ...peerRef, reason: string({ maxLength: 200 }) }),
  notify: object({ type: literal('notify'), ...peerRef, notifyType: integer({ min: 0, max: 65535 }), authenticated: boolean }),
  peers: object({ type: literal('peers'), peers: array(peerConfig) }),
  /** The engine moved a peer's traffic to another pair; `handover.list` keeps the recent ones. */
  handover: object({ type: literal('handover'), handover: handoverRecord }),
  settings: object({ type: literal('settings'), settings }),
  /** Bridges (web, Electron) only: the daemon behind them went away or came back. */
  daemon: object({ type: literal('daemon'), running: boolean }),
});
export type ControlEvent = Infer<typeof controlEvent>;

// ---------------------------------------------------------------------------------------------
// Frames

export type ControlRequest = { [M in ControlMethod]: { id: number; method: M; params: ParamsOf<M> } }[ControlMethod];
export type ControlResponse<M extends ControlMethod = ControlMethod> =
  | { id: number; ok: true; result: ResultOf<M> }
  | { id: number; ok: false; error: ControlError };
export interface ControlEventFrame { event: ControlEvent }

const requestId = integer({ min: 0 });
/** Passes anything: the envelope's params and result are checked per method afterwards. */
const anyValue: Validator<unknown> = { expected: 'any', check: (v) => ({ ok: true, value: v }) };
const requestEnvelope = object({ id: requestId, method: string({ maxLength: 64 }) }, { params: anyValue });

function isControlMethod(m: string): m is ControlMethod {
  return Object.prototype.hasOwnProperty.call(CONTROL_METHODS, m);
}

function parseJson(line: string): Checked<unknown> {
  if (line.length > MAX_FRAME_BYTES) return { ok: false, error: `frame longer than ${MAX_FRAME_BYTES} characters` };
  try {
    return { ok: true, value: JSON.parse(line) as unknown };
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
}

export type DecodedRequest = { ok: true; request: ControlRequest } | { ok: false; id: number | null; error: ControlError };

/** One request line as the daemon receives it. Never throws. */
export function decodeRequest(line: string): DecodedRequest {
  const json = parseJson(line);
  if (!json.ok) return { ok: false, id: null, error: { code: 'bad-frame', message: json.error } };
  return decodeRequestValue(json.value);
}

/** A request that arrived as a value (Electron IPC, a parsed WebSocket message). Never throws. */
export function decodeRequestValue(value: unknown): DecodedRequest {
  const env = requestEnvelope.check(value);
  if (!env.ok) return { ok: false, id: null, error: { code: 'bad-frame', message: env.error } };
  const { id, method } = env.value;
  if (!isControlMethod(method)) {
    return { ok: false, id, error: { code: 'unknown-method', message: `unknown method ${JSON.stringify(method)} (known: ${Object.keys(CONTROL_METHODS).join(', ')})` } };
  }
  const params = CONTROL_METHODS[method].params.check(env.value.params ?? {}, 'params');
  if (!params.ok) return { ok: false, id, error: { code: 'invalid-params', message: params.error } };
  return { ok: true, request: { id, method, params: params.value } as ControlRequest };
}

export type DecodedServerFrame =
  | { ok: true; kind: 'response'; id: number; response: { ok: true; result: unknown } | { ok: false; error: ControlError } }
  | { ok: true; kind: 'event'; event: ControlEvent }
  | { ok: false; error: string };

const responseEnvelope = object(
  { id: requestId, ok: boolean },
  { result: anyValue, error: controlError },
);
const eventEnvelope = object({ event: controlEvent });

/**
 * One line from the daemon as a client receives it: an event (validated in full) or a response
 * whose result the caller validates with `checkResult`, since only it knows the method.
 */
export function decodeServerFrame(line: string): DecodedServerFrame {
  const json = parseJson(line);
  if (!json.ok) return json;
  const v = json.value;
  if (typeof v === 'object' && v !== null && 'event' in v) {
    const e = eventEnvelope.check(v);
    return e.ok ? { ok: true, kind: 'event', event: e.value.event } : e;
  }
  const r = responseEnvelope.check(v);
  if (!r.ok) return r;
  const { id, ok, result, error } = r.value;
  if (ok) {
    if (error !== undefined || result === undefined) return { ok: false, error: 'a successful response carries "result" and no "error"' };
    return { ok: true, kind: 'response', id, response: { ok: true, result } };
  }
  if (error === undefined || result !== undefined) return { ok: false, error: 'a failed response carries "error" and no "result"' };
  return { ok: true, kind: 'response', id, response: { ok: false, error } };
}

/** A response that arrived as a value (IPC, WebSocket): its envelope only; see checkResult. Never throws. */
export function checkResponseValue(value: unknown): Checked<{ ok: true; result: unknown } | { ok: false; error: ControlError }> {
  const r = responseEnvelope.check(value);
  if (!r.ok) return r;
  const { ok, result, error } = r.value;
  if (ok) return result === undefined || error !== undefined ? { ok: false, error: 'a successful response carries "result" and no "error"' } : { ok: true, value: { ok: true, result } };
  return error === undefined || result !== undefined ? { ok: false, error: 'a failed response carries "error" and no "result"' } : { ok: true, value: { ok: false, error } };
}

export function isControlMethodName(m: string): m is ControlMethod {
  return isControlMethod(m);
}

export function checkResult<M extends ControlMethod>(method: M, result: unknown): Checked<ResultOf<M>> {
  return CONTROL_METHODS[method].result.check(result, 'result') as Checked<ResultOf<M>>;
}

export function checkParams<M extends ControlMethod>(method: M, params: unknown): Checked<ParamsOf<M>> {
  return CONTROL_METHODS[method].params.check(params, 'params') as Checked<ParamsOf<M>>;
}

/** One frame as a line of newline-delimited JSON. */
export function encodeFrame(frame: ControlRequest | ControlResponse | ControlEventFrame): string {
  return `${JSON.stringify(frame)}\n`;
}
