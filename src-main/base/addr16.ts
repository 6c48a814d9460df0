// 16-octet addresses (IPv4 as v4-mapped IPv6), the form packet batches carry destinations in.

import { isIPv4, isIPv6 } from 'node:net';

export function toAddr16(address: string): Uint8Array | null {
  const out = new Uint8Array(16);
  if (isIPv4(address)) {
    out[10] = 0xff;
    out[11] = 0xff;
    address.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  if (!isIPv6(address)) return null;
  const [head, tail] = address.includes('::') ? (address.split('::') as [string, string]) : [address, undefined];
  const groups = (s: string | undefined): string[] => (s ? s.split(':').filter((g) => g !== '') : []);
  const l = groups(head);
  const r = groups(tail);
  const all = [...l, ...new Array<string>(tail === undefined ? 0 : 8 - l.length - r.length).fill('0'), ...r];
  if (all.length !== 8 || all.some((g) => g.includes('.'))) return null;
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** Whether `a`'s 16 octets equal `b`'s from `bAt`: addresses and HITs in packet batches alike. */
export function same16(a: Uint8Array, b: Uint8Array, bAt = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[bAt + i]) return false;
  return true;
}

export function fromAddr16(a: Uint8Array, at = 0): string {
  let mapped = true;
  for (let i = 0; i < 10; i++) if (a[at + i] !== 0) mapped = false;
  if (mapped && a[at + 10] === 0xff && a[at + 11] === 0xff) {
    return `${a[at + 12]}.${a[at + 13]}.${a[at + 14]}.${a[at + 15]}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a[at + i]! << 8) | a[at + i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952) so addresses compare as node prints them.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

