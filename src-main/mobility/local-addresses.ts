// Our own addresses and their states (seed 003 §3.1, §3.2, §5.1), sans-IO: fed what the OS
// reports (a full snapshot of links, addresses and routes each time something changed), policy,
// interface metadata and `now`; returns the list of local locators whenever it changes, with the
// causes, and says when it next needs a timer.
//
//   AVAILABLE    assigned to a usable interface, IPv6 DAD finished, a scope we may offer a peer.
//   OPERATIONAL  available, the interface is up with carrier, and a route leaves through it.
//
// Flapping is absorbed without delaying a clean change:
// - an address that appears, or becomes operational, is reported at once;
// - an address that disappears is reported at once as not operational (nothing may be sent
//   from it), but it stays in the list, `available: false`, for `holdMs`: if it returns within
//   that window the set of locators never changed, so the peer is told nothing;
// - an interface that keeps losing operational state (penalty per loss, decaying with a
//   half-life, as route-flap damping does) is held back from being reported operational again
//   until it has been steady for a while — but only while a steadier locator exists, so a
//   flapping only uplink is still used whenever it works.

import { locatorScope, type LocatorScope } from './local-address-scope.js';
import {
  classifyInterface,
  completePreference,
  type InterfaceClass,
  type InterfaceClassPolicy,
  type InterfaceFacts,
} from './local-interface-kind.js';
import type { InterfaceKind, LocalLocator } from '../../src-shared/vocabulary.js';

// ---- what the OS reports ----

export interface LinkRecord {
  readonly ifindex: number;
  readonly ifname: string;
  /** Administratively up (`ip link set up`). */
  readonly adminUp: boolean;
  /** The lower layer is up: cable in, Wi-Fi associated, modem session open. */
  readonly carrier: boolean;
  readonly linkKind?: string;
  readonly linkType?: string;
  readonly devtype?: string;
  readonly wireless?: boolean;
}

export interface AddressRecord {
  readonly ifindex: number;
  readonly address: string;
  readonly prefixLength: number;
  /** The kernel's scope: global, link, host, site. */
  readonly kernelScope?: string;
  /** IPv6 duplicate address detection still running: not yet ours to use ... */
  readonly tentative?: boolean;
  /** ... unless it is optimistic (RFC 4429), which seed 003 §3.1 explicitly allows. */
  readonly optimistic?: boolean;
  readonly dadFailed?: boolean;
  /** Preferred lifetime over: usable, but new communication should move elsewhere. */
  readonly deprecated?: boolean;
}

export interface RouteRecord {
  readonly ifindex: number;
  readonly family: 4 | 6;
  /** `default` or a prefix in CIDR form. */
  readonly destination: string;
  /** Routing table: main, local, or a number (policy routing). */
  readonly table?: string;
  /** unicast, local, broadcast, multicast, unreachable, blackhole, ... */
  readonly type?: string;
}

export interface InterfaceSnapshot {
  readonly links: readonly LinkRecord[];
  readonly addresses: readonly AddressRecord[];
  readonly routes: readonly RouteRecord[];
}

/** Why the OS state was read: the first read, a kernel event, or a re-check. */
export type SnapshotTrigger = 'initial' | 'kernel' | 'resume' | 'clock-jump' | 'recheck';

export interface InterfaceMetadata {
  readonly ifname: string;
  readonly wireless?: boolean;
  readonly virtual?: boolean;
}

export type LocalAddressEvent =
  | { readonly type: 'snapshot'; readonly snapshot: InterfaceSnapshot; readonly trigger: SnapshotTrigger }
  | { readonly type: 'metadata'; readonly interfaces: readonly InterfaceMetadata[] }
  | { readonly type: 'policy'; readonly policy: Partial<LocalAddressPolicy> };

// ---- policy ----

export interface FlapDamping {
  /** Penalty added each time a locator stops being operational. */
  readonly penaltyPerLoss: number;
  /** At or above this penalty the locator is suppressed ... */
  readonly suppressAt: number;
  /** ... until the penalty has decayed to this. */
  readonly reuseAt: number;
  readonly halfLifeMs: number;
}

export interface LocalAddressPolicy extends InterfaceClassPolicy {
  /** Kinds best first; kinds left out follow in the default order. */
  readonly preference: readonly InterfaceKind[];
  /** Offer link-local addresses (for peers on the same link; the pair logic must check). */
  readonly allowLinkLocal: boolean;
  /** How long a vanished address stays listed (not operational) in case it comes back. */
  readonly holdMs: number;
  readonly damping: FlapDamping;
}

