// Our relays, as a client sees them (RFC 8003 registration, RFC 9028 relaying), sans-IO: which
// relays we use, what each granted and until when, the address each sees us at (REG_FROM) and
// the relayed address it gave (RELAYED_ADDRESS), which peers we reach through which relay and at
// what original address, and when a registration is due again. HostCore acts on it.

import { hitKey, sameEndpoint, type Endpoint } from '../../src-shared/vocabulary.js';
import type { RegistrationAnswer } from '../hip/registration.js';

import { RegistrationType } from '../hip/wire/constants.js';
import type { RegRequest } from '../hip/wire/params.js';
import { lifetimeSeconds } from '../relay/registrations.js';

export interface RelayConfig {
  hit: Uint8Array;
  endpoint: Endpoint;
  /** What the user calls it (status, UI); the HIT's text when unnamed. */
  name?: string;
}

/** What we ask of every relay: relaying of HIP and of ESP, and rendezvous. */
export const RELAY_REGISTRATION_TYPES: readonly number[] = [
  RegistrationType.RENDEZVOUS, RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP,
];
/**
 * RFC 8003 §4.1 encoding: 2^((136 - 64) / 8) = 512 s. Renewed at half of what was granted, so a
 * relay that lost our registration (a restart without its state) has it back within minutes
 * even if nothing else tells us; a locator change renews at once.
 */
export const REQUESTED_LIFETIME = 136;
/** A registration that went unanswered, or a relay we could not reach, is tried again this often. */
export const REGISTRATION_RETRY_MS = 5_000;

export interface RelayView {
  name: string;
  hit: string;
  address: string;
  port: number;
  /** Relaying of HIP was granted and has not lapsed: peers can reach us through this relay. */
  registered: boolean;
  granted: number[];
  /** Types refused, with RFC 8003's failure type. */
  failed: Array<{ failureType: number; regTypes: number[] }>;
  lifetimeS: number | null;
  expiresInS: number | null;
  /** Where the relay sees us (REG_FROM), from its last answer. */
  reflexive: Endpoint | null;
  /** Where peers reach us through its data relay (RELAYED_ADDRESS). */
  relayed: Endpoint | null;
}

interface RelayState {
  config: RelayConfig;
  hit: string;
  granted: number[];
  failed: RelayView['failed'];
  grantedAt: number | undefined;
  lifetimeS: number | undefined;
  reflexive: Endpoint | undefined;
  relayed: Endpoint | undefined;
  /** When a registration (with the permissions) should next go out; undefined: not until asked. */
  dueAt: number | undefined;
  /** Our local address the registration in flight left from. */
  sentVia: string | undefined;
  /** Our local address the relay's registration of us is keyed by (the last one answered). */
  via: string | undefined;
  /** Per local address, where the relay saw a registration from it (REG_FROM): a srflx candidate per uplink. */
  reflexiveByLocal: Map<string, Endpoint>;
  /** For a while, registrations leave from this uplink rather than the association's active one (bridge()). */
  bridge: { local: Endpoint; until: number } | undefined;
}

/** A relay we have asked nothing of yet; its first registration is due at `dueAt`. */
function freshState(config: RelayConfig, hit: string, dueAt: number | undefined): RelayState {
  return {
    config, hit, granted: [], failed: [], grantedAt: undefined, lifetimeS: undefined, reflexive: undefined, relayed: undefined, dueAt,
    sentVia: undefined, via: undefined, reflexiveByLocal: new Map(), bridge: undefined,
  };
}

export class RelayClients {
  private readonly relays = new Map<string, RelayState>();
  /** Peers reached through a relay: which relay, and the address it reported them from (RELAY_FROM). */
  private readonly routes = new Map<string, { relay: string; origin: Endpoint | undefined }>();

  constructor(configs: readonly RelayConfig[]) {
    for (const config of configs) {
      const hit = hitKey(config.hit);
      this.relays.set(hit, freshState(config, hit, undefined));
    }
  }

