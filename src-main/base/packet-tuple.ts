// The part of an inner packet a flow route looks at: transport protocol and, where the transport
// has them, ports. Pure and allocation-free: the data plane calls these per packet. Never throws.

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** Whether a transport's header starts with 16-bit source and destination ports (TCP, UDP, DCCP, SCTP, UDP-Lite). */
export function hasPorts(protocol: number): boolean {
  return protocol === IPPROTO_TCP || protocol === IPPROTO_UDP || protocol === 33 || protocol === 132 || protocol === 136;
}

/**
 * Whether `port` (-1: the packet has none) is in an inclusive range; no range takes any packet,
 * a range only packets that have ports. The data planes' flow routes match by it.
 */
export function portInRange(r: { from: number; to: number } | null | undefined, port: number): boolean {
  return r === null || r === undefined || (port >= r.from && port <= r.to);
}

function u16(p: Uint8Array, at: number): number {
  return (p[at]! << 8) | p[at + 1]!;
}

/** IPv4 header checks: -1 for no packet, -2 for a later fragment (no transport header), else where the transport starts. */
export const IPV4_MALFORMED = -1;
export const IPV4_LATER_FRAGMENT = -2;

/** Where an IPv4 packet's transport header starts, or IPV4_MALFORMED / IPV4_LATER_FRAGMENT. Allocation-free. */
export function ipv4TransportAt(p: Uint8Array, length: number): number {
  if (length < 20 || length > p.length) return IPV4_MALFORMED;
  const headerLength = (p[0]! & 0x0f) * 4;
  const total = u16(p, 2);
  if (headerLength < 20 || total < headerLength || total > length) return IPV4_MALFORMED;
  // Only the first fragment carries the transport header.
  return (u16(p, 6) & 0x1fff) === 0 ? headerLength : IPV4_LATER_FRAGMENT;
}