export const DEFAULT_LOCAL_ADDRESS_POLICY: LocalAddressPolicy = {
  preference: ['ethernet', 'wifi', 'cellular', 'virtual'],
  exclude: [],
  ownTunnels: ['hip0'],
  kinds: {},
  allowLinkLocal: false,
  // Wi-Fi roaming between access points and DHCP re-binding take well under 2 s.
  holdMs: 2_000,
  // Three losses within a few hundred milliseconds, or a link lost more often than about every
  // 1.25 s, suppress; two seconds later (one half-life) it is reused. An uplink that fails now
  // and then, however often a handover test cycles it, is never held back.
  damping: { penaltyPerLoss: 1, suppressAt: 2.8, reuseAt: 1.4, halfLifeMs: 2_000 },
};

// ---- what we report ----

/** One of our addresses as the tracker reports it: the interface's state and the address's. */
export interface MonitoredLocator extends Readonly<LocalLocator> {
  readonly family: 4 | 6;
  readonly prefixLength: number;
  readonly ifindex: number;
  /** `link`: only for a peer on this same link. */
  readonly scope: LocatorScope;
  /** Assigned right now; false while a vanished address is held in case it returns. */
  readonly available: boolean;
  /** Packets may be sent from it now. */
  readonly operational: boolean;
  /** A default route leaves through its interface (not just on-link routes), usable or not. */
  readonly defaultRoute: boolean;
  readonly deprecated: boolean;
  /** 0 is the most preferred locator. */
  readonly preferenceRank: number;
}

export type LocatorCauseType =
  | 'appeared'
  | 'lost'
  | 'returned'
  | 'withdrawn'
  | 'excluded'
  | 'operational'
  | 'not-operational'
  | 'reclassified'
  | 'renamed'
  | 'default-route'
  | 'deprecated'
  | 'preference';

export interface LocatorCause {
  readonly type: LocatorCauseType;
  readonly address: string;
  readonly ifname: string;
  readonly detail?: string;
}

export type ChangeTrigger = SnapshotTrigger | 'metadata' | 'policy' | 'timer';

export interface LocatorChange {
  readonly at: number;
  readonly trigger: ChangeTrigger;
  readonly causes: readonly LocatorCause[];
  readonly locators: readonly MonitoredLocator[];
}

// ---- the state machine ----

interface Entry {
  readonly key: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly ifindex: number;
  readonly scope: LocatorScope;
  prefixLength: number;
  ifname: string;
  kind: InterfaceKind;
  deprecated: boolean;
  available: boolean;
  /** When it vanished (held until goneAt + holdMs). */
  goneAt: number | undefined;
  /** Why it is not available or not operational, for causes. */
  reason: string | undefined;
  /** Operational as far as the OS is concerned, before damping. */
  up: boolean;
  defaultRoute: boolean;
  penalty: number;
  penaltyAt: number;
  /** Suppressed for flapping until this time. */
  suppressedUntil: number | undefined;
}

interface Candidate {
  readonly record: AddressRecord;
  readonly link: LinkRecord;
  readonly kind: InterfaceKind;
  readonly scope: LocatorScope;
}

const EMPTY_SNAPSHOT: InterfaceSnapshot = { links: [], addresses: [], routes: [] };

export class LocalAddresses {
  private policy: LocalAddressPolicy;
  private snapshot: InterfaceSnapshot = EMPTY_SNAPSHOT;
  private readonly metadata = new Map<string, InterfaceMetadata>();
  private readonly entries = new Map<string, Entry>();
  private reported: readonly MonitoredLocator[] = [];

  constructor(policy: Partial<LocalAddressPolicy> = {}) {
    this.policy = mergePolicy(DEFAULT_LOCAL_ADDRESS_POLICY, policy);
  }

  /** The locators as last reported. */
  locators(): readonly MonitoredLocator[] {
    return this.reported;
  }

  currentPolicy(): LocalAddressPolicy {
    return this.policy;
  }

