// The part of an inner packet a flow binding looks at: addresses, transport protocol and, where
// the transport has them, ports. Pure and allocation-light: the data plane will call this per
// packet. Never throws; a packet too short or malformed to say gives null.

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
 * a range only packets that have ports. Selectors and the data plane's flow routes share it.
 */
export function portInRange(r: { from: number; to: number } | null | undefined, port: number): boolean {
  return r === null || r === undefined || (port >= r.from && port <= r.to);
}

// IPv6 extension headers walked to reach the transport (RFC 8200 §4).
const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const ESP = 50;
const AH = 51;
const NO_NEXT_HEADER = 59;
const DESTINATION_OPTIONS = 60;
const EXTENSION_HEADERS = new Set([HOP_BY_HOP, ROUTING, FRAGMENT, AH, DESTINATION_OPTIONS]);
/** A chain longer than this is not a packet a host sends; stop rather than walk it. */
const MAX_EXTENSION_HEADERS = 8;

export interface PacketTuple {
  family: 4 | 6;
  /** 4 or 16 bytes, views into the packet. */
  src: Uint8Array;
  dst: Uint8Array;
  /** The transport protocol (IPv6: the last next header reached). */
  protocol: number;
  /** Absent for transports without ports and for non-first fragments. */
  srcPort?: number;
  dstPort?: number;
}

/** The 5-tuple of an IPv4 or IPv6 packet, or null when the packet is not one. */
export function packetTuple(p: Uint8Array, length = p.length): PacketTuple | null {
  if (length < 1 || length > p.length) return null;
  const version = p[0]! >> 4;
  if (version === 4) return ipv4Tuple(p, length);
  if (version === 6) return ipv6Tuple(p, length);
  return null;
}

function u16(p: Uint8Array, at: number): number {
  return (p[at]! << 8) | p[at + 1]!;
}

function withPorts(t: PacketTuple, p: Uint8Array, at: number, end: number): PacketTuple {
  if (hasPorts(t.protocol) && at + 4 <= end) {
    t.srcPort = u16(p, at);
    t.dstPort = u16(p, at + 2);
  }
  return t;
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

function ipv4Tuple(p: Uint8Array, length: number): PacketTuple | null {
  const at = ipv4TransportAt(p, length);
  if (at === IPV4_MALFORMED) return null;
  const t: PacketTuple = { family: 4, src: p.subarray(12, 16), dst: p.subarray(16, 20), protocol: p[9]! };
  return at >= 0 ? withPorts(t, p, at, u16(p, 2)) : t;
}

function ipv6Tuple(p: Uint8Array, length: number): PacketTuple | null {
  if (length < 40) return null;
  const end = 40 + u16(p, 4);
  if (end > length) return null;
  let next = p[6]!;
  let at = 40;
  for (let hops = 0; hops < MAX_EXTENSION_HEADERS; hops++) {
    if (next === HOP_BY_HOP || next === ROUTING || next === DESTINATION_OPTIONS) {
      if (at + 8 > end) return null;
      const size = (p[at + 1]! + 1) * 8;
      next = p[at]!;
      at += size;
      continue;
    }
    if (next === AH) {
      if (at + 8 > end) return null;
      const size = (p[at + 1]! + 2) * 4;
      next = p[at]!;
      at += size;
      continue;
    }
    if (next === FRAGMENT) {
      if (at + 8 > end) return null;
      const offset = u16(p, at + 2) >> 3;
      next = p[at]!;
      at += 8;
      if (offset !== 0) return tupleOf6(p, next, -1, end);
      continue;
    }
    break;
  }
  if (at > end || EXTENSION_HEADERS.has(next)) return null;
  // ESP hides the transport; "no next header" has none. Both are still flows by protocol.
  return tupleOf6(p, next, next === ESP || next === NO_NEXT_HEADER ? -1 : at, end);
}

function tupleOf6(p: Uint8Array, protocol: number, transportAt: number, end: number): PacketTuple {
  const t: PacketTuple = { family: 6, src: p.subarray(8, 24), dst: p.subarray(24, 40), protocol };
  return transportAt < 0 ? t : withPorts(t, p, transportAt, end);
}
