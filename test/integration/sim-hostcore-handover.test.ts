// Handovers between two uplinks on a virtual clock: the same HostCore the engine drives, two of
// them over a simulated network, each streaming 100 packets/s to the other. What is asserted is
// what a user notices — packets lost, the longest gap, which pair carries traffic at the end, how
// often it moved — not the packets HIP exchanged on the way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A_CELL, A_WIFI, B_ETH, mobileWorld, outcome } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
const say = (name: string, seed: number): void => console.log(`${name} seed ${seed} (set ${SEED_VAR} to replay)`);
/** Packets sent this close to the end may still be in flight. */
const IN_FLIGHT_MS = 200;

test('make before break: cellular comes up, wifi goes down after; nothing is lost, traffic ends on cellular, one move each way', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x4b1d_0001, { cell: 'absent' });
  say('make-before-break', world.seed);
  const t = world.now;
  world.at(t + 100, () => a.appear('cell0'));
  world.at(t + 3_000, () => a.linkDown('wifi0'));
  world.runFor(6_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  assert.equal(a.stream.lost(t, end), 0, 'A→B: nothing lost');
  assert.equal(b.stream.lost(t, end), 0, 'B→A: nothing lost');
  // 100 packets/s: one every 10 ms; the cellular path is 20 ms longer than the wifi one.
  assert.ok(a.stream.longestGap(t, end) <= 40, `A→B gap ${a.stream.longestGap(t, end)} ms`);
  assert.ok(b.stream.longestGap(t, end) <= 40, `B→A gap ${b.stream.longestGap(t, end)} ms`);
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`);
  assert.equal(b.pathText(), `${B_ETH}>${A_CELL}`);
  assert.deepEqual(a.stream.lastPair(), { from: A_CELL, to: B_ETH }, 'the last packets arrived over cellular');
  assert.equal(a.pathChanges(t).length, 1, 'A moved once');
  assert.equal(b.pathChanges(t).length, 1, 'B moved once');
  const [h] = a.handovers(t);
  assert.equal(h?.cause, 'pair-deleted');
  assert.equal(h?.localCause, 'interface-down', 'the monitor\'s report travelled with the handover it caused');
  assert.equal(h?.gapMs, 0);
  assert.equal(h?.at, t + 3_000, 'moved the moment the monitor reported wifi down');
});

test('break before make: wifi goes down, cellular comes up 2 s later; the gap is the outage plus a round trip, and the move names the link that went down', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x4b1d_0002, { cell: 'absent' });
  say('break-before-make', world.seed);
  const t = world.now;
  const OUTAGE_MS = 2_000;
  world.at(t + 100, () => a.linkDown('wifi0'));
  world.at(t + 100 + OUTAGE_MS, () => a.appear('cell0'));
  world.runFor(6_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  const gapAB = a.stream.longestGap(t, end);
  const gapBA = b.stream.longestGap(t, end);
  // A's first packet on cellular takes 30 ms; B moves when it hears A's new source (one more way).
  assert.ok(gapAB >= OUTAGE_MS && gapAB <= OUTAGE_MS + 100, `A→B gap ${gapAB} ms`);
  assert.ok(gapBA >= OUTAGE_MS && gapBA <= OUTAGE_MS + 150, `B→A gap ${gapBA} ms`);
  // A held what it sent while it had no pair and sent it again on cellular.
  assert.equal(a.stream.lost(t, end), 0, 'A→B: nothing lost');
  // B held from the moment its failure detection noticed the silence (150 ms of data silence).
  assert.ok(b.stream.lost(t, end) <= 20, `B→A lost ${b.stream.lost(t, end)}: only what B sent before it noticed`);
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`);
  assert.equal(b.pathText(), `${B_ETH}>${A_CELL}`);
  assert.equal(a.pathChanges(t).length, 1, 'A moved once');
  assert.equal(b.pathChanges(t).length, 1, 'B moved once');
  const [h] = a.handovers(t);
  assert.equal(h?.cause, 'pair-added', 'moved when a pair appeared, with none left before');
  assert.equal(h?.localCause, 'interface-down', 'the cause is the report 2 s earlier that took the old pair away');
  assert.ok(h !== undefined && h.gapMs >= OUTAGE_MS, `the handover's own gap ${h?.gapMs} ms`);
});

test('wifi goes down and comes back: traffic leaves it at once and returns once, losing only what B sent before it heard', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x4b1d_0003);
  say('return-to-wifi', world.seed);
  const t = world.now;
  world.at(t + 100, () => a.linkDown('wifi0'));
  world.at(t + 2_000, () => a.linkUp('wifi0'));
  world.runFor(8_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  assert.equal(a.stream.lost(t, end), 0, 'A→B: A moved the moment wifi went down');
  // B learns from A's UPDATE over cellular; what it sent to wifi before that is gone (no spare
  // was copying: cellular was there from the start, not a sign of wifi fading).
  assert.ok(b.stream.lost(t, end) <= 10, `B→A lost ${b.stream.lost(t, end)}`);
  assert.equal(a.pathText(), `${A_WIFI}>${B_ETH}`, 'back on wifi');
  assert.deepEqual(a.pathChanges(t).map((c) => c.cause), ['pair-deleted', 'better-pair'], 'away and back: two moves');
  assert.ok(b.pathChanges(t).length <= 2, `B moved ${b.pathChanges(t).length} times`);
});
