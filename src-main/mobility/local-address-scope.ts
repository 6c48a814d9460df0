// Which of our own addresses may be offered to a peer at all (seed 003 §3.1): global unicast,
// unique-local and RFC 1918 / shared (CGN) addresses always; IPv6 and IPv4 link-local ones only
// toward a peer on that same link, which the caller must check; never loopback, multicast,
// broadcast, unspecified, IPv6 site-local or IPv4-mapped forms.

import { ipToBytes16 } from '../hip/wire/address.js';

export type LocatorScope = 'global' | 'link';

export type ScopeVerdict =
  | { readonly legal: true; readonly scope: LocatorScope }
  | { readonly legal: false; readonly reason: string };

/**
 * `kernelScope` is the scope the kernel gives the address (`ip addr`: global, link, host, site);
 * `prefixLength` finds IPv4 subnet-broadcast addresses.
 */
export function locatorScope(address: string, prefixLength: number, kernelScope?: string): ScopeVerdict {
  const bytes = ipToBytes16(address);
  if (!bytes) return { legal: false, reason: 'not an IP address' };
  if (kernelScope === 'host' || kernelScope === 'nowhere') return { legal: false, reason: `${kernelScope}-scope address` };
  // An interface never carries ::ffff:a.b.c.d as such; IPv6 text always takes the IPv6 rules.
  const verdict = address.includes(':') ? ipv6Scope(bytes) : ipv4Scope(bytes.subarray(12), prefixLength);
  // An address the administrator configured with link scope never leaves the link either.
  if (verdict.legal && kernelScope === 'link') return { legal: true, scope: 'link' };
  return verdict;
}

function ipv6Scope(b: Uint8Array): ScopeVerdict {
  if (b.every((octet) => octet === 0)) return { legal: false, reason: 'unspecified address' };
  if (b.subarray(0, 15).every((octet) => octet === 0) && b[15] === 1) return { legal: false, reason: 'loopback address' };
  if (b[0] === 0xff) return { legal: false, reason: 'multicast address' };
  if (b.subarray(0, 10).every((octet) => octet === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { legal: false, reason: 'IPv4-mapped address' };
  }
  // fec0::/10 site-local: deprecated by RFC 3879, excluded by seed 003 §3.1.
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return { legal: false, reason: 'site-local address' };
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return { legal: true, scope: 'link' };
  return { legal: true, scope: 'global' };
}

function ipv4Scope(b: Uint8Array, prefixLength: number): ScopeVerdict {
  const [first = 0, second = 0] = b;
  if (first === 0) return { legal: false, reason: 'this-network address (0/8)' };
  if (first === 127) return { legal: false, reason: 'loopback address' };
  if (first >= 224 && first <= 239) return { legal: false, reason: 'multicast address' };
  if (first >= 240) return { legal: false, reason: 'reserved or broadcast address' };
  if (prefixLength >= 0 && prefixLength < 31 && isSubnetBroadcast(b, prefixLength)) {
    return { legal: false, reason: 'subnet broadcast address' };
  }
  if (first === 169 && second === 254) return { legal: true, scope: 'link' };
  return { legal: true, scope: 'global' };
}

function isSubnetBroadcast(b: Uint8Array, prefixLength: number): boolean {
  const value = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const hostMask = prefixLength === 0 ? 0xffffffff : (2 ** (32 - prefixLength) - 1) >>> 0;
  return (value & hostMask) >>> 0 === hostMask;
}
