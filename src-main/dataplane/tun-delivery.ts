// An opened ESP payload as the packet our stack reads from the TUN: an inner IPv4 packet with
// its LSIs rewritten, or an IPv6 packet rebuilt between the two HITs (BEET, RFC 7402).

import type { CoreSink } from './core-contract.js';
import { IPPROTO_IPIP, IPPROTO_NONE, IPV6_HEADER_LENGTH, ipv4PacketLength, rewriteIpv4Addresses, writeBeetPacket } from './packet.js';

/** Writes the payload from `peer` (its HIT, the LSI we gave it) into the sink's TUN batch; the drop reason when it cannot. */
export function deliverToTun(
  sink: Pick<CoreSink, 'tunReserve' | 'tunCommit'>, peer: { readonly hit: Uint8Array; readonly lsi: number },
  ownHit: Uint8Array, ownLsi: number, payload: Uint8Array, nextHeader: number,
): string | undefined {
  if (nextHeader === IPPROTO_NONE) return undefined; // dummy packet (RFC 4303 §2.6)
  if (nextHeader === IPPROTO_IPIP) {
    const total = ipv4PacketLength(payload, payload.length);
    if (total === null) return 'esp-bad-inner';
    const view = sink.tunReserve(total);
    if (!view) return 'tun-full';
    view.set(payload.subarray(0, total));
    // LSIs mean something only on the host that gave them out: the packet now comes from the
    // LSI we gave this peer and goes to ours.
    rewriteIpv4Addresses(view, peer.lsi, ownLsi);
    sink.tunCommit(total);
    return undefined;
  }
  const length = IPV6_HEADER_LENGTH + payload.length;
  if (payload.length > 0xffff) return 'esp-bad-inner';
  const view = sink.tunReserve(length);
  if (!view) return 'tun-full';
  writeBeetPacket(view, peer.hit, ownHit, nextHeader, payload);
  sink.tunCommit(length);
  return undefined;
}
