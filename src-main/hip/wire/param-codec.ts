// Value layouts of every HIP parameter we interpret: RFC 7401 §5.2 (base), RFC 7402 (ESP_INFO,
// ESP_TRANSFORM), RFC 8046 (LOCATOR_SET), RFC 8003 (REG_*), RFC 8004 (FROM, VIA_RVS, RVS_HMAC),
// RFC 9028 §5 (NAT traversal and relaying, locator type 2). Only the value is handled here; the
// type/length/padding frame is the packet codec's job.

import { concatBytes } from '../../base/bytes.js';
import { ParamType, type ParamKind } from './constants.js';
import type { Deviation, FlowLocator, Locator, Param, ParamOf } from './params.js';
import { copyOf } from './bytes.js';
import { FLOW_IDENTIFICATION_OPTION } from './flow-identification.js';

export type ParamValueError = { ok: false; reason: 'bad-param-length' | 'bad-param-value'; detail: string };
type ValueResult = { ok: true; param: Param } | ParamValueError;

const KIND_BY_TYPE = new Map<number, ParamKind>(
  (Object.entries(ParamType) as [ParamKind, number][]).map(([k, t]) => [t, k]),
);

export function kindOfType(type: number): ParamKind | undefined {
  return KIND_BY_TYPE.get(type);
}

export function paramTypeOf(p: Param): number {
  return p.kind === 'UNKNOWN' ? p.type : ParamType[p.kind];
}

// ---------------------------------------------------------------------------------------------
// Decoding

class ValueReader {
  constructor(
    readonly v: Uint8Array,
    readonly kind: string,
    readonly deviations: Deviation[],
  ) {}
  u8(o: number): number { return this.v[o]!; }
  u16(o: number): number { return (this.v[o]! << 8) | this.v[o + 1]!; }
  u32(o: number): number { return ((this.v[o]! << 24) | (this.v[o + 1]! << 16) | (this.v[o + 2]! << 8) | this.v[o + 3]!) >>> 0; }
  bytes(from: number, to = this.v.length): Uint8Array { return copyOf(this.v, from, to); }
  u8List(from: number): number[] { return Array.from(this.v.subarray(from)); }
  u16List(from: number): number[] {
    const out: number[] = [];
    for (let o = from; o + 1 < this.v.length; o += 2) out.push(this.u16(o));
    return out;
  }
  u32List(from: number): number[] {
    const out: number[] = [];
    for (let o = from; o + 3 < this.v.length; o += 4) out.push(this.u32(o));
    return out;
  }
  /** Reserved octets must be sent as zero; a peer that sets them still parses, but we say so. */
  reserved(from: number, to: number, what = 'Reserved'): void {
    for (let o = from; o < to; o++) {
      if (this.v[o] !== 0) {
        this.deviations.push({ code: 'nonzero-reserved', detail: `${this.kind}: ${what} octets ${from}..${to - 1} not zero` });
        return;
      }
    }
  }
}

const ok = (param: Param): ValueResult => ({ ok: true, param });
const badLength = (kind: string, len: number, want: string): ParamValueError =>
  ({ ok: false, reason: 'bad-param-length', detail: `${kind} length ${len}, must be ${want}` });

function exact(n: number) {
  return (len: number) => (len === n ? null : `${n}`);
}
function atLeast(n: number, multiple = 1) {
  return (len: number) => (len >= n && len % multiple === 0
    ? null
    : multiple > 1 ? `at least ${n} and a multiple of ${multiple}` : `at least ${n}`);
}

type Decoder = { length: (len: number) => string | null; decode: (r: ValueReader) => ValueResult };

function transportAddress<K extends 'REG_FROM' | 'RELAYED_ADDRESS' | 'MAPPED_ADDRESS' | 'RELAY_FROM' | 'RELAY_TO'>(kind: K): Decoder {
  return {
    length: exact(20),
    decode: (r) => {
      r.reserved(3, 4);
      return ok({ kind, port: r.u16(0), protocol: r.u8(2), address: r.bytes(4, 20) } as ParamOf<K>);
    },
  };
}

