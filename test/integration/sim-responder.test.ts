// The responder under attack and under protocol extension: puzzle difficulty that follows the
// load of I1s (and falls back when the flood ends), and the critical bit of unknown parameters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket, encodePacket, getParam, sortParams } from '../../src-main/hip/wire/codec.js';
import { NotifyType, PacketType } from '../../src-main/hip/wire/constants.js';
import { buildI1 } from '../../src-main/hip/messages.js';
import { Prng } from '../support/sim-network.js';
import { EP_A, EP_B, established, makePair } from '../support/hip-hosts.js';

const DH_GROUPS = [7, 8];

/** A well-formed ORCHIDv2 HIT nobody holds: what a flood of I1s would use. */
function randomHit(prng: Prng, like: Uint8Array): Uint8Array {
  const hit = prng.bytes(16);
  hit.set(like.subarray(0, 3));
  hit[3] = (like[3]! & 0xf0) | (hit[3]! & 0x0f);
  return hit;
}

function r1PuzzleK(bytes: Uint8Array): number {
  const d = decodePacket(bytes, { udp: true });
  assert.ok(d.ok, 'responder answers with a decodable packet');
  assert.equal(d.packet.packetType, PacketType.R1, 'the answer to an I1 is an R1');
  const puzzle = getParam(d.packet, 'PUZZLE');
  assert.ok(puzzle !== undefined, 'R1 carries PUZZLE');
  return puzzle.k;
}

test('puzzle difficulty rises under an I1 flood, an honest initiator still gets through, and it falls back afterwards', () => {
  const { net, a, b } = makePair({ seed: 0x9022 });
  const prng = new Prng(0x9022);
  const ks: number[] = [];
  // 400 I1s from 400 forged HITs within one second: far above what honest peers send.
  for (let n = 0; n < 400; n++) {
    b.handlePacket(net.now + n * 2, buildI1(randomHit(prng, b.host.hit), b.host.hit, DH_GROUPS), { address: '203.0.113.9', port: 10500 + n }, EP_B);
    for (let t = b.pollTransmit(); t !== undefined; t = b.pollTransmit()) ks.push(r1PuzzleK(t.bytes));
  }
  net.now += 800;
  assert.equal(ks.length, 400, 'every I1 gets an R1 (the responder keeps no state for them)');
  assert.equal(ks[0], 1, 'idle difficulty is low so honest peers do not notice');
  const peak = Math.max(...ks);
  assert.ok(peak >= 5, `K rose under the flood (peak ${peak})`);
  assert.ok(ks.every((k, i) => i === 0 || k >= ks[i - 1]!), 'K never falls during the flood');
  assert.equal(b.host.associations().length, 0, 'a flood of I1s creates no state');

  // An honest initiator pays the raised price and completes the exchange.
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), net.now + 5_000), 'honest initiator establishes during the flood');
  const i2 = net.trace.find((t) => (t.bytes[2]! & 0x7f) === PacketType.I2);
  const solution = i2 && decodePacket(i2.bytes);
  assert.ok(solution?.ok, 'I2 was sent');
  assert.ok(getParam(solution.packet, 'SOLUTION')!.k >= 5, 'the I2 solved the raised puzzle');

  // Quiet for a minute: K is back to its idle value.
  net.runFor(60_000);
  assert.equal(b.host.responderStatus(net.now).k, 1, 'K falls back once the flood is over');
});

test('an unknown critical parameter is refused with NOTIFY UNSUPPORTED_CRITICAL_PARAMETER_TYPE; an unknown non-critical one is ignored', () => {
  const { net, a, b } = makePair({ seed: 0x9023 });
  const i1 = decodePacket(buildI1(a.host.hit, b.host.hit, DH_GROUPS));
  assert.ok(i1.ok, 'I1 decodes');
  const withParam = (type: number): Uint8Array => encodePacket({
    packetType: PacketType.I1, controls: 0, senderHit: a.host.hit, receiverHit: b.host.hit,
    params: sortParams([...i1.packet.params, { kind: 'UNKNOWN', type, critical: (type & 1) === 1, value: Uint8Array.of(1, 2, 3) }]),
  });

  b.handlePacket(net.now, withParam(1031), EP_A, EP_B); // odd: critical, in no registry we implement
  const refused = b.pollTransmit();
  assert.ok(refused !== undefined, 'the sender is told');
  const notify = decodePacket(refused.bytes, { udp: true });
  assert.ok(notify.ok && notify.packet.packetType === PacketType.NOTIFY, 'the answer is a NOTIFY');
  const note = getParam(notify.packet, 'NOTIFICATION')!;
  assert.equal(note.notifyType, NotifyType.UNSUPPORTED_CRITICAL_PARAMETER_TYPE);
  assert.deepEqual([...note.data], [1031 >> 8, 1031 & 0xff], 'NOTIFY names the offending type');
  assert.equal(b.dropped('unknown-critical-param'), 1, 'the packet is counted as dropped');
  assert.equal(b.pollTransmit(), undefined, 'and no R1 is sent for it');

  net.now += 1_000; // past the NOTIFY rate limit, so silence below is not just rate limiting
  b.handlePacket(net.now, withParam(1030), EP_A, EP_B); // even: non-critical
  const answer = b.pollTransmit();
  assert.ok(answer !== undefined, 'an I1 with an unknown non-critical parameter is answered');
  assert.equal(decodePacket(answer.bytes, { udp: true }).ok && (answer.bytes[2]! & 0x7f), PacketType.R1, 'with an R1');

  // A NOTIFY is never answered with a NOTIFY, even when it carries an unknown critical parameter.
  const strangeNotify = encodePacket({
    packetType: PacketType.NOTIFY, controls: 0, senderHit: a.host.hit, receiverHit: b.host.hit,
    params: sortParams([
      { kind: 'NOTIFICATION', notifyType: NotifyType.INVALID_SYNTAX, data: new Uint8Array(0) },
      { kind: 'UNKNOWN', type: 1031, critical: true, value: Uint8Array.of(9) },
    ]),
  });
  net.now += 1_000;
  b.handlePacket(net.now, strangeNotify, EP_A, EP_B);
  assert.equal(b.pollTransmit(), undefined, 'no NOTIFY storm between two hosts');
});
