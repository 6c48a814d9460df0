// A peer that stops answering must be noticed while we send to it, and only then: an idle
// tunnel, or one that is answering, must never be probed for nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LivenessMonitor } from '../../src-main/engine/liveness.js';

const POLICY = { silenceMs: 3_000, probeWindowMs: 6_000 };

test('an idle tunnel is never probed', () => {
  const m = new LivenessMonitor(POLICY);
  for (let now = 0; now <= 60_000; now += 500) assert.equal(m.observe('p', now, 0, 0), false, `probed at ${now} ms`);
});

test('sending with answers coming back is never probed', () => {
  const m = new LivenessMonitor(POLICY);
  for (let now = 0, out = 0; now <= 60_000; now += 500, out += 10) {
    assert.equal(m.observe('p', now, out, now - 100), false, `probed at ${now} ms`);
  }
});

test('sending into silence is probed once the silence lasts silenceMs, counted from the last thing heard', () => {
  const m = new LivenessMonitor(POLICY);
  assert.equal(m.observe('p', 0, 0, 0), false);
  // The peer went away at 10 s; we keep sending.
  let out = 0;
  let probedAt: number | undefined;
  for (let now = 500; now <= 20_000 && probedAt === undefined; now += 500) {
    out += 10;
    if (m.observe('p', now, out, Math.min(now, 10_000))) probedAt = now;
  }
  assert.equal(probedAt, 13_000, 'probe due exactly silenceMs after the last inbound packet');
});

test('a probe answer counts as hearing from the peer', () => {
  const m = new LivenessMonitor(POLICY);
  m.observe('p', 0, 0, 0);
  assert.equal(m.observe('p', 4_000, 5, 0), true, 'one-way traffic for 4 s: probe');
  m.heard('p', 4_050);
  assert.equal(m.observe('p', 4_500, 5, 0), false, 'answered, and nothing sent since');
  assert.equal(m.observe('p', 6_000, 9, 0), false, 'sending again, but heard 2 s ago');
  assert.equal(m.observe('p', 7_500, 12, 0), true, 'silent for silenceMs again: probe again');
});

test('peers are tracked apart, and a forgotten peer starts afresh', () => {
  const m = new LivenessMonitor(POLICY);
  m.observe('a', 0, 0, 0);
  m.observe('b', 0, 0, 0);
  assert.equal(m.observe('a', 5_000, 3, 0), true);
  assert.equal(m.observe('b', 5_000, 0, 0), false, 'b sent nothing');
  m.forget('a');
  assert.equal(m.observe('a', 5_500, 4, 5_000), false, 'a new association starts with a clean slate');
});