  handleEvent(event: LocalAddressEvent, now: number): LocatorChange | undefined {
    switch (event.type) {
      case 'snapshot':
        this.snapshot = event.snapshot;
        return this.reconcile(now, event.trigger);
      case 'metadata':
        for (const item of event.interfaces) this.metadata.set(item.ifname, item);
        return this.reconcile(now, 'metadata');
      case 'policy':
        this.policy = mergePolicy(this.policy, event.policy);
        return this.reconcile(now, 'policy');
    }
  }

  handleTimeout(now: number): LocatorChange | undefined {
    const next = this.nextTimeout();
    if (next === undefined || now < next) return undefined;
    return this.reconcile(now, 'timer');
  }

  /** When handleTimeout must next be called, if at all. */
  nextTimeout(): number | undefined {
    let next: number | undefined;
    for (const entry of this.entries.values()) {
      if (entry.goneAt !== undefined) next = earliest(next, entry.goneAt + this.policy.holdMs);
      if (entry.suppressedUntil !== undefined) next = earliest(next, entry.suppressedUntil);
    }
    return next;
  }

  private reconcile(now: number, trigger: ChangeTrigger): LocatorChange | undefined {
    const { candidates, ruledOut, pending } = this.candidates();
    const excluded = new Map<string, string>();

    for (const entry of [...this.entries.values()]) {
      if (candidates.has(entry.key)) continue;
      const exclusion = ruledOut.get(entry.key) ?? this.exclusionOf(entry.ifindex);
      if (exclusion !== undefined) {
        // Policy or classification now rules it out: the user meant it, so no hold.
        this.entries.delete(entry.key);
        excluded.set(entry.key, exclusion);
        continue;
      }
      if (entry.available) {
        entry.available = false;
        entry.goneAt = now;
        entry.reason = pending.get(entry.key) ?? (this.linkOf(entry.ifindex) ? 'address removed' : 'interface removed');
      } else if (entry.goneAt !== undefined && now >= entry.goneAt + this.policy.holdMs) {
        this.entries.delete(entry.key);
      }
    }

    for (const [key, candidate] of candidates) {
      const existing = this.entries.get(key);
      const entry = existing ?? this.newEntry(key, candidate, now);
      entry.prefixLength = candidate.record.prefixLength;
      entry.ifname = candidate.link.ifname;
      entry.kind = candidate.kind;
      entry.deprecated = candidate.record.deprecated === true;
      entry.available = true;
      entry.goneAt = undefined;
      if (!existing) this.entries.set(key, entry);
    }

    const routes = routesByInterface(this.snapshot.routes);
    for (const entry of this.entries.values()) this.updateOperational(entry, routes.get(routeKey(entry.ifindex, entry.family)) ?? [], now);
    const next = this.rank(now);
    if (sameLocators(this.reported, next)) return undefined;
    const causes = this.diff(this.reported, next, excluded);
    this.reported = next;
    return { at: now, trigger, causes, locators: next };
  }

  /**
   * The addresses of the snapshot that may be locators, by key; those that policy, interface
   * class or scope rule out, with the reason; and those still in duplicate address detection.
   */
  private candidates(): { candidates: Map<string, Candidate>; ruledOut: Map<string, string>; pending: Map<string, string> } {
    const links = new Map(this.snapshot.links.map((link) => [link.ifindex, link]));
    const candidates = new Map<string, Candidate>();
    const ruledOut = new Map<string, string>();
    const pending = new Map<string, string>();
    for (const record of this.snapshot.addresses) {
      const key = entryKey(record.ifindex, record.address);
      const link = links.get(record.ifindex);
      if (!link) continue;
      const linkClass = this.classify(link);
      if (!linkClass.usable) {
        ruledOut.set(key, linkClass.reason);
        continue;
      }
      const verdict = locatorScope(record.address, record.prefixLength, record.kernelScope);
      if (!verdict.legal) {
        ruledOut.set(key, verdict.reason);
        continue;
      }
      if (verdict.scope === 'link' && !this.policy.allowLinkLocal) {
        ruledOut.set(key, 'link-local address (not allowed by policy)');
        continue;
      }
      if (record.dadFailed) pending.set(key, 'duplicate address detected');
      else if (record.tentative && !record.optimistic) pending.set(key, 'duplicate address detection running');
      else candidates.set(key, { record, link, kind: linkClass.kind, scope: verdict.scope });
    }
    return { candidates, ruledOut, pending };
  }

