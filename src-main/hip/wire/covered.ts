// The exact octets a HIP MAC or signature covers (RFC 7401 §5.2.12–§5.2.15), built from the
// octets received rather than from a re-encoding: a peer whose encoding we would not produce
// (other parameter order, odd inner lengths) still verifies, and our own packets give the same
// bytes either way.

import { ParamType } from './constants.js';
import { decodePacket, encodePacket } from './codec.js';
import type { DecodedPacket, HipPacket, Param } from './params.js';
import { copyOf } from './bytes.js';

function checkSpanIndex(pkt: DecodedPacket, spanIndex: number): number {
  if (!Number.isInteger(spanIndex) || spanIndex < 0 || spanIndex > pkt.spans.length) {
    throw new RangeError(`span index ${spanIndex} outside 0..${pkt.spans.length}`);
  }
  return spanIndex === pkt.spans.length ? pkt.raw.length : pkt.spans[spanIndex]!.start;
}

/** Header with checksum zero and header length covering exactly `length` octets. */
/** Sets the header length to `length` octets and zeroes the checksum (as RFC 9028 §5.1 needs over UDP). */
export function rewriteHeader(out: Uint8Array, length: number): void {
  out[1] = length / 8 - 1;
  out[4] = 0;
  out[5] = 0;
}

/**
 * Header ‖ every parameter before spans[spanIndex], checksum zeroed and header length cut to
 * match: the input of HIP_MAC and HIP_SIGNATURE. spanIndex may equal spans.length (whole packet).
 */
export function coveredBytes(pkt: DecodedPacket, spanIndex: number): Uint8Array {
  const end = checkSpanIndex(pkt, spanIndex);
  const out = copyOf(pkt.raw, 0, end);
  rewriteHeader(out, end);
  return out;
}

const PUZZLE_OPAQUE = 2; // offset in the value: #K (1), Lifetime (1), Opaque (2), Random #I
const PUZZLE_RANDOM_I = 4;
const RECEIVER_HIT = 24;

/**
 * HIP_SIGNATURE_2 input (R1, RFC 7401 §5.2.15): as coveredBytes, with the receiver's HIT and
 * PUZZLE's Opaque and Random #I zeroed, so one signed R1 serves every initiator and puzzle.
 */
export function signature2Input(pkt: DecodedPacket, spanIndex: number): Uint8Array {
  const out = coveredBytes(pkt, spanIndex);
  out.fill(0, RECEIVER_HIT, RECEIVER_HIT + 16);
  for (const span of pkt.spans.slice(0, spanIndex)) {
    if (span.type !== ParamType.PUZZLE) continue;
    const value = span.start + 4;
    const valueEnd = value + ((out[span.start + 2]! << 8) | out[span.start + 3]!);
    out.fill(0, value + PUZZLE_OPAQUE, value + PUZZLE_RANDOM_I);
    out.fill(0, value + PUZZLE_RANDOM_I, valueEnd);
  }
  return out;
}

/**
 * HIP_MAC_2 input (R2, RFC 7401 §5.2.13): the packet before HIP_MAC_2 with the R2 sender's
 * HOST_ID parameter (complete encoded TLV with padding) inserted where ascending order puts
 * it — before the first parameter whose type is greater — and the header length grown to match.
 */
export function mac2Input(pkt: DecodedPacket, spanIndex: number, hostIdParam: Uint8Array): Uint8Array {
  const end = checkSpanIndex(pkt, spanIndex);
  if (hostIdParam.length % 8 !== 0) throw new RangeError('HOST_ID parameter must include its padding');
  const after = pkt.spans.slice(0, spanIndex).find((s) => s.type > ParamType.HOST_ID);
  const at = after ? after.start : end;
  const out = new Uint8Array(end + hostIdParam.length);
  out.set(pkt.raw.subarray(0, at), 0);
  out.set(hostIdParam, at);
  out.set(pkt.raw.subarray(at, end), at + hostIdParam.length);
  rewriteHeader(out, out.length);
  return out;
}

/** What we MAC or sign when sending: the packet as it will be, cut before the MAC/signature. */
export function coveredBytesForOutgoing(packet: HipPacket, params: Param[]): Uint8Array {
  return encodePacket({ ...packet, params });
}

function decodeOwn(packet: HipPacket, params: Param[]): DecodedPacket {
  const decoded = decodePacket(encodePacket({ ...packet, params }));
  // our own encoder produced it; failing to decode it is a bug, not input
  if (!decoded.ok) throw new Error(`own packet does not decode: ${decoded.reason} ${decoded.detail}`);
  return decoded.packet;
}

/** HIP_SIGNATURE_2 input for an R1 we are about to sign. */
export function signature2InputForOutgoing(packet: HipPacket, params: Param[]): Uint8Array {
  const pkt = decodeOwn(packet, params);
  return signature2Input(pkt, pkt.spans.length);
}

/** HIP_MAC_2 input for an R2 we are about to MAC. */
export function mac2InputForOutgoing(packet: HipPacket, params: Param[], hostIdParam: Uint8Array): Uint8Array {
  const pkt = decodeOwn(packet, params);
  return mac2Input(pkt, pkt.spans.length, hostIdParam);
}
