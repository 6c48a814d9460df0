// A HIPv2 base exchange and ESP captured between two hosts running cutehip, an independent
// Python implementation (raw IP protocol 139, RSA host identities, ECDH P-256, AES-256-CBC,
// ESP suite 9). Its HITs and signatures are right; its parameter order, DIFFIE_HELLMAN
// Public Value Length and puzzle hash input order are not. We must parse it, verify it, and
// name exactly those quirks — and nothing else, so a codec regression shows up here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EspSuite } from '../../src-main/esp/suites.js';
import { DhGroup, HipCipher, IPPROTO_ESP, IPPROTO_HIP, PacketType, ParamType } from '../../src-main/hip/wire/constants.js';
import { decodePacket, getParam, hipChecksum, spanIndexOf } from '../../src-main/hip/wire/codec.js';
import { coveredBytes, signature2Input } from '../../src-main/hip/wire/covered.js';
import type { DecodedPacket, Param } from '../../src-main/hip/wire/params.js';
import { ipFromFrame, parseIpPacket, readPcap, type ParsedIpPacket } from '../../src-main/platform/pcap.js';
import { nobleCrypto, nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { verifySolution } from '../../src-main/hip/crypto/puzzle.js';
import { identityFromHostId, verifyWith, type HostIdentityPublic } from '../../src-main/hip/identity/host-identity.js';

const CAPTURE = new URL('../fixtures/cutehip-hipv2-bex-esp.pcap', import.meta.url);
const providers = [nodeCrypto, nobleCrypto];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Captured { ip: ParsedIpPacket; hip?: DecodedPacket }

function load(): Captured[] {
  const file = readPcap(readFileSync(CAPTURE));
  return file.records.map((r, n) => {
    const frame = ipFromFrame(r.linkType, r.data);
    assert.ok(frame, `record ${n + 1}: link type ${r.linkType} not understood`);
    const ip = parseIpPacket(frame);
    assert.ok(ip.ok, `record ${n + 1}: ${ip.ok ? '' : ip.reason}`);
    if (ip.packet.protocol !== IPPROTO_HIP) return { ip: ip.packet };
    const decoded = decodePacket(ip.packet.payload, { srcAddr: ip.packet.src, dstAddr: ip.packet.dst });
    assert.ok(decoded.ok, `record ${n + 1}: ${decoded.ok ? '' : `${decoded.reason}: ${decoded.detail}`}`);
    return { ip: ip.packet, hip: decoded.packet };
  });
}

const captured = load();
const hip = captured.flatMap((c) => (c.hip ? [c.hip] : []));
const [i1, r1, i2, r2] = hip as [DecodedPacket, DecodedPacket, DecodedPacket, DecodedPacket];

function must<K extends Param['kind']>(pkt: DecodedPacket, kind: K) {
  const p = getParam(pkt, kind);
  assert.ok(p, `${kind} missing`);
  return p;
}

function identityOf(pkt: DecodedPacket, provider = nodeCrypto): HostIdentityPublic {
  const hostId = must(pkt, 'HOST_ID');
  const r = identityFromHostId(provider, hostId.algorithm, hostId.hi);
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
  return r.identity;
}

test('the capture holds a base exchange I1, R1, I2, R2 followed by ESP, and every HIP packet decodes', () => {
  assert.equal(captured.length, 10);
  assert.deepEqual(hip.map((p) => p.packetType), [PacketType.I1, PacketType.R1, PacketType.I2, PacketType.R2]);
  assert.deepEqual(captured.map((c) => c.ip.protocol), [139, 139, 139, 139, 50, 50, 50, 50, 50, 50]);
  assert.deepEqual(r1.params.map((p) => p.kind), [
    'PUZZLE', 'DIFFIE_HELLMAN', 'HIP_CIPHER', 'ESP_TRANSFORM', 'HOST_ID', 'HIT_SUITE_LIST', 'DH_GROUP_LIST',
    'TRANSPORT_FORMAT_LIST', 'HIP_SIGNATURE_2',
  ]);
  assert.deepEqual(i2.params.map((p) => p.kind), [
    'ESP_INFO', 'SOLUTION', 'DIFFIE_HELLMAN', 'HIP_CIPHER', 'ESP_TRANSFORM', 'HOST_ID', 'TRANSPORT_FORMAT_LIST',
    'HIP_MAC', 'HIP_SIGNATURE',
  ]);
});

test('the raw-IP HIP checksums are correct over the IPv4 pseudo-header', () => {
  for (const c of captured.filter((x) => x.hip)) {
    const stored = (c.ip.payload[4]! << 8) | c.ip.payload[5]!;
    assert.notEqual(stored, 0);
    assert.equal(hipChecksum(c.ip.payload, c.ip.src, c.ip.dst), stored);
  }
});

test('exactly the known deviations are reported: parameter order and DH public value length', () => {
  const codes = (p: DecodedPacket) => p.deviations.map((d) => d.code);
  assert.deepEqual(codes(i1), []);
  // R1: ESP_TRANSFORM (4095) before HOST_ID (705); DH_GROUP_LIST (511) after HIT_SUITE_LIST (715)
  assert.deepEqual(codes(r1), ['dh-public-value-length', 'param-order', 'param-order']);
  assert.match(r1.deviations[1]!.detail, /705.*4095/);
  assert.match(r1.deviations[2]!.detail, /511.*715/);
  // I2: ESP_TRANSFORM before HOST_ID again
  assert.deepEqual(codes(i2), ['dh-public-value-length', 'param-order']);
  assert.deepEqual(codes(r2), []);
  // the DH value is still read whole: 64 octets, P-256 x ‖ y, whatever its length field says
  for (const p of [r1, i2]) {
    const dh = must(p, 'DIFFIE_HELLMAN');
    assert.equal(dh.groupId, DhGroup.NIST_P256);
    assert.equal(dh.publicValue.length, 64);
    const span = p.spans[spanIndexOf(p, ParamType.DIFFIE_HELLMAN)]!;
    assert.equal((p.raw[span.start + 5]! << 8) | p.raw[span.start + 6]!, 8, 'cutehip writes 8 in Public Value Length');
  }
});

test('the puzzle solution holds only with the HITs swapped in the hash input (a cutehip deviation)', () => {
  const puzzle = must(r1, 'PUZZLE');
  const solution = must(i2, 'SOLUTION');
  assert.deepEqual(solution.i, puzzle.i);
  assert.equal(solution.opaque, puzzle.opaque);
  assert.equal(solution.k, puzzle.k);
  const hitI = i2.senderHit;
  const hitR = i2.receiverHit;
  // RFC 7401 §4.1.2: RHASH(#I | HIT-I | HIT-R | #J) ends in K zero bits
  const lowZero = (parts: Uint8Array[]) => {
    const d = createHash('sha256').update(Buffer.concat(parts)).digest();
    const value = BigInt(`0x${d.toString('hex')}`);
    return (value & ((1n << BigInt(solution.k)) - 1n)) === 0n;
  };
  assert.equal(lowZero([solution.i, hitI, hitR, solution.j]), false, 'RFC order');
  assert.equal(lowZero([solution.i, hitR, hitI, solution.j]), true, 'cutehip order: #I | HIT-R | HIT-I | #J');
  for (const provider of providers) {
    assert.equal(verifySolution(provider, 'sha256', solution.i, hitI, hitR, solution.j, solution.k), false);
    assert.equal(verifySolution(provider, 'sha256', solution.i, hitR, hitI, solution.j, solution.k), true);
  }
});

test('each HOST_ID hashes to the HIT its sender put in the header, with both providers', () => {
  for (const provider of providers) {
    const responder = identityOf(r1, provider);
    const initiator = identityOf(i2, provider);
    assert.equal(hex(responder.hit), hex(r1.senderHit));
    assert.equal(hex(initiator.hit), hex(i2.senderHit));
    assert.equal(hex(i1.senderHit), hex(initiator.hit));
    assert.equal(hex(r2.senderHit), hex(responder.hit));
    assert.equal(responder.verifyingKey.algorithm, 'rsa');
  }
});

test('R1\'s HIP_SIGNATURE_2 verifies over the zeroed input, and only over that', () => {
  const sigIndex = spanIndexOf(r1, ParamType.HIP_SIGNATURE_2);
  const sig = must(r1, 'HIP_SIGNATURE_2');
  assert.equal(sig.algorithm, 5);
  for (const provider of providers) {
    const responder = identityOf(r1, provider);
    assert.equal(verifyWith(provider, responder, signature2Input(r1, sigIndex), sig.signature), true, provider.name);
    assert.equal(verifyWith(provider, responder, coveredBytes(r1, sigIndex), sig.signature), false, provider.name);
  }
});

test('I2\'s HIP_SIGNATURE verifies over the received bytes; a changed octet does not', () => {
  const sigIndex = spanIndexOf(i2, ParamType.HIP_SIGNATURE);
  const sig = must(i2, 'HIP_SIGNATURE');
  for (const provider of providers) {
    const initiator = identityOf(i2, provider);
    const input = coveredBytes(i2, sigIndex);
    assert.equal(verifyWith(provider, initiator, input, sig.signature), true, provider.name);
    input[input.length - 1] = input[input.length - 1]! ^ 1; // inside HIP_MAC
    assert.equal(verifyWith(provider, initiator, input, sig.signature), false, provider.name);
  }
});

test('R2 carries its signature in a HIP_SIGNATURE_2-typed parameter but signs like HIP_SIGNATURE', () => {
  // A cutehip quirk beyond the codec: R2 should carry HIP_SIGNATURE (61697). The octets signed
  // are the whole packet before it (receiver HIT not zeroed), as for HIP_SIGNATURE.
  assert.equal(getParam(r2, 'HIP_SIGNATURE'), undefined);
  const sigIndex = spanIndexOf(r2, ParamType.HIP_SIGNATURE_2);
  const sig = must(r2, 'HIP_SIGNATURE_2');
  for (const provider of providers) {
    const responder = identityOf(r1, provider);
    assert.equal(verifyWith(provider, responder, coveredBytes(r2, sigIndex), sig.signature), true, provider.name);
    assert.equal(verifyWith(provider, responder, signature2Input(r2, sigIndex), sig.signature), false, provider.name);
  }
});

test('the negotiated suites are ECDH P-256, AES-256-CBC and ESP suite 9, and ESP packets fit that suite', () => {
  assert.deepEqual(must(i2, 'HIP_CIPHER').ciphers, [HipCipher.AES_256_CBC]);
  assert.deepEqual(must(i2, 'ESP_TRANSFORM').suites, [EspSuite.AES_256_CBC_HMAC_SHA256]);
  assert.deepEqual(must(r1, 'ESP_TRANSFORM').suites, [9, 8, 7]);
  const i2Spi = must(i2, 'ESP_INFO').newSpi;
  const r2Spi = must(r2, 'ESP_INFO').newSpi;
  assert.equal(i2Spi, 0x08ab31e0);
  assert.equal(r2Spi, 0x281f460f);
  const esp = captured.filter((c) => c.ip.protocol === IPPROTO_ESP).map((c) => c.ip.payload);
  assert.equal(esp.length, 6);
  for (const [n, e] of esp.entries()) {
    const dv = new DataView(e.buffer, e.byteOffset, e.byteLength);
    // another quirk beyond the codec: both directions use the responder's inbound SPI
    assert.equal(dv.getUint32(0), r2Spi);
    assert.equal(dv.getUint32(4), Math.floor(n / 2) + 1, 'sequence numbers count up per direction');
    // SPI, sequence, 16-octet IV, whole AES blocks, 16-octet ICV (HMAC-SHA-256-128)
    assert.equal((e.length - 8 - 16 - 16) % 16, 0);
  }
});
