// The registrar's table (RFC 8003, for the registration types of RFC 9028 and RFC 8004), sans-IO:
// what the relay offers in REG_INFO, the answer to a REG_REQUEST from an authenticated client,
// lifetimes and expiry on a clock the caller passes in, the reflexive address each client was
// seen from (REG_FROM), and a plain-object form that survives a restart. File I/O is the caller's.

import { ParamType, RegistrationType } from '../hip/wire/constants.js';
import { bytes16ToIp, hitToText, ipToBytes16, textToHit } from '../hip/wire/address.js';
import type { Endpoint } from '../../src-shared/vocabulary.js';
import type { Param, RegFailed, RegInfo, RegRequest, RegResponse, TransportAddress } from '../hip/wire/params.js';

/** REG_FAILED failure types (RFC 8003 §4.4 and its IANA registry). */
export const RegFailureType = {
  ADDITIONAL_CREDENTIALS: 0, // "Registration requires additional credentials"
  TYPE_UNAVAILABLE: 1, // "Registration type unavailable"
  INSUFFICIENT_RESOURCES: 2, // "Insufficient resources"
} as const;

const IPPROTO_UDP = 17;

/** RFC 8003 §4.1: an 8-bit lifetime value L stands for 2^((L - 64) / 8) seconds. */
export function lifetimeSeconds(encoded: number): number {
  return encoded === 0 ? 0 : 2 ** ((encoded - 64) / 8);
}

export type { Endpoint } from '../../src-shared/vocabulary.js';

/** One text per endpoint, whichever way its address was written (IPv4 or IPv4-mapped IPv6). */
export function endpointKey(e: Endpoint): string {
  const b = ipToBytes16(e.address);
  return `${b ? bytes16ToIp(b) : e.address}|${e.port}`;
}

export interface RegistrarPolicy {
  /** Encoded lifetimes (RFC 8003 §4.1), 1..255, min ≤ max. */
  minLifetime: number;
  maxLifetime: number;
  /** Registration types offered in REG_INFO and granted. */
  offered: readonly number[];
  /** Register any authenticated HIT; otherwise only those isAllowed accepts. */
  acceptAny: boolean;
  isAllowed?: (hit: string) => boolean;
  /** Distinct clients the table holds at most; a new client beyond it gets INSUFFICIENT_RESOURCES. */
  maxClients?: number;
}

export const DEFAULT_REGISTRAR_POLICY: RegistrarPolicy = {
  // 2^((96-64)/8) = 16 s .. 2^((168-64)/8) = 8192 s: short enough that a vanished client's
  // registration lapses within hours, long enough that renewal traffic stays negligible.
  minLifetime: 96,
  maxLifetime: 168,
  offered: [RegistrationType.RENDEZVOUS, RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP],
  acceptAny: false,
  maxClients: 10_000,
};

export interface Registration {
  hit: string; // canonical RFC 5952 text
  regType: number;
  lifetime: number; // encoded, as granted
  grantedAt: number; // ms on the caller's clock
  expiresAt: number; // ms
  reflexive: Endpoint; // where the client's REG_REQUEST came from, as this relay saw it
  /** Where the client registered from before its last REG_REQUEST moved the registration, and until when that source still counts as the client's. */
  movedFrom?: { reflexive: Endpoint; until: number };
}

/**
 * A client moving its registration to a new uplink keeps sending through the old one for a
 * while (make-before-break: copies of its data on the old path until the new one is confirmed
 * both ways). Its ESP from the old endpoint is still its own for this long; past the client
 * side's copy window (5 s), well short of the old NAT mapping's expiry (30 s and more).
 */
export const MOVED_SOURCE_GRACE_MS = 10_000;

export type Lookup =
  | { status: 'registered'; registration: Registration }
  | { status: 'expired'; registration: Registration }
  | { status: 'unregistered' };

export interface RequestOutcome {
  /** REG_RESPONSE / REG_FAILED / REG_FROM for the reply (I2→R2 or UPDATE), in ascending type order. */
  params: Param[];
  granted: number[];
  cancelled: number[];
  failed: { failureType: number; regTypes: number[] }[];
}

/** The persisted form: a plain object for JSON. */
export interface RegistrationsFile { version: 1; registrations: Registration[] }

export interface LoadResult { table: RegistrationTable; dropped: { index: number; reason: string }[] }

/** A HIT as canonical RFC 5952 text, from octets or any text form; null if it is not one. */
export function canonicalHit(hit: Uint8Array | string): string | null {
  if (typeof hit !== 'string') return hit.length === 16 ? hitToText(hit) : null;
  const bytes = textToHit(hit);
  return bytes ? hitToText(bytes) : null;
}

