// The wire form of a flow: RFC 6088's binary traffic selectors inside RFC 6089's Flow
// Identification Mobility Option, which seed 002 §4 carries after each locator of an E-LOCATOR
// ("Flow Identification Mobility Option: as defined in [RFC6089]"). Pure; decoders never throw.
//
// RFC 6088 §3.1/§3.2: a 32-bit flags word names which fields follow (A, B, ... from the most
// significant bit), then only those fields, in flag order, each in its own size. A "start"
// without its "end" is a single value; an "end" without its "start" is malformed.
//
// Flow labels (IPv6 G/H) are refused rather than guessed at: this host never classifies on
// them, and a selector we would apply only in part must not be acknowledged as applied.

import { hitToText } from './address.js';
import { parsePrefix, prefixText, type FlowSelector, type IpPrefix, type Parsed, type PortRange } from '../../../src-shared/flow-selector.js';

// IANA protocol numbers a selector names.
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;

/** RFC 6088 §4 TS Format values. */
export const TS_FORMAT_IPV4 = 1;
export const TS_FORMAT_IPV6 = 2;

/**
 * RFC 6089 §4.2 Flow Identification Mobility Option type in the Mobile IPv6 registry. Inside an
 * E-LOCATOR (seed 002) the option stands in a HIP parameter, so the value only has to agree
 * between HIP hosts; it is kept as Mobile IPv6 numbers it.
 */
export const FLOW_IDENTIFICATION_OPTION = 36;

/** RFC 6089 §4.2.1 sub-option types. */
export const SUBOPT_PAD1 = 0;
export const SUBOPT_PADN = 1;
export const SUBOPT_BINDING_REFERENCE = 2;
export const SUBOPT_TRAFFIC_SELECTOR = 3;

/** RFC 6089 §4.2 Status: meaningful in acknowledgements only (seed 002: the UPDATE answering an E-LOCATOR). */
export const FLOW_STATUS = {
  success: 0,
  administrativelyProhibited: 128,
  rejected: 129,
  malformed: 130,
  bidNotFound: 131,
  fidNotFound: 132,
  tsFormatNotSupported: 133,
} as const;

export interface ValueRange<T> { start: T; end?: T }

export interface BinaryTrafficSelector {
  family: 4 | 6;
  source?: ValueRange<Uint8Array>;
  destination?: ValueRange<Uint8Array>;
  spi?: ValueRange<number>;
  sourcePort?: ValueRange<number>;
  destinationPort?: ValueRange<number>;
  /** IPv4 DS field / IPv6 traffic class. */
  trafficClass?: ValueRange<number>;
  /** IPv4 protocol / IPv6 next header. */
  protocol?: ValueRange<number>;
}

type NumericKey = 'spi' | 'sourcePort' | 'destinationPort' | 'trafficClass' | 'protocol';
type AddressKey = 'source' | 'destination';
type Field = { key: AddressKey | NumericKey | 'flowLabel'; size: number };

const ADDRESS_FIELDS = (n: number): Field[] => [{ key: 'source', size: n }, { key: 'destination', size: n }];

/** Flag order, each key once (its start and end flags are consecutive). */
const LAYOUT: Record<4 | 6, Field[]> = {
  4: [...ADDRESS_FIELDS(4), { key: 'spi', size: 4 }, { key: 'sourcePort', size: 2 }, { key: 'destinationPort', size: 2 }, { key: 'trafficClass', size: 1 }, { key: 'protocol', size: 1 }],
  6: [...ADDRESS_FIELDS(16), { key: 'spi', size: 4 }, { key: 'flowLabel', size: 4 }, { key: 'sourcePort', size: 2 }, { key: 'destinationPort', size: 2 }, { key: 'trafficClass', size: 1 }, { key: 'protocol', size: 1 }],
};

const FLAG_NAMES = 'ABCDEFGHIJKLMNOP';

function flagBit(index: number): number {
  return 2 ** (31 - index);
}

