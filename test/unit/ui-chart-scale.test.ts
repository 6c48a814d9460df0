// The charts' scale and the shortened HIT: what a person reads off the axes and the tables.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CHART_WINDOW_S, niceCeil, timeTicks, timeX, yScale } from '../../src-shared/chart-scale.js';
import { shortHit } from '../../src-shared/hit-text.js';

describe('chart scale', () => {
  test('an RTT from 1.5 to 13 ms over a 20 ms floor: the axis runs 0..20 ms, the rise is about half its height, not all of it', () => {
    const s = yScale([1.5, 1.6, 13], 20);
    assert.equal(s.max, 20);
    assert.deepEqual(s.ticks, [0, 5, 10, 15, 20]);
    assert.ok((13 - 1.5) / s.max < 0.6);
  });

  test('a peak above the floor: a round top at or above the peak, ticks from 0 in equal steps', () => {
    const s = yScale([3, 87, undefined], 20);
    assert.equal(s.max, 100);
    assert.deepEqual(s.ticks, [0, 25, 50, 75, 100]);
    assert.deepEqual(yScale([0, 0], 1250).ticks[0], 0, 'an idle link sits on 0, not mid-chart');
    assert.equal(yScale([], 0).max, 4, 'no samples and no floor: still a scale');
  });

  test('round numbers: 1, 2, 2.5, 5 times a power of ten', () => {
    assert.deepEqual([0.3, 1, 1.1, 2.2, 3, 7, 12, 4900].map(niceCeil), [0.5, 1, 2, 2.5, 5, 10, 20, 5000]);
    assert.equal(niceCeil(0), 1);
    assert.equal(niceCeil(Number.NaN), 1);
  });

  test('a fixed time window: the newest sample at the right, one 2 minutes old at the left, older ones not drawn', () => {
    const now = 1_000_000;
    assert.equal(timeX(now, now), 1);
    assert.equal(timeX(now - CHART_WINDOW_S * 500, now), 0.5);
    assert.equal(timeX(now - CHART_WINDOW_S * 1000, now), 0);
    assert.equal(timeX(now - CHART_WINDOW_S * 1000 - 1, now), null);
    assert.deepEqual(timeTicks().map((t) => t.label), ['−2 min', '−90 s', '−1 min', '−30 s', 'now']);
  });
});

describe('shortened HIT', () => {
  test('first two groups and the last, the middle elided', () => {
    assert.equal(shortHit('2001:22:9184:d55f:7016:8deb:7eb1:bf70'), '2001:22:…:bf70');
  });
  test('anything that is not a full HIT is shown as it is', () => {
    assert.equal(shortHit('2001:22::1'), '2001:22::1');
    assert.equal(shortHit('bob'), 'bob');
  });
});