function isEncodedLifetime(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 255;
}

function checkPolicy(p: RegistrarPolicy): void {
  if (!isEncodedLifetime(p.minLifetime) || !isEncodedLifetime(p.maxLifetime) || p.minLifetime > p.maxLifetime) {
    throw new RangeError(`registration lifetimes ${p.minLifetime}..${p.maxLifetime} are not 1 ≤ min ≤ max ≤ 255`);
  }
}

export class RegistrationTable {
  private readonly byClient = new Map<string, Map<number, Registration>>();

  constructor(readonly policy: RegistrarPolicy = DEFAULT_REGISTRAR_POLICY) {
    checkPolicy(policy);
  }

  /** REG_INFO for R1 (or an UPDATE announcing a change of service). */
  offer(): RegInfo {
    return { kind: 'REG_INFO', minLifetime: this.policy.minLifetime, maxLifetime: this.policy.maxLifetime, regTypes: [...this.policy.offered] };
  }

  private allowed(hit: string): boolean {
    return this.policy.acceptAny || (this.policy.isAllowed?.(hit) ?? false);
  }

  /**
   * A REG_REQUEST from a client whose HIT the base exchange or UPDATE authenticated, received
   * from `from` (the outer UDP source: REG_FROM tells the client this address and port).
   */
  handleRequest(clientHit: Uint8Array | string, request: RegRequest, from: Endpoint, now: number): RequestOutcome {
    const outcome: RequestOutcome = { params: [], granted: [], cancelled: [], failed: [] };
    const hit = canonicalHit(clientHit);
    const types = [...new Set(request.regTypes)];
    if (hit === null || types.length === 0) return outcome;
    const fail = (failureType: number, regTypes: number[]) => {
      if (regTypes.length === 0) return;
      outcome.failed.push({ failureType, regTypes });
      outcome.params.push({ kind: 'REG_FAILED', failureType, regTypes } satisfies RegFailed);
    };

    if (request.lifetime === 0) {
      // RFC 8003 §3.3: a zero lifetime cancels; the answer confirms it with a zero lifetime.
      const held = this.byClient.get(hit);
      for (const t of types) held?.delete(t);
      if (held && held.size === 0) this.byClient.delete(hit);
      outcome.cancelled = types;
      outcome.params.push({ kind: 'REG_RESPONSE', lifetime: 0, regTypes: types } satisfies RegResponse);
      return outcome;
    }

    if (!this.allowed(hit)) {
      fail(RegFailureType.ADDITIONAL_CREDENTIALS, types);
      return outcome;
    }
    const offered = types.filter((t) => this.policy.offered.includes(t));
    const unavailable = types.filter((t) => !this.policy.offered.includes(t));
    const isNew = !this.byClient.has(hit);
    if (offered.length > 0 && isNew && this.policy.maxClients !== undefined && this.clientCount(now) >= this.policy.maxClients) {
      fail(RegFailureType.INSUFFICIENT_RESOURCES, offered);
      fail(RegFailureType.TYPE_UNAVAILABLE, unavailable);
      return outcome;
    }
    if (offered.length > 0) {
      const lifetime = Math.min(this.policy.maxLifetime, Math.max(this.policy.minLifetime, request.lifetime));
      const expiresAt = now + lifetimeSeconds(lifetime) * 1000;
      const held = this.byClient.get(hit) ?? new Map<number, Registration>();
      for (const regType of offered) {
        const prev = held.get(regType);
        const moved = prev !== undefined && now < prev.expiresAt && endpointKey(prev.reflexive) !== endpointKey(from);
        const movedFrom = moved ? { reflexive: { ...prev.reflexive }, until: now + MOVED_SOURCE_GRACE_MS } : prev?.movedFrom;
        const stillMoved = movedFrom !== undefined && now < movedFrom.until && endpointKey(movedFrom.reflexive) !== endpointKey(from);
        held.set(regType, { hit, regType, lifetime, grantedAt: now, expiresAt, reflexive: { ...from }, ...(stillMoved ? { movedFrom } : {}) });
      }
      this.byClient.set(hit, held);
      outcome.granted = offered;
      outcome.params.push({ kind: 'REG_RESPONSE', lifetime, regTypes: offered } satisfies RegResponse);
      const address = ipToBytes16(from.address);
      if (address) outcome.params.push({ kind: 'REG_FROM', port: from.port, protocol: IPPROTO_UDP, address } satisfies TransportAddress<'REG_FROM'>);
    }
    fail(RegFailureType.TYPE_UNAVAILABLE, unavailable);
    outcome.params.sort((a, b) => ParamType[a.kind as keyof typeof ParamType] - ParamType[b.kind as keyof typeof ParamType]);
    return outcome;
  }

