// The wire form of a locator-pair probe: an UPDATE with SEQ and ECHO_REQUEST_SIGNED whose
// opaque data is the probe id, plus PAIR_PROBE_REPORT, a private non-critical parameter listing
// the ids of the probes we recently received from the peer. With it each side learns which of
// its own probes got through even when the answers take another path or none (the Poll idea of
// seed 003 §5.4), so one-way paths are found. Type 41982: from RFC 7401's range reserved for
// experimentation (32768–49151), even so a peer that does not know it ignores it, and below
// HIP_MAC so it is covered by the MAC and signature. See docs/design-notes.md.

import type { Param, UnknownParam } from './wire/params.js';

export const PAIR_PROBE_REPORT_TYPE = 41982;

/** Most ids one report carries: enough for several seconds of probing on every pair. */
export const MAX_REPORTED_PROBES = 32;

export function probeIdOpaque(probeId: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, probeId >>> 0);
  return out;
}

/** The probe id in an echo's opaque data, or undefined when it is not one of ours (4 octets). */
export function probeIdFromOpaque(opaque: Uint8Array): number | undefined {
  if (opaque.length !== 4) return undefined;
  return new DataView(opaque.buffer, opaque.byteOffset, 4).getUint32(0);
}

export function encodeProbeReport(ids: readonly number[]): UnknownParam {
  const list = ids.slice(-MAX_REPORTED_PROBES);
  const value = new Uint8Array(list.length * 4);
  const view = new DataView(value.buffer);
  list.forEach((id, i) => view.setUint32(i * 4, id >>> 0));
  return { kind: 'UNKNOWN', type: PAIR_PROBE_REPORT_TYPE, critical: false, value };
}

/** The report in a packet: undefined when absent, or malformed (a length not a multiple of 4, too long). */
export function decodeProbeReport(params: readonly Param[]): number[] | undefined {
  const p = params.find((x): x is UnknownParam => x.kind === 'UNKNOWN' && x.type === PAIR_PROBE_REPORT_TYPE);
  if (p === undefined || p.value.length % 4 !== 0 || p.value.length > MAX_REPORTED_PROBES * 4) return undefined;
  const view = new DataView(p.value.buffer, p.value.byteOffset, p.value.length);
  const ids: number[] = [];
  for (let o = 0; o < p.value.length; o += 4) ids.push(view.getUint32(o));
  return ids;
}

/**
 * PAIR_PROBE_SPI, type 41984 (private, even so non-critical, below HIP_MAC): in simultaneous
 * multihoming, the inbound SPI of the SA pair serving the interface the probe leaves from.
 * Behind a NAT the peer sees that interface only as the NAT's public endpoint, which we cannot
 * list; the probe's source plus this SPI tell the peer which SA pair reaches us there.
 */
export const PAIR_PROBE_SPI_TYPE = 41984;

export function encodeProbeSpi(spi: number): UnknownParam {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, spi >>> 0);
  return { kind: 'UNKNOWN', type: PAIR_PROBE_SPI_TYPE, critical: false, value };
}

/** The SPI a probe names for its source: undefined when absent, malformed, or 0. */
export function decodeProbeSpi(params: readonly Param[]): number | undefined {
  const p = params.find((x): x is UnknownParam => x.kind === 'UNKNOWN' && x.type === PAIR_PROBE_SPI_TYPE);
  if (p === undefined || p.value.length !== 4) return undefined;
  const spi = new DataView(p.value.buffer, p.value.byteOffset, 4).getUint32(0);
  return spi === 0 ? undefined : spi;
}
