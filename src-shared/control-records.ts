// The control API's records: peers and relays, uplinks, locator pairs, handovers, flow bindings
// and settings, each a validator with its type derived from it. Part of the one schema that
// control-api.ts gathers and re-exports; split out only to keep each file short.

import { array, boolean, integer, literal, nullable, number, object, oneOf, refine, string, type Infer, type Validator } from './validate.js';
import { isOrchidV2, ipv6Text, parseIPv4, parseIPv6 } from './ip-text.js';
import { HANDOVER_CAUSES, INTERFACE_KINDS, type Endpoint } from './vocabulary.js';

export { HANDOVER_CAUSES, INTERFACE_KINDS, type Endpoint, type HandoverCause, type InterfaceKind } from './vocabulary.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Peer names are what users type and what logs show: short, no spaces, no shell metacharacters. */
export const peerName = string({
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  expected: 'a peer name (letters, digits, ".", "_", "-"; up to 63, starting with a letter or digit)',
});

/** IPv6 text of a HIT; whether it is a valid ORCHID is checked where addresses can be parsed. */
export const hitText = string({ minLength: 2, maxLength: 45, expected: 'a HIT (IPv6 text, 2001:2x::/28)' });

export const endpoint: Validator<Endpoint> = object({
  address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }),
  port: integer({ min: 0, max: 65535 }),
});

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

export const interfaceKind = oneOf(INTERFACE_KINDS);

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

export const handoverCause = oneOf(HANDOVER_CAUSES);

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
