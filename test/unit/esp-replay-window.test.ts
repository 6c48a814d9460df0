import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayWindow } from '../../src-main/esp/replay-window.js';

/** The obvious (slow) definition the bitmap must agree with. */
class ModelWindow {
  top = 0;
  seen = new Set<number>();
  constructor(readonly size: number) {}
  check(seq: number): string {
    if (seq <= 0) return 'too-old';
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.size) return 'too-old';
    return this.seen.has(seq) ? 'replay' : 'ok';
  }
  accept(seq: number): void {
    this.seen.add(seq);
    if (seq > this.top) this.top = seq;
  }
}

test('rejects windows smaller than 1024 and rounds to whole words', () => {
  assert.throws(() => new ReplayWindow(512), RangeError);
  assert.equal(new ReplayWindow(1025).size, 1056);
  assert.equal(new ReplayWindow().size, 2048);
});

test('sequence 0 is never acceptable; first packet is', () => {
  const w = new ReplayWindow();
  assert.equal(w.check(0), 'too-old');
  assert.equal(w.check(1), 'ok');
  w.accept(1);
  assert.equal(w.check(1), 'replay');
});

test('check() alone never changes the window', () => {
  const w = new ReplayWindow(1024);
  w.accept(5000);
  for (let s = 1; s < 10_000; s++) w.check(s);
  assert.equal(w.highest, 5000);
  assert.equal(w.check(4999), 'ok');
  assert.equal(w.check(5000), 'replay');
});

test('edge of the window: size−1 behind is judged, size behind is too old', () => {
  const w = new ReplayWindow(1024);
  w.accept(10_000);
  assert.equal(w.check(10_000 - 1023), 'ok');
  assert.equal(w.check(10_000 - 1024), 'too-old');
});

test('1000-packet reorder inside the default window: every packet accepted once, replays caught', () => {
  const w = new ReplayWindow();
  const order = [...Array.from({ length: 1000 }, (_, i) => 1001 + i), ...Array.from({ length: 1000 }, (_, i) => 1000 - i)];
  for (const s of order) {
    assert.equal(w.check(s), 'ok', `seq ${s}`);
    w.accept(s);
  }
  for (const s of order) assert.equal(w.check(s), 'replay');
});

test('a jump larger than the whole ring clears old state', () => {
  const w = new ReplayWindow(1024);
  for (let s = 1; s <= 2000; s++) w.accept(s);
  w.accept(1_000_000);
  assert.equal(w.check(1_000_000 - 1), 'ok');
  assert.equal(w.check(1_000_000 - 1000), 'ok');
  assert.equal(w.check(2000), 'too-old');
});

test('agrees with a set-based model over 200,000 random operations, incl. ring wrap-around', () => {
  let state = 0x12345678;
  const rnd = (n: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
  for (const size of [1024, 2048]) {
    const w = new ReplayWindow(size);
    const m = new ModelWindow(w.size);
    for (let i = 0; i < 100_000; i++) {
      const r = rnd(100);
      let seq: number;
      if (r < 60) seq = m.top + 1 + rnd(40); // mostly forward, small gaps
      else if (r < 95) seq = Math.max(1, m.top - rnd(size + 64)); // around and beyond the left edge
      else seq = m.top + rnd(5 * size); // big jumps
      const got = w.check(seq);
      assert.equal(got, m.check(seq), `size ${size} op ${i} seq ${seq} top ${m.top}`);
      if (got === 'ok' && rnd(4) !== 0) {
        w.accept(seq);
        m.accept(seq);
      }
    }
  }
});

test('handles the top of the 32-bit sequence space', () => {
  const w = new ReplayWindow();
  w.accept(0xffffffff - 1);
  assert.equal(w.check(0xffffffff), 'ok');
  w.accept(0xffffffff);
  assert.equal(w.check(0xffffffff), 'replay');
  assert.equal(w.check(0xffffffff - 1), 'replay');
  assert.equal(w.check(0xffffffff - 2), 'ok');
});
