// Text forms of HITs and locators. HIP carries every address in 16 octets (IPv4 as
// IPv4-mapped IPv6, RFC 8046 §4), so these helpers convert between that wire form and the
// strings that sockets, logs and the UI use.

import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Text } from '../../../src-shared/ip-text.js';

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export function isIpv4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && MAPPED_PREFIX.every((v, i) => b[i] === v);
}

/** RFC 5952 text: lower case, longest run of two or more zero groups as "::" (first on a tie). */
export function hitToText(hit: Uint8Array): string {
  if (hit.length !== 16) throw new RangeError(`an IPv6 address is 16 octets, not ${hit.length}`);
  return ipv6Text(hit);
}

function parseIpv4(s: string): Uint8Array | null {
  if (!isIPv4(s)) return null;
  return Uint8Array.from(s.split('.').map(Number));
}

/** Parses IPv6 text (with "::" and an optional dotted-quad tail). Null when it is not IPv6. */
export function textToHit(s: string): Uint8Array | null {
  const text = s.trim();
  // node's parser is the arbiter of validity; zone IDs make no sense for a HIT
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  let v4Tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    v4Tail = parseIpv4(text.slice(lastColon + 1));
    if (!v4Tail) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined];
  const toGroups = (part: string | undefined) => (part ? part.split(':').filter((g) => g !== '') : []);
  const l = toGroups(left);
  const r = toGroups(right);
  const fill = right === undefined ? 0 : 8 - l.length - r.length;
  const all = [...l, ...new Array<string>(fill).fill('0'), ...r];
  if (all.length !== 8) return null;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  if (v4Tail) out.set(v4Tail, 12);
  return out;
}

/** IPv4 text becomes ::ffff:a.b.c.d; IPv6 text is parsed as is. Null when it is neither. */
export function ipToBytes16(text: string): Uint8Array | null {
  const v4 = parseIpv4(text.trim());
  if (v4) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  return textToHit(text);
}

/** Dotted quad for an IPv4-mapped address, RFC 5952 text otherwise. */
export function bytes16ToIp(b: Uint8Array): string {
  if (isIpv4Mapped(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return hitToText(b);
}
