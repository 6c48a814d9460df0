import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketType, ParamType } from '../../src-main/hip/wire/constants.js';
import { decodePacket, encodePacket, encodeParam, sortParams, spanIndexOf } from '../../src-main/hip/wire/codec.js';
import {
  coveredBytes, coveredBytesForOutgoing, mac2Input, mac2InputForOutgoing, signature2Input, signature2InputForOutgoing,
} from '../../src-main/hip/wire/covered.js';
import type { DecodedPacket, HipPacket, HostId, Param } from '../../src-main/hip/wire/params.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity, signWith, verifyWith } from '../../src-main/hip/identity/host-identity.js';
import { HIT_I, HIT_R, SAMPLE_PACKETS, bytes } from '../fixtures/wire-samples.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function decode(b: Uint8Array): DecodedPacket {
  const r = decodePacket(b);
  assert.ok(r.ok, r.ok ? '' : `${r.reason} ${r.detail}`);
  return r.packet;
}

test('for our own packets, the received-bytes path and the sending path give identical octets', () => {
  for (const p of SAMPLE_PACKETS) {
    const pkt = decode(encodePacket(p));
    for (let i = 0; i <= p.params.length; i++) {
      assert.equal(toHex(coveredBytes(pkt, i)), toHex(coveredBytesForOutgoing(p, p.params.slice(0, i))), `type ${p.packetType} before param ${i}`);
    }
  }
});

test('covered bytes cut the header length and zero the checksum', () => {
  const p = SAMPLE_PACKETS.find((x) => x.packetType === PacketType.I2)!;
  const raw = encodePacket(p);
  raw[4] = 0xab; // a raw-IP peer fills in the checksum
  raw[5] = 0xcd;
  const pkt = decode(raw);
  const mac = spanIndexOf(pkt, ParamType.HIP_MAC);
  const c = coveredBytes(pkt, mac);
  assert.equal(c.length, pkt.spans[mac]!.start);
  assert.equal(c[1], c.length / 8 - 1);
  assert.equal(toHex(c.subarray(4, 6)), '0000');
  assert.equal(toHex(c.subarray(40)), toHex(raw.subarray(40, c.length)));
});

test('a peer\'s out-of-order packet is covered in the order it was sent, not re-sorted', () => {
  const params: Param[] = [
    { kind: 'ESP_TRANSFORM', suites: [9] },
    { kind: 'HOST_ID', algorithm: 7, hi: bytes(66), diType: 0, di: new Uint8Array(0) },
    { kind: 'HIP_SIGNATURE', algorithm: 7, signature: bytes(64) },
  ];
  const sent = encodePacket({ packetType: PacketType.I2, controls: 0, senderHit: HIT_I, receiverHit: HIT_R, params });
  const pkt = decode(sent);
  assert.deepEqual(pkt.deviations.map((d) => d.code), ['param-order']);
  const c = coveredBytes(pkt, 2);
  assert.equal(toHex(c.subarray(40)), toHex(sent.subarray(40, pkt.spans[2]!.start)));
  const resorted = coveredBytesForOutgoing(pkt, sortParams(params.slice(0, 2)));
  assert.notEqual(toHex(c), toHex(resorted));
});

test('a signature made over our outgoing bytes verifies over the received bytes, and a changed octet breaks it', () => {
  const id = generateIdentity(nodeCrypto, 'ecdsa-p256');
  const head: HipPacket = { packetType: PacketType.UPDATE, controls: 0, senderHit: id.hit, receiverHit: HIT_R, params: [] };
  const before: Param[] = [{ kind: 'SEQ', updateId: 9 }, { kind: 'HIP_MAC', hmac: bytes(32) }];
  const signature = signWith(nodeCrypto, id, coveredBytesForOutgoing(head, before));
  const wire = encodePacket({ ...head, params: [...before, { kind: 'HIP_SIGNATURE', algorithm: id.algorithm, signature }] });
  const pkt = decode(wire);
  const sigIndex = spanIndexOf(pkt, ParamType.HIP_SIGNATURE);
  assert.equal(verifyWith(nodeCrypto, id, coveredBytes(pkt, sigIndex), signature), true);
  const tampered = wire.slice();
  tampered[pkt.spans[0]!.start + 7] = tampered[pkt.spans[0]!.start + 7]! ^ 1; // SEQ's update ID
  assert.equal(verifyWith(nodeCrypto, id, coveredBytes(decode(tampered), sigIndex), signature), false);
});

