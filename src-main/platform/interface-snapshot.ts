// Parses what `ip -json` prints about links, addresses and routes into the records the local
// address state machine takes. Untrusted-input rules apply: malformed entries are skipped, a
// malformed document is a typed error, nothing throws.

import type { AddressRecord, InterfaceSnapshot, LinkRecord, RouteRecord } from '../mobility/local-addresses.js';

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Operational states (RFC 2863 ifOperStatus, as rtnetlink reports them) that cannot carry traffic. */
const NOT_OPERATIONAL_STATES = new Set(['DOWN', 'LOWERLAYERDOWN', 'NOTPRESENT', 'DORMANT', 'TESTING']);

type Json = Record<string, unknown>;

/** `ip -json -d link show`, one JSON array. */
export function parseLinks(text: string): ParseResult<LinkRecord[]> {
  const parsed = parseArray(text, 'link');
  if (!parsed.ok) return parsed;
  const links: LinkRecord[] = [];
  for (const item of parsed.value) {
    const ifindex = item['ifindex'];
    const ifname = item['ifname'];
    if (!isIndex(ifindex) || typeof ifname !== 'string' || ifname === '') continue;
    const flags = stringArray(item['flags']);
    const operstate = typeof item['operstate'] === 'string' ? item['operstate'] : 'UNKNOWN';
    const linkinfo = isObject(item['linkinfo']) ? item['linkinfo'] : undefined;
    const link: LinkRecord = {
      ifindex,
      ifname,
      adminUp: flags.includes('UP'),
      // Devices without carrier reporting (tun, ppp, some modems) say UNKNOWN with LOWER_UP.
      carrier: flags.includes('LOWER_UP') && !flags.includes('NO-CARRIER') && !NOT_OPERATIONAL_STATES.has(operstate),
      ...optionalString('linkKind', linkinfo?.['info_kind']),
      ...optionalString('linkType', item['link_type']),
    };
    links.push(link);
  }
  return { ok: true, value: links };
}

/** `ip -json addr show`, one JSON array of links, each with addr_info. */
export function parseAddresses(text: string): ParseResult<AddressRecord[]> {
  const parsed = parseArray(text, 'address');
  if (!parsed.ok) return parsed;
  const addresses: AddressRecord[] = [];
  for (const item of parsed.value) {
    const ifindex = item['ifindex'];
    if (!isIndex(ifindex) || !Array.isArray(item['addr_info'])) continue;
    for (const info of item['addr_info'] as unknown[]) {
      if (!isObject(info)) continue;
      const family = info['family'];
      const local = info['local'];
      const prefixLength = info['prefixlen'];
      if ((family !== 'inet' && family !== 'inet6') || typeof local !== 'string' || typeof prefixLength !== 'number') continue;
      const maxPrefix = family === 'inet' ? 32 : 128;
      if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > maxPrefix) continue;
      addresses.push({
        ifindex,
        address: local,
        prefixLength,
        ...optionalString('kernelScope', info['scope']),
        tentative: info['tentative'] === true,
        optimistic: info['optimistic'] === true,
        dadFailed: info['dadfailed'] === true,
        // A zero preferred lifetime is how the kernel marks a deprecated address, flag or not.
        deprecated: info['deprecated'] === true || info['preferred_life_time'] === 0,
      });
    }
  }
  return { ok: true, value: addresses };
}

/**
 * `ip -json -d route show table all` (both families, or one with -4 / -6). `ifindexOf` maps device
 * names to indexes. Without `family`, each route's family is inferred: an IPv6 prefix or gateway
 * says so, and the kernel attaches a router preference (RTA_PREF, printed as "pref") to every
 * IPv6 route and to no IPv4 one — which is what tells `default dev ppp0` of either family apart.
 */
export function parseRoutes(text: string, ifindexOf: (ifname: string) => number | undefined, family?: 4 | 6): ParseResult<RouteRecord[]> {
  const parsed = parseArray(text, 'route');
  if (!parsed.ok) return parsed;
  const routes: RouteRecord[] = [];
  for (const item of parsed.value) {
    const destination = item['dst'];
    const dev = item['dev'];
    if (typeof destination !== 'string') continue;
    const devices = typeof dev === 'string' ? [dev] : multipathDevices(item['nexthops']);
    for (const device of devices) {
      const ifindex = ifindexOf(device);
      if (ifindex === undefined) continue;
      routes.push({
        ifindex,
        family: family ?? routeFamily(item, destination),
        destination,
        table: typeof item['table'] === 'string' || typeof item['table'] === 'number' ? String(item['table']) : 'main',
        type: typeof item['type'] === 'string' ? item['type'] : 'unicast',
      });
    }
  }
  return { ok: true, value: routes };
}

/** The three outputs of one `ip -json -d -batch -` dump (links, addresses, routes), combined. */
export function parseSnapshot(texts: { links: string; addresses: string; routes: string }): ParseResult<InterfaceSnapshot> {
  const links = parseLinks(texts.links);
  if (!links.ok) return links;
  const byName = new Map(links.value.map((link) => [link.ifname, link.ifindex]));
  const addresses = parseAddresses(texts.addresses);
  if (!addresses.ok) return addresses;
  const routes = parseRoutes(texts.routes, (ifname) => byName.get(ifname));
  if (!routes.ok) return routes;
  return { ok: true, value: { links: links.value, addresses: addresses.value, routes: routes.value } };
}

function routeFamily(item: Json, destination: string): 4 | 6 {
  const gateway = item['gateway'];
  if (destination.includes(':') || (typeof gateway === 'string' && gateway.includes(':')) || item['pref'] !== undefined) return 6;
  return 4;
}

function multipathDevices(nexthops: unknown): string[] {
  if (!Array.isArray(nexthops)) return [];
  return nexthops.flatMap((hop) => (isObject(hop) && typeof hop['dev'] === 'string' ? [hop['dev']] : []));
}

function parseArray(text: string, what: string): ParseResult<Json[]> {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (error) {
    return { ok: false, error: `${what} dump is not JSON: ${(error as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, error: `${what} dump is not a JSON array` };
  return { ok: true, value: value.filter(isObject) };
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function optionalString<K extends string>(key: K, value: unknown): { [P in K]?: string } {
  return (typeof value === 'string' && value !== '' ? { [key]: value } : {}) as { [P in K]?: string };
}