const LOCATOR_HEADER = 8;
/** Locator Length (in 4-octet units) each interpreted locator type must have. */
const LOCATOR_UNITS: Record<number, number> = { 0: 4, 1: 5, 2: 7 };

/** E-LOCATOR's flag octet: Reserved (6 bits), F (a flow option follows the locator), P. */
const FLAG_FLOW = 0x02;
const FLAG_PREFERRED = 0x01;

/**
 * The locators of a LOCATOR_SET, or of an E-LOCATOR (`flows`), whose locators may each be
 * followed by a Flow Identification option (seed 002 §4). The option is checked for framing
 * only here: its type, that it fits, and that it ends on a 4-octet boundary so the next locator
 * stays aligned as in LOCATOR_SET.
 */
function decodeLocators(r: ValueReader, flows = false): ValueResult {
  const name = flows ? 'E_LOCATOR' : 'LOCATOR_SET';
  const locators: FlowLocator[] = [];
  let o = 0;
  while (o < r.v.length) {
    if (r.v.length - o < LOCATOR_HEADER) {
      return { ok: false, reason: 'bad-param-length', detail: `${name}: ${r.v.length - o} octets left, a locator header needs ${LOCATOR_HEADER}` };
    }
    const trafficType = r.u8(o);
    const locatorType = r.u8(o + 1);
    const units = r.u8(o + 2);
    const flags = r.u8(o + 3);
    const lifetime = r.u32(o + 4);
    const body = o + LOCATOR_HEADER;
    let end = body + units * 4;
    if (end > r.v.length) {
      return { ok: false, reason: 'bad-param-length', detail: `${name}: locator at ${o} needs ${units * 4} octets, ${r.v.length - body} left` };
    }
    const want = LOCATOR_UNITS[locatorType];
    if (want !== undefined && units !== want) {
      return { ok: false, reason: 'bad-param-length', detail: `${name}: locator type ${locatorType} has length ${units}, must be ${want}` };
    }
    const reserved = flows ? ~(FLAG_FLOW | FLAG_PREFERRED) & 0xff : ~FLAG_PREFERRED & 0xff;
    if ((flags & reserved) !== 0) r.deviations.push({ code: 'nonzero-reserved', detail: `${name}: reserved bits of locator at ${o} not zero` });
    const base = { trafficType, locatorType, preferred: (flags & FLAG_PREFERRED) === 1, lifetime };
    let locator: FlowLocator;
    if (locatorType === 0) {
      locator = { ...base, address: r.bytes(body, end) };
    } else if (locatorType === 1) {
      locator = { ...base, spi: r.u32(body), address: r.bytes(body + 4, end) };
    } else if (locatorType === 2) {
      locator = {
        ...base,
        port: r.u16(body),
        protocol: r.u8(body + 2),
        candidateKind: r.u8(body + 3),
        priority: r.u32(body + 4),
        spi: r.u32(body + 8),
        address: r.bytes(body + 12, end),
      };
    } else {
      // a locator type we do not know: keep its octets so it can be passed on unchanged
      locator = { ...base, address: new Uint8Array(0), raw: r.bytes(body, end) };
    }
    if (flows && (flags & FLAG_FLOW) !== 0) {
      if (r.v.length - end < 2) {
        return { ok: false, reason: 'bad-param-length', detail: `${name}: locator at ${o} has the F flag but no flow identification option follows` };
      }
      if (r.u8(end) !== FLOW_IDENTIFICATION_OPTION) {
        return { ok: false, reason: 'bad-param-value', detail: `${name}: option type ${r.u8(end)} after locator at ${o} is not flow identification (${FLOW_IDENTIFICATION_OPTION})` };
      }
      const optionEnd = end + 2 + r.u8(end + 1);
      if (optionEnd > r.v.length) {
        return { ok: false, reason: 'bad-param-length', detail: `${name}: flow identification option after locator at ${o} runs ${optionEnd - r.v.length} octets past the parameter` };
      }
      if ((optionEnd - end) % 4 !== 0) {
        return { ok: false, reason: 'bad-param-length', detail: `${name}: flow identification option after locator at ${o} is ${optionEnd - end} octets, not padded to a multiple of 4` };
      }
      locator.flowOption = r.bytes(end, optionEnd);
      end = optionEnd;
    }
    locators.push(locator);
    o = end;
  }
  return ok(flows ? { kind: 'E_LOCATOR', locators } : { kind: 'LOCATOR_SET', locators });
}

