// Which locator pairs may carry a peer's traffic, and in what order to try them.
//
// Seed 003 §5.3: first the RFC 6724 rules decide which (local, remote) combinations are legal
// and give a base order; then local knowledge (the user's interface order: ethernet > wifi >
// cellular by default) and the peer's Preferred bit; and for a failure search, how recently
// each pair was tested OK ("on/off times age"), so pairs known to work are tried first.
//
// Two orders come out of this, on purpose:
// - `comparePreference` is static: policy and address rules only. It decides which of several
//   *working* pairs should be primary. Test recency must not enter it, or every test result
//   would reshuffle the primary and the tunnel would flap between equally good paths.
// - `compareSearch` is for probing after a failure: pairs that just failed go last, pairs that
//   recently tested OK go first, and the static preference breaks ties.
// Pure: no I/O, no clock.

import { toAddr16 } from '../base/addr16.js';
import type { LocalLocator } from '../../src-shared/vocabulary.js';

/** One of our own usable addresses, as pair forming takes it. */
export interface PairLocal extends LocalLocator {
  /** Interface up with a route out (seed 003 §3.2). Only operational locators form pairs. */
  operational: boolean;
  /** Position in the user's interface order: 0 is most preferred. */
  preferenceRank: number;
  /**
   * The user pays per byte on it (the `meteredInterfaces` setting): a pair from it carries the
   * peer's traffic only while no pair from an unmetered uplink works. Absent = not metered.
   */
  metered?: boolean;
}

/** One of the peer's announced locators (LOCATOR_SET), as far as we may use it. */
export interface PeerLocator {
  address: string;
  /** The peer's Preferred bit (RFC 8046 §5.2): the locator it would like to be reached on. */
  preferred: boolean;
  /** A relay's address that forwards to the peer: a way in when no direct pair works, never first. */
  relayed?: boolean;
  /**
   * Only the peer's listing vouches for it: no check has passed and none of the peer's packets
   * came from it (often an address private to the peer's NAT). Only a check may use it.
   */
  listedOnly?: boolean;
}

/** Addresses as text; `local` is ours, `remote` the peer's. Direction: local → remote. */
export interface LocatorPair {
  local: string;
  remote: string;
}

export function pairKey(pair: LocatorPair): string {
  return `${pair.local}|${pair.remote}`;
}

export function samePair(a: LocatorPair | undefined, b: LocatorPair | undefined): boolean {
  return a !== undefined && b !== undefined && a.local === b.local && a.remote === b.remote;
}

export function reversePair(pair: LocatorPair): LocatorPair {
  return { local: pair.remote, remote: pair.local };
}

// ---- RFC 6724 address facts ----

/** RFC 6724 §3.1 scope values (RFC 4007): smaller is narrower. */
export const SCOPE_LINK_LOCAL = 0x2;
export const SCOPE_SITE_LOCAL = 0x5;
export const SCOPE_GLOBAL = 0xe;

export interface AddressFacts {
  /** 4 for IPv4 (also when written IPv4-mapped), 6 for native IPv6. */
  family: 4 | 6;
  bytes: Uint8Array; // 16 octets, IPv4 as ::ffff:a.b.c.d
  scope: number;
  precedence: number;
  label: number;
  /** Never a locator: unspecified, multicast, broadcast. */
  unusable: boolean;
  loopback: boolean;
}

interface PolicyRow { prefix: number[]; bits: number; precedence: number; label: number }

// RFC 6724 §2.1 default policy table, longest prefix first so the first match wins.
const POLICY_TABLE: PolicyRow[] = [
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], bits: 128, precedence: 50, label: 0 }, // ::1
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], bits: 96, precedence: 35, label: 4 }, // ::ffff:0:0/96
  { prefix: [], bits: 96, precedence: 1, label: 3 }, // ::/96 (IPv4-compatible, deprecated)
  { prefix: [0x20, 0x01, 0, 0], bits: 32, precedence: 5, label: 5 }, // 2001::/32 Teredo
  { prefix: [0x20, 0x02], bits: 16, precedence: 30, label: 2 }, // 2002::/16 6to4
  { prefix: [0x3f, 0xfe], bits: 16, precedence: 1, label: 12 }, // 3ffe::/16 6bone
  { prefix: [0xfe, 0xc0], bits: 10, precedence: 1, label: 11 }, // fec0::/10 site-local
  { prefix: [0xfc], bits: 7, precedence: 3, label: 13 }, // fc00::/7 ULA
  { prefix: [], bits: 0, precedence: 40, label: 1 }, // ::/0
];