function writeNumber(out: Uint8Array, at: number, size: number, v: number): void {
  for (let i = size - 1; i >= 0; i--) {
    out[at + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

function readNumber(b: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + b[at + i]!;
  return v;
}

/** The selector's bytes after the TS Format octet and its reserved octet: flags word and fields. */
export function encodeBinarySelector(ts: BinaryTrafficSelector): Uint8Array {
  const layout = LAYOUT[ts.family];
  const parts: Array<{ size: number; value: Uint8Array | number }> = [];
  let flags = 0;
  layout.forEach((field, i) => {
    if (field.key === 'flowLabel') return;
    const range = ts[field.key] as ValueRange<Uint8Array | number> | undefined;
    if (range === undefined) return;
    for (const [which, value] of [[0, range.start], [1, range.end]] as const) {
      if (value === undefined) continue;
      if (value instanceof Uint8Array && value.length !== field.size) throw new RangeError(`${field.key} address is ${value.length} octets; IPv${ts.family} selectors carry ${field.size}`);
      flags += flagBit(2 * i + which);
      parts.push({ size: field.size, value });
    }
  });
  const out = new Uint8Array(4 + parts.reduce((n, p) => n + p.size, 0));
  writeNumber(out, 0, 4, flags);
  let at = 4;
  for (const p of parts) {
    if (p.value instanceof Uint8Array) out.set(p.value, at);
    else writeNumber(out, at, p.size, p.value);
    at += p.size;
  }
  return out;
}

export function decodeBinarySelector(family: 4 | 6, b: Uint8Array): Parsed<BinaryTrafficSelector> {
  const layout = LAYOUT[family];
  if (b.length < 4) return { ok: false, error: `an IPv${family} binary traffic selector has a 4-octet flags word; got ${b.length} octets` };
  const flags = readNumber(b, 0, 4);
  const used = 2 * layout.length;
  if (flags % flagBit(used - 1) !== 0) return { ok: false, error: `reserved flag bits are set (0x${flags.toString(16).padStart(8, '0')})` };
  const ts: BinaryTrafficSelector = { family };
  let at = 4;
  for (let i = 0; i < layout.length; i++) {
    const field = layout[i]!;
    const hasStart = Math.floor(flags / flagBit(2 * i)) % 2 === 1;
    const hasEnd = Math.floor(flags / flagBit(2 * i + 1)) % 2 === 1;
    if (!hasStart && !hasEnd) continue;
    const name = `${FLAG_NAMES[2 * i]}/${FLAG_NAMES[2 * i + 1]}`;
    if (field.key === 'flowLabel') return { ok: false, error: `flow label fields (${name}) are not supported` };
    if (!hasStart) return { ok: false, error: `${field.key}: an end value (flag ${FLAG_NAMES[2 * i + 1]}) without its start (flag ${FLAG_NAMES[2 * i]})` };
    const count = hasEnd ? 2 : 1;
    if (at + count * field.size > b.length) return { ok: false, error: `${field.key}: the selector ends inside its fields` };
    const read = (k: number): Uint8Array | number => (field.key === 'source' || field.key === 'destination' ? b.slice(at + k * field.size, at + (k + 1) * field.size) : readNumber(b, at + k * field.size, field.size));
    const range: ValueRange<Uint8Array | number> = { start: read(0) };
    if (hasEnd) {
      range.end = read(1);
      if (compare(range.start, range.end) > 0) return { ok: false, error: `${field.key}: the range ends before it starts` };
    }
    (ts as unknown as Record<string, unknown>)[field.key] = range;
    at += count * field.size;
  }
  if (at !== b.length) return { ok: false, error: `${b.length - at} octets after the last field the flags name` };
  return { ok: true, value: ts };
}

function compare(a: Uint8Array | number, b: Uint8Array | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = a as Uint8Array;
  const y = b as Uint8Array;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Between the model's selector and the binary one

/**
 * The binary selector of the packets a flow's peer sends us: an E-LOCATOR tells the peer which
 * of our locators to send the flow to, so the selector is written from the sender's side —
 * source = the peer (our "remote"), destination = us (our "local").
 */
export function toBinarySelector(s: FlowSelector, family: 4 | 6): Parsed<BinaryTrafficSelector> {
  const ts: BinaryTrafficSelector = { family };
  for (const [key, text] of [['source', s.remotePrefix], ['destination', s.localPrefix]] as const) {
    if (text === undefined) continue;
    const p = parsePrefix(text);
    if (!p.ok) return p;
    if (p.value.family !== family) return { ok: false, error: `${text} is IPv${p.value.family}; this selector is IPv${family}` };
    ts[key] = prefixRange(p.value);
  }
  const port = (r: PortRange | undefined): ValueRange<number> | undefined => (r === undefined ? undefined : r.from === r.to ? { start: r.from } : { start: r.from, end: r.to });
  const sourcePort = port(s.remotePorts);
  const destinationPort = port(s.localPorts);
  if (sourcePort) ts.sourcePort = sourcePort;
  if (destinationPort) ts.destinationPort = destinationPort;
  const protocol = { any: undefined, tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6 }[s.protocol];
  if (protocol !== undefined) ts.protocol = { start: protocol };
  return { ok: true, value: ts };
}

/** A received selector as a flow this host can apply, or why it cannot apply it exactly. */
export function fromBinarySelector(ts: BinaryTrafficSelector): Parsed<FlowSelector> {
  if (ts.spi) return { ok: false, error: 'selecting by IPsec SPI is not supported' };
  if (ts.trafficClass) return { ok: false, error: `selecting by ${ts.family === 4 ? 'DS field' : 'traffic class'} is not supported` };
  const s: FlowSelector = { protocol: 'any' };
  if (ts.protocol) {
    const { start, end } = ts.protocol;
    const icmp = ts.family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const name = end !== undefined && end !== start ? undefined : start === IPPROTO_TCP ? 'tcp' : start === IPPROTO_UDP ? 'udp' : start === icmp ? 'icmp' : undefined;
    if (name === undefined) return { ok: false, error: `protocol ${start}${end !== undefined && end !== start ? `-${end}` : ''} is not one this host selects by (tcp, udp, icmp)` };
    s.protocol = name;
  }
  for (const [key, field] of [['remotePorts', ts.sourcePort], ['localPorts', ts.destinationPort]] as const) {
    if (!field) continue;
    const r = { from: field.start, to: field.end ?? field.start };
    if (r.from < 1) return { ok: false, error: 'port 0 is not a port a flow uses' };
    s[key] = r;
  }
  for (const [key, field] of [['remotePrefix', ts.source], ['localPrefix', ts.destination]] as const) {
    if (!field) continue;
    const p = rangePrefix(ts.family, field);
    if (!p.ok) return p;
    s[key] = prefixText(p.value);
  }
  return { ok: true, value: s };
}

function prefixRange(p: IpPrefix): ValueRange<Uint8Array> {
  if (p.length === p.bytes.length * 8) return { start: p.bytes };
  const end = p.bytes.slice();
  for (let bit = p.length; bit < end.length * 8; bit++) end[bit >> 3]! |= 0x80 >> (bit & 7);
  return { start: p.bytes, end };
}

/** An address range as a prefix, if it is exactly one. */
function rangePrefix(family: 4 | 6, r: ValueRange<Uint8Array>): Parsed<IpPrefix> {
  const end = r.end ?? r.start;
  const bits = r.start.length * 8;
  let length = 0;
  while (length < bits && bitAt(r.start, length) === bitAt(end, length)) length++;
  for (let bit = length; bit < bits; bit++) {
    if (bitAt(r.start, bit) !== 0 || bitAt(end, bit) !== 1) {
      const text = (b: Uint8Array) => (family === 4 ? Array.from(b).join('.') : hitToText(b));
      return { ok: false, error: `address range ${text(r.start)}-${text(end)} is not a prefix; this host selects addresses by prefix` };
    }
  }
  return { ok: true, value: { family, bytes: r.start.slice(), length } };
}

function bitAt(b: Uint8Array, bit: number): number {
  return (b[bit >> 3]! >> (7 - (bit & 7))) & 1;
}

// ---------------------------------------------------------------------------------------------
// RFC 6089 §4.2 Flow Identification Mobility Option

export interface FlowIdentification {
  fid: number;
  /** FID-PRI: which binding wins where selectors overlap; lower first. */
  priority: number;
  status: number;
  selector?: BinaryTrafficSelector;
}

/**
 *   Option Type | Option Len | FID (16) | FID-PRI (16) | Reserved | Status | sub-options
 * Option Len counts the octets after itself; the traffic selector sub-option is
 *   Sub-opt Type (3) | Sub-opt Len | TS Format | Reserved | selector
 */
export function encodeFlowIdentification(o: FlowIdentification): Uint8Array {
  const ts = o.selector ? encodeBinarySelector(o.selector) : undefined;
  const sub = ts ? 4 + ts.length : 0;
  const length = 6 + sub;
  if (length > 255) throw new RangeError(`a flow identification option is at most 255 octets after its length; this one needs ${length}`);
  const out = new Uint8Array(2 + length);
  out[0] = FLOW_IDENTIFICATION_OPTION;
  out[1] = length;
  writeNumber(out, 2, 2, o.fid);
  writeNumber(out, 4, 2, o.priority);
  out[7] = o.status;
  if (ts && o.selector) {
    out[8] = SUBOPT_TRAFFIC_SELECTOR;
    out[9] = 2 + ts.length;
    out[10] = o.selector.family === 4 ? TS_FORMAT_IPV4 : TS_FORMAT_IPV6;
    out.set(ts, 12);
  }
  return out;
}

export function decodeFlowIdentification(b: Uint8Array): Parsed<FlowIdentification> {
  if (b.length < 8) return { ok: false, error: `a flow identification option is at least 8 octets; got ${b.length}` };
  if (b[0] !== FLOW_IDENTIFICATION_OPTION) return { ok: false, error: `option type ${b[0]} is not flow identification (${FLOW_IDENTIFICATION_OPTION})` };
  if (b[1]! + 2 !== b.length) return { ok: false, error: `option length ${b[1]} does not match the ${b.length - 2} octets after it` };
  const o: FlowIdentification = { fid: readNumber(b, 2, 2), priority: readNumber(b, 4, 2), status: b[7]! };
  let at = 8;
  while (at < b.length) {
    const type = b[at]!;
    if (type === SUBOPT_PAD1) {
      at += 1;
      continue;
    }
    if (at + 2 > b.length || at + 2 + b[at + 1]! > b.length) return { ok: false, error: `sub-option ${type} runs past the end of the option` };
    const body = b.subarray(at + 2, at + 2 + b[at + 1]!);
    at += 2 + body.length;
    if (type === SUBOPT_PADN) continue;
    if (type === SUBOPT_BINDING_REFERENCE) return { ok: false, error: 'binding references (Mobile IPv6 BIDs) have no meaning between HIP hosts' };
    if (type !== SUBOPT_TRAFFIC_SELECTOR) return { ok: false, error: `unknown sub-option ${type}` };
    if (o.selector) return { ok: false, error: 'more than one traffic selector sub-option' };
    if (body.length < 2) return { ok: false, error: 'traffic selector sub-option without its format' };
    const format = body[0]!;
    if (format !== TS_FORMAT_IPV4 && format !== TS_FORMAT_IPV6) return { ok: false, error: `traffic selector format ${format} is not supported (1 = IPv4 binary, 2 = IPv6 binary)` };
    const ts = decodeBinarySelector(format === TS_FORMAT_IPV4 ? 4 : 6, body.subarray(2));
    if (!ts.ok) return ts;
    o.selector = ts.value;
  }
  return { ok: true, value: o };
}

/**
 * The option as it follows a locator in an E-LOCATOR: padded with a Pad1 or PadN sub-option
 * (RFC 6089 §4.2.1) to a multiple of 4 octets, so the next locator starts aligned as in a
 * LOCATOR_SET. decodeFlowIdentification skips the padding like any other.
 */
export function encodeFlowOption(o: FlowIdentification): Uint8Array {
  const bare = encodeFlowIdentification(o);
  const pad = (4 - (bare.length % 4)) % 4;
  if (pad === 0) return bare;
  if (bare[1]! + pad > 255) throw new RangeError('a flow identification option with its padding is at most 255 octets after its length');
  const out = new Uint8Array(bare.length + pad);
  out.set(bare);
  out[1] = bare[1]! + pad;
  // Pad1 is a single zero octet; PadN is type 1, its length, then that many zeros.
  if (pad > 1) {
    out[bare.length] = SUBOPT_PADN;
    out[bare.length + 1] = pad - 2;
  }
  return out;
}
