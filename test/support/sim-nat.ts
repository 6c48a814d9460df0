// A UDP NAT for the simulated network, with the behaviours RFC 4787 names: how an internal
// endpoint is mapped to a public one (§4.1), which inbound packets a mapping lets through
// (§5), and how long a mapping lives without traffic (§4.3). Sans-IO: the simulated world asks
// it to translate each packet that crosses it, at a time it passes in. One public address; the
// public ports it picks come from the PRNG it is given, so a seeded world replays the same ports.

import type { SimEndpoint } from './sim-network.js';
import type { Prng } from './sim-network.js';

/**
 * RFC 4787 §4.1. 'endpoint-independent': one public endpoint per internal endpoint, whatever
 * the destination, keeping the internal port when it is free (Linux `masquerade`).
 * 'address-and-port-dependent': a new random public port per destination endpoint (Linux
 * `masquerade fully-random`): a "symmetric" NAT.
 */
export type NatMapping = 'endpoint-independent' | 'address-and-port-dependent';

/**
 * RFC 4787 §5: which senders may reach an internal endpoint through its mapping.
 * 'endpoint-independent': anyone; 'address-dependent': addresses the internal endpoint sent to;
 * 'address-and-port-dependent': exactly the endpoints it sent to.
 */
export type NatFiltering = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatBehaviour {
  mapping: NatMapping;
  filtering: NatFiltering;
  /**
   * A mapping (and each filtering permission) dies after this long without a packet refreshing
   * it. RFC 4787 REQ-5 asks for at least 2 min; Linux conntrack keeps an unanswered UDP flow 30 s
   * and an answered one 120 s, and many home routers and CGNATs use 30 s to 60 s.
   */
  timeoutMs: number;
  /** RFC 4787 §4.3: inbound packets that pass the filter refresh the mapping too (outbound always do, REQ-6). */
  inboundRefresh?: boolean;
  /** RFC 4787 REQ-9: a packet from inside to the NAT's own public address is turned back in; else dropped. */
  hairpinning?: boolean;
  /** Public ports to choose from (inclusive). */
  ports?: { min: number; max: number };
}

