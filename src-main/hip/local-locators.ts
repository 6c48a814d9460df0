// Our own locators as the HIP core sees them, and their conversion to and from LOCATOR_SET.
// We run HIP and ESP over UDP (RFC 9028), so a locator is an address and a port: every
// LOCATOR_SET we send uses type 2 locators (transport address, protocol UDP, host candidate)
// bound to the SPI the peer must use to reach that address (RFC 8046 §4, RFC 9028 §5.7).

import { ipToBytes16, bytes16ToIp, isIpv4Mapped } from './wire/address.js';
import { LocatorType, CandidateKind } from './wire/constants.js';
import { DEFAULT_TIMERS } from './timers.js';
import type { Locator, LocatorSet } from './wire/params.js';
import type { AnnouncedLocator } from './peer-locators.js';
import type { Endpoint, LocalLocator } from '../../src-shared/vocabulary.js';


/**
 * How a transport address was found (RFC 9028 §5.7, ICE's candidate types): on an interface of
 * ours (host), as a registrar or server saw us (server reflexive: our NAT's mapping), as a peer's
 * packets came (peer reflexive), or a relay's address that forwards to us (relayed).
 */
export type CandidateName = 'host' | 'srflx' | 'prflx' | 'relayed';

const CANDIDATE_CODES: Readonly<Record<CandidateName, number>> = {
  host: CandidateKind.HOST, srflx: CandidateKind.SERVER_REFLEXIVE, prflx: CandidateKind.PEER_REFLEXIVE, relayed: CandidateKind.RELAYED,
};

/** The candidate a type-2 locator's kind octet names; an unknown value is taken as host. */
export function candidateOfCode(code: number | undefined): CandidateName {
  for (const [name, c] of Object.entries(CANDIDATE_CODES)) if (c === code) return name as CandidateName;
  return 'host';
}

/** ICE type preferences (RFC 8445 §5.1.2.2): direct before reflexive before relayed. */
const TYPE_PREFERENCE: Readonly<Record<CandidateName, number>> = { host: 126, prflx: 110, srflx: 100, relayed: 0 };

/**
 * The candidate priority of RFC 8445 §5.1.2.1 that RFC 9028 carries in a type-2 locator:
 * 2^24 type preference + 2^8 local preference + (256 - component); one component (HIP and ESP
 * share the UDP port), and the earlier in our listing, the higher the local preference.
 */
export function candidatePriority(candidate: CandidateName, index: number): number {
  const localPreference = Math.max(0, 65535 - index);
  return (TYPE_PREFERENCE[candidate] * 2 ** 24 + localPreference * 2 ** 8 + 255) >>> 0;
}

/**
 * One of our locators as HIP announces it: an address, its UDP port, and the interface it lives
 * on (in simultaneous-multihoming mode each interface gets its own SA pair).
 */
export interface OwnLocator extends LocalLocator, Endpoint {
  /** Where we would rather receive traffic; at most one is announced with the P bit. */
  preferred: boolean;
  /** Absent: a host candidate (an address of the interface itself). */
  candidate?: Exclude<CandidateName, 'prflx'>;
}

const IPPROTO_UDP = 17;


/**
 * Addresses a peer could never reach us at, or must never be sent to (RFC 8047 §6.1, §6.2):
 * unspecified, multicast, limited broadcast, and link-local (we cannot know the peer shares the
 * link). Loopback stays: hosts on one machine (tests, the lab) talk over it.
 */
export function unusableLocatorReason(address: string): string | undefined {
  const b = ipToBytes16(address);
  if (b === null) return 'not-an-address';
  if (isIpv4Mapped(b)) {
    const [a0, a1] = [b[12]!, b[13]!];
    if (a0 === 0) return 'unspecified';
    if (a0 >= 224 && a0 <= 239) return 'multicast';
    if (a0 === 255 && a1 === 255 && b[14] === 255 && b[15] === 255) return 'broadcast';
    if (a0 === 169 && a1 === 254) return 'link-local';
    return undefined;
  }
  if (b.every((x) => x === 0)) return 'unspecified';
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local';
  return undefined;
}