  /**
   * The relays to use from now on: new ones are due at once, kept ones keep what they were
   * granted, and the HITs of those no longer listed are returned (their routes forgotten).
   */
  set(now: number, configs: readonly RelayConfig[]): string[] {
    const next = new Map(configs.map((c) => [hitKey(c.hit), c]));
    const removed = [...this.relays.keys()].filter((hit) => !next.has(hit));
    for (const hit of removed) {
      this.relays.delete(hit);
      for (const [peer, route] of this.routes) if (route.relay === hit) this.routes.delete(peer);
    }
    const before = new Map(this.relays);
    this.relays.clear();
    // In the order given: the first is the one a peer known by HIT alone is sought through.
    for (const [hit, config] of next) {
      const kept = before.get(hit);
      if (kept !== undefined) {
        kept.config = config;
        this.relays.set(hit, kept);
        continue;
      }
      this.relays.set(hit, freshState(config, hit, now));
    }
    return removed;
  }

  configs(): RelayConfig[] {
    return [...this.relays.values()].map((r) => r.config);
  }

  /** The relay with this HIT (text), if it is one of ours. */
  config(hit: string): RelayConfig | undefined {
    return this.relays.get(hit)?.config;
  }

  isRelay(hit: string): boolean {
    return this.relays.has(hit);
  }

  /** The relay at this address and port, if it is one of ours. */
  atEndpoint(endpoint: Endpoint): RelayConfig | undefined {
    for (const r of this.relays.values()) if (sameEndpoint(r.config.endpoint, endpoint)) return r.config;
    return undefined;
  }

  request(lifetime = REQUESTED_LIFETIME): RegRequest {
    return { kind: 'REG_REQUEST', lifetime, regTypes: [...RELAY_REGISTRATION_TYPES] };
  }

  /** A relay answered: what it granted and refused, and where it sees us. */
  answered(now: number, hit: string, answer: RegistrationAnswer): void {
    const r = this.relays.get(hit);
    if (r === undefined) return;
    const lifetime = answer.response?.lifetime;
    if (lifetime !== undefined && lifetime > 0) {
      r.granted = [...answer.response!.regTypes];
      r.grantedAt = now;
      r.lifetimeS = lifetimeSeconds(lifetime);
      r.dueAt = now + (r.lifetimeS * 1000) / 2;
    } else {
      r.granted = [];
      r.grantedAt = undefined;
      r.lifetimeS = undefined;
      r.dueAt = now + REGISTRATION_RETRY_MS;
    }
    r.failed = answer.failed.map((f) => ({ failureType: f.failureType, regTypes: [...f.regTypes] }));
    if (answer.reflexive !== undefined) {
      r.reflexive = answer.reflexive;
      if (r.sentVia !== undefined) r.reflexiveByLocal.set(r.sentVia, { ...answer.reflexive });
    }
    if (answer.relayed !== undefined) r.relayed = answer.relayed;
    if (lifetime !== undefined && lifetime > 0) r.via = r.sentVia;
  }

  /** The relay's association is gone (or was never made): nothing it granted holds any more. */
  lost(now: number, hit: string): void {
    const r = this.relays.get(hit);
    if (r === undefined) return;
    r.granted = [];
    r.grantedAt = undefined;
    r.lifetimeS = undefined;
    r.dueAt = now + REGISTRATION_RETRY_MS;
    // What the relay saw of our registrations belongs to the association that is gone: the next
    // one's answers say afresh where it sees each uplink, and which one it forwards to.
    r.reflexiveByLocal.clear();
    r.via = undefined;
    r.bridge = undefined;
  }

  /** Register (and re-send permissions) with this relay at the next chance. */
  due(now: number, hit: string): void {
    const r = this.relays.get(hit);
    if (r !== undefined) r.dueAt = now;
  }

  /** A registration went out (from our local address `via`): the next is due on its answer, or after the retry interval. */
  sent(now: number, hit: string, via?: string): void {
    const r = this.relays.get(hit);
    if (r === undefined) return;
    r.dueAt = now + REGISTRATION_RETRY_MS;
    r.sentVia = via;
    if (r.bridge !== undefined && r.bridge.until <= now) r.bridge = undefined;
  }

