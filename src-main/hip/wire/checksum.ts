// The Internet checksum (RFC 1071) and the pseudo-header forms HIP, UDP and IPv4 use it with.

import { isIpv4Mapped } from './address.js';

/** One's-complement sum of 16-bit words, folded, not yet inverted. */
function sum16(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  // every part except the last must have even length for the words to line up
  for (const p of parts) sum = sum16(p, sum);
  return ~sum & 0xffff;
}

/** The pseudo-header of RFC 768 (4-octet addresses, IPv4) or RFC 8200 §8.1 (16-octet, IPv6). */
export function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length === 4 && dst.length === 4) {
    const ph = new Uint8Array(12);
    ph.set(src, 0);
    ph.set(dst, 4);
    ph[9] = protocol;
    ph[10] = length >> 8;
    ph[11] = length & 0xff;
    return ph;
  }
  if (src.length !== 16 || dst.length !== 16) throw new RangeError('addresses must both be 4 or both be 16 octets');
  const ph = new Uint8Array(40);
  ph.set(src, 0);
  ph.set(dst, 16);
  new DataView(ph.buffer).setUint32(32, length);
  ph[39] = protocol;
  return ph;
}

/** HIP's 16-octet locators carry IPv4 as IPv4-mapped; on the wire those packets are IPv4. */
export function wireAddresses(src: Uint8Array, dst: Uint8Array): [Uint8Array, Uint8Array] {
  if (isIpv4Mapped(src) && isIpv4Mapped(dst)) return [src.subarray(12), dst.subarray(12)];
  return [src, dst];
}
