// Inner-packet surgery for the tunnel (RFC 7402 BEET mode plus the LSI convention of RFC 7401
// §3.3 / RFC 5338): which peer a TUN packet is for, how a HIT packet is reduced to its
// transport payload and rebuilt on the far side, and how an LSI packet's addresses are
// rewritten into the receiver's own LSI space with its checksums kept valid.
// Pure functions over byte arrays; nothing here throws on malformed input.

export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_NONE = 59;
export const IPV6_HEADER_LENGTH = 40;
export const IPV4_MIN_HEADER_LENGTH = 20;
/** Hop limit / TTL of rebuilt packets: the tunnel is one hop, as for any interface. */
export const REBUILT_HOP_LIMIT = 64;

/** True for 2001:20::/28, the ORCHIDv2 prefix every HIT lives in (RFC 7343). */
export function isHitAddress(b: Uint8Array, at = 0): boolean {
  return b[at] === 0x20 && b[at + 1] === 0x01 && b[at + 2] === 0x00 && (b[at + 3]! & 0xf0) === 0x20;
}

/** True for 1.0.0.0/8, the LSI range hipvpn uses. */
export function isLsiAddress(v4: number): boolean {
  return v4 >>> 24 === 1;
}

export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

export function ipv4ToNumber(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function numberToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** Where a packet read from the TUN wants to go. */
export type InnerDestination =
  | { kind: 'hit'; /** offset of the 16-octet destination */ at: number }
  | { kind: 'lsi'; lsi: number }
  | { kind: 'other'; reason: 'not-ip' | 'truncated' | 'not-hip' };

/** Classifies a TUN packet by version and destination; never reads past `length`. */
export function innerDestination(p: Uint8Array, length: number): InnerDestination {
  if (length < 1) return { kind: 'other', reason: 'truncated' };
  const version = p[0]! >>> 4;
  if (version === 6) {
    if (length < IPV6_HEADER_LENGTH) return { kind: 'other', reason: 'truncated' };
    return isHitAddress(p, 24) ? { kind: 'hit', at: 24 } : { kind: 'other', reason: 'not-hip' };
  }
  if (version === 4) {
    if (length < IPV4_MIN_HEADER_LENGTH) return { kind: 'other', reason: 'truncated' };
    const dst = readU32(p, 16);
    return isLsiAddress(dst) ? { kind: 'lsi', lsi: dst } : { kind: 'other', reason: 'not-hip' };
  }
  return { kind: 'other', reason: 'not-ip' };
}

/**
 * BEET outbound for an IPv6 packet between HITs: what ESP carries is everything after the
 * fixed header (extension headers included), and the trailer's Next Header is the header's.
 * Null when the payload length field disagrees with the packet.
 */
export function beetPayload(p: Uint8Array, length: number): { payload: Uint8Array; nextHeader: number } | null {
  if (length < IPV6_HEADER_LENGTH) return null;
  const payloadLength = (p[4]! << 8) | p[5]!;
  if (IPV6_HEADER_LENGTH + payloadLength > length) return null;
  return { payload: p.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength), nextHeader: p[6]! };
}

/**
 * BEET inbound: writes into `out` (at least 40 + payload octets) an IPv6 packet from the peer's
 * HIT to ours. Transport checksums stay valid because the pseudo-header holds the same HITs
 * the sender used.
 */
export function writeBeetPacket(out: Uint8Array, src: Uint8Array, dst: Uint8Array, nextHeader: number, payload: Uint8Array): number {
  out[0] = 0x60;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  writeU16(out, 4, payload.length);
  out[6] = nextHeader;
  out[7] = REBUILT_HOP_LIMIT;
  out.set(src, 8);
  out.set(dst, 24);
  out.set(payload, IPV6_HEADER_LENGTH);
  return IPV6_HEADER_LENGTH + payload.length;
}

/** Length of a plausible IPv4 packet (header sane, total length within the buffer), else null. */
export function ipv4PacketLength(p: Uint8Array, length: number): number | null {
  if (length < IPV4_MIN_HEADER_LENGTH || p[0]! >>> 4 !== 4) return null;
  const ihl = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < IPV4_MIN_HEADER_LENGTH || total < ihl || total > length) return null;
  return total;
}

