// The responder under attack and under protocol extension: puzzle difficulty that follows the
// load of I1s per source prefix and for the host (and falls back when the flood ends), R1s
// rationed so a flood gets back less than it sends, and the critical bit of unknown parameters.

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

/** The puzzle K an honest initiator's I2 solved. */
function solvedK(trace: { bytes: Uint8Array }[]): number {
  const i2 = trace.find((t) => (t.bytes[2]! & 0x7f) === PacketType.I2);
  const decoded = i2 && decodePacket(i2.bytes);
  assert.ok(decoded?.ok, 'I2 was sent');
  return getParam(decoded.packet, 'SOLUTION')!.k;
}

/** Feeds `count` I1s from forged HITs at `spacingMs`, the source of each from `source(n)`; what went back. */
function floodI1s(
  b: ReturnType<typeof makePair>['b'], start: number, count: number, spacingMs: number, source: (n: number) => { address: string; port: number },
): { bytesIn: number; bytesOut: number; ks: number[] } {
  const prng = new Prng(0x9022 + count);
  let bytesIn = 0;
  let bytesOut = 0;
  const ks: number[] = [];
  for (let n = 0; n < count; n++) {
    const i1 = buildI1(randomHit(prng, b.host.hit), b.host.hit, DH_GROUPS);
    bytesIn += i1.length;
    b.handlePacket(start + n * spacingMs, i1, source(n), EP_B);
    for (let t = b.pollTransmit(); t !== undefined; t = b.pollTransmit()) {
      bytesOut += t.bytes.length;
      ks.push(r1PuzzleK(t.bytes));
    }
  }
  return { bytesIn, bytesOut, ks };
}

test('an I1 flood from one prefix raises K and spends R1s for that prefix only; an honest initiator elsewhere pays the idle price', () => {
  const { net, a, b } = makePair({ seed: 0x9022 });
  // 400 I1s within 0.8 s from one /24: far above what honest peers there send.
  const flood = floodI1s(b, net.now, 400, 2, (n) => ({ address: `203.0.113.${n % 250}`, port: 10500 + n }));
  net.now += 800;
  assert.ok(flood.ks.length <= 20 + 10, `R1s are rationed per prefix (${flood.ks.length} of 400 answered)`);
  assert.ok(flood.bytesOut < flood.bytesIn, `the flood gets back fewer bytes than it sends (${flood.bytesOut} of ${flood.bytesIn})`);
  assert.equal(flood.ks[0], 1, 'idle difficulty is low so honest peers do not notice');
  const status = b.host.responderStatus(net.now);
  assert.ok(status.busiestPrefixK >= 5, `the flooding prefix's K rose (${status.busiestPrefixK})`);
  assert.equal(status.k, 1, 'K for everyone else did not');
  assert.equal(b.host.associations().length, 0, 'a flood of I1s creates no state');
  assert.equal(b.dropped('r1-rate-limited'), 400 - flood.ks.length);

  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), net.now + 5_000), 'honest initiator establishes during the flood');
  assert.equal(solvedK(net.trace), 1, 'the honest initiator solved the idle puzzle');
});

test('a flood from many prefixes raises K for everyone; an honest initiator pays the raised price, and K falls back afterwards', () => {
  const { net, a, b } = makePair({ seed: 0x9024 });
  // 400 I1s within 0.8 s, each from its own /24.
  const flood = floodI1s(b, net.now, 400, 2, (n) => ({ address: `10.${n >> 8}.${n & 0xff}.9`, port: 10500 }));
  net.now += 800;
  assert.equal(flood.ks.length, 400, 'no prefix exceeded its ration');
  const peak = Math.max(...flood.ks);
  assert.ok(peak >= 3, `K rose under the flood (peak ${peak})`);
  assert.ok(flood.ks.every((k, i) => i === 0 || k >= flood.ks[i - 1]!), 'K never falls during the flood');

  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), net.now + 5_000), 'honest initiator establishes during the flood');
  assert.ok(solvedK(net.trace) >= 3, 'the I2 solved the raised puzzle');

  // Quiet for a minute: K is back to its idle value.
  net.runFor(60_000);
  assert.equal(b.host.responderStatus(net.now).k, 1, 'K falls back once the flood is over');
  assert.equal(b.host.responderStatus(net.now).busiestPrefixK, 1);
});

test('I1s from HITs not on the allow-list neither raise K nor earn an R1', () => {
  const { net, a, b } = makePair({ seed: 0x9025, b: { allowPeer: (hit) => hit.every((x, i) => x === a.host.hit[i]) } });
  let notifies = 0;
  let other = 0;
  const prng = new Prng(0x9025);
  for (let n = 0; n < 1_000; n++) {
    b.handlePacket(net.now + n, buildI1(randomHit(prng, b.host.hit), b.host.hit, DH_GROUPS), { address: '203.0.113.9', port: 10500 }, EP_B);
    for (let t = b.pollTransmit(); t !== undefined; t = b.pollTransmit()) {
      const d = decodePacket(t.bytes, { udp: true });
      if (d.ok && d.packet.packetType === PacketType.NOTIFY) notifies++;
      else other++;
    }
  }
  net.now += 1_000;
  assert.equal(other, 0, 'no R1 for a HIT we refuse');
  assert.ok(notifies <= 11, `BLOCKED_BY_POLICY is rate-limited (${notifies})`);
  assert.equal(b.dropped('policy'), 1_000);
  const status = b.host.responderStatus(net.now);
  assert.equal(status.k, 1, 'refused I1s are no load');
  assert.equal(status.busiestPrefixK, 1, 'not even for their own prefix');
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), net.now + 5_000));
  assert.equal(solvedK(net.trace), 1);
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

test('relayed I1s count against the original source the relay reports (RELAY_FROM), never against the relay: a flood through the relay does not starve an honest initiator behind the same relay', () => {
  const { net, b } = makePair({ seed: 0x9031 });
  const relay = { address: '192.0.2.200', port: 10500 };
  const prng = new Prng(0x9031);
  let floodAnswers = 0;
  // 400 I1s within 0.8 s, all from the relay's address, from one outside /24 as the relay saw them.
  for (let n = 0; n < 400; n++) {
    const i1 = buildI1(randomHit(prng, b.host.hit), b.host.hit, DH_GROUPS);
    b.host.handlePacket(net.now + n * 2, i1, relay, EP_B, { address: `203.0.113.${n % 250}`, port: 40000 + n });
    for (let t = b.host.pollTransmit(); t !== undefined; t = b.host.pollTransmit()) floodAnswers++;
  }
  net.now += 800;
  const status = b.host.responderStatus(net.now);
  assert.ok(floodAnswers <= 30, `R1s are rationed per original prefix (${floodAnswers} of 400 answered)`);
  assert.ok(status.busiestPrefixK >= 5, `the flooding prefix's K rose (${status.busiestPrefixK})`);
  assert.equal(status.k, 1, 'K for everyone else did not');

  // An honest initiator elsewhere, through the same relay: answered at once, at the idle price.
  const honest = buildI1(randomHit(prng, b.host.hit), b.host.hit, DH_GROUPS);
  b.host.handlePacket(net.now, honest, relay, EP_B, { address: '198.51.100.77', port: 10500 });
  const answer = b.host.pollTransmit();
  assert.ok(answer !== undefined, 'the honest relayed I1 got its R1');
  assert.equal(r1PuzzleK(answer.bytes), 1, 'at the idle difficulty');
  assert.deepEqual(answer.to, relay, 'the R1 goes back through the relay');
});
