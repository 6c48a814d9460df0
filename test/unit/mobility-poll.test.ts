// The Poll protocol (seed 003 §5.4): identifiers, reports of what the peer's probes we got,
// and what confirms one of our probes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isReplyWanted, PollSession, REPLY_WANTED } from '../../src-main/mobility/poll.js';

const P1 = { local: '10.0.0.2', remote: '192.0.2.1' };
const P2 = { local: '10.0.0.2', remote: '198.51.100.1' };
const opts = { firstSequence: 100, reportSize: 3, reportWindowMs: 10_000, sentMemoryMs: 30_000 };

test('identifiers count up and carry the reply-wanted bit', () => {
  const s = new PollSession<string>(opts);
  const a = s.send(0, P1, true, 50, 'test').probeId;
  const b = s.send(0, P1, false, 50, 'report').probeId;
  assert.equal(a, (REPLY_WANTED | 101) >>> 0);
  assert.equal(b, 102);
  assert.equal(isReplyWanted(a), true);
  assert.equal(isReplyWanted(b), false);
  assert.equal(isReplyWanted(a | 0), true, 'also when arithmetic made it negative');
});

test('reports carry the newest peer identifiers within the window, at most reportSize of them', () => {
  const s = new PollSession<string>(opts);
  for (let i = 1; i <= 5; i++) s.received(i, i, []);
  assert.deepEqual(s.send(10, P1, true, 50, 't').report, [5, 4, 3]);
  assert.deepEqual(s.report(10_004), [5], 'older ones age out of the window');
});

test('an answer confirms a probe once; a duplicate answer or an unknown id is ignored', () => {
  const s = new PollSession<string>(opts);
  const { probeId } = s.send(0, P1, true, 50, 't');
  assert.equal(s.answered(probeId)?.pair.remote, P1.remote);
  assert.equal(s.answered(probeId), undefined);
  assert.equal(s.answered(12345), undefined);
  assert.deepEqual(s.expire(100), { timedOut: [], oneWay: [] });
});

test('a report in the peer\'s probe confirms our probe even though its answer never came: one-way', () => {
  const s = new PollSession<string>(opts);
  const { probeId } = s.send(0, P1, true, 50, 't');
  const got = s.received(30, 0x8000_0001, [probeId]);
  assert.deepEqual(got.confirmed.map((p) => p.probeId), [probeId]);
  assert.equal(got.replyWanted, true);
  assert.equal(s.received(31, 0x8000_0002, [probeId]).confirmed.length, 0, 'confirmed once');
  const { timedOut, oneWay } = s.expire(60);
  assert.equal(timedOut.length, 0);
  assert.deepEqual(oneWay.map((p) => p.probeId), [probeId], 'reported but unanswered by its timeout');
  assert.equal(s.answered(probeId)?.probeId, probeId, 'an answer after a report still counts: it proves more');
});

test('timeouts are reported once; a late answer still confirms; very old probes are forgotten', () => {
  const s = new PollSession<string>(opts);
  const a = s.send(0, P1, true, 50, 't').probeId;
  const b = s.send(0, P2, true, 500, 't').probeId;
  assert.equal(s.nextDeadline(), 50);
  assert.deepEqual(s.expire(50).timedOut.map((p) => p.probeId), [a]);
  assert.deepEqual(s.expire(60).timedOut, [], 'once only');
  assert.equal(s.nextDeadline(), 500);
  assert.equal(s.pendingOn(`${P1.local}|${P1.remote}`), false);
  assert.equal(s.pendingOn(`${P2.local}|${P2.remote}`), true);
  assert.equal(s.answered(a)?.outcome, 'confirmed', 'late answer accepted');
  s.expire(40_000);
  assert.equal(s.answered(b), undefined, 'forgotten after sentMemoryMs');
});

test('a retransmitted peer probe is flagged duplicate and reported once', () => {
  const s = new PollSession<string>(opts);
  assert.equal(s.received(0, 0x8000_0009, []).duplicate, false);
  assert.equal(s.received(5, 0x8000_0009, []).duplicate, true);
  assert.deepEqual(s.report(6), [0x8000_0009]);
});