  private newEntry(key: string, candidate: Candidate, now: number): Entry {
    return {
      key,
      address: candidate.record.address,
      family: familyOf(candidate.record.address),
      ifindex: candidate.record.ifindex,
      scope: candidate.scope,
      prefixLength: candidate.record.prefixLength,
      ifname: candidate.link.ifname,
      kind: candidate.kind,
      deprecated: false,
      available: true,
      goneAt: undefined,
      reason: undefined,
      up: false,
      defaultRoute: false,
      penalty: 0,
      penaltyAt: now,
      suppressedUntil: undefined,
    };
  }

  /** `routes`: those of the entry's family leaving through its interface. */
  private updateOperational(entry: Entry, routes: readonly RouteRecord[], now: number): void {
    const link = this.linkOf(entry.ifindex);
    let reason: string | undefined;
    if (!entry.available) reason = entry.reason ?? 'address removed';
    else if (!link) reason = 'interface removed';
    else if (!link.adminUp) reason = 'interface down';
    else if (!link.carrier) reason = 'no carrier';
    else if (routes.length === 0) reason = 'no route';
    const up = reason === undefined;
    if (entry.up && !up) this.penalize(entry, now);
    if (entry.suppressedUntil !== undefined && now >= entry.suppressedUntil) entry.suppressedUntil = undefined;
    entry.up = up;
    entry.reason = reason;
    entry.defaultRoute = entry.available && routes.some((route) => isDefaultDestination(route.destination));
  }

  private penalize(entry: Entry, now: number): void {
    const { penaltyPerLoss, suppressAt, reuseAt, halfLifeMs } = this.policy.damping;
    entry.penalty = decayed(entry.penalty, now - entry.penaltyAt, halfLifeMs) + penaltyPerLoss;
    entry.penaltyAt = now;
    if (entry.penalty >= suppressAt || entry.suppressedUntil !== undefined) {
      entry.suppressedUntil = now + Math.ceil(halfLifeMs * Math.log2(entry.penalty / reuseAt));
    }
  }

  private rank(now: number): MonitoredLocator[] {
    const entries = [...this.entries.values()];
    const isSuppressed = (entry: Entry) => entry.suppressedUntil !== undefined && now < entry.suppressedUntil;
    const steadyExists = entries.some((entry) => entry.up && !isSuppressed(entry));
    const operational = (entry: Entry) => entry.up && !(isSuppressed(entry) && steadyExists);
    const order = completePreference(this.policy.preference);
    const sortKey = (entry: Entry): Array<number | string> => [
      operational(entry) ? 0 : 1,
      entry.available ? 0 : 1,
      order.indexOf(entry.kind),
      entry.defaultRoute ? 0 : 1,
      entry.deprecated ? 1 : 0,
      entry.scope === 'link' ? 1 : 0,
      entry.ifindex,
      entry.address,
    ];
    const sorted = entries
      .map((entry) => ({ entry, key: sortKey(entry) }))
      .sort((a, b) => compareKeys(a.key, b.key));
    return sorted.map(({ entry }, index) => ({
      address: entry.address,
      family: entry.family,
      prefixLength: entry.prefixLength,
      ifname: entry.ifname,
      ifindex: entry.ifindex,
      kind: entry.kind,
      scope: entry.scope,
      available: entry.available,
      operational: operational(entry),
      defaultRoute: entry.defaultRoute,
      deprecated: entry.deprecated,
      preferenceRank: index,
    }));
  }

