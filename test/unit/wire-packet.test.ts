import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketType, ParamType } from '../../src-main/hip/wire/constants.js';
import {
  decodePacket, encodePacket, getParam, getParams, hipChecksum, sortParams, spanIndexOf,
} from '../../src-main/hip/wire/codec.js';
import type { HipPacket, Param } from '../../src-main/hip/wire/params.js';
import { HIT_I, HIT_R, SAMPLE_PACKETS, bytes } from '../fixtures/wire-samples.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const i1: HipPacket = { packetType: PacketType.I1, controls: 0, senderHit: HIT_I, receiverHit: HIT_R, params: [{ kind: 'DH_GROUP_LIST', groups: [7, 9] }] };

test('the header is laid out as RFC 7401 §5.1 draws it', () => {
  const b = encodePacket({ ...i1, controls: 1 });
  assert.equal(b.length, 48);
  assert.equal(b[0], 59); // next header: none
  assert.equal(b[1], 48 / 8 - 1); // header length in 8-octet units, not counting the first 8
  assert.equal(b[2], 0x01); // fixed 0 bit, packet type I1
  assert.equal(b[3], 0x21); // version 2, reserved 0, fixed 1 bit
  assert.equal(toHex(b.subarray(4, 6)), '0000'); // checksum zero for UDP
  assert.equal(toHex(b.subarray(6, 8)), '0001'); // controls: anonymous
  assert.equal(toHex(b.subarray(8, 24)), toHex(HIT_I));
  assert.equal(toHex(b.subarray(24, 40)), toHex(HIT_R));
  assert.equal(toHex(b.subarray(40)), '01ff0002' + '0709' + '0000');
});

test('every sample packet type round-trips byte for byte with nothing to report', () => {
  for (const p of SAMPLE_PACKETS) {
    const b = encodePacket(p);
    const r = decodePacket(b, { udp: true });
    assert.ok(r.ok, r.ok ? '' : `${p.packetType}: ${r.reason} ${r.detail}`);
    assert.deepEqual(r.packet.deviations, []);
    assert.equal(r.packet.packetType, p.packetType);
    assert.equal(r.packet.version, 2);
    assert.deepEqual(r.packet.senderHit, p.senderHit);
    assert.deepEqual(r.packet.receiverHit, p.receiverHit);
    assert.deepEqual(r.packet.params, p.params);
    assert.equal(r.packet.spans.length, p.params.length);
    assert.equal(toHex(r.packet.raw), toHex(b));
    assert.equal(toHex(encodePacket(r.packet)), toHex(b));
  }
});

test('broken headers are refused with the reason a peer log should show', () => {
  const good = encodePacket(i1);
  const mutate = (f: (b: Uint8Array) => void) => { const b = good.slice(); f(b); return b; };
  const reason = (b: Uint8Array) => { const r = decodePacket(b); return r.ok ? 'ok' : r.reason; };
  assert.equal(reason(good), 'ok');
  assert.equal(reason(good.subarray(0, 39)), 'truncated');
  assert.equal(reason(good.subarray(0, 40)), 'truncated'); // header length still says 48
  assert.equal(reason(mutate((b) => { b[0] = 6; })), 'bad-next-header');
  assert.equal(reason(mutate((b) => { b[1] = 3; })), 'bad-header-length');
  assert.equal(reason(Uint8Array.from([...good, 0, 0, 0, 0, 0, 0, 0, 0])), 'bad-header-length');
  assert.equal(reason(mutate((b) => { b[2] = b[2]! | 0x80; })), 'bad-fixed-bit');
  assert.equal(reason(mutate((b) => { b[3] = b[3]! & 0xfe; })), 'bad-fixed-bit');
  assert.equal(reason(mutate((b) => { b[3] = 0x11; })), 'bad-version');
  assert.equal(reason(mutate((b) => { b[43] = 0x40; })), 'bad-param-length'); // DH_GROUP_LIST length 64
});

test('a nonzero checksum over UDP, or a wrong one over raw IP, is reported', () => {
  const b = encodePacket(i1);
  const src = Uint8Array.from([192, 0, 2, 1]);
  const dst = Uint8Array.from([192, 0, 2, 2]);
  const sum = hipChecksum(b, src, dst);
  b[4] = sum >> 8;
  b[5] = sum & 0xff;
  const raw = decodePacket(b, { srcAddr: src, dstAddr: dst });
  assert.ok(raw.ok);
  assert.deepEqual(raw.packet.deviations, []);
  const udp = decodePacket(b, { udp: true });
  assert.ok(udp.ok);
  assert.deepEqual(udp.packet.deviations.map((d) => d.code), ['header-checksum']);
  b[5] = b[5] ^ 1;
  const wrong = decodePacket(b, { srcAddr: src, dstAddr: dst });
  assert.ok(wrong.ok);
  assert.deepEqual(wrong.packet.deviations.map((d) => d.code), ['header-checksum']);
});

