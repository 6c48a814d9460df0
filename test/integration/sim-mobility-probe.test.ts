// Per-pair probes for pair selection: an UPDATE with SEQ + ECHO_REQUEST_SIGNED (opaque = probe
// id) from a chosen local to a chosen remote, carrying PAIR_PROBE_REPORT (the probe ids we
// recently received). The answer comes back on the same pair; a one-way path shows up as probes
// received but never answered. Forged and replayed answers are refused and counted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUpdate } from '../../src-main/hip/messages.js';
import { encodeProbeReport, PAIR_PROBE_REPORT_TYPE, probeIdOpaque } from '../../src-main/hip/pair-probe.js';
import { seedFromEnv } from '../support/sim-network.js';
import { identity, seededCrypto } from '../support/hip-hosts.js';
import {
  A_CELL, A_WIFI, B_MAIN, cell, connected, mobileWorld, remoteOf, same, updatesSent, wifi,
} from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0b11_e003);
console.log(`sim-mobility-probe seed ${SEED} (set SIM_SEED to replay)`);

function withCell(seed: number): ReturnType<typeof mobileWorld> {
  const w = connected(mobileWorld(seed));
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  assert.ok(w.net.runUntil(() => w.b.eventsOf('locator-verified').length === 1, w.net.now + 2_000), 'cell verified');
  w.net.runFor(100);
  return w;
}

test('a pair probe goes out on the pair asked for, is reported at the peer with its report, and answered on the same pair', () => {
  const { net, a, b } = withCell(SEED);
  const start = net.now;
  let result: { ok: boolean } | undefined;
  a.act((h) => { result = h.probePair(net.now, b.host.hit, A_CELL, B_MAIN, 0xc0ffee, [7, 8, 9]); });
  assert.deepEqual(result, { ok: true });
  assert.ok(net.runUntil(() => a.eventsOf('pair-probe-answered').length === 1, start + 1_000), 'probe never answered');
  const probe = updatesSent(net).find((x) => x.u.report !== undefined)!;
  assert.ok(same(probe.from, A_CELL) && same(probe.to, B_MAIN), 'sent from the local and to the remote asked for');
  assert.deepEqual(probe.u.report, [7, 8, 9]);
  assert.ok(probe.u.seq !== undefined);
  const received = b.eventsOf('pair-probe-received')[0]!;
  assert.deepEqual(received.pair, { local: B_MAIN, remote: A_CELL });
  assert.equal(received.probeId, 0xc0ffee);
  assert.deepEqual(received.report, [7, 8, 9]);
  const answer = updatesSent(net).find((x) => x.u.ack.includes(probe.u.seq!) && x.u.echoResponse !== undefined && same(x.to, A_CELL))!;
  assert.ok(same(answer.from, B_MAIN) && same(answer.to, A_CELL), 'answered on the pair the probe came on');
  const answered = a.eventsOf('pair-probe-answered')[0]!;
  assert.deepEqual(answered.pair, { local: A_CELL, remote: B_MAIN });
  assert.equal(answered.probeId, 0xc0ffee);
  assert.equal(answered.rttMs, 20);
  assert.equal(b.eventsOf('pair-probe-answered').length, 0);
  assert.deepEqual(a.host.counters.dropped, {});
  assert.deepEqual(b.host.counters.dropped, {});
});

test('a peer whose pair is in doubt follows neither a pair probe\'s source nor the answer to its own probe: both take the pair under test', () => {
  const { net, a, b } = withCell(SEED + 5);
  b.act((h) => h.setPathInDoubt(a.host.hit, true));
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  const start = net.now;
  a.act((h) => void h.probePair(net.now, b.host.hit, A_CELL, B_MAIN, 0x51, []));
  b.act((h) => void h.probePair(net.now, a.host.hit, B_MAIN, A_CELL, 0x52, []));
  assert.ok(net.runUntil(() => a.eventsOf('pair-probe-answered').length === 1 && b.eventsOf('pair-probe-answered').length === 1, start + 1_000), 'probes answered');
  net.runFor(100);
  assert.deepEqual(b.eventsOf('address-changed'), [], 'B still sends to A\'s wifi');
  assert.deepEqual(a.eventsOf('address-changed'), [], 'A still sends to B\'s main address');
  assert.ok(same(remoteOf(b, a), A_WIFI));
  assert.ok(same(remoteOf(a, b), B_MAIN));
});