  private diff(before: readonly MonitoredLocator[], after: readonly MonitoredLocator[], excluded: ReadonlyMap<string, string>): LocatorCause[] {
    const causes: LocatorCause[] = [];
    const old = new Map(before.map((locator) => [entryKey(locator.ifindex, locator.address), locator]));
    const cause = (type: LocatorCauseType, locator: MonitoredLocator, detail?: string) =>
      causes.push(detail === undefined ? { type, address: locator.address, ifname: locator.ifname } : { type, address: locator.address, ifname: locator.ifname, detail });
    for (const locator of after) {
      const key = entryKey(locator.ifindex, locator.address);
      const previous = old.get(key);
      old.delete(key);
      const entry = this.entries.get(key);
      if (!previous) {
        cause('appeared', locator, locator.operational ? undefined : `not operational: ${entry?.reason ?? 'flapping'}`);
        continue;
      }
      if (previous.available && !locator.available) cause('lost', locator, entry?.reason);
      else if (!previous.available && locator.available) cause('returned', locator);
      else if (previous.operational !== locator.operational) {
        cause(locator.operational ? 'operational' : 'not-operational', locator, locator.operational ? undefined : (entry?.reason ?? 'flapping'));
      }
      if (previous.kind !== locator.kind) cause('reclassified', locator, `${previous.kind} -> ${locator.kind}`);
      if (previous.ifname !== locator.ifname) cause('renamed', locator, `${previous.ifname} -> ${locator.ifname}`);
      if (previous.defaultRoute !== locator.defaultRoute && previous.available && locator.available) {
        cause('default-route', locator, locator.defaultRoute ? 'gained' : 'lost');
      }
      if (previous.deprecated !== locator.deprecated) cause('deprecated', locator, locator.deprecated ? 'deprecated' : 'preferred again');
    }
    for (const [key, locator] of old) {
      const exclusion = excluded.get(key);
      if (exclusion !== undefined) cause('excluded', locator, exclusion);
      else cause('withdrawn', locator, `gone for ${this.policy.holdMs} ms`);
    }
    // Nothing happened to any one locator, yet the list changed: only the order did.
    const first = after[0];
    if (causes.length === 0 && first) cause('preference', first, `order ${completePreference(this.policy.preference).join(' > ')}`);
    return causes;
  }

  /** Why the interface is ruled out now, if it is. */
  private exclusionOf(ifindex: number): string | undefined {
    const link = this.linkOf(ifindex);
    if (!link) return undefined;
    const linkClass = this.classify(link);
    return linkClass.usable ? undefined : linkClass.reason;
  }

  private linkOf(ifindex: number): LinkRecord | undefined {
    return this.snapshot.links.find((candidate) => candidate.ifindex === ifindex);
  }

  private classify(link: LinkRecord): InterfaceClass {
    const extra = this.metadata.get(link.ifname);
    const facts: InterfaceFacts = {
      ifname: link.ifname,
      linkKind: link.linkKind,
      linkType: link.linkType,
      devtype: link.devtype,
      wireless: link.wireless ?? extra?.wireless,
      virtual: extra?.virtual,
    };
    return classifyInterface(facts, this.policy);
  }
}

function mergePolicy(base: LocalAddressPolicy, change: Partial<LocalAddressPolicy>): LocalAddressPolicy {
  const merged = { ...base };
  for (const [key, value] of Object.entries(change)) {
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return { ...merged, damping: { ...base.damping, ...change.damping } };
}

function routeKey(ifindex: number, family: 4 | 6): string {
  return `${ifindex}/${family}`;
}

/** The routes that leave through each interface, per family. */
function routesByInterface(routes: readonly RouteRecord[]): Map<string, RouteRecord[]> {
  const index = new Map<string, RouteRecord[]>();
  for (const route of routes) {
    if (!leavesThroughInterface(route)) continue;
    const key = routeKey(route.ifindex, route.family);
    const list = index.get(key);
    if (list) list.push(route);
    else index.set(key, [route]);
  }
  return index;
}

function entryKey(ifindex: number, address: string): string {
  return `${ifindex}/${address}`;
}

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** A route packets to somewhere else can take out of this interface. */
function leavesThroughInterface(route: RouteRecord): boolean {
  if (route.table === 'local') return false;
  if (route.type !== undefined && route.type !== 'unicast') return false;
  // Every IPv6 interface has fe80::/64 and ff00::/8; neither reaches beyond the link.
  if (route.family === 6 && /^f[ef][0-9a-f]{2}:/i.test(route.destination)) return false;
  return true;
}

function isDefaultDestination(destination: string): boolean {
  return destination === 'default' || destination === '0.0.0.0/0' || destination === '::/0';
}

function decayed(penalty: number, elapsedMs: number, halfLifeMs: number): number {
  return penalty * 2 ** (-Math.max(0, elapsedMs) / halfLifeMs);
}

function earliest(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

function compareKeys(a: ReadonlyArray<number | string>, b: ReadonlyArray<number | string>): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

function sameLocators(a: readonly MonitoredLocator[], b: readonly MonitoredLocator[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((locator, index) => {
    const other = b[index]!;
    return (Object.keys(locator) as Array<keyof MonitoredLocator>).every((field) => locator[field] === other[field]);
  });
}
