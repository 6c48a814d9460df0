// What we know of one peer's locators (RFC 8046 §5.4–5.6, RFC 8047 §6.2–6.4): every address
// the peer announced or we saw it use, the SPI each is bound to, and its state — UNVERIFIED until
// an echo sent there comes back under the association's keys, ACTIVE after, DEPRECATED once the
// peer stops listing it. Which one carries our traffic follows the change-of-preferred-locator
// procedure. Plus the credit that bounds what may be sent to an address not yet verified.
// Pure: no clock, no I/O; the association feeds it authenticated facts.

import type { CandidateName } from './local-locators.js';
import { endpointKey, type Endpoint } from '../../src-shared/vocabulary.js';

export type PeerLocatorState = 'UNVERIFIED' | 'ACTIVE' | 'DEPRECATED';

/** How we learned of a locator: it matters for what a later LOCATOR_SET may remove. */
export type LocatorSource = 'base-exchange' | 'locator-set' | 'observed';

export interface PeerLocator extends Endpoint {
  /** The SPI we send on to reach the peer at this address (the peer's inbound SPI). */
  spi: number;
  state: PeerLocatorState;
  /** The peer set the P bit on it in its latest LOCATOR_SET. */
  preferred: boolean;
  source: LocatorSource;
  /** The candidate kind the peer listed it as; 'prflx' for a source we only saw. */
  candidate: CandidateName;
  /** As announced; 0 (the base exchange's address, an observed source) means no lifetime. */
  lifetimeS: number;
  /** When its lifetime runs out and it becomes DEPRECATED (RFC 8046 §4, §5.1); undefined: never. */
  expiresAt?: number | undefined;
  /** When a locator whose lifetime ran out is forgotten; undefined: kept. */
  removeAt?: number | undefined;
  /** When it became ACTIVE, for status output. */
  verifiedAt: number | undefined;
}

/**
 * How long a locator whose lifetime ran out stays listed as DEPRECATED before it is forgotten:
 * late packets from it are still recognised (not taken for a new source) and status shows why
 * traffic left it, while a peer that dropped an address does not keep a table entry forever.
 */
export const EXPIRED_LOCATOR_HOLD_MS = 60_000;

/** What the lifetime of an announced locator means at `now`: an absolute expiry, or none for 0. */
function expiryOf(now: number, lifetimeS: number): number | undefined {
  return lifetimeS > 0 ? now + lifetimeS * 1000 : undefined;
}

/** One locator of a received LOCATOR_SET, already checked to be a usable unicast address. */
export interface AnnouncedLocator extends Endpoint {
  spi: number; preferred: boolean; lifetimeS: number;
  /** Absent: host (types 0 and 1 carry no kind). */
  candidate?: CandidateName;
}

export interface LocatorSetOutcome {
  /** Locators new to us or back from DEPRECATED: each needs an address check. */
  toVerify: Endpoint[];
  /** Whether anything a status display would show changed. */
  changed: boolean;
}

/** Where to send, and whether that address is verified (if not, credit limits what we send). */
export interface CurrentChoice { locator: Endpoint; verified: boolean }

export class PeerLocatorTable {
  private readonly byKey = new Map<string, PeerLocator>();
  /** The address our traffic to the peer uses now. */
  private currentKey: string;
  /** Whether the peer sent a complete listing yet (applyLocatorSet): its later ones can withdraw. */
  private listedBefore = false;

  /** The address the base exchange ran over: verified by the exchange itself. */
  constructor(now: number, initial: Endpoint, spi: number, source: LocatorSource = 'base-exchange') {
    const loc: PeerLocator = {
      address: initial.address, port: initial.port, spi, state: 'ACTIVE', preferred: true, source, candidate: 'host', lifetimeS: 0,
      expiresAt: undefined, removeAt: undefined, verifiedAt: now,
    };
    this.byKey.set(endpointKey(loc), loc);
    this.currentKey = endpointKey(loc);
  }

  get(l: Endpoint): PeerLocator | undefined {
    return this.byKey.get(endpointKey(l));
  }

  list(): PeerLocator[] {
    return [...this.byKey.values()].map((l) => ({ ...l }));
  }

  current(): CurrentChoice {
    const loc = this.byKey.get(this.currentKey)!;
    return { locator: { address: loc.address, port: loc.port }, verified: loc.state === 'ACTIVE' };
  }

