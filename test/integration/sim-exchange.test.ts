// Two HIP hosts over the simulated network: the base exchange across every negotiable choice,
// simultaneous opening, loss, duplication and reordering, retransmission back-off and failure,
// I2 replay, CLOSE, and rekeying. Every random choice comes from the printed seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from '../../src-main/hip/wire/codec.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import type { SigningKeyKind } from '../../src-main/hip/crypto/provider.js';
import type { HostEvent } from '../../src-main/hip/host.js';
import { seedFromEnv } from '../support/sim-network.js';
import { EP_A, EP_B, established, makePair } from '../support/hip-hosts.js';

const SEED = seedFromEnv('SIM_SEED', 0x5eed_0001);
console.log(`sim-exchange seed ${SEED} (set SIM_SEED to replay)`);

type Established = Extract<HostEvent, { type: 'established' }>;

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, got ${items.length}`);
  return items[0]!;
}

/** What a peer would notice if the two sides disagreed: SPIs and keys must mirror each other. */
function assertMirrored(x: Established, y: Established): void {
  assert.equal(x.sa.suite, y.sa.suite);
  assert.equal(x.sa.outboundSpi, y.sa.inboundSpi);
  assert.equal(x.sa.inboundSpi, y.sa.outboundSpi);
  assert.deepEqual(x.sa.outbound, y.sa.inbound);
  assert.deepEqual(x.sa.inbound, y.sa.outbound);
  assert.notDeepEqual(x.sa.outbound, x.sa.inbound, 'the two directions must not share keys');
}

function packetTypeOf(bytes: Uint8Array): number | undefined {
  const d = decodePacket(bytes);
  return d.ok ? d.packet.packetType : undefined;
}

const KINDS: SigningKeyKind[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'];
const DH = [7, 8];
const CIPHERS = [1, 2, 4];
const SUITES = [8, 9, 12, 13];

test('base exchange converges with matching keys for every DH group, HIP cipher, ESP suite and identity kind', () => {
  let n = 0;
  for (const kind of KINDS) {
    for (const dh of DH) {
      for (const cipher of CIPHERS) {
        for (const suite of SUITES) {
          const seed = SEED + n;
          // The peer's identity kind rotates too, so mixed suites (and their RHASHes) meet.
          const kindB = KINDS[(KINDS.indexOf(kind) + n) % KINDS.length]!;
          const config = { dhGroups: [dh], hipCiphers: [cipher], espSuites: [suite] };
          const { net, a, b } = makePair({ seed, kindA: kind, kindB, a: config, b: config });
          const [init, resp] = n % 2 === 0 ? [a, b] : [b, a]; // both directions
          init.act((h) => h.connect(net.now, resp.host.hit, resp.endpoint));
          const label = `${kind}/${kindB} dh ${dh} cipher ${cipher} esp ${suite} seed ${seed}`;
          assert.ok(net.runUntil(() => established(a) && established(b), 5_000), `no convergence: ${label}`);
          const ei = only(init.eventsOf('established'), 'established');
          const er = only(resp.eventsOf('established'), 'established');
          assert.equal(ei.initiator, true);
          assert.equal(er.initiator, false);
          assert.equal(ei.sa.suite, suite, label);
          assertMirrored(ei, er);
          assert.deepEqual(ei.peer.hit, resp.host.hit);
          assert.deepEqual(er.peer.hit, init.host.hit);
          assert.equal(init.host.associations()[0]!.hipCipher, cipher, label);
          assert.equal(init.state(resp), 'ESTABLISHED');
          assert.equal(resp.state(init), 'R2-SENT');
          assert.deepEqual(init.host.counters.dropped, {}, label);
          assert.deepEqual(resp.host.counters.dropped, {}, label);
          n++;
        }
      }
    }
  }
});

test('the DH group follows the initiator\'s preference among groups both support', () => {
  const { net, a, b } = makePair({ seed: SEED, a: { dhGroups: [8, 7] }, b: { dhGroups: [7, 8] } });
  const r1Groups: number[] = [];
  net.filter = ({ bytes }) => {
    const d = decodePacket(bytes);
    if (d.ok && d.packet.packetType === PacketType.R1) {
      const dh = d.packet.params.find((p) => p.kind === 'DIFFIE_HELLMAN');
      if (dh?.kind === 'DIFFIE_HELLMAN') r1Groups.push(dh.groupId);
    }
    return bytes;
  };
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  assert.deepEqual(r1Groups, [8]);
});

test('R2-SENT becomes ESTABLISHED on authenticated ESP, or on its timer', () => {
  const { net, a, b } = makePair({ seed: SEED, b: { timers: { r2SentHoldMs: 2_000 } } });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  assert.equal(b.state(a), 'R2-SENT');
  b.act((h) => h.espAuthenticated(net.now, a.host.hit));
  assert.equal(b.state(a), 'ESTABLISHED');

  const second = makePair({ seed: SEED + 1, b: { timers: { r2SentHoldMs: 2_000 } } });
  second.a.act((h) => h.connect(second.net.now, second.b.host.hit, EP_B));
  assert.ok(second.net.runUntil(() => established(second.b), 5_000));
  const at = second.net.now;
  second.net.runFor(1_900);
  assert.equal(second.b.state(second.a), 'R2-SENT');
  second.net.runFor(200);
  assert.equal(second.b.state(second.a), 'ESTABLISHED');
  assert.ok(second.net.now - at >= 2_000);
});

test('simultaneous opening converges to one association, the larger HIT answering', () => {
  for (let s = 0; s < 8; s++) {
    const { net, a, b } = makePair({ seed: SEED + 100 + s });
    a.act((h) => h.connect(net.now, b.host.hit, EP_B));
    b.act((h) => h.connect(net.now, a.host.hit, EP_A));
    assert.ok(net.runUntil(() => established(a) && established(b), 10_000), `seed ${SEED + 100 + s}`);
    net.runFor(30_000); // every retransmission and stray packet has played out
    const ea = only(a.eventsOf('established'), 'established at A');
    const eb = only(b.eventsOf('established'), 'established at B');
    assertMirrored(ea, eb);
    assert.equal(a.host.associations().length, 1);
    assert.equal(b.host.associations().length, 1);
    const aLarger = Buffer.compare(Buffer.from(a.host.hit), Buffer.from(b.host.hit)) > 0;
    assert.equal(ea.initiator, !aLarger, 'the larger HIT acts as responder');
    assert.equal(eb.initiator, aLarger);
    assert.equal(a.state(b), 'ESTABLISHED');
    assert.equal(b.state(a), 'ESTABLISHED');
  }
});

test('simultaneous opening where the smaller HIT knows the larger by a stale port: its I1 follows the peer\'s, no waiting out retransmissions', () => {
  for (let s = 0; s < 4; s++) {
    const { net, a, b } = makePair({ seed: SEED + 150 + s });
    const aLarger = Buffer.compare(Buffer.from(a.host.hit), Buffer.from(b.host.hit)) > 0;
    const [small, large] = aLarger ? [b, a] : [a, b];
    // The larger HIT restarted on another port; the smaller still has the old one.
    const stale = { ...large.endpoint, port: large.endpoint.port + 1 };
    const start = net.now;
    small.act((h) => h.connect(net.now, large.host.hit, stale));
    large.act((h) => h.connect(net.now, small.host.hit, small.endpoint));
    assert.ok(net.runUntil(() => established(a) && established(b), 60_000), `seed ${SEED + 150 + s}: never established`);
    const took = net.now - start;
    assert.ok(took < 500, `established ${took} ms after both began: the smaller HIT's I1 should go where the peer's came from (seed ${SEED + 150 + s})`);
    assertMirrored(only(a.eventsOf('established'), 'established at A'), only(b.eventsOf('established'), 'established at B'));
    assert.equal(only(small.eventsOf('established'), 'established').initiator, true, 'the smaller HIT initiates');
  }
});

test('20% loss with duplication and reordering still converges, on both sides, to one association', () => {
  for (let s = 0; s < 16; s++) {
    const seed = SEED + 200 + s;
    const { net, a, b } = makePair({ seed });
    net.setDefaultLink({ delayMs: 20, jitterMs: 60, loss: 0.2, duplicate: 0.2 });
    a.act((h) => h.connect(net.now, b.host.hit, EP_B));
    assert.ok(net.runUntil(() => established(a) && established(b), 60_000), `seed ${seed}`);
    net.runFor(60_000);
    assertMirrored(only(a.eventsOf('established'), 'established'), only(b.eventsOf('established'), 'established'));
    assert.equal(a.host.associations().length, 1, `seed ${seed}`);
    assert.equal(b.host.associations().length, 1, `seed ${seed}`);
    assert.equal(a.eventsOf('failed').length, 0);
  }
});

test('I1 is re-sent with doubling back-off up to its cap, then the attempt fails', () => {
  const { net, a, b } = makePair({ seed: SEED });
  net.setLink(EP_A, EP_B, { delayMs: 10, jitterMs: 0, loss: 1, duplicate: 0 });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  net.runFor(60_000);
  const i1Times = net.trace.filter((t) => packetTypeOf(t.bytes) === PacketType.I1).map((t) => t.sentAt);
  // defaults: 1 s first wait, doubling, capped at 8 s, 5 re-sends
  assert.deepEqual(i1Times, [0, 1_000, 3_000, 7_000, 15_000, 23_000]);
  const failed = only(a.eventsOf('failed'), 'failed');
  assert.equal(failed.reason, 'i1-retries-exceeded');
  const toFailed = a.eventsOf('state').find((e) => e.to === 'E-FAILED');
  assert.ok(toFailed);
  assert.equal(a.host.associations().length, 0, 'E-FAILED is forgotten after its hold time');
  assert.equal(a.eventsOf('established').length, 0);
});

test('I2 is re-sent when R2 is lost, and fails after I2_RETRIES_MAX', () => {
  const { net, a, b } = makePair({ seed: SEED, a: { timers: { initialRetransmitMs: 500, maxRetransmitMs: 2_000, i2RetriesMax: 3 } } });
  net.filter = ({ bytes }) => (packetTypeOf(bytes) === PacketType.R2 ? undefined : bytes);
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  net.runFor(30_000);
  const i2 = net.trace.filter((t) => packetTypeOf(t.bytes) === PacketType.I2).map((t) => t.sentAt);
  assert.equal(i2.length, 4);
  assert.deepEqual(i2.slice(1).map((t, k) => t - i2[k]!), [500, 1_000, 2_000]);
  assert.equal(only(a.eventsOf('failed'), 'failed').reason, 'i2-retries-exceeded');
  // The responder answered each retransmitted I2 with its one R2 and made one association.
  assert.equal(b.dropped('i2-replay'), 3);
  assert.equal(b.eventsOf('established').length, 1);
});

test('a replayed I2 gets the same R2 again where the I2 came from, rate-limited, nothing elsewhere, and creates nothing new', () => {
  const { net, a, b } = makePair({ seed: SEED });
  let i2: Uint8Array | undefined;
  const r2s: Uint8Array[] = [];
  net.filter = ({ bytes }) => {
    const t = packetTypeOf(bytes);
    if (t === PacketType.I2) i2 = bytes;
    if (t === PacketType.R2) r2s.push(bytes);
    return bytes;
  };
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  b.act((h) => h.espAuthenticated(net.now, a.host.hit));
  const before = b.host.associations();
  const replayer = { address: '192.0.2.66', port: 40_001 };
  net.runFor(1_000);
  net.inject(EP_A, EP_B, i2!);
  net.inject(EP_A, EP_B, i2!, 5);
  for (let i = 0; i < 100; i++) net.inject(replayer, EP_B, i2!, i);
  net.runFor(1_000);
  assert.equal(r2s.length, 2, 'the original R2 and one more: the second re-send came too soon, the replayer got none');
  assert.deepEqual(r2s[1], r2s[0]);
  assert.equal(net.trace.filter((t) => t.to.address === replayer.address).length, 0, 'nothing sent to the replayer');
  assert.equal(b.dropped('i2-replay'), 102);
  assert.deepEqual(b.host.associations(), before);
  assert.equal(b.eventsOf('established').length, 1);
  assert.equal(a.state(b), 'ESTABLISHED');
});

test('CLOSE and CLOSE_ACK end the association on both sides', () => {
  const { net, a, b } = makePair({ seed: SEED, b: { timers: { closedHoldMs: 5_000 } } });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  a.act((h) => h.close(net.now, b.host.hit));
  assert.equal(a.state(b), 'CLOSING');
  assert.ok(net.runUntil(() => a.eventsOf('closed').length > 0, 5_000));
  assert.deepEqual(a.eventsOf('closed').map((e) => e.byPeer), [false]);
  assert.deepEqual(b.eventsOf('closed').map((e) => e.byPeer), [true]);
  assert.equal(a.host.associations().length, 0);
  assert.equal(b.state(a), 'CLOSED');
  net.runFor(6_000);
  assert.equal(b.host.associations().length, 0, 'CLOSED is forgotten after its hold time');
});

test('a lost CLOSE_ACK is recovered by re-sending CLOSE; CLOSED answers again', () => {
  const { net, a, b } = makePair({ seed: SEED });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  let dropFirstAck = true;
  net.filter = ({ bytes }) => {
    if (dropFirstAck && packetTypeOf(bytes) === PacketType.CLOSE_ACK) { dropFirstAck = false; return undefined; }
    return bytes;
  };
  a.act((h) => h.close(net.now, b.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('closed').length > 0, 10_000));
  assert.equal(b.eventsOf('closed').length, 1);
  const closes = net.trace.filter((t) => packetTypeOf(t.bytes) === PacketType.CLOSE);
  assert.equal(closes.length, 2);
});

test('rekeying gives new SPIs and new keys on both sides, mirrored', () => {
  for (const initiatorIsA of [true, false]) {
    const { net, a, b } = makePair({ seed: SEED + (initiatorIsA ? 0 : 1), a: { espSuites: [12] }, b: { espSuites: [12] } });
    a.act((h) => h.connect(net.now, b.host.hit, EP_B));
    assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
    const [x, y] = initiatorIsA ? [a, b] : [b, a];
    x.act((h) => h.rekey(net.now, y.host.hit));
    assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length > 0 && b.eventsOf('rekeyed').length > 0, 10_000));
    const ra = only(a.eventsOf('rekeyed'), 'rekeyed');
    const rb = only(b.eventsOf('rekeyed'), 'rekeyed');
    const ea = only(a.eventsOf('established'), 'established');
    assert.equal(ra.oldInboundSpi, ea.sa.inboundSpi);
    assert.equal(ra.oldOutboundSpi, ea.sa.outboundSpi);
    assert.notEqual(ra.sa.inboundSpi, ea.sa.inboundSpi);
    assert.notEqual(ra.sa.outboundSpi, ea.sa.outboundSpi);
    assert.notDeepEqual(ra.sa.outbound, ea.sa.outbound);
    assert.equal(ra.sa.outboundSpi, rb.sa.inboundSpi);
    assert.deepEqual(ra.sa.outbound, rb.sa.inbound);
    assert.deepEqual(ra.sa.inbound, rb.sa.outbound);
    net.runFor(30_000);
    // The UPDATE exchange is finished: nothing left to re-send, nothing failed.
    assert.equal(a.eventsOf('failed').length + b.eventsOf('failed').length, 0);
    assert.equal(a.host.nextTimeout(), undefined);
    assert.equal(a.eventsOf('rekeyed').length, 1);
    assert.equal(b.eventsOf('rekeyed').length, 1);
    // The responder was still in R2-SENT: the authenticated UPDATE confirmed the association.
    assert.equal(a.state(b), 'ESTABLISHED');
    assert.equal(b.state(a), 'ESTABLISHED');
  }
});

test('rekeying survives loss and duplication, and twice in a row, and both sides at once', () => {
  const { net, a, b } = makePair({ seed: SEED + 300 });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  net.setDefaultLink({ delayMs: 20, jitterMs: 40, loss: 0.3, duplicate: 0.3 });
  a.act((h) => h.rekey(net.now, b.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 1 && b.eventsOf('rekeyed').length === 1, net.now + 60_000));
  net.runFor(60_000);
  b.act((h) => h.rekey(net.now, a.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 2 && b.eventsOf('rekeyed').length === 2, net.now + 60_000));
  net.runFor(60_000);
  net.setDefaultLink({ delayMs: 20, jitterMs: 0, loss: 0, duplicate: 0 });
  a.act((h) => h.rekey(net.now, b.host.hit));
  b.act((h) => h.rekey(net.now, a.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 3 && b.eventsOf('rekeyed').length === 3, net.now + 60_000));
  net.runFor(60_000);
  const ra = a.eventsOf('rekeyed');
  const rb = b.eventsOf('rekeyed');
  assert.equal(ra.length, 3);
  assert.equal(rb.length, 3);
  for (let k = 0; k < 3; k++) {
    assert.equal(ra[k]!.sa.outboundSpi, rb[k]!.sa.inboundSpi);
    assert.deepEqual(ra[k]!.sa.outbound, rb[k]!.sa.inbound);
    assert.deepEqual(ra[k]!.sa.inbound, rb[k]!.sa.outbound);
  }
  assert.equal(a.eventsOf('failed').length + b.eventsOf('failed').length, 0);
});

test('an unanswered UPDATE is re-sent, then the association is reported failed', () => {
  const { net, a, b } = makePair({ seed: SEED, a: { timers: { updateRetriesMax: 2 } } });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000));
  net.setLink(EP_A, EP_B, { delayMs: 10, jitterMs: 0, loss: 1, duplicate: 0 });
  const t0 = net.now;
  a.act((h) => h.rekey(net.now, b.host.hit));
  net.runFor(30_000);
  const updates = net.trace.filter((t) => packetTypeOf(t.bytes) === PacketType.UPDATE).map((t) => t.sentAt - t0);
  assert.deepEqual(updates, [0, 1_000, 3_000]);
  assert.equal(only(a.eventsOf('failed'), 'failed').reason, 'update-retries-exceeded');
  assert.equal(a.eventsOf('rekeyed').length, 0);
});

test('policy refuses peers that are not allowed, counted, with BLOCKED_BY_POLICY', () => {
  const { net, a, b } = makePair({ seed: SEED, b: { allowPeer: () => false } });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  net.runFor(2_500);
  assert.ok(b.dropped('policy') >= 1);
  assert.equal(b.host.associations().length, 0);
  const notes = a.eventsOf('notify');
  assert.ok(notes.length >= 1);
  assert.equal(notes[0]!.notifyType, 42);
  assert.equal(notes[0]!.authenticated, false, 'no key known yet to check it with');
  assert.equal(a.state(b), 'I1-SENT', 'a NOTIFY never changes state');
});