test('HIP_SIGNATURE_2 input zeroes the receiver HIT and the puzzle\'s Opaque and #I, and nothing else', () => {
  const r1 = SAMPLE_PACKETS.find((x) => x.packetType === PacketType.R1)!;
  const pkt = decode(encodePacket(r1));
  const sig = spanIndexOf(pkt, ParamType.HIP_SIGNATURE_2);
  const input = signature2Input(pkt, sig);
  const plain = coveredBytes(pkt, sig);
  const puzzle = pkt.spans[spanIndexOf(pkt, ParamType.PUZZLE)]!;
  const zeroed = new Set<number>();
  for (let i = 24; i < 40; i++) zeroed.add(i);
  for (let i = puzzle.start + 6; i < puzzle.start + 8 + 32; i++) zeroed.add(i);
  for (let i = 0; i < plain.length; i++) {
    assert.equal(input[i], zeroed.has(i) ? 0 : plain[i], `octet ${i}`);
  }
  assert.equal(input[puzzle.start + 4], plain[puzzle.start + 4], '#K is signed');
  assert.equal(input[puzzle.start + 5], plain[puzzle.start + 5], 'the lifetime is signed');
  assert.equal(toHex(signature2InputForOutgoing(r1, r1.params.slice(0, sig))), toHex(input));
});

test('one precomputed R1 signature serves any initiator and any fresh puzzle', () => {
  const r1 = SAMPLE_PACKETS.find((x) => x.packetType === PacketType.R1)!;
  const fresh: HipPacket = {
    ...r1,
    receiverHit: HIT_I,
    params: r1.params.map((p) => (p.kind === 'PUZZLE' ? { ...p, opaque: 0xbeef, i: bytes(32, 99) } : p)),
  };
  const a = decode(encodePacket(r1));
  const b = decode(encodePacket(fresh));
  const idx = spanIndexOf(a, ParamType.HIP_SIGNATURE_2);
  assert.equal(toHex(signature2Input(b, idx)), toHex(signature2Input(a, idx)));
  const harder: HipPacket = { ...r1, params: r1.params.map((p) => (p.kind === 'PUZZLE' ? { ...p, k: p.k + 1 } : p)) };
  assert.notEqual(toHex(signature2Input(decode(encodePacket(harder)), idx)), toHex(signature2Input(a, idx)));
});

test('HIP_MAC_2 input inserts the responder HOST_ID at its ascending place and grows the header length', () => {
  const hostId: HostId = { kind: 'HOST_ID', algorithm: 7, hi: bytes(66, 3), diType: 0, di: new Uint8Array(0) };
  const r2: HipPacket = {
    packetType: PacketType.R2, controls: 0, senderHit: HIT_R, receiverHit: HIT_I,
    params: sortParams([
      { kind: 'ESP_INFO', keymatIndex: 0, oldSpi: 0, newSpi: 5 },
      { kind: 'REG_RESPONSE', lifetime: 10, regTypes: [1] }, // type 934 sorts after HOST_ID (705)
      { kind: 'HIP_MAC_2', hmac: bytes(32) },
      { kind: 'HIP_SIGNATURE', algorithm: 7, signature: bytes(64) },
    ]),
  };
  const pkt = decode(encodePacket(r2));
  const mac2 = spanIndexOf(pkt, ParamType.HIP_MAC_2);
  const expected = encodePacket({ ...r2, params: sortParams([...r2.params.slice(0, mac2), hostId]) });
  const input = mac2Input(pkt, mac2, encodeParam(hostId));
  assert.equal(toHex(input), toHex(expected));
  assert.equal(input[1], input.length / 8 - 1);
  assert.equal(toHex(mac2InputForOutgoing(r2, r2.params.slice(0, mac2), encodeParam(hostId))), toHex(expected));
});