test('a one-way path: probes arrive and are reported, answers never come, and nothing is re-sent', () => {
  const { net, a, b } = withCell(SEED + 1);
  net.setLink(B_MAIN, A_CELL, { delayMs: 10, jitterMs: 0, loss: 1, duplicate: 0 }); // B → A over cell is dead
  for (let i = 1; i <= 3; i++) {
    a.act((h) => h.probePair(net.now, b.host.hit, A_CELL, B_MAIN, i, []));
    net.runFor(300);
  }
  net.runFor(20_000);
  assert.deepEqual(b.eventsOf('pair-probe-received').map((e) => e.probeId), [1, 2, 3], 'B saw every probe');
  assert.equal(a.eventsOf('pair-probe-answered').length, 0, 'A heard no answer');
  assert.equal(updatesSent(net).filter((x) => x.u.report !== undefined).length, 3, 'pair probes are never re-sent');
  // B's own probe over the working direction carries what it received: A learns its probes got through.
  b.act((h) => h.probePair(net.now, a.host.hit, B_MAIN, A_WIFI, 100, b.eventsOf('pair-probe-received').map((e) => e.probeId)));
  assert.ok(net.runUntil(() => a.eventsOf('pair-probe-received').length === 1, net.now + 1_000), 'B\'s probe never arrived');
  assert.deepEqual(a.eventsOf('pair-probe-received')[0]!.report, [1, 2, 3]);
  assert.equal(a.state(b), 'ESTABLISHED');
  assert.equal(b.state(a), 'ESTABLISHED');
});

test('probes to an address the peer never gave are refused; unanswered ones are forgotten', () => {
  const { net, a, b } = withCell(SEED + 2);
  let result: { ok: boolean; reason?: string } | undefined;
  a.act((h) => { result = h.probePair(net.now, b.host.hit, A_WIFI, { address: '203.0.113.200', port: 10500 }, 1, []); });
  assert.deepEqual(result, { ok: false, reason: 'unknown-locator' });
  a.act((h) => { result = h.probePair(net.now, new Uint8Array(16).fill(1), A_WIFI, B_MAIN, 1, []); });
  assert.deepEqual(result, { ok: false, reason: 'no-association' });
  // Hundreds of probes into a dead path: memory stays bounded, the association unharmed.
  net.setLink(A_CELL, B_MAIN, { delayMs: 10, jitterMs: 0, loss: 1, duplicate: 0 });
  for (let i = 0; i < 500; i++) a.act((h) => h.probePair(net.now, b.host.hit, A_CELL, B_MAIN, 1_000 + i, []));
  net.runFor(15_000);
  // Only the renewal of our locators' lifetime (half of it after the announcement) is still due.
  assert.ok((a.host.nextTimeout() ?? Number.POSITIVE_INFINITY) > net.now + 100_000, 'no probe left waiting');
  a.act((h) => h.probePair(net.now, b.host.hit, A_WIFI, B_MAIN, 5, []));
  assert.ok(net.runUntil(() => a.eventsOf('pair-probe-answered').length === 1, net.now + 1_000), 'a probe after many lost still works');
});

test('a replayed probe answer and a forged one are refused and counted; neither completes a probe', () => {
  const { net, a, b } = withCell(SEED + 3);
  a.act((h) => h.probePair(net.now, b.host.hit, A_WIFI, B_MAIN, 42, []));
  assert.ok(net.runUntil(() => a.eventsOf('pair-probe-answered').length === 1, net.now + 1_000), 'answered');
  const probe = updatesSent(net).find((x) => x.u.report !== undefined)!;
  const answer = updatesSent(net).find((x) => x.u.ack.includes(probe.u.seq!) && x.u.echoResponse !== undefined && same(x.from, B_MAIN))!;
  net.inject(B_MAIN, A_WIFI, answer.bytes);
  net.runFor(50);
  assert.equal(a.dropped('echo-mismatch'), 1, 'replay of an answer already used');
  // A forged answer to a probe still outstanding, signed with someone else's key.
  net.setLink(A_WIFI, B_MAIN, { delayMs: 10, jitterMs: 0, loss: 1, duplicate: 0 });
  a.act((h) => h.probePair(net.now, b.host.hit, A_WIFI, B_MAIN, 43, []));
  net.runFor(1);
  const outstanding = updatesSent(net).filter((x) => x.u.report !== undefined).at(-1)!;
  const forged = buildUpdate({ crypto: seededCrypto(SEED), identity: identity('ecdsa-p256', 9) }, 'sha384', new Uint8Array(48), b.host.hit, a.host.hit, {
    ack: [outstanding.u.seq!], echoResponse: probeIdOpaque(43), extra: [encodeProbeReport([43])],
  });
  net.inject(B_MAIN, A_WIFI, forged);
  net.runFor(50);
  assert.equal(outstanding.u.echoRequest?.[3], 43, 'the forgery answers the probe still outstanding');
  assert.equal(a.dropped('bad-mac'), 1, 'refused by HIP_MAC');
  assert.equal(a.eventsOf('pair-probe-answered').length, 1, 'no answer accepted for probe 43');
  assert.equal(PAIR_PROBE_REPORT_TYPE % 2, 0, 'the report parameter is non-critical');
});
