// ICMP destination-unreachable as a hint (seed 003 §3.3), on a virtual clock. A router that
// refuses the primary path with an ICMP error lets the host start probing the other pairs at
// once instead of waiting for failure detection; but an ICMP error is unauthenticated, so it
// never moves traffic by itself, a flood of them costs a bounded number of probes, and one
// about a pair that is not the primary is counted and ignored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A_CELL, A_WIFI, B_ETH, PORT, mobileWorld, outcome, type SimHost, type SimWorld } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
const say = (name: string, seed: number): void => console.log(`${name} seed ${seed} (set ${SEED_VAR} to replay)`);
/**
 * From the first packet after the idle spell to its arrival on the other pair: the ICMP error
 * (one wifi round trip, 10 ms), one probe round trip on cellular (60 ms), and the held packet
 * re-sent over cellular (30 ms), with room to spare. Failure detection alone needs a silence of
 * at least 150 ms before it even probes.
 */
const ICMP_RECOVERY_BOUND_MS = 150;

function pauseStreams(...hosts: SimHost[]): void {
  for (const h of hosts) h.nextDataAt = Number.POSITIVE_INFINITY;
}

function resumeStreams(world: SimWorld, ...hosts: SimHost[]): void {
  for (const h of hosts) h.nextDataAt = world.now;
}

/** An ICMP error as A's data plane would report it: A sent from `local` to `remote`, refused. */
function icmpTo(world: SimWorld, host: SimHost, local: string, remote: string, port = PORT): void {
  host.core.handleDataplane(world.now, { type: 'icmp-error', local: { address: local, port: PORT }, remote: { address: remote, port } });
  world.drain();
}

/** The first arrival of the host's stream at or after `since`. */
function firstArrival(h: SimHost, since: number): number | undefined {
  const times = [...h.stream.arrivals.values()].map((a) => a.at).filter((t) => t >= since);
  return times.length === 0 ? undefined : Math.min(...times);
}

// Per packet as the in-process data plane reports; sampled as the native fast path does (the
// arrival pair when it changes, the rest as counters), where a report of where the peer's ESP
// comes in must not end the search the ICMP error started.
for (const reports of ['per packet', 'sampled'] as const) test(`after an idle spell, wifi's router refuses the first packet with ICMP: traffic is on cellular within a probe round trip (ESP reported ${reports})`, () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x1c3b_0001);
  say(`icmp-after-idle (${reports})`, world.seed);
  a.sampledReports = b.sampledReports = reports === 'sampled';
  pauseStreams(a, b);
  world.runFor(5_000);
  a.uplink('wifi0').rejecting = true;
  const t = world.now;
  resumeStreams(world, a, b);
  world.runFor(3_000);
  console.log(outcome(a, b, t, world.now - 200), JSON.stringify(a.core.icmpHints));

  const first = firstArrival(a, t);
  assert.ok(first !== undefined && first - t <= ICMP_RECOVERY_BOUND_MS, `A→B first packet after idle arrived ${first === undefined ? 'never' : `${first - t} ms`} after it was sent`);
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`);
  assert.equal(a.pathChanges(t).length, 1, JSON.stringify(a.pathChanges(t)));
  assert.equal(a.handovers(t)[0]?.cause, 'icmp');
  // Lost: only what left before the ICMP error came back (one wifi round trip at 100 packets/s);
  // what followed was held and re-sent on cellular.
  assert.ok(a.stream.lost(t, world.now - 200) <= 2, `A→B lost ${a.stream.lost(t, world.now - 200)}`);
  assert.ok(a.core.icmpHints['icmp-hint'] >= 1, JSON.stringify(a.core.icmpHints));
  // B's packets to wifi are refused too, and B hears of it the same way.
  assert.equal(b.pathText(), `${B_ETH}>${A_CELL}`);
  const firstBack = firstArrival(b, t);
  assert.ok(firstBack !== undefined && firstBack - t <= ICMP_RECOVERY_BOUND_MS, `B→A first packet after idle: ${firstBack === undefined ? 'never' : `${firstBack - t} ms`}`);
});

test('an ICMP error never moves traffic by itself: it moves once a probe of another pair passes, not before', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x1c3b_0002);
  say('icmp-no-move-without-proof', world.seed);
  const t = world.now;
  // A spoofed error about a primary that works: the primary's own probe answers first, nothing moves.
  icmpTo(world, a, A_WIFI, B_ETH);
  world.runFor(1_000);
  assert.deepEqual(a.pathChanges(t), [], 'a working primary keeps the traffic');
  assert.equal(a.core.icmpHints['icmp-hint'], 1);
  assert.equal(a.stream.lost(t, world.now - 200), 0);

  // Wifi refuses, and cellular is dead as well: no probe can pass, so the traffic stays put.
  const cell = a.uplink('cell0');
  cell.txDead = true;
  cell.rxDead = true;
  a.uplink('wifi0').rejecting = true;
  const t2 = world.now;
  world.runFor(400);
  assert.deepEqual(a.pathChanges(t2), [], 'no pair proved itself: the traffic stays on wifi');
  assert.ok(a.core.icmpHints['icmp-hint'] >= 2, JSON.stringify(a.core.icmpHints));
  // Cellular comes back: the next probe on it passes and the traffic follows it.
  const revived = world.now;
  cell.txDead = false;
  cell.rxDead = false;
  world.runFor(3_000);
  console.log(outcome(a, b, t2, world.now - 200));
  const moves = a.pathChanges(t2);
  assert.equal(moves.length, 1, JSON.stringify(moves));
  assert.ok(moves[0]!.at >= revived, `moved at ${moves[0]!.at}, before cellular could answer (${revived})`);
  assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`);
});

