// The HIP packet codec: the fixed header (RFC 7401 §5.1) and the TLV frame around every
// parameter (§5.2.1). Decoding never throws and keeps the exact received octets and where each
// parameter sat, so signatures and MACs can be checked over what the peer actually sent.

import { HIP_HEADER_LENGTH, HIP_NEXT_HEADER, HIP_VERSION, IPPROTO_HIP, ParamType } from './constants.js';
import { internetChecksum, pseudoHeader, wireAddresses } from './checksum.js';
import { decodeParamValue, encodeParamValue, paramTypeOf } from './param-codec.js';
import { copyOf } from './bytes.js';
import type {
  DecodeError, DecodeResult, DecodedPacket, Deviation, HipPacket, Param, ParamOf, ParamSpan,
} from './params.js';

export { paramTypeOf } from './param-codec.js';

/** The header length field counts 8-octet units after the first 8, in one octet. */
export const MAX_PACKET_LENGTH = (255 + 1) * 8;
const TLV_HEADER = 4;

/**
 * Parameters that may legitimately appear more than once in one packet. Everything else
 * repeating is reported as 'param-duplicate'.
 * - ESP_INFO: one per SA being rekeyed or created (RFC 8047 multihoming).
 * - CERT: the certificates of one group, each in its own parameter (RFC 8002).
 * - NOTIFICATION: several notices in one NOTIFY (RFC 7401 §5.2.19).
 * - ECHO_*_UNSIGNED: each middlebox may add its own request (RFC 7401 §5.2.21).
 * - REG_RESPONSE, REG_FAILED: one per granted lifetime / failure type (RFC 8003).
 * - PEER_PERMISSION: one per permitted peer (RFC 9028 §5).
 * - Unknown types: we cannot know their rules, so we do not judge them.
 */
const REPEATABLE = new Set<number>([
  ParamType.ESP_INFO, ParamType.CERT, ParamType.NOTIFICATION, ParamType.ECHO_REQUEST_UNSIGNED,
  ParamType.ECHO_RESPONSE_UNSIGNED, ParamType.REG_RESPONSE, ParamType.REG_FAILED, ParamType.PEER_PERMISSION,
]);
const KNOWN_TYPES = new Set<number>(Object.values(ParamType));

export function isRepeatableParamType(type: number): boolean {
  return REPEATABLE.has(type) || !KNOWN_TYPES.has(type);
}