/** The usual names for the combinations (RFC 3489 §5's cones; RFC 4787 §4.1 and §5 define them). */
export const NAT_KINDS = {
  'full-cone': { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  'restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  'port-restricted-cone': { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symmetric: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
} as const satisfies Record<string, Pick<NatBehaviour, 'mapping' | 'filtering'>>;

export type NatKind = keyof typeof NAT_KINDS;

/** A behaviour by its usual name, with the mapping timeout given (30 s: Linux's unanswered UDP). */
export function natBehaviour(kind: NatKind, extra: Partial<NatBehaviour> = {}): NatBehaviour {
  return { ...NAT_KINDS[kind], timeoutMs: 30_000, ...extra };
}

export interface NatCounters {
  /** Packets translated on the way out (a mapping created or reused). */
  outbound: number;
  /** Packets translated on the way in and let through. */
  inbound: number;
  /** Inbound packets to a live mapping that its filter refused. */
  filtered: number;
  /** Inbound packets to a public port with no live mapping. */
  unmapped: number;
  /** Mappings that died without traffic. */
  expired: number;
  /** Outbound packets dropped because no public port was free. */
  portsExhausted: number;
  /** Packets from inside to the public address dropped (no hairpinning). */
  hairpinDropped: number;
}

interface Mapping {
  internal: SimEndpoint;
  publicPort: number;
  lastActiveAt: number;
  /** Filtering permissions: each remote endpoint sent to through this mapping, and when last. */
  sentTo: Map<string, { remote: SimEndpoint; at: number }>;
}

const DEFAULT_PORTS = { min: 1024, max: 65535 };

const key = (e: SimEndpoint): string => `${e.address}|${e.port}`;

export class SimNat {
  readonly counters: NatCounters = { outbound: 0, inbound: 0, filtered: 0, unmapped: 0, expired: 0, portsExhausted: 0, hairpinDropped: 0 };
  /** Endpoint-independent: internal endpoint → mapping; address-and-port-dependent: internal > remote → mapping. */
  private readonly byInternal = new Map<string, Mapping>();
  private readonly byPort = new Map<number, Mapping>();
  private refused: string | undefined;
  /** Port forwards (destination NAT) the NAT's owner set up: public port → internal endpoint. */
  private readonly forwards = new Map<number, SimEndpoint>();

  constructor(readonly name: string, readonly publicAddress: string, readonly behaviour: NatBehaviour, private readonly prng: Prng) {}

  /**
   * A packet from `internal` to `remote` crosses the NAT at `now`: the public endpoint it
   * leaves from, or undefined when it is dropped (no public port left).
   */
  outbound(now: number, internal: SimEndpoint, remote: SimEndpoint): SimEndpoint | undefined {
    this.expire(now);
    const k = this.mappingKey(internal, remote);
    let m = this.byInternal.get(k);
    if (m === undefined) {
      const port = this.choosePort(internal.port);
      if (port === undefined) {
        this.counters.portsExhausted++;
        return undefined;
      }
      m = { internal: { ...internal }, publicPort: port, lastActiveAt: now, sentTo: new Map() };
      this.byInternal.set(k, m);
      this.byPort.set(port, m);
    }
    m.lastActiveAt = now;
    m.sentTo.set(key(remote), { remote: { ...remote }, at: now });
    this.counters.outbound++;
    return { address: this.publicAddress, port: m.publicPort };
  }

  /**
   * A packet from `remote` to our public endpoint `external` arrives at `now`: the internal
   * endpoint it goes to, or undefined when no mapping or the filter stops it (counted).
   */
  inbound(now: number, remote: SimEndpoint, external: SimEndpoint): SimEndpoint | undefined {
    this.expire(now);
    const m = external.address === this.publicAddress ? this.byPort.get(external.port) : undefined;
    const forward = external.address === this.publicAddress ? this.forwards.get(external.port) : undefined;
    if (forward !== undefined && (m === undefined || key(m.internal) === key(forward))) return this.forwarded(now, m, forward, remote, external.port);
    if (m === undefined) {
      this.counters.unmapped++;
      return undefined;
    }
    if (remote.address === this.refused || !this.admits(m, remote, now)) {
      this.counters.filtered++;
      return undefined;
    }
    if (this.behaviour.inboundRefresh === true) {
      m.lastActiveAt = now;
      const permission = m.sentTo.get(key(remote)) ?? [...m.sentTo.values()].find((p) => p.remote.address === remote.address);
      if (permission !== undefined) permission.at = now;
    }
    this.counters.inbound++;
    return { ...m.internal };
  }

  /** The public endpoint a packet from `internal` to `remote` would leave from now, if mapped (nothing is refreshed). */
  mapped(now: number, internal: SimEndpoint, remote: SimEndpoint): SimEndpoint | undefined {
    this.expire(now);
    const m = this.byInternal.get(this.mappingKey(internal, remote));
    return m && { address: this.publicAddress, port: m.publicPort };
  }

  /**
   * A port forward: whoever sends to the public `port` reaches `internal` (no filtering), and
   * the answers leave from that public port, as a router's DNAT rule and its conntrack entry do.
   * It is configuration: forgetMappings leaves it in place.
   */
  forwardPort(port: number, internal: SimEndpoint): void {
    this.forwards.set(port, { ...internal });
  }

  /** Forgets every mapping at once, as `conntrack -F` or a NAT's reboot does: the next packet out maps afresh. */
  forgetMappings(): void {
    this.byInternal.clear();
    this.byPort.clear();
  }

  /** From now on, packets from `address` are filtered whatever the mappings say (a firewall rule); undefined lifts it. */
  refuseFrom(address: string | undefined): void {
    this.refused = address;
  }

  /** Live mappings at `now`. */
  mappingCount(now: number): number {
    this.expire(now);
    return this.byInternal.size;
  }

  /** One line for a test's output. */
  describe(): string {
    const c = this.counters;
    return `${this.name} (${this.behaviour.mapping} mapping, ${this.behaviour.filtering} filtering, ${this.behaviour.timeoutMs / 1000} s) at ${this.publicAddress}: `
      + `out ${c.outbound} in ${c.inbound} filtered ${c.filtered} unmapped ${c.unmapped} expired ${c.expired}`
      + (c.portsExhausted > 0 ? ` ports-exhausted ${c.portsExhausted}` : '')
      + (c.hairpinDropped > 0 ? ` hairpin-dropped ${c.hairpinDropped}` : '');
  }

  /** A packet in through a port forward: the mapping its answers leave by is made (or refreshed) as it passes. */
  private forwarded(now: number, existing: Mapping | undefined, internal: SimEndpoint, remote: SimEndpoint, port: number): SimEndpoint {
    let m = existing;
    if (m === undefined) {
      m = { internal: { ...internal }, publicPort: port, lastActiveAt: now, sentTo: new Map() };
      this.byInternal.set(this.mappingKey(internal, remote), m);
      this.byPort.set(port, m);
    }
    m.lastActiveAt = now;
    m.sentTo.set(key(remote), { remote: { ...remote }, at: now });
    this.counters.inbound++;
    return { ...m.internal };
  }

  private mappingKey(internal: SimEndpoint, remote: SimEndpoint): string {
    return this.behaviour.mapping === 'endpoint-independent' ? key(internal) : `${key(internal)}>${key(remote)}`;
  }

  private admits(m: Mapping, remote: SimEndpoint, now: number): boolean {
    const fresh = (p: { at: number }): boolean => now - p.at < this.behaviour.timeoutMs;
    switch (this.behaviour.filtering) {
      case 'endpoint-independent':
        return true;
      case 'address-dependent':
        return [...m.sentTo.values()].some((p) => p.remote.address === remote.address && fresh(p));
      case 'address-and-port-dependent': {
        const p = m.sentTo.get(key(remote));
        return p !== undefined && fresh(p);
      }
    }
  }

  private expire(now: number): void {
    for (const [k, m] of this.byInternal) {
      if (now - m.lastActiveAt < this.behaviour.timeoutMs) continue;
      this.byInternal.delete(k);
      this.byPort.delete(m.publicPort);
      this.counters.expired++;
    }
  }

  /** Port preservation when free for endpoint-independent mapping (as Linux does); otherwise a random free port. */
  private choosePort(internalPort: number): number | undefined {
    const { min, max } = this.behaviour.ports ?? DEFAULT_PORTS;
    const free = (p: number): boolean => !this.byPort.has(p);
    if (this.behaviour.mapping === 'endpoint-independent' && internalPort >= min && internalPort <= max && free(internalPort)) return internalPort;
    const span = max - min + 1;
    for (let tries = 0; tries < 16; tries++) {
      const p = min + this.prng.int(span);
      if (free(p)) return p;
    }
    // Nearly full: the first free port after a random start.
    const start = this.prng.int(span);
    for (let i = 0; i < span; i++) {
      const p = min + ((start + i) % span);
      if (free(p)) return p;
    }
    return undefined;
  }
}
