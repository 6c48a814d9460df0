// What the next LOCATOR_SET UPDATE to a peer should be, given our locators now and the SAs we
// have with it. Two policies (seed 000 §4, RFC 8047 §4.1):
//  - fault tolerance: one SA; every locator is bound to it and announced in one UPDATE whose
//    ESP_INFO is gratuitous (OLD SPI = NEW SPI);
//  - simultaneous multihoming: one SA pair per interface, so paths used at once never share an
//    anti-replay window. A new interface gets its own UPDATE with ESP_INFO OLD SPI 0; an
//    interface gone has its SA deprecated with NEW SPI 0. Changes go one UPDATE at a time, new
//    SAs before deprecations (make before break).
// Every listing is complete: the peer deprecates what it no longer sees. Pure.

import type { AnnouncedEntry, OwnLocator } from './local-locators.js';
import { isHostLocator, preferredOf } from './local-locators.js';

export type MultihomingMode = 'fault-tolerance' | 'simultaneous';

/** One of our inbound SAs with this peer and the interface its locators live on. */
export interface InboundSa { inboundSpi: number; ifname: string | undefined }

export type LocatorStep =
  | { kind: 'none' }
  | { kind: 'gratuitous'; spi: number; listing: AnnouncedEntry[] }
  /** Ask for a new SA pair for `ifname`; `listing(newSpi)` includes its locators on the new SPI. */
  | { kind: 'new-sa'; ifname: string; from: OwnLocator; listing: (newSpi: number) => AnnouncedEntry[] }
  | { kind: 'deprecate'; spi: number; listing: AnnouncedEntry[] };

/** A stable text form of a listing: equal listings need no UPDATE. */
export function listingFingerprint(listing: readonly AnnouncedEntry[]): string {
  return listing.map((e) => `${e.locator.address}|${e.locator.port}|${e.spi}|${e.preferred ? 'P' : ''}|${e.candidate ?? 'host'}`).sort().join(',');
}

function entries(locators: readonly OwnLocator[], spiOf: (l: OwnLocator) => number | undefined): AnnouncedEntry[] {
  const usable = locators.filter((l) => spiOf(l) !== undefined);
  const preferred = preferredOf(usable);
  return usable.map((l) => ({
    locator: { address: l.address, port: l.port }, spi: spiOf(l)!, preferred: preferred !== undefined && l === preferred,
    ...(l.candidate === undefined || l.candidate === 'host' ? {} : { candidate: l.candidate }),
  }));
}

/**
 * The next step toward announcing `locators`. `sas` lists our inbound SAs, the base exchange's
 * first; `announced` is the fingerprint of the listing the peer last acknowledged.
 */
export function nextLocatorStep(
  mode: MultihomingMode, locators: readonly OwnLocator[], sas: readonly InboundSa[], announced: string | undefined,
): LocatorStep {
  if (locators.length === 0 || sas.length === 0) return { kind: 'none' };
  if (mode === 'fault-tolerance') {
    const spi = sas[0]!.inboundSpi;
    const listing = entries(locators, () => spi);
    return listingFingerprint(listing) === announced ? { kind: 'none' } : { kind: 'gratuitous', spi, listing };
  }
  const spiByIf = new Map<string, number>();
  for (const sa of sas) if (sa.ifname !== undefined && !spiByIf.has(sa.ifname)) spiByIf.set(sa.ifname, sa.inboundSpi);
  const liveIfs = new Set(locators.map((l) => l.ifname));
  // Make before break: an interface without an SA gets one first, the preferred interface first.
  const order = [...locators].sort((a, b) => Number(b.preferred) - Number(a.preferred));
  // A new SA's UPDATE leaves from the new interface itself: a host candidate.
  const fresh = order.find((l) => isHostLocator(l) && !spiByIf.has(l.ifname));
  if (fresh !== undefined) {
    const ifname = fresh.ifname;
    return {
      kind: 'new-sa', ifname, from: fresh,
      listing: (newSpi) => entries(locators, (l) => (l.ifname === ifname ? newSpi : spiByIf.get(l.ifname))),
    };
  }
  const gone = sas.find((sa) => sa.ifname === undefined || !liveIfs.has(sa.ifname));
  if (gone !== undefined) {
    return {
      kind: 'deprecate', spi: gone.inboundSpi,
      listing: entries(locators, (l) => spiByIf.get(l.ifname)),
    };
  }
  const listing = entries(locators, (l) => spiByIf.get(l.ifname));
  if (listingFingerprint(listing) === announced) return { kind: 'none' };
  return { kind: 'gratuitous', spi: spiByIf.get(preferredOf(locators)!.ifname)!, listing };
}
