import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParamType } from '../../src-main/hip/wire/constants.js';
import {
  decodePacket, decodeParams, encodePacket, encodeParam, paramTypeOf, unknownCriticalTypes,
} from '../../src-main/hip/wire/codec.js';
import type { DeviationCode, Param } from '../../src-main/hip/wire/params.js';
import { HIT_I, HIT_R, SAMPLE_PARAMS, bytes, mapped } from '../fixtures/wire-samples.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function tlv(type: number, value: Uint8Array, padding?: Uint8Array): Uint8Array {
  const padLen = (8 - ((4 + value.length) % 8)) % 8;
  const out = new Uint8Array(4 + value.length + padLen);
  out[0] = type >> 8; out[1] = type & 0xff; out[2] = value.length >> 8; out[3] = value.length & 0xff;
  out.set(value, 4);
  if (padding) out.set(padding.subarray(0, padLen), 4 + value.length);
  return out;
}
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

function decodeOne(b: Uint8Array): Param {
  const r = decodeParams(b);
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
  assert.equal(r.params.length, 1);
  return r.params[0]!;
}
function codes(r: ReturnType<typeof decodeParams>): DeviationCode[] {
  assert.ok(r.ok);
  return r.deviations.map((d) => d.code);
}

test('the samples cover every parameter kind the constants name', () => {
  const covered = new Set(SAMPLE_PARAMS.map((p) => p.kind));
  for (const kind of Object.keys(ParamType)) assert.ok(covered.has(kind as Param['kind']), `no sample for ${kind}`);
  assert.ok(covered.has('UNKNOWN'));
});

test('every parameter kind round-trips: encode, decode, deep equal, re-encode byte-identical', () => {
  for (const p of SAMPLE_PARAMS) {
    const encoded = encodeParam(p);
    assert.equal(encoded.length % 8, 0, `${p.kind} not padded to 8`);
    const type = (encoded[0]! << 8) | encoded[1]!;
    const length = (encoded[2]! << 8) | encoded[3]!;
    assert.equal(type, paramTypeOf(p));
    assert.equal(encoded.length, (4 + length + 7) & ~7, `${p.kind}: length field and padding disagree`);
    assert.ok(encoded.subarray(4 + length).every((b) => b === 0), `${p.kind}: padding not zero`);
    const r = decodeParams(encoded);
    assert.ok(r.ok, r.ok ? '' : `${p.kind}: ${r.reason} ${r.detail}`);
    assert.deepEqual(r.deviations, [], `${p.kind} decoded with deviations`);
    assert.deepEqual(r.params, [p], `${p.kind} changed in the round trip`);
    assert.deepEqual(r.spans, [{ type, start: 0, end: encoded.length }]);
    assert.equal(toHex(encodeParam(r.params[0]!)), toHex(encoded), `${p.kind} re-encodes differently`);
  }
});

test('layouts match the RFC figures octet for octet', () => {
  // RFC 7402 §5.1.1: Reserved, KEYMAT Index, OLD SPI, NEW SPI
  assert.equal(toHex(encodeParam({ kind: 'ESP_INFO', keymatIndex: 0x80, oldSpi: 1, newSpi: 0x08ab31e0 })),
    '0041000c' + '0000' + '0080' + '00000001' + '08ab31e0');
  // RFC 7401 §5.2.4: #K, Lifetime, Opaque, Random #I
  assert.equal(toHex(encodeParam({ kind: 'PUZZLE', k: 16, lifetime: 37, opaque: 0x3168, i: hex('aa'.repeat(4)) })),
    '01010008' + '10253168' + 'aaaaaaaa' + '00000000');
  // RFC 7401 §5.2.7: Group ID, Public Value Length, Public Value
  assert.equal(toHex(encodeParam({ kind: 'DIFFIE_HELLMAN', groupId: 7, publicValue: hex('0102') })),
    '02010005' + '07' + '0002' + '0102' + '00000000000000');
  // RFC 7401 §5.2.9: HI Length, DI-Type (4 bits) | DI Length (12 bits), Algorithm, HI, DI
  assert.equal(toHex(encodeParam({ kind: 'HOST_ID', algorithm: 5, hi: hex('0301'), diType: 2, di: hex('61') })),
    '02c10009' + '0002' + '2001' + '0005' + '0301' + '61' + '000000');
  // RFC 7401 §5.2.10: suite IDs in the upper nibble
  assert.equal(toHex(encodeParam({ kind: 'HIT_SUITE_LIST', suites: [1, 2, 5] })), '02cb0003' + '102050' + '00');
  // RFC 7402 §5.1.2: Reserved, Suite IDs
  assert.equal(toHex(encodeParam({ kind: 'ESP_TRANSFORM', suites: [9] })), '0fff0004' + '0000' + '0009');
  // RFC 9028 §5.7: type-2 locator: port, protocol, kind, priority, SPI, address; length 7 units
  const loc = encodeParam({
    kind: 'LOCATOR_SET',
    locators: [{ trafficType: 0, locatorType: 2, preferred: true, lifetime: 0x78, port: 10500, protocol: 17, candidateKind: 1, priority: 0x7e0000ff, spi: 0x0badcafe, address: mapped(203, 0, 113, 9) }],
  });
  assert.equal(toHex(loc), '00c10024' + '00' + '02' + '07' + '01' + '00000078' + '2904' + '11' + '01' + '7e0000ff' + '0badcafe' + '00000000000000000000ffffcb007109');
  // RFC 9028 §5 (RELAY_TO, REG_FROM, ...): Port, Protocol, Reserved, Address
  assert.equal(toHex(encodeParam({ kind: 'RELAY_TO', port: 10500, protocol: 17, address: mapped(1, 2, 3, 4) })),
    'fa020014' + '2904' + '11' + '00' + '00000000000000000000ffff01020304');
  // RFC 9028 §5 PEER_PERMISSION: Port, Protocol, Reserved, Address, Peer HIT, Connected SPI
  const pp = encodeParam({ kind: 'PEER_PERMISSION', port: 1, protocol: 17, address: mapped(1, 2, 3, 4), peerHit: HIT_R, connectedSpi: 5 });
  assert.equal(toHex(pp.subarray(0, 8)), '12480028' + '0001' + '1100');
  assert.equal(toHex(pp.subarray(40, 44)), '00000005');
  // RFC 9028 §5 NAT_TRAVERSAL_MODE: Reserved then mode IDs
  assert.equal(toHex(encodeParam({ kind: 'NAT_TRAVERSAL_MODE', modes: [3] })), '02600004' + '0000' + '0003');
  // RFC 7401 §5.2.5: #K, Reserved, Opaque, #I, #J
  assert.equal(toHex(encodeParam({ kind: 'SOLUTION', k: 1, opaque: 2, i: hex('aa'), j: hex('bb') })), '01410006' + '01000002' + 'aabb' + '000000000000');
  // RFC 8003 REG_INFO: Min Lifetime, Max Lifetime, Reg Types
  assert.equal(toHex(encodeParam({ kind: 'REG_INFO', minLifetime: 1, maxLifetime: 2, regTypes: [3] })), '03a20003' + '010203' + '00');
});