function padded(length: number): number {
  return (length + 7) & ~7;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Stable sort into the ascending type order RFC 7401 §5.2.1 requires. */
export function sortParams(params: Param[]): Param[] {
  return params
    .map((p, index) => ({ p, index, type: paramTypeOf(p) }))
    .sort((a, b) => a.type - b.type || a.index - b.index)
    .map((e) => e.p);
}

/** Type ‖ length ‖ value ‖ zero padding to a multiple of 8 octets. */
export function encodeParam(p: Param): Uint8Array {
  const type = paramTypeOf(p);
  if (!Number.isInteger(type) || type < 0 || type > 0xffff) throw new RangeError(`parameter type ${type} is not 16 bits`);
  const value = encodeParamValue(p);
  if (value.length > 0xffff) throw new RangeError(`${p.kind} value of ${value.length} octets exceeds the 16-bit length`);
  const out = new Uint8Array(padded(TLV_HEADER + value.length));
  out[0] = type >> 8;
  out[1] = type & 0xff;
  out[2] = value.length >> 8;
  out[3] = value.length & 0xff;
  out.set(value, TLV_HEADER);
  return out;
}

/** Parameters in the order given; checksum zero (UDP-encapsulated HIP, RFC 9028 §5.1). */
export function encodePacket(packet: HipPacket): Uint8Array {
  const encoded = packet.params.map(encodeParam);
  const total = encoded.reduce((n, e) => n + e.length, HIP_HEADER_LENGTH);
  if (total > MAX_PACKET_LENGTH) throw new RangeError(`HIP packet of ${total} octets exceeds the ${MAX_PACKET_LENGTH}-octet maximum`);
  if (packet.senderHit.length !== 16 || packet.receiverHit.length !== 16) throw new RangeError('HITs must be 16 octets');
  const version = packet.version ?? HIP_VERSION;
  if (version < 0 || version > 15) throw new RangeError(`version ${version} is not 4 bits`);
  if (packet.packetType < 0 || packet.packetType > 0x7f) throw new RangeError(`packet type ${packet.packetType} is not 7 bits`);
  const out = new Uint8Array(total);
  out[0] = HIP_NEXT_HEADER;
  out[1] = total / 8 - 1;
  out[2] = packet.packetType; // top bit is the fixed 0
  out[3] = (version << 4) | 1; // lowest bit is the fixed 1
  out[6] = (packet.controls >> 8) & 0xff;
  out[7] = packet.controls & 0xff;
  out.set(packet.senderHit, 8);
  out.set(packet.receiverHit, 24);
  let o = HIP_HEADER_LENGTH;
  for (const e of encoded) { out.set(e, o); o += e.length; }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checksum

/**
 * The value a raw-IP HIP packet's checksum field must hold (RFC 7401 §5.1.1): the Internet
 * checksum over the IPv4 or IPv6 pseudo-header (next header 139) and the packet with its
 * checksum field taken as zero. Addresses are 4 or 16 octets; two IPv4-mapped ones mean IPv4.
 */
export function hipChecksum(packetBytes: Uint8Array, src: Uint8Array, dst: Uint8Array): number {
  const zeroed = copyOf(packetBytes);
  if (zeroed.length >= 6) { zeroed[4] = 0; zeroed[5] = 0; }
  const [s, d] = wireAddresses(src, dst);
  return internetChecksum(pseudoHeader(s, d, IPPROTO_HIP, zeroed.length), zeroed);
}

// ---------------------------------------------------------------------------------------------
// Decoding

type TlvResult =
  | { ok: true; params: Param[]; spans: ParamSpan[]; deviations: Deviation[] }
  | { ok: false; reason: DecodeError; detail: string };

/** Walks TLVs in bytes[from, to); spans are offsets into bytes. */
function decodeTlvs(bytes: Uint8Array, from: number, to: number, deviations: Deviation[]): TlvResult {
  const params: Param[] = [];
  const spans: ParamSpan[] = [];
  const seen = new Set<number>();
  let previous = -1;
  let o = from;
  while (o < to) {
    if (to - o < TLV_HEADER) {
      return { ok: false, reason: 'bad-param-length', detail: `${to - o} octets at ${o} cannot hold a parameter header` };
    }
    const type = (bytes[o]! << 8) | bytes[o + 1]!;
    const length = (bytes[o + 2]! << 8) | bytes[o + 3]!;
    const valueEnd = o + TLV_HEADER + length;
    const end = o + padded(TLV_HEADER + length);
    if (valueEnd > to) {
      return { ok: false, reason: 'bad-param-length', detail: `parameter ${type} at ${o} has length ${length}, only ${to - o - TLV_HEADER} octets follow` };
    }
    if (end > to) {
      return { ok: false, reason: 'bad-param-length', detail: `parameter ${type} at ${o} lacks its padding to 8 octets` };
    }
    for (let i = valueEnd; i < end; i++) {
      if (bytes[i] !== 0) {
        deviations.push({ code: 'nonzero-padding', detail: `parameter ${type} at ${o}: padding not zero` });
        break;
      }
    }
    const decoded = decodeParamValue(type, bytes.subarray(o + TLV_HEADER, valueEnd), deviations);
    if (!decoded.ok) return { ok: false, reason: decoded.reason, detail: `${decoded.detail} (at ${o})` };
    if (type < previous) {
      deviations.push({ code: 'param-order', detail: `parameter ${type} at ${o} follows ${previous}` });
    }
    if (seen.has(type) && !isRepeatableParamType(type)) {
      deviations.push({ code: 'param-duplicate', detail: `parameter ${type} at ${o} appears more than once` });
    }
    seen.add(type);
    previous = type;
    params.push(decoded.param);
    spans.push({ type, start: o, end });
    o = end;
  }
  return { ok: true, params, spans, deviations };
}

/** A bare parameter list, such as the plaintext of ENCRYPTED (after its cipher padding is removed). */
export function decodeParams(bytes: Uint8Array):
  | { ok: true; params: Param[]; spans: ParamSpan[]; deviations: Deviation[] }
  | { ok: false; reason: DecodeError; detail: string } {
  return decodeTlvs(bytes, 0, bytes.length, []);
}

export interface DecodeOptions {
  /** The packet came over UDP, where the checksum field must be zero (RFC 9028 §5.1). */
  udp?: boolean;
  /** The packet came as raw IP protocol 139 between these addresses: verify its checksum. */
  srcAddr?: Uint8Array;
  dstAddr?: Uint8Array;
}

const fail = (reason: DecodeError, detail: string): DecodeResult => ({ ok: false, reason, detail });

export function decodePacket(bytes: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  if (bytes.length < HIP_HEADER_LENGTH) return fail('truncated', `${bytes.length} octets, the header alone is ${HIP_HEADER_LENGTH}`);
  const nextHeader = bytes[0]!;
  if (nextHeader !== HIP_NEXT_HEADER) return fail('bad-next-header', `next header ${nextHeader}, HIPv2 carries no payload (${HIP_NEXT_HEADER})`);
  const total = (bytes[1]! + 1) * 8;
  if (total < HIP_HEADER_LENGTH) return fail('bad-header-length', `header length ${bytes[1]} is shorter than the fixed header`);
  if (bytes.length < total) return fail('truncated', `header length says ${total} octets, got ${bytes.length}`);
  if (bytes.length > total) return fail('bad-header-length', `${bytes.length - total} octets beyond the ${total} the header length covers`);
  if ((bytes[2]! & 0x80) !== 0 || (bytes[3]! & 0x01) !== 1) {
    return fail('bad-fixed-bit', `fixed bits wrong (octet 2 = 0x${bytes[2]!.toString(16)}, octet 3 = 0x${bytes[3]!.toString(16)})`);
  }
  const version = bytes[3]! >> 4;
  if (version !== HIP_VERSION) return fail('bad-version', `version ${version}`);

  const deviations: Deviation[] = [];
  if ((bytes[3]! & 0x0e) !== 0) deviations.push({ code: 'nonzero-reserved', detail: 'header reserved bits not zero' });
  const checksum = (bytes[4]! << 8) | bytes[5]!;
  if (options.udp && checksum !== 0) {
    deviations.push({ code: 'header-checksum', detail: `checksum 0x${checksum.toString(16)} where UDP encapsulation requires zero` });
  }
  if (options.srcAddr && options.dstAddr) {
    const want = hipChecksum(bytes, options.srcAddr, options.dstAddr);
    if (want !== checksum) deviations.push({ code: 'header-checksum', detail: `checksum 0x${checksum.toString(16)}, pseudo-header gives 0x${want.toString(16)}` });
  }

  const raw = copyOf(bytes, 0, total);
  const tlvs = decodeTlvs(raw, HIP_HEADER_LENGTH, total, deviations);
  if (!tlvs.ok) return tlvs;
  const packet: DecodedPacket = {
    packetType: bytes[2]! & 0x7f,
    version,
    controls: (bytes[6]! << 8) | bytes[7]!,
    senderHit: copyOf(raw, 8, 24),
    receiverHit: copyOf(raw, 24, 40),
    params: tlvs.params,
    raw,
    spans: tlvs.spans,
    deviations,
  };
  return { ok: true, packet };
}

// ---------------------------------------------------------------------------------------------
// Lookup

export function getParam<K extends Param['kind']>(pkt: { params: Param[] }, kind: K): ParamOf<K> | undefined {
  return pkt.params.find((p): p is ParamOf<K> => p.kind === kind);
}

export function getParams<K extends Param['kind']>(pkt: { params: Param[] }, kind: K): ParamOf<K>[] {
  return pkt.params.filter((p): p is ParamOf<K> => p.kind === kind);
}

/** Types a receiver must refuse the packet for (RFC 7401 §5.2.1: critical and not understood). */
export function unknownCriticalTypes(pkt: { params: Param[] }): number[] {
  return pkt.params.flatMap((p) => (p.kind === 'UNKNOWN' && (p.type & 1) === 1 ? [p.type] : []));
}

/** Index of the first span of this type, for coveredBytes(); -1 when absent. */
export function spanIndexOf(pkt: { spans: ParamSpan[] }, type: number): number {
  return pkt.spans.findIndex((s) => s.type === type);
}