function matchesPrefix(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((bytes[byte]! & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

function parseAddress(address: string): Uint8Array | null {
  // "::ffff:192.0.2.1" is IPv4 written the IPv6 way; treat it as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return toAddr16(mapped?.[1] ?? address);
}

/** Facts about one address, or null when it is not an address at all. */
export function addressFacts(address: string): AddressFacts | null {
  const bytes = parseAddress(address);
  if (bytes === null) return null;
  let v4 = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && v4; i++) if (bytes[i] !== 0) v4 = false;
  const row = POLICY_TABLE.find((r) => matchesPrefix(bytes, r.prefix, r.bits))!;
  if (v4) {
    const [a, b] = [bytes[12]!, bytes[13]!];
    // RFC 6724 §3.2: loopback and 169.254/16 are link-local scope; everything else, private
    // ranges included, is global.
    const loopback = a === 127;
    const linkLocal = loopback || (a === 169 && b === 254);
    // 0/8 is "this network"; 224/4 multicast and everything above it (broadcast included).
    const unusable = a === 0 || a >= 224;
    return {
      family: 4, bytes, scope: linkLocal ? SCOPE_LINK_LOCAL : SCOPE_GLOBAL,
      precedence: row.precedence, label: row.label, unusable, loopback,
    };
  }
  const allZero = bytes.every((x) => x === 0);
  const loopback = row.bits === 128;
  let scope = SCOPE_GLOBAL;
  if (bytes[0] === 0xff) scope = bytes[1]! & 0x0f; // multicast carries its scope
  else if (loopback || (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80)) scope = SCOPE_LINK_LOCAL;
  else if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0xc0) scope = SCOPE_SITE_LOCAL;
  return {
    family: 6, bytes, scope, precedence: row.precedence, label: row.label,
    unusable: allZero || bytes[0] === 0xff, loopback,
  };
}

function commonPrefixBits(a: Uint8Array, b: Uint8Array, from: number): number {
  let bits = 0;
  for (let i = from; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x === 0) { bits += 8; continue; }
    return bits + Math.clz32(x) - 24;
  }
  return bits;
}

// ---- candidates ----

export interface Candidate {
  pair: LocatorPair;
  local: PairLocal;
  remote: PeerLocator;
}

/**
 * Whether `local` may send to `remote` at all. Families must match (a v4 socket cannot reach a
 * v6 address); nothing unspecified, multicast or broadcast; loopback only to loopback (the test
 * set-ups run on it); a link-local address only with a link-local one, since it means nothing
 * beyond its link; and IPv6 site-local never (seed 003 §3.1).
 */
export function isLegalPair(local: string, remote: string): boolean {
  const l = addressFacts(local);
  const r = addressFacts(remote);
  if (l === null || r === null) return false;
  if (l.family !== r.family || l.unusable || r.unusable) return false;
  if (l.loopback !== r.loopback) return false;
  if ((l.scope === SCOPE_LINK_LOCAL) !== (r.scope === SCOPE_LINK_LOCAL)) return false;
  if (l.family === 6 && (l.scope === SCOPE_SITE_LOCAL || r.scope === SCOPE_SITE_LOCAL)) return false;
  return true;
}

/**
 * Every legal pair from our operational locators and the peer's locators. A peer's locator that
 * is one of our own addresses is no path to the peer: behind two NATs both hosts often hold the
 * same private address (192.168.1.2 in both homes), and a probe there comes back to ourselves.
 * Loopback stays: hosts on one machine share it, told apart by port.
 */
export function buildCandidates(locals: readonly PairLocal[], remotes: readonly PeerLocator[]): Candidate[] {
  const out: Candidate[] = [];
  const own = new Set(locals.filter((l) => addressFacts(l.address)?.loopback !== true).map((l) => l.address));
  for (const local of locals) {
    if (!local.operational) continue;
    for (const remote of remotes) {
      if (own.has(remote.address)) continue;
      if (isLegalPair(local.address, remote.address)) {
        out.push({ pair: { local: local.address, remote: remote.address }, local, remote });
      }
    }
  }
  return out;
}