  /**
   * A complete listing from the peer (RFC 8047 §6.2), authenticated. Listed addresses are bound
   * to the SPI given and become UNVERIFIED unless already ACTIVE; the peer's P bit moves to the
   * listed preferred one. Each listed locator's lifetime starts again at `now`. Unlisted
   * locators the peer listed before are DEPRECATED: it withdrew them.
   *
   * An address the peer never listed (where the base exchange ran, a source we saw) is, behind a
   * NAT, the NAT's mapping of one of its uplinks: the peer does not know it, so leaving it out
   * says nothing (RFC 8046 §5, RFC 9028). It is DEPRECATED only when the listing withdraws an
   * address the peer had listed on the same SPI (the uplink behind it went away or moved), or
   * when the peer never listed anything before (the base exchange address was then its only
   * word). Otherwise it keeps its state: a second uplink announcing itself from its own NAT
   * mapping must not take away the first uplink's working one. The source of the very packet
   * that carried the listing is never DEPRECATED by it: it just proved it works.
   */
  applyLocatorSet(now: number, announced: readonly AnnouncedLocator[], carriedFrom: Endpoint): LocatorSetOutcome {
    const toVerify: Endpoint[] = [];
    let changed = false;
    const listed = new Set<string>();
    const anyPreferred = announced.some((a) => a.preferred);
    for (const a of announced) {
      const key = endpointKey(a);
      if (listed.has(key)) continue; // listed twice: the first entry counts
      listed.add(key);
      const existing = this.byKey.get(key);
      if (existing === undefined) {
        this.byKey.set(key, {
          address: a.address, port: a.port, spi: a.spi, state: 'UNVERIFIED', preferred: a.preferred,
          source: 'locator-set', candidate: a.candidate ?? 'host', lifetimeS: a.lifetimeS, expiresAt: expiryOf(now, a.lifetimeS), removeAt: undefined, verifiedAt: undefined,
        });
        toVerify.push({ address: a.address, port: a.port });
        changed = true;
        continue;
      }
      if (existing.state === 'DEPRECATED') {
        existing.state = 'UNVERIFIED';
        toVerify.push({ address: a.address, port: a.port });
        changed = true;
      } else if (existing.state === 'UNVERIFIED') {
        toVerify.push({ address: a.address, port: a.port });
      }
      const candidate = a.candidate ?? 'host';
      if (existing.spi !== a.spi || existing.preferred !== a.preferred || existing.source !== 'locator-set' || existing.candidate !== candidate) changed = true;
      existing.candidate = candidate;
      existing.spi = a.spi;
      existing.preferred = a.preferred;
      existing.lifetimeS = a.lifetimeS;
      existing.expiresAt = expiryOf(now, a.lifetimeS);
      existing.removeAt = undefined;
      existing.source = 'locator-set';
    }
    const sourceKey = endpointKey(carriedFrom);
    const unlisted = [...this.byKey].filter(([key]) => !listed.has(key));
    const withdrawnSpis = new Set(unlisted.filter(([, l]) => l.source === 'locator-set' && l.state !== 'DEPRECATED').map(([, l]) => l.spi));
    const listedBefore = this.listedBefore;
    this.listedBefore = true;
    for (const [key, loc] of unlisted) {
      if (anyPreferred && loc.preferred) {
        loc.preferred = false;
        changed = true;
      }
      if (key === sourceKey || loc.state === 'DEPRECATED') continue;
      if (loc.source !== 'locator-set' && listedBefore && !withdrawnSpis.has(loc.spi)) continue;
      loc.state = 'DEPRECATED';
      changed = true;
    }
    return { toVerify, changed };
  }

