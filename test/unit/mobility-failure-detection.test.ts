// When the primary becomes suspect: RFC 6298 timeouts, keepalives only when idle, and fast
// suspicion when data goes out and nothing comes back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DETECTION, FailureDetector, RttEstimator } from '../../src-main/mobility/failure-detection.js';

test('RTT estimation follows RFC 6298, with a 50 ms floor and a 3 s cap on the timeout', () => {
  const r = new RttEstimator();
  assert.equal(r.rto(), 1_000, 'no sample yet: 1 s');
  r.sample(100);
  assert.equal(r.srtt, 100);
  assert.equal(r.rto(), 300, 'SRTT + 4 × RTTVAR = 100 + 4 × 50');
  r.sample(200);
  assert.equal(r.srtt, 112.5, '7/8 × 100 + 1/8 × 200');
  assert.equal(r.rto(), 112.5 + 4 * 62.5, 'RTTVAR = 3/4 × 50 + 1/4 × 100');
  const fast = new RttEstimator();
  fast.sample(1);
  assert.equal(fast.rto(), 50, 'floor');
  const slow = new RttEstimator();
  slow.sample(5_000);
  assert.equal(slow.rto(), 3_000, 'cap');
  slow.sample(-1);
  slow.sample(Number.NaN);
  assert.equal(slow.srtt, 5_000, 'nonsense samples ignored');
});

test('keepalive after 20 s idle; omitted while data flows either way', () => {
  const d = new FailureDetector(DEFAULT_DETECTION, 0);
  assert.equal(d.check(19_999, 10), undefined);
  assert.equal(d.check(20_000, 10), 'keepalive');
  d.primaryProbed(20_000);
  for (let t = 20_010; t < 80_000; t += 10) {
    if (t % 20 === 0) d.dataSent(t);
    else d.dataReceived(t);
    assert.equal(d.check(t, 10), undefined, `nothing due at ${t} ms while data flows`);
  }
  assert.equal(d.keepaliveAt(), 79_990 + 20_000);
  const inboundOnly = new FailureDetector(DEFAULT_DETECTION, 0);
  for (let t = 0; t < 60_000; t += 100) inboundOnly.dataReceived(t);
  assert.equal(inboundOnly.check(60_000, 10), undefined, 'inbound traffic keeps NAT state too');
});

test('the keepalive interval is configurable', () => {
  const d = new FailureDetector({ ...DEFAULT_DETECTION, keepaliveMs: 5_000 }, 0);
  assert.equal(d.check(5_000, 10), 'keepalive');
});

test('sending into silence is suspect after max(3 × SRTT, 150 ms), counted from the first unanswered packet', () => {
  const d = new FailureDetector(DEFAULT_DETECTION, 0);
  d.dataSent(1_000);
  assert.equal(d.suspicionAt(10), undefined, 'one lone packet is never suspect');
  d.dataSent(1_010);
  assert.equal(d.suspicionAt(10), 1_150);
  assert.equal(d.check(1_149, 10), undefined);
  assert.equal(d.check(1_150, 10), 'suspect');
  assert.equal(d.suspicionAt(100), 1_300, '3 × SRTT on a long path');
  d.dataReceived(1_160);
  assert.equal(d.check(2_000, 10), undefined, 'an answer clears it');
});

test('false alarms on one-way traffic double the threshold up to 500 ms; inbound data resets it', () => {
  const d = new FailureDetector(DEFAULT_DETECTION, 0);
  const thresholds: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = 1_000 * (i + 1);
    d.dataSent(t);
    d.dataSent(t + 1);
    thresholds.push(d.suspicionAt(10)! - t);
    d.primaryConfirmed(t + 600); // the probe came back: the path was fine
    d.suspicionCleared(t + 550);
  }
  assert.deepEqual(thresholds, [150, 300, 500, 500, 500]);
  d.dataReceived(10_000);
  d.dataSent(10_010);
  d.dataSent(10_020);
  assert.equal(d.suspicionAt(10), 10_160, 'back to 150 ms');
});

test('a probe answer on the primary counts as hearing from the peer', () => {
  const d = new FailureDetector(DEFAULT_DETECTION, 0);
  d.dataSent(100);
  d.dataSent(110);
  d.primaryConfirmed(120);
  assert.equal(d.suspicionAt(10), undefined);
  assert.equal(d.heardAt, 120);
});