/**
 * RFC 6724 rules that make sense for a pair (§5 source rules and §6 destination rules, read
 * together): matching scope (rule 2), matching label (rule 5 / §6 rule 5: e.g. native v6 with
 * native v6, not a 6to4 source to a native destination), higher precedence of the destination
 * (§6 rule 6: native IPv6 before IPv4-mapped), smaller scope (§6 rule 8), longest matching
 * prefix (§6 rule 9, within one family only, as RFC 6724 restricts it). Negative: a first.
 */
export function compareRfc6724(a: LocatorPair, b: LocatorPair): number {
  const al = addressFacts(a.local)!;
  const ar = addressFacts(a.remote)!;
  const bl = addressFacts(b.local)!;
  const br = addressFacts(b.remote)!;
  const prefer = (x: boolean, y: boolean): number => (x === y ? 0 : x ? -1 : 1);
  return (
    prefer(al.scope === ar.scope, bl.scope === br.scope) ||
    prefer(al.label === ar.label, bl.label === br.label) ||
    br.precedence - ar.precedence ||
    ar.scope - br.scope ||
    (al.family === bl.family
      ? commonPrefixBits(bl.bytes, br.bytes, bl.family === 4 ? 12 : 0) -
        commonPrefixBits(al.bytes, ar.bytes, al.family === 4 ? 12 : 0)
      : 0)
  );
}

/**
 * The static preference between two pairs: an unmetered uplink before a metered one (a metered
 * uplink is for the flows bound to it, and the peer's traffic only as failover), the user's
 * interface order, then a direct path
 * before one through a relay (seed 000 §5.1.4: the relay bridges until a direct pair works),
 * then the peer's Preferred bit, then RFC 6724, then a stable tie-break so every run orders alike.
 */
export function comparePreference(a: Candidate, b: Candidate): number {
  return (
    Number(a.local.metered === true) - Number(b.local.metered === true) ||
    a.local.preferenceRank - b.local.preferenceRank ||
    Number(a.remote.relayed === true) - Number(b.remote.relayed === true) ||
    Number(b.remote.preferred) - Number(a.remote.preferred) ||
    compareRfc6724(a.pair, b.pair) ||
    (pairKey(a.pair) < pairKey(b.pair) ? -1 : pairKey(a.pair) > pairKey(b.pair) ? 1 : 0)
  );
}

/** What the last reachability tests of a pair said. */
export interface TestHistory {
  lastOkAt?: number;
  lastFailAt?: number;
}

export interface SearchOrderOptions {
  /** A pair that tested OK this recently is tried before untested ones. */
  freshOkMs: number;
  /** A pair whose last test failed this recently is tried after everything else. */
  failMemoryMs: number;
}

/** 0: tested OK recently; 1: unknown or stale; 2: failed recently. */
export function testTier(h: TestHistory | undefined, now: number, opts: SearchOrderOptions): 0 | 1 | 2 {
  if (h === undefined) return 1;
  const ok = h.lastOkAt ?? Number.NEGATIVE_INFINITY;
  const fail = h.lastFailAt ?? Number.NEGATIVE_INFINITY;
  if (fail > ok) return now - fail < opts.failMemoryMs ? 2 : 1;
  if (ok > Number.NEGATIVE_INFINITY && now - ok < opts.freshOkMs) return 0;
  return 1;
}

/**
 * Order for probing: recently-OK pairs first (the fresher the earlier, seed 003 §5.3), then
 * unknown ones, then pairs that just failed; the static preference within each tier.
 */
export function compareSearch(
  a: Candidate & { history?: TestHistory },
  b: Candidate & { history?: TestHistory },
  now: number,
  opts: SearchOrderOptions,
): number {
  const ta = testTier(a.history, now, opts);
  const tb = testTier(b.history, now, opts);
  if (ta !== tb) return ta - tb;
  if (ta === 0) {
    // Both fresh: a test a few seconds newer is not worth overriding the user's order for,
    // so only whole freshness buckets of a quarter of the window count.
    const bucket = opts.freshOkMs / 4;
    const fa = Math.floor((now - a.history!.lastOkAt!) / bucket);
    const fb = Math.floor((now - b.history!.lastOkAt!) / bucket);
    if (fa !== fb) return fa - fb;
  }
  return comparePreference(a, b);
}