  /**
   * A LOCATOR_SET the peer sent in a NOTIFY (RFC 8047): signed, but without a SEQ, so possibly a
   * replay of an old one. Taken as information only: addresses new to us are added UNVERIFIED
   * (their check is the caller's, rate-limited); nothing known changes: no DEPRECATED locator
   * comes back, no lifetime is renewed, no preference or SPI moves, nothing unlisted is
   * deprecated. Returns the locators the caller may check: new ones and UNVERIFIED ones.
   */
  applyInformational(announced: readonly AnnouncedLocator[]): LocatorSetOutcome {
    const toVerify: Endpoint[] = [];
    let changed = false;
    const seen = new Set<string>();
    for (const a of announced) {
      const key = endpointKey(a);
      if (seen.has(key)) continue;
      seen.add(key);
      const existing = this.byKey.get(key);
      if (existing === undefined) {
        // Without a lifetime: only a fresh LOCATOR_SET (an UPDATE) may start one.
        this.byKey.set(key, {
          address: a.address, port: a.port, spi: a.spi, state: 'UNVERIFIED', preferred: false, source: 'locator-set',
          candidate: a.candidate ?? 'host', lifetimeS: 0, expiresAt: undefined, removeAt: undefined, verifiedAt: undefined,
        });
        changed = true;
        toVerify.push({ address: a.address, port: a.port });
      } else if (existing.state === 'UNVERIFIED') {
        toVerify.push({ address: a.address, port: a.port });
      }
    }
    return { toVerify, changed };
  }

  /**
   * Lifetimes run out (RFC 8046 §4, §5.1): a locator past its lifetime is DEPRECATED, then
   * forgotten EXPIRED_LOCATOR_HOLD_MS later. The RFC only asks that a deprecated address not be
   * used while a non-deprecated one exists, so the address our traffic uses, when no other ACTIVE
   * one is left, stays as it is (`kept`): a peer that stopped renewing keeps its association, and the
   * next listing decides. The current address is never forgotten. Returns how many became
   * DEPRECATED, how many were kept in use, and whether anything changed.
   */
  expire(now: number): { expired: number; kept: number; changed: boolean } {
    let expired = 0;
    let kept = 0;
    let changed = false;
    const current = this.byKey.get(this.currentKey)!;
    const due = (loc: PeerLocator): boolean => loc.expiresAt !== undefined && loc.expiresAt <= now;
    for (const [key, loc] of this.byKey) {
      if (key === this.currentKey || !due(loc)) continue;
      loc.expiresAt = undefined;
      loc.removeAt = now + EXPIRED_LOCATOR_HOLD_MS;
      if (loc.state !== 'DEPRECATED') {
        loc.state = 'DEPRECATED';
        expired++;
        changed = true;
      }
    }
    if (due(current)) {
      current.expiresAt = undefined;
      // Only a verified address replaces it: an unchecked one may come from a replayed NOTIFY.
      const alternative = [...this.byKey.values()].some((l) => l !== current && l.state === 'ACTIVE');
      if (current.state !== 'DEPRECATED' && !alternative) {
        kept++;
      } else if (current.state !== 'DEPRECATED') {
        current.state = 'DEPRECATED';
        expired++;
        changed = true;
      }
    }
    for (const [key, loc] of this.byKey) {
      if (loc.removeAt === undefined || loc.removeAt > now) continue;
      loc.removeAt = undefined;
      if (key === this.currentKey) continue;
      this.byKey.delete(key);
      changed = true;
    }
    return { expired, kept, changed };
  }

  /** The next time expire() has something to do, or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const loc of this.byKey.values()) {
      for (const t of [loc.expiresAt, loc.removeAt]) if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /**
   * Whether the locator's lifetime has run out by `now` and expire() has not yet run. The
   * current address is left to expire(), which may keep it (nothing else left).
   */
  isExpired(now: number, l: Endpoint): boolean {
    const key = endpointKey(l);
    const loc = this.byKey.get(key);
    return key !== this.currentKey && loc?.expiresAt !== undefined && loc.expiresAt <= now;
  }

  /**
   * A fresh, authenticated packet came from this address. An address we did not know (site
   * multihoming, NAT rebinding) is added UNVERIFIED. So is one we had deprecated that the peer never
   * listed itself (where the base exchange ran, or a source we saw): a peer behind a NAT that
   * comes back to an uplink comes back from the same public address, which its LOCATOR_SETs can
   * never name. An address the peer listed and then withdrew stays DEPRECATED: its own word
   * outweighs a packet that may be late. Returns whether the address now needs a check.
   */
  observe(l: Endpoint, spi: number): boolean {
    const key = endpointKey(l);
    const known = this.byKey.get(key);
    if (known !== undefined) {
      if (known.state !== 'DEPRECATED' || known.source === 'locator-set') return false;
      known.state = 'UNVERIFIED';
      known.source = 'observed';
      known.candidate = 'prflx';
      known.spi = spi;
      known.expiresAt = undefined;
      known.removeAt = undefined;
      return true;
    }
    this.byKey.set(key, {
      address: l.address, port: l.port, spi, state: 'UNVERIFIED', preferred: false, source: 'observed', candidate: 'prflx', lifetimeS: 0,
      expiresAt: undefined, removeAt: undefined, verifiedAt: undefined,
    });
    return true;
  }