const DECODERS: { [K in ParamKind]: Decoder } = {
  ESP_INFO: {
    length: exact(12),
    decode: (r) => {
      r.reserved(0, 2);
      return ok({ kind: 'ESP_INFO', keymatIndex: r.u16(2), oldSpi: r.u32(4), newSpi: r.u32(8) });
    },
  },
  R1_COUNTER: {
    length: exact(12),
    decode: (r) => {
      r.reserved(0, 4);
      return ok({ kind: 'R1_COUNTER', counter: (BigInt(r.u32(4)) << 32n) | BigInt(r.u32(8)) });
    },
  },
  LOCATOR_SET: { length: () => null, decode: (r) => decodeLocators(r) },
  E_LOCATOR: { length: () => null, decode: (r) => decodeLocators(r, true) },
  PUZZLE: {
    length: atLeast(5),
    decode: (r) => {
      const i = r.bytes(4);
      const k = r.u8(0);
      if (k > i.length * 8) return { ok: false, reason: 'bad-param-value', detail: `PUZZLE: K ${k} exceeds the ${i.length * 8}-bit hash` };
      return ok({ kind: 'PUZZLE', k, lifetime: r.u8(1), opaque: r.u16(2), i });
    },
  },
  SOLUTION: {
    length: atLeast(6, 2),
    decode: (r) => {
      const n = (r.v.length - 4) / 2;
      const k = r.u8(0);
      if (k > n * 8) return { ok: false, reason: 'bad-param-value', detail: `SOLUTION: K ${k} exceeds the ${n * 8}-bit hash` };
      r.reserved(1, 2);
      return ok({ kind: 'SOLUTION', k, opaque: r.u16(2), i: r.bytes(4, 4 + n), j: r.bytes(4 + n) });
    },
  },
  SEQ: { length: exact(4), decode: (r) => ok({ kind: 'SEQ', updateId: r.u32(0) }) },
  ACK: { length: atLeast(0, 4), decode: (r) => ok({ kind: 'ACK', updateIds: r.u32List(0) }) },
  DH_GROUP_LIST: { length: () => null, decode: (r) => ok({ kind: 'DH_GROUP_LIST', groups: r.u8List(0) }) },
  DIFFIE_HELLMAN: {
    length: atLeast(3),
    decode: (r) => {
      const stated = r.u16(1);
      const actual = r.v.length - 3;
      // The public value runs to the end of the parameter; the inner length field is redundant
      // and at least one implementation (cutehip) fills it wrongly, so it only earns a report.
      if (stated !== actual) {
        r.deviations.push({ code: 'dh-public-value-length', detail: `DIFFIE_HELLMAN: Public Value Length says ${stated}, the parameter holds ${actual}` });
      }
      return ok({ kind: 'DIFFIE_HELLMAN', groupId: r.u8(0), publicValue: r.bytes(3) });
    },
  },
  HIP_CIPHER: { length: atLeast(0, 2), decode: (r) => ok({ kind: 'HIP_CIPHER', ciphers: r.u16List(0) }) },
  NAT_TRAVERSAL_MODE: {
    length: atLeast(2, 2),
    decode: (r) => {
      r.reserved(0, 2);
      return ok({ kind: 'NAT_TRAVERSAL_MODE', modes: r.u16List(2) });
    },
  },
  TRANSACTION_PACING: { length: exact(4), decode: (r) => ok({ kind: 'TRANSACTION_PACING', minTa: r.u32(0) }) },
  ENCRYPTED: {
    length: atLeast(4),
    decode: (r) => {
      r.reserved(0, 4);
      return ok({ kind: 'ENCRYPTED', data: r.bytes(4) });
    },
  },
  HOST_ID: {
    length: atLeast(6),
    decode: (r) => {
      const hiLength = r.u16(0);
      const diField = r.u16(2);
      const diLength = diField & 0x0fff;
      if (6 + hiLength + diLength !== r.v.length) {
        return { ok: false, reason: 'bad-param-length', detail: `HOST_ID: 6 + HI Length ${hiLength} + DI Length ${diLength} != parameter length ${r.v.length}` };
      }
      return ok({
        kind: 'HOST_ID',
        algorithm: r.u16(4),
        hi: r.bytes(6, 6 + hiLength),
        diType: diField >> 12,
        di: r.bytes(6 + hiLength),
      });
    },
  },
  HIT_SUITE_LIST: {
    length: () => null,
    decode: (r) => {
      if (r.v.some((b) => (b & 0x0f) !== 0)) r.deviations.push({ code: 'nonzero-reserved', detail: 'HIT_SUITE_LIST: lower nibble of a suite octet not zero' });
      return ok({ kind: 'HIT_SUITE_LIST', suites: r.u8List(0).map((b) => b >> 4) });
    },
  },
  CERT: {
    length: atLeast(4),
    decode: (r) => ok({ kind: 'CERT', group: r.u8(0), count: r.u8(1), id: r.u8(2), certType: r.u8(3), cert: r.bytes(4) }),
  },
  NOTIFICATION: {
    length: atLeast(4),
    decode: (r) => {
      r.reserved(0, 2);
      return ok({ kind: 'NOTIFICATION', notifyType: r.u16(2), data: r.bytes(4) });
    },
  },
  ECHO_REQUEST_SIGNED: { length: () => null, decode: (r) => ok({ kind: 'ECHO_REQUEST_SIGNED', opaque: r.bytes(0) }) },
  ECHO_RESPONSE_SIGNED: { length: () => null, decode: (r) => ok({ kind: 'ECHO_RESPONSE_SIGNED', opaque: r.bytes(0) }) },
  ECHO_REQUEST_UNSIGNED: { length: () => null, decode: (r) => ok({ kind: 'ECHO_REQUEST_UNSIGNED', opaque: r.bytes(0) }) },
  ECHO_RESPONSE_UNSIGNED: { length: () => null, decode: (r) => ok({ kind: 'ECHO_RESPONSE_UNSIGNED', opaque: r.bytes(0) }) },
  REG_INFO: {
    length: atLeast(2),
    decode: (r) => ok({ kind: 'REG_INFO', minLifetime: r.u8(0), maxLifetime: r.u8(1), regTypes: r.u8List(2) }),
  },
  REG_REQUEST: { length: atLeast(1), decode: (r) => ok({ kind: 'REG_REQUEST', lifetime: r.u8(0), regTypes: r.u8List(1) }) },
  REG_RESPONSE: { length: atLeast(1), decode: (r) => ok({ kind: 'REG_RESPONSE', lifetime: r.u8(0), regTypes: r.u8List(1) }) },
  REG_FAILED: { length: atLeast(1), decode: (r) => ok({ kind: 'REG_FAILED', failureType: r.u8(0), regTypes: r.u8List(1) }) },
  REG_FROM: transportAddress('REG_FROM'),
  TRANSPORT_FORMAT_LIST: { length: atLeast(0, 2), decode: (r) => ok({ kind: 'TRANSPORT_FORMAT_LIST', formats: r.u16List(0) }) },
  ESP_TRANSFORM: {
    length: atLeast(2, 2),
    decode: (r) => {
      r.reserved(0, 2);
      return ok({ kind: 'ESP_TRANSFORM', suites: r.u16List(2) });
    },
  },
  RELAYED_ADDRESS: transportAddress('RELAYED_ADDRESS'),
  MAPPED_ADDRESS: transportAddress('MAPPED_ADDRESS'),
  PEER_PERMISSION: {
    length: exact(40),
    decode: (r) => {
      r.reserved(3, 4);
      return ok({ kind: 'PEER_PERMISSION', port: r.u16(0), protocol: r.u8(2), address: r.bytes(4, 20), peerHit: r.bytes(20, 36), connectedSpi: r.u32(36) });
    },
  },
  CANDIDATE_PRIORITY: { length: exact(4), decode: (r) => ok({ kind: 'CANDIDATE_PRIORITY', priority: r.u32(0) }) },
  NOMINATE: {
    length: exact(4),
    decode: (r) => {
      r.reserved(0, 4);
      return ok({ kind: 'NOMINATE' });
    },
  },
  HIP_MAC: { length: () => null, decode: (r) => ok({ kind: 'HIP_MAC', hmac: r.bytes(0) }) },
  HIP_MAC_2: { length: () => null, decode: (r) => ok({ kind: 'HIP_MAC_2', hmac: r.bytes(0) }) },
  HIP_SIGNATURE_2: { length: atLeast(2), decode: (r) => ok({ kind: 'HIP_SIGNATURE_2', algorithm: r.u16(0), signature: r.bytes(2) }) },
  HIP_SIGNATURE: { length: atLeast(2), decode: (r) => ok({ kind: 'HIP_SIGNATURE', algorithm: r.u16(0), signature: r.bytes(2) }) },
  RELAY_FROM: transportAddress('RELAY_FROM'),
  RELAY_TO: transportAddress('RELAY_TO'),
  FROM: { length: exact(16), decode: (r) => ok({ kind: 'FROM', address: r.bytes(0) }) },
  RVS_HMAC: { length: () => null, decode: (r) => ok({ kind: 'RVS_HMAC', hmac: r.bytes(0) }) },
  VIA_RVS: {
    length: atLeast(0, 16),
    decode: (r) => {
      const addresses: Uint8Array[] = [];
      for (let o = 0; o < r.v.length; o += 16) addresses.push(r.bytes(o, o + 16));
      return ok({ kind: 'VIA_RVS', addresses });
    },
  },
  RELAY_HMAC: { length: () => null, decode: (r) => ok({ kind: 'RELAY_HMAC', hmac: r.bytes(0) }) },
};