  lookup(clientHit: Uint8Array | string, regType: number, now: number): Lookup {
    // The relay asks per packet, with the canonical text it holds: no parsing then.
    const held = (typeof clientHit === 'string' ? this.byClient.get(clientHit) : undefined) ?? this.byClient.get(canonicalHit(clientHit) ?? '');
    const registration = held?.get(regType);
    if (!registration) return { status: 'unregistered' };
    return now < registration.expiresAt ? { status: 'registered', registration } : { status: 'expired', registration };
  }

  /** Whether the HIT holds any registration, live or lapsed: the relay knows it as a client. */
  isKnownClient(clientHit: Uint8Array | string): boolean {
    const hit = canonicalHit(clientHit);
    return hit !== null && this.byClient.has(hit);
  }

  /** Live registrations, for status and for the relay's forwarding checks. */
  live(now: number): Registration[] {
    return [...this.byClient.values()].flatMap((m) => [...m.values()]).filter((r) => now < r.expiresAt);
  }

  clientCount(now: number): number {
    return new Set(this.live(now).map((r) => r.hit)).size;
  }

  /** Forgets lapsed registrations; returns how many went. */
  prune(now: number): number {
    let removed = 0;
    for (const [hit, held] of this.byClient) {
      for (const [t, r] of held) if (now >= r.expiresAt) { held.delete(t); removed++; }
      if (held.size === 0) this.byClient.delete(hit);
    }
    return removed;
  }

  toJSON(): RegistrationsFile {
    const registrations = [...this.byClient.values()].flatMap((m) => [...m.values()]).map((r) => ({ ...r, reflexive: { ...r.reflexive } }));
    return { version: 1, registrations };
  }

  /**
   * Rebuilds a table from toJSON()'s output (read back from disk by the caller). Entries that are
   * malformed, lapsed, no longer offered or no longer allowed are dropped, each with its reason;
   * expiry is cut to what the policy's maximum lifetime allows from `now`.
   */
  static fromJSON(data: unknown, policy: RegistrarPolicy, now: number): LoadResult {
    const table = new RegistrationTable(policy);
    const dropped: LoadResult['dropped'] = [];
    if (typeof data !== 'object' || data === null || (data as { version?: unknown }).version !== 1
      || !Array.isArray((data as { registrations?: unknown }).registrations)) {
      dropped.push({ index: -1, reason: 'not a version 1 registrations object' });
      return { table, dropped };
    }
    const entries = (data as { registrations: unknown[] }).registrations;
    const maxMs = lifetimeSeconds(policy.maxLifetime) * 1000;
    entries.forEach((entry, index) => {
      const reason = table.loadEntry(entry, now, maxMs);
      if (reason !== null) dropped.push({ index, reason });
    });
    return { table, dropped };
  }

  private loadEntry(entry: unknown, now: number, maxMs: number): string | null {
    if (typeof entry !== 'object' || entry === null) return 'not an object';
    const e = entry as Partial<Record<keyof Registration, unknown>>;
    const hit = typeof e.hit === 'string' ? canonicalHit(e.hit) : null;
    if (hit === null) return 'hit is not an IPv6 address';
    if (typeof e.regType !== 'number' || !this.policy.offered.includes(e.regType)) return `registration type ${String(e.regType)} is not offered`;
    if (!isEncodedLifetime(e.lifetime)) return 'lifetime is not 1..255';
    if (typeof e.grantedAt !== 'number' || !Number.isFinite(e.grantedAt)) return 'grantedAt is not a number';
    if (typeof e.expiresAt !== 'number' || !Number.isFinite(e.expiresAt)) return 'expiresAt is not a number';
    if (e.expiresAt <= now) return 'expired';
    const r = e.reflexive as Partial<Endpoint> | undefined;
    const address = typeof r?.address === 'string' ? ipToBytes16(r.address) : null;
    if (!address || typeof r?.port !== 'number' || !Number.isInteger(r.port) || r.port < 1 || r.port > 0xffff) {
      return 'reflexive address or port is not valid';
    }
    if (!this.allowed(hit)) return 'client is no longer allowed';
    const held = this.byClient.get(hit) ?? new Map<number, Registration>();
    if (held.has(e.regType)) return 'duplicate';
    const lifetime = Math.min(this.policy.maxLifetime, Math.max(this.policy.minLifetime, e.lifetime));
    held.set(e.regType, {
      hit, regType: e.regType, lifetime, grantedAt: e.grantedAt,
      expiresAt: Math.min(e.expiresAt, now + maxMs), reflexive: { address: bytes16ToIp(address), port: r.port },
    });
    this.byClient.set(hit, held);
    return null;
  }
}