test('decoding hand-built octets gives the typed fields', () => {
  const esp = decodeOne(tlv(65, hex('0000 0080 00000000 08ab31e0')));
  assert.deepEqual(esp, { kind: 'ESP_INFO', keymatIndex: 128, oldSpi: 0, newSpi: 0x08ab31e0 });
  const suites = decodeOne(tlv(715, hex('102030')));
  assert.deepEqual(suites, { kind: 'HIT_SUITE_LIST', suites: [1, 2, 3] });
  const hostId = decodeOne(tlv(705, concat(hex('0004 201d 0005'), hex('03010001'), bytes(29))));
  assert.equal(hostId.kind, 'HOST_ID');
  if (hostId.kind === 'HOST_ID') {
    assert.equal(hostId.algorithm, 5);
    assert.equal(hostId.diType, 2);
    assert.equal(hostId.di.length, 29);
    assert.equal(toHex(hostId.hi), '03010001');
  }
});

test('unknown parameters: critical ones are flagged, non-critical ones are kept and re-encoded', () => {
  const critical = tlv(2001, hex('01020304'));
  const optional = tlv(2002, hex('0506'));
  const body = concat(critical, optional);
  const header = encodePacket({ packetType: 1, controls: 0, senderHit: HIT_I, receiverHit: HIT_R, params: [] });
  const raw = concat(header, body);
  raw[1] = raw.length / 8 - 1;
  const r = decodePacket(raw);
  assert.ok(r.ok);
  assert.deepEqual(unknownCriticalTypes(r.packet), [2001]);
  assert.deepEqual(r.packet.params[1], { kind: 'UNKNOWN', type: 2002, critical: false, value: hex('0506') });
  assert.equal(toHex(encodePacket(r.packet)), toHex(raw));
});

test('a parameter that runs past the end is rejected', () => {
  const good = encodeParam({ kind: 'SEQ', updateId: 7 });
  const overlong = good.slice();
  overlong[3] = 12; // claims 12 octets, 4 are there (plus padding)
  assert.deepEqual(pick(decodeParams(overlong)), 'bad-param-length');
  assert.deepEqual(pick(decodeParams(good.subarray(0, 6))), 'bad-param-length');
  assert.deepEqual(pick(decodeParams(good.subarray(0, 3))), 'bad-param-length');
  // value present, padding cut off
  assert.deepEqual(pick(decodeParams(encodeParam({ kind: 'HIP_CIPHER', ciphers: [4] }).subarray(0, 6))), 'bad-param-length');
});

function pick(r: ReturnType<typeof decodeParams>): string {
  return r.ok ? 'ok' : r.reason;
}