/** Interprets one parameter's value (the octets between its length field and its padding). */
export function decodeParamValue(type: number, value: Uint8Array, deviations: Deviation[]): ValueResult {
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) {
    return ok({ kind: 'UNKNOWN', type, critical: (type & 1) === 1, value: copyOf(value) });
  }
  const decoder = DECODERS[kind];
  const lengthProblem = decoder.length(value.length);
  if (lengthProblem !== null) return badLength(kind, value.length, lengthProblem);
  return decoder.decode(new ValueReader(value, kind, deviations));
}

// ---------------------------------------------------------------------------------------------
// Encoding. Encoders throw on values no packet can carry (a 15-octet address, a list item
// wider than its field): those are programming errors on our side, never peer input.

class ValueWriter {
  private chunks: number[] = [];
  private parts: Uint8Array[] = [];
  private flush(): void {
    if (this.chunks.length) { this.parts.push(Uint8Array.from(this.chunks)); this.chunks = []; }
  }
  private uint(n: number, bytes: number, field: string): this {
    if (!Number.isInteger(n) || n < 0 || n >= 2 ** (8 * bytes)) throw new RangeError(`${field} ${n} does not fit in ${bytes} octet(s)`);
    for (let i = bytes - 1; i >= 0; i--) this.chunks.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
    return this;
  }
  u8(n: number, field = 'value'): this { return this.uint(n, 1, field); }
  u16(n: number, field = 'value'): this { return this.uint(n, 2, field); }
  u32(n: number, field = 'value'): this { return this.uint(n, 4, field); }
  zeros(n: number): this { for (let i = 0; i < n; i++) this.chunks.push(0); return this; }
  bytes(b: Uint8Array): this { this.flush(); this.parts.push(b); return this; }
  address(b: Uint8Array, field = 'address'): this {
    if (b.length !== 16) throw new RangeError(`${field} must be 16 octets, not ${b.length}`);
    return this.bytes(b);
  }
  done(): Uint8Array {
    this.flush();
    return concatBytes(this.parts);
  }
}

