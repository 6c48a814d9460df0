// Failures no interface event reports, on a virtual clock: an uplink that goes silent both ways,
// or one way only. HostCore's failure detection must notice from the data alone, move the
// traffic, and then stay put (no flapping). Asserted as the user sees it: loss, gap, the pair
// carrying traffic at the end, the number of moves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A_CELL, A_WIFI, B_ETH, mobileWorld, outcome } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
const say = (name: string, seed: number): void => console.log(`${name} seed ${seed} (set ${SEED_VAR} to replay)`);
const IN_FLIGHT_MS = 200;
/** Data silence is suspect after 150–500 ms (DEFAULT_DETECTION); a probe round settles it. */
const RECOVERY_BOUND_MS = 1_000;

test('silent failure: wifi blackholes both ways with no interface event; traffic is on cellular within a second and stays there', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x5e1e_0001);
  say('silent-failure', world.seed);
  // A little loss everywhere, so detection must tell noise from a failure.
  for (const u of [...a.uplinks, ...b.uplinks]) u.loss = 0.01;
  const t = world.now;
  const failAt = t + 100;
  world.at(failAt, () => {
    a.uplink('wifi0').txDead = true;
    a.uplink('wifi0').rxDead = true;
  });
  world.runFor(10_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  const gapAB = a.stream.longestGap(t, end);
  const gapBA = b.stream.longestGap(t, end);
  assert.ok(gapAB <= RECOVERY_BOUND_MS, `A→B gap ${gapAB} ms`);
  assert.ok(gapBA <= RECOVERY_BOUND_MS, `B→A gap ${gapBA} ms`);
  // Loss: what was sent before the silence was noticed and held (100 packets/s), plus the noise.
  assert.ok(a.stream.lost(t, end) <= 60, `A→B lost ${a.stream.lost(t, end)}`);
  assert.ok(b.stream.lost(t, end) <= 60, `B→A lost ${b.stream.lost(t, end)}`);
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`);
  assert.equal(b.pathText(), `${B_ETH}>${A_CELL}`);
  assert.equal(a.pathChanges(t).length, 1, `A moved once, not back and forth: ${JSON.stringify(a.pathChanges(t))}`);
  assert.equal(b.pathChanges(t).length, 1, `B moved once: ${JSON.stringify(b.pathChanges(t))}`);
  const [h] = a.handovers(t);
  assert.ok(h !== undefined && ['data-silence', 'keepalive', 'peer-poll'].includes(h.cause), `A's cause: ${h?.cause}`);
  assert.equal(h.localCause, undefined, 'no interface event to blame');
});

test('one-way failure A→B: wifi stops carrying A\'s packets but still delivers B\'s; A\'s traffic moves, once', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x5e1e_0002);
  say('one-way-a-to-b', world.seed);
  const t = world.now;
  world.at(t + 100, () => {
    a.uplink('wifi0').txDead = true;
  });
  world.runFor(10_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  const gapAB = a.stream.longestGap(t, end);
  assert.ok(gapAB <= RECOVERY_BOUND_MS, `A→B gap ${gapAB} ms`);
  assert.ok(a.stream.lost(t, end) <= 50, `A→B lost ${a.stream.lost(t, end)}`);
  assert.ok(b.stream.longestGap(t, end) <= 100, `B→A never stopped: gap ${b.stream.longestGap(t, end)} ms`);
  assert.equal(b.stream.lost(t, end), 0, 'B→A: nothing lost');
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`, 'A sends over cellular');
  assert.equal(b.pathText(), `${B_ETH}>${A_WIFI}`, 'B still sends to wifi, which delivers');
  assert.deepEqual(a.stream.lastPair(), { from: A_CELL, to: B_ETH });
  assert.equal(a.pathChanges(t).length, 1, `A moved once: ${JSON.stringify(a.pathChanges(t))}`);
  assert.equal(b.pathChanges(t).length, 0, `B's direction works: it stays (${JSON.stringify(b.pathChanges(t))})`);
});

test('one-way failure B→A: wifi still carries A\'s packets but no longer delivers B\'s; B\'s traffic moves to cellular, once', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x5e1e_0003);
  say('one-way-b-to-a', world.seed);
  const t = world.now;
  world.at(t + 100, () => {
    a.uplink('wifi0').rxDead = true;
  });
  world.runFor(10_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end));

  assert.equal(a.stream.lost(t, end), 0, 'A→B: nothing lost');
  assert.ok(a.stream.longestGap(t, end) <= 100, `A→B never stopped: gap ${a.stream.longestGap(t, end)} ms`);
  const gapBA = b.stream.longestGap(t, end);
  assert.ok(gapBA <= RECOVERY_BOUND_MS, `B→A gap ${gapBA} ms, lost ${b.stream.lost(t, end)}`);
  assert.ok(b.stream.lost(t, end) <= 50, `B→A lost ${b.stream.lost(t, end)}`);
  assert.equal(b.pathText(), `${B_ETH}>${A_CELL}`, 'B sends to A\'s cellular address');
  assert.deepEqual(b.stream.lastPair(), { from: B_ETH, to: A_CELL });
  // A's probes on cellular answer B's poll; B must not follow their source, nor A's wifi data back.
  assert.equal(b.pathChanges(t).length, 1, `B moved once: ${JSON.stringify(b.pathChanges(t).map((c) => [c.at, c.to, c.cause]))}`);
  assert.ok(a.pathChanges(t).length <= 1, `A moved at most once: ${JSON.stringify(a.pathChanges(t))}`);
});