/** The locators we may announce, in the order given, without duplicates. */
export function announceable(locators: readonly OwnLocator[]): OwnLocator[] {
  const seen = new Set<string>();
  const out: OwnLocator[] = [];
  for (const l of locators) {
    if (unusableLocatorReason(l.address) !== undefined) continue;
    if (!Number.isInteger(l.port) || l.port <= 0 || l.port > 0xffff) continue;
    const key = `${l.address}|${l.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...l });
  }
  return out;
}

/** An address of our own interface: the only kind we can send from. */
export function isHostLocator(l: OwnLocator): boolean {
  return l.candidate === undefined || l.candidate === 'host';
}

/**
 * The one locator to carry the P bit, and to send from when ours is gone: the first host
 * candidate marked preferred, else the first host candidate.
 */
export function preferredOf(locators: readonly OwnLocator[]): OwnLocator | undefined {
  return locators.find((l) => l.preferred && isHostLocator(l)) ?? locators.find(isHostLocator);
}

export interface AnnouncedEntry { locator: Endpoint; spi: number; preferred: boolean; candidate?: CandidateName }

/**
 * A LOCATOR_SET parameter listing exactly these entries (SPI 0 where no SA exists yet, as in R1),
 * each with `lifetimeS` (HipTimers.locatorLifetimeMs; 0 would mean none).
 */
export function buildLocatorSet(entries: readonly AnnouncedEntry[], lifetimeS = DEFAULT_TIMERS.locatorLifetimeMs / 1000): LocatorSet {
  const locators: Locator[] = [];
  for (const e of entries) {
    const address = ipToBytes16(e.locator.address);
    if (address === null) continue;
    const candidate = e.candidate ?? 'host';
    locators.push({
      trafficType: 0, locatorType: LocatorType.TRANSPORT, preferred: e.preferred, lifetime: lifetimeS,
      address, port: e.locator.port, protocol: IPPROTO_UDP, candidateKind: CANDIDATE_CODES[candidate],
      priority: candidatePriority(candidate, locators.length), spi: e.spi,
    });
  }
  return { kind: 'LOCATOR_SET', locators };
}

export interface ParsedLocatorSet {
  locators: AnnouncedLocator[];
  refused: number;
  /** Refused locators of a type we do not support that carry the P bit: the peer must hear of them (RFC 8047 §6.2). */
  unsupportedPreferred: Locator[];
}

/**
 * The usable locators of a received LOCATOR_SET. Type 1 locators (no port) are taken at the
 * port the packet came from; type 0 locators (R1, no SA yet) at `defaultSpi`. Anything
 * multicast, broadcast, link-local, not UDP, or of a type we do not know is refused and counted.
 */
export function parseLocatorSet(param: LocatorSet, packetPort: number, defaultSpi: number): ParsedLocatorSet {
  const locators: AnnouncedLocator[] = [];
  const unsupportedPreferred: Locator[] = [];
  let refused = 0;
  for (const l of param.locators) {
    if (l.raw !== undefined) {
      // A locator type the codec does not know (types 0–2 are all we do).
      refused++;
      if (l.preferred) unsupportedPreferred.push(l);
      continue;
    }
    if (l.address.length !== 16) {
      refused++;
      continue;
    }
    const address = bytes16ToIp(l.address);
    if (unusableLocatorReason(address) !== undefined) {
      refused++;
      continue;
    }
    let port: number;
    let spi: number;
    let candidate: CandidateName = 'host';
    if (l.locatorType === LocatorType.TRANSPORT) {
      candidate = candidateOfCode(l.candidateKind);
      if (l.protocol !== IPPROTO_UDP || l.port === undefined || l.port === 0) {
        refused++;
        continue;
      }
      port = l.port;
      spi = l.spi !== undefined && l.spi !== 0 ? l.spi : defaultSpi;
    } else if (l.locatorType === LocatorType.ESP_SPI_ADDRESS) {
      port = packetPort;
      spi = l.spi ?? defaultSpi;
    } else if (l.locatorType === LocatorType.ADDRESS) {
      port = packetPort;
      spi = defaultSpi;
    } else {
      refused++;
      if (l.preferred) unsupportedPreferred.push(l);
      continue;
    }
    locators.push({ address, port, spi, preferred: l.preferred, lifetimeS: l.lifetime, candidate });
  }
  return { locators, refused, unsupportedPreferred };
}