function encodeLocator(w: ValueWriter, l: Locator, flowOption?: Uint8Array): void {
  const body = new ValueWriter();
  if (l.raw !== undefined && LOCATOR_UNITS[l.locatorType] === undefined) {
    if (l.raw.length % 4 !== 0) throw new RangeError('a raw locator must be a multiple of 4 octets');
    body.bytes(l.raw);
  } else if (l.locatorType === 0) {
    body.address(l.address, 'locator address');
  } else if (l.locatorType === 1) {
    body.u32(l.spi ?? 0, 'SPI').address(l.address, 'locator address');
  } else if (l.locatorType === 2) {
    body.u16(l.port ?? 0, 'port').u8(l.protocol ?? 0, 'protocol').u8(l.candidateKind ?? 0, 'kind')
      .u32(l.priority ?? 0, 'priority').u32(l.spi ?? 0, 'SPI').address(l.address, 'locator address');
  } else {
    throw new RangeError(`locator type ${l.locatorType} needs its raw octets`);
  }
  const b = body.done();
  if (flowOption !== undefined && (flowOption.length % 4 !== 0 || flowOption[0] !== FLOW_IDENTIFICATION_OPTION || flowOption[1]! + 2 !== flowOption.length)) {
    throw new RangeError('a flow identification option after a locator is framed as one option and padded to a multiple of 4 octets');
  }
  const flags = (l.preferred ? FLAG_PREFERRED : 0) | (flowOption === undefined ? 0 : FLAG_FLOW);
  w.u8(l.trafficType, 'traffic type').u8(l.locatorType, 'locator type').u8(b.length / 4, 'locator length')
    .u8(flags).u32(l.lifetime, 'lifetime').bytes(b);
  if (flowOption !== undefined) w.bytes(flowOption);
}