  /**
   * The peer's request for a new SA pair came from this address: behind a NAT it is the new
   * interface's public mapping, which the peer cannot list itself. An address we only saw takes
   * that SA's SPI, so our traffic to it uses the interface's own SA pair; one the peer listed
   * keeps the SPI the peer gave it. Its verification state is untouched.
   */
  bindObserved(l: Endpoint, spi: number): boolean {
    const loc = this.byKey.get(endpointKey(l));
    if (loc === undefined || loc.source !== 'observed' || loc.spi === spi) return false;
    loc.spi = spi;
    return true;
  }

  /**
   * The check of an address the peer was only seen at went unanswered: it is DEPRECATED again
   * (unless our traffic uses it), so that only a later packet from it starts another check.
   */
  verificationFailed(l: Endpoint): boolean {
    const key = endpointKey(l);
    const loc = this.byKey.get(key);
    if (loc === undefined || loc.state !== 'UNVERIFIED' || loc.source !== 'observed' || key === this.currentKey) return false;
    loc.state = 'DEPRECATED';
    return true;
  }

  /** The peer answered an echo we sent to this address: it is reachable there. */
  markVerified(now: number, l: Endpoint): boolean {
    const loc = this.byKey.get(endpointKey(l));
    if (loc === undefined || loc.state !== 'UNVERIFIED') return false;
    loc.state = 'ACTIVE';
    loc.verifiedAt = now;
    return true;
  }

  /** ESP_INFO rekeyed an SA: locators on the old SPI now reference the new one (RFC 8047 §6.2 case 2). */
  rebindSpi(oldSpi: number, newSpi: number): void {
    for (const loc of this.byKey.values()) if (loc.spi === oldSpi) loc.spi = newSpi;
  }

  /** ESP_INFO deprecated an SA: every locator bound to it is DEPRECATED (RFC 8047 §6.2 case 4). */
  deprecateSpi(spi: number): boolean {
    let changed = false;
    for (const loc of this.byKey.values()) {
      if (loc.spi === spi && loc.state !== 'DEPRECATED') {
        loc.state = 'DEPRECATED';
        changed = true;
      }
    }
    return changed;
  }

  /** Use this locator for our traffic from now on (pair selection or the procedure below decided). */
  setCurrent(l: Endpoint): boolean {
    const key = endpointKey(l);
    if (!this.byKey.has(key) || key === this.currentKey) return false;
    this.currentKey = key;
    return true;
  }

  /**
   * The change-of-preferred-locator procedure (RFC 8047 §6.4): which address our traffic should
   * use now. The peer's preferred one if ACTIVE; while it is being verified, keep an ACTIVE one
   * (the current if it still is); with no ACTIVE address left, one the peer's fresh packets came
   * from (the current first), else the preferred one, even though unverified — its use is then
   * bounded by credit. A listed address nothing came from is, behind a NAT, often private to
   * it: only its check may take traffic there. A DEPRECATED preference, or none, falls back to
   * a non-deprecated address, ACTIVE ones first.
   */
  choose(): CurrentChoice | undefined {
    const all = [...this.byKey.values()];
    const current = this.byKey.get(this.currentKey)!;
    const preferred = all.find((l) => l.preferred && l.state !== 'DEPRECATED');
    const active = all.filter((l) => l.state === 'ACTIVE');
    const heard = (l: PeerLocator): boolean => l.state === 'UNVERIFIED' && l.source !== 'locator-set';
    let pick: PeerLocator | undefined;
    if (preferred?.state === 'ACTIVE') pick = preferred;
    else if (current.state === 'ACTIVE') pick = current;
    else if (active.length > 0) pick = active[0];
    else if (heard(current)) pick = current;
    else if (all.some(heard)) pick = all.find(heard);
    else if (preferred !== undefined) pick = preferred;
    else pick = current.state === 'UNVERIFIED' ? current : all.find((l) => l.state === 'UNVERIFIED');
    if (pick === undefined) return undefined;
    return { locator: { address: pick.address, port: pick.port }, verified: pick.state === 'ACTIVE' };
  }
}