test('a flood of spoofed ICMP errors about the primary costs at most one hint a second, and moves nothing', () => {
  const run = (flood: boolean): { a: SimHost; b: SimHost; t: number; world: SimWorld } => {
    const { world, a, b } = mobileWorld(SEED_VAR, 0x1c3b_0003);
    const t = world.now;
    if (flood) for (let ms = 0; ms < 10_000; ms += 2) world.at(t + ms, () => icmpTo(world, a, A_WIFI, B_ETH));
    world.runFor(10_000);
    return { a, b, t, world };
  };
  const quiet = run(false);
  const flooded = run(true);
  say('icmp-flood', flooded.world.seed);
  const { a, b, t, world } = flooded;
  const hints = a.core.icmpHints;
  console.log(outcome(a, b, t, world.now - 200), JSON.stringify(hints), `HIP sent ${a.hipSent} (without the flood ${quiet.a.hipSent})`);
  assert.equal(hints['icmp-hint'] + hints['icmp-hint-limited'], 5_000, 'every error counted');
  assert.ok(hints['icmp-hint'] <= 10, `hints acted on: ${hints['icmp-hint']}`);
  // Each hint costs the primary's probe, one to the other pair, and the answer to the check of
  // its own that the peer makes on hearing the second.
  const extra = a.hipSent - quiet.a.hipSent;
  assert.ok(extra <= 3 * hints['icmp-hint'] + 2, `the flood cost ${extra} extra HIP packets for ${hints['icmp-hint']} hints`);
  assert.deepEqual(a.pathChanges(t), [], 'the primary works: it keeps the traffic');
  assert.equal(a.stream.lost(t, world.now - 200), 0);
  assert.equal(b.stream.lost(t, world.now - 200), 0);
});

test('an ICMP error about a pair that is not the primary, or about no peer at all, is counted and ignored', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x1c3b_0004);
  say('icmp-not-primary', world.seed);
  const t = world.now;
  const sentBefore = a.hipSent;
  icmpTo(world, a, A_CELL, B_ETH); // the spare pair
  icmpTo(world, a, A_WIFI, B_ETH, PORT + 1); // the peer's address, another port: not our datagram
  icmpTo(world, a, A_WIFI, '198.51.100.77'); // nobody we talk to
  assert.equal(a.hipSent, sentBefore, 'no probe went out');
  assert.deepEqual(a.core.icmpHints, { 'icmp-hint': 0, 'icmp-hint-limited': 0, 'icmp-not-primary': 2, 'icmp-unknown': 1 });
  world.runFor(2_000);
  assert.deepEqual(a.pathChanges(t), []);
  assert.equal(a.stream.lost(t, world.now - 200), 0);
  assert.equal(b.stream.lost(t, world.now - 200), 0);
});