/** One's-complement sum of 16-bit words of b[from, to), not yet folded. */
function sum16(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  let i = from;
  for (; i + 1 < to; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < to) s += b[i]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The IPv4 header checksum over p[0, ihl), with the checksum field taken as zero. */
export function ipv4HeaderChecksum(p: Uint8Array): number {
  const ihl = (p[0]! & 0x0f) * 4;
  const s = sum16(p, 0, ihl) - ((p[10]! << 8) | p[11]!);
  return ~fold(s < 0 ? s + 0xffff : s) & 0xffff;
}

/**
 * RFC 1624 eqn. 3 for a checksum covering two 32-bit address fields that change:
 * HC' = ~(~HC + ~m + m'), taken over each 16-bit word that changes.
 */
function adjustChecksum(hc: number, oldSrc: number, oldDst: number, newSrc: number, newDst: number): number {
  let s = ~hc & 0xffff;
  for (const [m, m2] of [[oldSrc, newSrc], [oldDst, newDst]] as const) {
    s += (~(m >>> 16) & 0xffff) + (m2 >>> 16);
    s += (~m & 0xffff) + (m2 & 0xffff);
  }
  return ~fold(s) & 0xffff;
}

/**
 * Rewrites an IPv4 packet's source and destination in place and keeps the header, TCP and
 * UDP checksums valid (incrementally, so the payload is never read). Only the first fragment
 * carries a transport header; a UDP checksum of zero means "none" and stays so.
 */
export function rewriteIpv4Addresses(p: Uint8Array, newSrc: number, newDst: number): void {
  const ihl = (p[0]! & 0x0f) * 4;
  const oldSrc = readU32(p, 12);
  const oldDst = readU32(p, 16);
  writeU32(p, 12, newSrc);
  writeU32(p, 16, newDst);
  writeU16(p, 10, 0);
  writeU16(p, 10, ipv4HeaderChecksum(p));
  const fragmentOffset = ((p[6]! & 0x1f) << 8) | p[7]!;
  if (fragmentOffset !== 0) return;
  const total = (p[2]! << 8) | p[3]!;
  const proto = p[9];
  if (proto === IPPROTO_TCP && total >= ihl + 18) {
    const at = ihl + 16;
    writeU16(p, at, adjustChecksum((p[at]! << 8) | p[at + 1]!, oldSrc, oldDst, newSrc, newDst));
  } else if (proto === IPPROTO_UDP && total >= ihl + 8) {
    const at = ihl + 6;
    const hc = (p[at]! << 8) | p[at + 1]!;
    if (hc === 0) return;
    const next = adjustChecksum(hc, oldSrc, oldDst, newSrc, newDst);
    writeU16(p, at, next === 0 ? 0xffff : next);
  }
}

/** Full TCP/UDP checksum over the IPv4 pseudo-header (tests and diagnostics; not on the fast path). */
export function ipv4TransportChecksum(p: Uint8Array): number {
  const ihl = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  const proto = p[9]!;
  const at = proto === IPPROTO_TCP ? ihl + 16 : ihl + 6;
  let s = sum16(p, 12, 20) + proto + (total - ihl);
  s += sum16(p, ihl, total) - ((p[at]! << 8) | p[at + 1]!);
  return ~fold(s) & 0xffff;
}

/** TUN MTU hipvpn configures by default; tunnelMtu(1500) is a little above it. */
export const DEFAULT_TUN_MTU = 1400;

/** Outer IPv6 + UDP + ESP header: the fixed part of every tunnel packet. */
const OUTER_FIXED = 40 + 8 + 8;
/** The ESP suites hipvpn negotiates: IV, padding block and ICV octets (RFC 4106, RFC 7402). */
const SUITE_SHAPES = [
  { iv: 8, block: 4, icv: 16 }, // AES-GCM
  { iv: 16, block: 16, icv: 16 }, // AES-CBC with HMAC-SHA-256-128
];

/** Length of the outer packet carrying an inner packet of `inner` octets, worst suite, IPv6 outer. */
export function outerPacketLength(inner: number): number {
  let worst = 0;
  for (const s of SUITE_SHAPES) {
    const padded = Math.ceil((inner + 2) / s.block) * s.block;
    worst = Math.max(worst, OUTER_FIXED + s.iv + padded + s.icv);
  }
  return worst;
}

/**
 * The largest inner MTU whose outer packet still fits `linkMtu` with every suite, an IPv6 outer
 * header and an IPv4 packet carried whole (LSI traffic; HIT traffic sheds its 40-octet header).
 */
export function tunnelMtu(linkMtu = 1500): number {
  let m = linkMtu - OUTER_FIXED;
  while (m > 0 && outerPacketLength(m) > linkMtu) m--;
  return m;
}