  /**
   * For `forMs`, our registration with this relay leaves from `local` (another uplink than the
   * association's active pair), at once. The relay forwards relayed ESP and HIP to where it sees
   * a registration come from, so a peer's traffic through the relay reaches us on that uplink:
   * the bridge that carries it if the active uplink goes while a make-before-break runs. When the
   * time is up the registration goes back to the active pair.
   */
  bridge(now: number, hit: string, local: Endpoint, forMs: number): void {
    const r = this.relays.get(hit);
    if (r === undefined || forMs <= 0) return;
    r.bridge = { local: { ...local }, until: now + forMs };
    r.dueAt = now;
  }

  /** The local endpoint a registration with this relay should leave from now; undefined: the active pair's. */
  registerFrom(now: number, hit: string): Endpoint | undefined {
    const r = this.relays.get(hit);
    if (r?.bridge === undefined) return undefined;
    if (r.bridge.until > now) return { ...r.bridge.local };
    r.bridge = undefined;
    return undefined;
  }

  /** Our local address the relay's registration of us is keyed by, once answered. */
  registeredVia(hit: string): string | undefined {
    return this.relays.get(hit)?.via;
  }

  /** Where the relay saw a registration from our local `address` come from (its srflx candidate), if it did. */
  reflexiveOf(hit: string, address: string): Endpoint | undefined {
    const e = this.relays.get(hit)?.reflexiveByLocal.get(address);
    return e && { ...e };
  }

  /** Our local addresses now: the reflexive addresses of those gone are forgotten (their NAT mappings may be too). */
  keepLocals(addresses: readonly string[]): void {
    for (const r of this.relays.values()) {
      for (const a of [...r.reflexiveByLocal.keys()]) if (!addresses.includes(a)) r.reflexiveByLocal.delete(a);
    }
  }

  /** Relays whose registration is due at `now` (a bridge that ended takes it back to the active pair). */
  dueNow(now: number): string[] {
    return [...this.relays.values()].filter((r) => (r.dueAt !== undefined && r.dueAt <= now) || (r.bridge !== undefined && r.bridge.until <= now)).map((r) => r.hit);
  }

  nextDue(): number | undefined {
    let next: number | undefined;
    for (const r of this.relays.values()) {
      for (const at of [r.dueAt, r.bridge?.until]) if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** A packet from `peer` came through `relay`, sent from `origin` as the relay saw it. */
  reachedThrough(peer: string, relay: string, origin: Endpoint | undefined): boolean {
    const known = this.routes.get(peer);
    const changed = known === undefined || known.relay !== relay
      || (origin !== undefined && (known.origin === undefined || !sameEndpoint(known.origin, origin)));
    if (changed) this.routes.set(peer, { relay, origin: origin ?? known?.origin });
    return changed;
  }

  route(peer: string): { relay: string; origin: Endpoint | undefined } | undefined {
    return this.routes.get(peer);
  }

  forget(peer: string): void {
    this.routes.delete(peer);
  }

  /** Peers routed through `relay`. */
  peersThrough(relay: string): string[] {
    return [...this.routes.entries()].filter(([, r]) => r.relay === relay).map(([peer]) => peer);
  }

  view(now: number): RelayView[] {
    return [...this.relays.values()].map((r) => {
      const expiresAt = r.grantedAt === undefined || r.lifetimeS === undefined ? undefined : r.grantedAt + r.lifetimeS * 1000;
      const live = expiresAt !== undefined && now < expiresAt;
      return {
        name: r.config.name ?? r.hit,
        hit: r.hit,
        address: r.config.endpoint.address,
        port: r.config.endpoint.port,
        registered: live && r.granted.includes(RegistrationType.RELAY_UDP_HIP),
        granted: live ? [...r.granted] : [],
        failed: r.failed.map((f) => ({ ...f, regTypes: [...f.regTypes] })),
        lifetimeS: live ? r.lifetimeS! : null,
        expiresInS: live ? Math.round((expiresAt - now) / 1000) : null,
        reflexive: r.reflexive ? { ...r.reflexive } : null,
        relayed: r.relayed ? { ...r.relayed } : null,
      };
    });
  }
}