test('hipChecksum: IPv4-mapped locators use the IPv4 pseudo-header, IPv6 the IPv6 one', () => {
  const b = encodePacket(i1);
  const v4 = hipChecksum(b, Uint8Array.from([10, 0, 0, 1]), Uint8Array.from([10, 0, 0, 2]));
  const mapped = (d: number) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, d]);
  assert.equal(hipChecksum(b, mapped(1), mapped(2)), v4);
  const v6 = hipChecksum(b, HIT_I, HIT_R);
  assert.notEqual(v6, v4);
  // the Internet checksum property: summing the packet with its checksum in place gives 0xffff
  b[4] = v6 >> 8;
  b[5] = v6 & 0xff;
  assert.equal(hipChecksum(b, HIT_I, HIT_R), v6, 'the stored checksum must not feed into its own computation');
});

test('getParam, getParams and spanIndexOf find parameters by kind and type', () => {
  const r = decodePacket(encodePacket(SAMPLE_PACKETS.find((p) => p.packetType === PacketType.NOTIFY)!));
  assert.ok(r.ok);
  assert.equal(getParam(r.packet, 'NOTIFICATION')?.notifyType, 16384);
  assert.deepEqual(getParams(r.packet, 'NOTIFICATION').map((n) => n.notifyType), [16384, 1]);
  assert.equal(getParam(r.packet, 'PUZZLE'), undefined);
  const sig = spanIndexOf(r.packet, ParamType.HIP_SIGNATURE);
  assert.equal(r.packet.params[sig]?.kind, 'HIP_SIGNATURE');
  assert.equal(spanIndexOf(r.packet, ParamType.PUZZLE), -1);
});

test('sortParams orders by type and keeps repeated parameters in their given order', () => {
  const params: Param[] = [
    { kind: 'HIP_SIGNATURE', algorithm: 7, signature: bytes(4) },
    { kind: 'NOTIFICATION', notifyType: 2, data: new Uint8Array(0) },
    { kind: 'ESP_INFO', keymatIndex: 0, oldSpi: 0, newSpi: 1 },
    { kind: 'NOTIFICATION', notifyType: 1, data: new Uint8Array(0) },
    { kind: 'UNKNOWN', type: 100, critical: false, value: new Uint8Array(0) },
  ];
  const sorted = sortParams(params);
  assert.deepEqual(sorted.map((p) => p.kind), ['ESP_INFO', 'UNKNOWN', 'NOTIFICATION', 'NOTIFICATION', 'HIP_SIGNATURE']);
  assert.deepEqual(sorted.filter((p) => p.kind === 'NOTIFICATION').map((p) => p.kind === 'NOTIFICATION' && p.notifyType), [2, 1]);
  assert.equal(params[0]!.kind, 'HIP_SIGNATURE', 'the input is left alone');
});

test('a packet larger than the 8-bit header length can describe is refused when encoding', () => {
  const big: HipPacket = { ...i1, params: [{ kind: 'CERT', group: 1, count: 1, id: 1, certType: 1, cert: bytes(2010) }] };
  assert.throws(() => encodePacket(big), RangeError);
  const fits: HipPacket = { ...i1, params: [{ kind: 'CERT', group: 1, count: 1, id: 1, certType: 1, cert: bytes(2000) }] };
  assert.equal(encodePacket(fits).length, 2048);
  const r = decodePacket(encodePacket(fits));
  assert.ok(r.ok);
});

test('decoding a Buffer (as sockets deliver) copies: nothing aliases or alters the caller\'s memory', () => {
  const wire = Buffer.from(encodePacket(SAMPLE_PACKETS[1]!));
  wire[4] = 0x12;
  wire[5] = 0x34;
  const before = Buffer.from(wire).toString('hex');
  const r = decodePacket(wire, { srcAddr: HIT_I, dstAddr: HIT_R });
  assert.ok(r.ok);
  hipChecksum(wire, HIT_I, HIT_R);
  assert.equal(wire.toString('hex'), before, 'hipChecksum must not zero the caller\'s checksum field');
  assert.equal(Object.getPrototypeOf(r.packet.raw), Uint8Array.prototype);
  const puzzle = getParam(r.packet, 'PUZZLE')!;
  assert.equal(Object.getPrototypeOf(puzzle.i), Uint8Array.prototype);
  wire.fill(0);
  assert.notEqual(puzzle.i.every((b) => b === 0), true, 'decoded fields must not share the receive buffer');
  assert.equal(r.packet.raw[5], 0x34);
});
