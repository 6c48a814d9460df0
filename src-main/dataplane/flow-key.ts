// What the JS data plane classifies a sealed payload by, per packet and allocation-free: the
// upper-layer protocol and, where the transport has them, both ports. It walks what the native
// fast path walks (fastpath_flow.c, flow_key_of): for BEET the IPv6 extension headers before
// the transport, for an LSI packet the inner IPv4 header, so both data planes give a packet
// the same key, route it the same way and spread it to the same pair.

import { IPV4_MALFORMED, hasPorts, ipv4TransportAt } from '../base/packet-tuple.js';
import { IPPROTO_IPIP } from './packet.js';

/** Ports are -1 when the packet has none (another transport, a non-first fragment, a header cut short). */
export interface FlowKey { protocol: number; src: number; dst: number }

/** A protocol no route names: a packet whose headers could not be walked (C: PROTO_UNKNOWN). */
export const PROTOCOL_UNKNOWN = 255;

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AH = 51;
const DESTINATION_OPTIONS = 60;
/** Extension headers walked before giving up (C: MAX_EXT_HEADERS). */
const MAX_EXTENSION_HEADERS = 8;

function upperLayer(k: FlowKey, protocol: number, p: Uint8Array, at: number, end: number): void {
  k.protocol = protocol;
  if (hasPorts(protocol) && at + 4 <= end) {
    k.src = (p[at]! << 8) | p[at + 1]!;
    k.dst = (p[at + 2]! << 8) | p[at + 3]!;
  }
}

/** Fills `k` from a payload as it is sealed (IPIP: an inner IPv4 packet; else the transport after the inner IPv6 header). */
export function flowKeyOf(payload: Uint8Array, nextHeader: number, k: FlowKey): void {
  k.src = -1;
  k.dst = -1;
  if (nextHeader === IPPROTO_IPIP) {
    const at = ipv4TransportAt(payload, payload.length);
    if (at === IPV4_MALFORMED) {
      k.protocol = PROTOCOL_UNKNOWN;
      return;
    }
    // A later fragment (at < 0) keeps its protocol and has no ports.
    if (at < 0) k.protocol = payload[9]!;
    else upperLayer(k, payload[9]!, payload, at, (payload[2]! << 8) | payload[3]!);
    return;
  }
  const end = payload.length;
  let nh = nextHeader;
  let at = 0;
  for (let i = 0; i < MAX_EXTENSION_HEADERS; i++) {
    let size: number;
    if (nh === HOP_BY_HOP || nh === ROUTING || nh === DESTINATION_OPTIONS) {
      if (end - at < 8) break;
      size = (payload[at + 1]! + 1) * 8;
    } else if (nh === AH) {
      if (end - at < 8) break;
      size = (payload[at + 1]! + 2) * 4;
    } else if (nh === FRAGMENT) {
      if (end - at < 8) break;
      // RFC 6088: a non-first fragment has its upper-layer protocol, without ports.
      if ((((payload[at + 2]! << 8) | payload[at + 3]!) & 0xfff8) !== 0) {
        k.protocol = payload[at]!;
        return;
      }
      size = 8;
    } else {
      upperLayer(k, nh, payload, at, end);
      return;
    }
    if (size > end - at) break;
    nh = payload[at]!;
    at += size;
  }
  k.protocol = PROTOCOL_UNKNOWN;
}
