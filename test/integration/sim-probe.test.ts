// The HIP-level probe behind `hipvpn ping`, on the deterministic simulated network: an UPDATE
// with SEQ + ECHO_REQUEST_SIGNED answered by ACK + ECHO_RESPONSE_SIGNED (RFC 7401 §5.2.20,
// RFC 8046 §5.3). It must survive loss, report the locator pair that answered, and refuse
// replayed and forged answers while counting them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUpdate } from '../../src-main/hip/messages.js';
import { seedFromEnv } from '../support/sim-network.js';
import { equalBytes } from '../../src-main/base/bytes.js';
import { EP_A, EP_B, established, identity, makePair, seededCrypto, type TestHost } from '../support/hip-hosts.js';
import { updateOf } from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x5eed_0a11);
console.log(`sim-probe seed ${SEED} (set SIM_SEED to replay)`);

const isProbe = (bytes: Uint8Array): boolean => updateOf(bytes)?.echoRequest !== undefined;
const isProbeAnswer = (bytes: Uint8Array): boolean => updateOf(bytes)?.echoResponse !== undefined;

function connected(seed: number): ReturnType<typeof makePair> {
  const pair = makePair({ seed });
  pair.a.act((h) => h.connect(pair.net.now, pair.b.host.hit, EP_B));
  assert.ok(pair.net.runUntil(() => established(pair.a) && established(pair.b), 5_000), `base exchange did not converge (seed ${seed})`);
  pair.net.runFor(100);
  return pair;
}

function sendProbe(h: TestHost, peer: TestHost, now: number): Uint8Array {
  let nonce: Uint8Array | undefined;
  h.act((host) => {
    const r = host.probe(now, peer.host.hit);
    assert.ok(r.ok, `probe refused: ${r.ok ? '' : r.reason}`);
    nonce = r.nonce;
  });
  return nonce!;
}

test('a probe is answered with its own nonce, and reports the locator pair the answer came over', () => {
  const { net, a, b } = connected(SEED);
  const sentAt = net.now;
  const nonce = sendProbe(a, b, net.now);
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 0, sentAt + 5_000), 'probe never answered');
  const answered = a.eventsOf('probe-answered')[0]!;
  assert.ok(equalBytes(answered.nonce, nonce), 'answer must carry our nonce');
  assert.deepEqual(answered.local, EP_A);
  assert.deepEqual(answered.remote, EP_B);
  assert.equal(answered.retransmissions, 0);
  assert.equal(net.now - sentAt, 20, 'one round trip over two 10 ms links');
  assert.equal(a.state(b), 'ESTABLISHED');
  assert.deepEqual(a.host.counters.dropped, {});
  assert.deepEqual(b.host.counters.dropped, {});
  // The wire form: the request rides on a SEQ, the answer acknowledges exactly that SEQ.
  const request = net.trace.map((t) => updateOf(t.bytes)).find((u) => u?.echoRequest !== undefined)!;
  const answer = net.trace.map((t) => updateOf(t.bytes)).find((u) => u?.echoResponse !== undefined)!;
  assert.ok(request.seq !== undefined, 'probe must carry SEQ');
  assert.deepEqual(answer.ack, [request.seq]);
  assert.ok(equalBytes(answer.echoResponse!, nonce), 'the echo comes back unchanged');

  // A second probe works too, with a fresh nonce and the next Update ID.
  const second = sendProbe(a, b, net.now);
  assert.ok(!equalBytes(second, nonce), 'every probe needs a new nonce');
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 1, net.now + 5_000), 'second probe never answered');
});

test('a lost probe is re-sent, and a lost answer is re-sent by the peer unchanged', () => {
  const { net, a, b } = connected(SEED + 1);
  let droppedProbe = false;
  let droppedAnswer = false;
  net.filter = ({ bytes }) => {
    if (!droppedProbe && isProbe(bytes)) { droppedProbe = true; return undefined; }
    if (droppedProbe && !droppedAnswer && isProbeAnswer(bytes)) { droppedAnswer = true; return undefined; }
    return bytes;
  };
  const start = net.now;
  const nonce = sendProbe(a, b, net.now);
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 0, start + 30_000), 'probe never answered after loss');
  assert.ok(droppedProbe && droppedAnswer, 'both the probe and the first answer were lost');
  const answered = a.eventsOf('probe-answered')[0]!;
  assert.ok(equalBytes(answered.nonce, nonce), 'answer must carry our nonce');
  assert.equal(answered.retransmissions, 2);
  // First re-send after 1 s, second after 2 more (doubling back-off), then one round trip.
  assert.equal(net.now - start, 3_020);
  const answers = net.trace.filter((t) => isProbeAnswer(t.bytes));
  assert.equal(answers.length, 2, 'the peer answered the original and the re-sent probe');
  assert.ok(equalBytes(answers[0]!.bytes, answers[1]!.bytes), 'a re-sent SEQ gets the very same answer, not a second one');
  assert.equal(b.eventsOf('probe-answered').length, 0);
  assert.deepEqual(a.host.counters.dropped, {});
});