test('lengths impossible for the type are rejected', () => {
  const cases: [string, Uint8Array][] = [
    ['ESP_INFO 11 octets', tlv(65, bytes(11))],
    ['R1_COUNTER 8 octets', tlv(129, bytes(8))],
    ['SEQ 5 octets', tlv(385, bytes(5))],
    ['ACK not a multiple of 4', tlv(449, bytes(6))],
    ['SOLUTION with #I and #J of different sizes', tlv(321, concat(hex('01000000'), bytes(5)))],
    ['PUZZLE without #I', tlv(257, hex('01000000'))],
    ['HIP_CIPHER odd', tlv(579, bytes(3))],
    ['ESP_TRANSFORM odd', tlv(4095, bytes(5))],
    ['HOST_ID lengths disagree', tlv(705, concat(hex('0010 0000 0007'), bytes(8)))],
    ['HOST_ID too short for its header', tlv(705, bytes(5))],
    ['DIFFIE_HELLMAN without its header', tlv(513, bytes(2))],
    ['transport address 16 octets', tlv(4660, bytes(16))],
    ['PEER_PERMISSION 36 octets', tlv(4680, bytes(36))],
    ['FROM 4 octets', tlv(65498, bytes(4))],
    ['VIA_RVS 20 octets', tlv(65502, bytes(20))],
    ['NOMINATE empty', tlv(4710, new Uint8Array(0))],
    ['locator type 0 with length 5', tlv(193, concat(hex('00 00 05 00 00000001'), bytes(20)))],
    ['locator running past the parameter', tlv(193, concat(hex('00 00 04 00 00000001'), bytes(8)))],
    ['locator header cut short', tlv(193, bytes(4))],
  ];
  for (const [name, b] of cases) assert.equal(pick(decodeParams(b)), 'bad-param-length', name);
});

test('values a field cannot hold are rejected', () => {
  // a 16-octet #I is a 128-bit hash: K cannot ask for more zero bits than that
  assert.equal(pick(decodeParams(tlv(257, concat(hex('81000000'), bytes(16))))), 'bad-param-value');
  assert.equal(pick(decodeParams(tlv(321, concat(hex('81000000'), bytes(32))))), 'bad-param-value');
  assert.equal(pick(decodeParams(tlv(257, concat(hex('80000000'), bytes(16))))), 'ok');
});

test('order and duplicates are reported, not refused', () => {
  const seq = encodeParam({ kind: 'SEQ', updateId: 1 });
  const espInfo = encodeParam({ kind: 'ESP_INFO', keymatIndex: 0, oldSpi: 1, newSpi: 2 });
  const outOfOrder = decodeParams(concat(seq, espInfo));
  assert.deepEqual(codes(outOfOrder), ['param-order']);
  assert.ok(outOfOrder.ok && outOfOrder.params.length === 2);

  assert.deepEqual(codes(decodeParams(concat(seq, seq))), ['param-duplicate']);
  const enc = encodeParam({ kind: 'ENCRYPTED', data: bytes(16) });
  assert.deepEqual(codes(decodeParams(concat(enc, enc))), ['param-duplicate']);
  // these may repeat
  for (const p of [
    { kind: 'ESP_INFO', keymatIndex: 0, oldSpi: 1, newSpi: 2 },
    { kind: 'CERT', group: 1, count: 2, id: 1, certType: 1, cert: bytes(3) },
    { kind: 'NOTIFICATION', notifyType: 16385, data: new Uint8Array(0) },
    { kind: 'ECHO_REQUEST_UNSIGNED', opaque: bytes(4) },
    { kind: 'UNKNOWN', type: 3000, critical: false, value: bytes(2) },
  ] as Param[]) {
    assert.deepEqual(codes(decodeParams(concat(encodeParam(p), encodeParam(p)))), [], `${p.kind} may repeat`);
  }
});

test('sloppy but parseable encodings are reported with their deviation codes', () => {
  assert.deepEqual(codes(decodeParams(tlv(385, hex('00000001'), new Uint8Array(8)))), []);
  assert.deepEqual(codes(decodeParams(tlv(579, hex('0004'), hex('ffff')))), ['nonzero-padding']);
  assert.deepEqual(codes(decodeParams(tlv(65, hex('0001 0000 00000000 00000001')))), ['nonzero-reserved']);
  assert.deepEqual(codes(decodeParams(tlv(715, hex('1f')))), ['nonzero-reserved']);
  // the public value runs to the end of the parameter whatever its inner length says
  const dh = decodeParams(tlv(513, concat(hex('07 0008'), bytes(64))));
  assert.deepEqual(codes(dh), ['dh-public-value-length']);
  assert.ok(dh.ok && dh.params[0]!.kind === 'DIFFIE_HELLMAN' && dh.params[0].publicValue.length === 64);
});

test('encoding refuses values no packet can carry', () => {
  assert.throws(() => encodeParam({ kind: 'FROM', address: new Uint8Array(4) }), RangeError);
  assert.throws(() => encodeParam({ kind: 'SEQ', updateId: 2 ** 32 }), RangeError);
  assert.throws(() => encodeParam({ kind: 'HIT_SUITE_LIST', suites: [16] }), RangeError);
  assert.throws(() => encodeParam({ kind: 'ENCRYPTED', data: new Uint8Array(70000) }), RangeError);
  assert.throws(() => encodeParam({ kind: 'SOLUTION', k: 1, opaque: 0, i: bytes(32), j: bytes(20) }), RangeError);
});