function list(w: ValueWriter, items: number[], width: 1 | 2 | 4, field: string): ValueWriter {
  for (const n of items) {
    if (width === 1) w.u8(n, field);
    else if (width === 2) w.u16(n, field);
    else w.u32(n, field);
  }
  return w;
}

/** The value octets of a parameter (no type, length or padding). */
export function encodeParamValue(p: Param): Uint8Array {
  const w = new ValueWriter();
  switch (p.kind) {
    case 'ESP_INFO': return w.zeros(2).u16(p.keymatIndex, 'KEYMAT index').u32(p.oldSpi, 'old SPI').u32(p.newSpi, 'new SPI').done();
    case 'R1_COUNTER': {
      if (p.counter < 0n || p.counter >= 1n << 64n) throw new RangeError('R1 counter must fit in 64 bits');
      return w.zeros(4).u32(Number(p.counter >> 32n)).u32(Number(p.counter & 0xffffffffn)).done();
    }
    case 'LOCATOR_SET': for (const l of p.locators) encodeLocator(w, l); return w.done();
    case 'E_LOCATOR': for (const l of p.locators) encodeLocator(w, l, l.flowOption); return w.done();
    case 'PUZZLE': return w.u8(p.k, 'K').u8(p.lifetime, 'lifetime').u16(p.opaque, 'opaque').bytes(p.i).done();
    case 'SOLUTION': {
      if (p.i.length !== p.j.length) throw new RangeError('SOLUTION: #I and #J must have the same length');
      return w.u8(p.k, 'K').zeros(1).u16(p.opaque, 'opaque').bytes(p.i).bytes(p.j).done();
    }
    case 'SEQ': return w.u32(p.updateId, 'update ID').done();
    case 'ACK': return list(w, p.updateIds, 4, 'update ID').done();
    case 'DH_GROUP_LIST': return list(w, p.groups, 1, 'group ID').done();
    case 'DIFFIE_HELLMAN': return w.u8(p.groupId, 'group ID').u16(p.publicValue.length, 'public value length').bytes(p.publicValue).done();
    case 'HIP_CIPHER': return list(w, p.ciphers, 2, 'cipher ID').done();
    case 'NAT_TRAVERSAL_MODE': return list(w.zeros(2), p.modes, 2, 'mode ID').done();
    case 'TRANSACTION_PACING': return w.u32(p.minTa, 'Min Ta').done();
    case 'ENCRYPTED': return w.zeros(4).bytes(p.data).done();
    case 'HOST_ID': {
      if (p.di.length > 0x0fff) throw new RangeError('HOST_ID: domain identifier longer than 4095 octets');
      if (p.diType > 15) throw new RangeError('HOST_ID: DI-type is 4 bits');
      return w.u16(p.hi.length, 'HI length').u16((p.diType << 12) | p.di.length).u16(p.algorithm, 'algorithm').bytes(p.hi).bytes(p.di).done();
    }
    case 'HIT_SUITE_LIST': {
      for (const s of p.suites) if (s > 15) throw new RangeError(`HIT suite ${s} does not fit in 4 bits`);
      return list(w, p.suites.map((s) => s << 4), 1, 'suite ID').done();
    }
    case 'CERT': return w.u8(p.group, 'group').u8(p.count, 'count').u8(p.id, 'ID').u8(p.certType, 'type').bytes(p.cert).done();
    case 'NOTIFICATION': return w.zeros(2).u16(p.notifyType, 'notify type').bytes(p.data).done();
    case 'ECHO_REQUEST_SIGNED':
    case 'ECHO_RESPONSE_SIGNED':
    case 'ECHO_REQUEST_UNSIGNED':
    case 'ECHO_RESPONSE_UNSIGNED': return w.bytes(p.opaque).done();
    case 'REG_INFO': return list(w.u8(p.minLifetime, 'min lifetime').u8(p.maxLifetime, 'max lifetime'), p.regTypes, 1, 'reg type').done();
    case 'REG_REQUEST':
    case 'REG_RESPONSE': return list(w.u8(p.lifetime, 'lifetime'), p.regTypes, 1, 'reg type').done();
    case 'REG_FAILED': return list(w.u8(p.failureType, 'failure type'), p.regTypes, 1, 'reg type').done();
    case 'REG_FROM':
    case 'RELAYED_ADDRESS':
    case 'MAPPED_ADDRESS':
    case 'RELAY_FROM':
    case 'RELAY_TO': return w.u16(p.port, 'port').u8(p.protocol, 'protocol').zeros(1).address(p.address).done();
    case 'TRANSPORT_FORMAT_LIST': return list(w, p.formats, 2, 'format').done();
    case 'ESP_TRANSFORM': return list(w.zeros(2), p.suites, 2, 'suite ID').done();
    case 'PEER_PERMISSION':
      return w.u16(p.port, 'port').u8(p.protocol, 'protocol').zeros(1).address(p.address).address(p.peerHit, 'peer HIT').u32(p.connectedSpi, 'SPI').done();
    case 'CANDIDATE_PRIORITY': return w.u32(p.priority, 'priority').done();
    case 'NOMINATE': return w.zeros(4).done();
    case 'HIP_MAC':
    case 'HIP_MAC_2':
    case 'RVS_HMAC':
    case 'RELAY_HMAC': return w.bytes(p.hmac).done();
    case 'HIP_SIGNATURE':
    case 'HIP_SIGNATURE_2': return w.u16(p.algorithm, 'signature algorithm').bytes(p.signature).done();
    case 'FROM': return w.address(p.address).done();
    case 'VIA_RVS': for (const a of p.addresses) w.address(a); return w.done();
    case 'UNKNOWN': return w.bytes(p.value).done();
  }
}