test('a replayed probe answer is dropped and counted, without spending a MAC check', () => {
  const { net, a, b } = connected(SEED + 2);
  sendProbe(a, b, net.now);
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 0, net.now + 5_000), 'probe never answered');
  const answer = net.trace.find((t) => isProbeAnswer(t.bytes))!;

  // Replayed while no probe is outstanding, then while a newer probe is.
  net.inject(EP_B, EP_A, answer.bytes);
  net.runFor(50);
  assert.equal(a.dropped('echo-mismatch'), 1);
  net.filter = ({ bytes }) => (isProbe(bytes) ? undefined : bytes); // keep the new probe unanswered for now
  sendProbe(a, b, net.now);
  net.inject(EP_B, EP_A, answer.bytes);
  net.runFor(50);
  assert.equal(a.dropped('echo-mismatch'), 2);
  assert.equal(a.eventsOf('probe-answered').length, 1, 'a replay must never complete a probe');
  net.filter = undefined;
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 1, net.now + 5_000), 'the genuine answer still completes the probe');
  assert.equal(a.state(b), 'ESTABLISHED');
});

test('a forged answer carrying the right nonce but not the association keys is dropped and counted', () => {
  const { net, a, b } = connected(SEED + 3);
  // The attacker sees the probe on the wire (its nonce is not secret) and suppresses the real answer once.
  let probeBytes: Uint8Array | undefined;
  let suppressed = false;
  net.filter = ({ bytes }) => {
    if (isProbe(bytes)) probeBytes ??= bytes;
    if (!suppressed && isProbeAnswer(bytes)) { suppressed = true; return undefined; }
    return bytes;
  };
  const nonce = sendProbe(a, b, net.now);
  net.runFor(30);
  const probe = updateOf(probeBytes!)!;
  const attacker = identity('ecdsa-p256', 7);
  const forged = buildUpdate(
    { crypto: seededCrypto(SEED), identity: attacker }, 'sha256', new Uint8Array(32).fill(0x42), b.host.hit, a.host.hit,
    { ack: [probe.seq!], echoResponse: nonce },
  );
  net.inject(EP_B, EP_A, forged);
  net.runFor(10);
  assert.equal(a.dropped('bad-mac'), 1);
  assert.equal(a.eventsOf('probe-answered').length, 0, 'a forged answer must not complete the probe');
  // The probe is still outstanding and its re-send gets the genuine answer.
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 0, net.now + 5_000), 'genuine answer after the forgery');
  assert.equal(a.eventsOf('probe-answered')[0]!.retransmissions, 1);
});

test('an unanswered probe ends as lost after its retries and leaves the association established', () => {
  const { net, a, b } = connected(SEED + 4);
  net.filter = ({ bytes }) => (isProbe(bytes) ? undefined : bytes);
  sendProbe(a, b, net.now);
  assert.ok(net.runUntil(() => a.eventsOf('probe-lost').length > 0, net.now + 120_000), 'probe never given up');
  assert.equal(a.eventsOf('probe-lost')[0]!.reason, 'retries-exceeded');
  assert.equal(a.state(b), 'ESTABLISHED');
  assert.equal(a.eventsOf('failed').length, 0);
  net.filter = undefined;
  sendProbe(a, b, net.now);
  assert.ok(net.runUntil(() => a.eventsOf('probe-answered').length > 0, net.now + 5_000), 'a later probe still works');
});

test('probes are refused without an association, and yield to a rekey', () => {
  const { net, a, b } = makePair({ seed: SEED + 5 });
  a.act((h) => assert.deepEqual(h.probe(net.now, b.host.hit), { ok: false, reason: 'no-association' }));
  a.act((h) => h.connect(net.now, b.host.hit, EP_B));
  a.act((h) => assert.deepEqual(h.probe(net.now, b.host.hit), { ok: false, reason: 'not-established' }));
  assert.ok(net.runUntil(() => established(a) && established(b), 5_000), 'base exchange');
  net.runFor(100);
  net.filter = ({ bytes }) => (isProbe(bytes) ? undefined : bytes);
  sendProbe(a, b, net.now);
  a.act((h) => assert.deepEqual(h.probe(net.now, b.host.hit), { ok: false, reason: 'busy' }));
  a.act((h) => h.rekey(net.now, b.host.hit));
  assert.equal(a.eventsOf('probe-lost')[0]?.reason, 'superseded');
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length > 0 && b.eventsOf('rekeyed').length > 0, net.now + 5_000), 'rekey completes');
});
