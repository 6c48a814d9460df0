// Handovers of a host behind NATs whose peer is behind a NAT of its own, both registered with a
// relay (seed 000 §5.1.2), on the simulated network: A's wifi0 behind a home NAT, her cell0
// behind a symmetric carrier NAT, B behind a home NAT. On Wi-Fi the two go direct; on cellular
// only the relay carries their traffic. Under a 100 packets/s stream each way A moves Wi-Fi →
// cellular → Wi-Fi, make-before-break (the new uplink up 2 s before the old one goes), and the
// streams must lose nothing: the relayed pair bridges while the direct one is checked. The same
// world as test/system/handover-relay-nat.test.ts. Seeded (SIM_SEED replays a run); each run
// prints its seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimHost } from '../support/sim-hosts.js';
import { BOB_PUBLIC, HOME_PUBLIC, RELAY_ADDRESS, SEED_VAR, connectThroughRelay, relayMobileWorld, runUntil } from '../support/sim-relay.js';

const ROUNDS = 5;
/** The new uplink is up this long before the old one goes (the system test's lead). */
const LEAD_MS = 2_000;
/** Time after the old uplink went that the streams must have settled in. */
const SETTLE_MS = 3_000;
/** Packets sent this close to the end of a measurement may still be in flight. */
const IN_FLIGHT_MS = 300;

/** Where `h` sends its peer's ESP: 'relay', 'direct' (the peer's NAT), or the address. */
function route(h: SimHost, peerNat: string): string {
  const remote = h.remoteOf(h.peer!)?.address;
  return remote === RELAY_ADDRESS ? 'relay' : remote === peerNat ? 'direct' : `${remote}`;
}

function startedPair(seed: number) {
  const w = relayMobileWorld(seed);
  const { world, a, b } = w;
  connectThroughRelay(world, a, b);
  const via = (): string => `${route(a, BOB_PUBLIC)}/${route(b, HOME_PUBLIC)}`;
  assert.ok(runUntil(world, () => via() === 'direct/direct', 2_000), `seed ${world.seed}: direct on Wi-Fi (${via()})`);
  a.setStreaming(true);
  b.setStreaming(true);
  world.runFor(2_000);
  return { ...w, via };
}

interface Measured { lostAB: number; lostBA: number; gapAB: number; gapBA: number; via: string }

/** `up` comes up, `down` goes LEAD_MS later; what the two streams lost from `up` on. */
function makeBeforeBreak(w: ReturnType<typeof startedPair>, up: string, down: string): Measured {
  const { world, a, b } = w;
  const from = world.now;
  a.linkUp(up);
  world.runFor(LEAD_MS);
  a.linkDown(down);
  world.runFor(SETTLE_MS);
  const to = world.now - IN_FLIGHT_MS;
  return {
    lostAB: a.stream.lost(from, to), lostBA: b.stream.lost(from, to),
    gapAB: a.stream.longestGap(from, world.now), gapBA: b.stream.longestGap(from, world.now), via: w.via(),
  };
}

/** How long B's NAT keeps A's direct packets out right after A moved onto the direct pair. */
const REFUSED_MS = 200;

const line = (m: Measured): string => `A→B lost ${m.lostAB} (gap ${m.gapAB} ms), B→A lost ${m.lostBA} (gap ${m.gapBA} ms); now ${m.via}`;

test('make-before-break between a home NAT and a symmetric carrier NAT, the peer behind its own NAT and a relay between: nothing lost either way', () => {
  const w = startedPair(0x5e1a_0001);
  const { world } = w;
  const results: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const toCell = makeBeforeBreak(w, 'cell0', 'wifi0');
    results.push(`round ${round} wifi0 -> cell0: ${line(toCell)}`);
    const toWifi = makeBeforeBreak(w, 'wifi0', 'cell0');
    results.push(`round ${round} cell0 -> wifi0: ${line(toWifi)}`);
    console.log(`seed ${world.seed} (set ${SEED_VAR} to replay)\n  ${results.slice(-2).join('\n  ')}`);
    assert.equal(toCell.via, 'relay/relay', `seed ${world.seed} round ${round}: on cellular both go through the relay`);
    assert.equal(toWifi.via, 'direct/direct', `seed ${world.seed} round ${round}: back on Wi-Fi both go direct`);
    assert.equal(toCell.lostAB + toCell.lostBA, 0, `seed ${world.seed} round ${round} Wi-Fi to cellular: ${line(toCell)}`);
    assert.equal(toWifi.lostAB + toWifi.lostBA, 0, `seed ${world.seed} round ${round} cellular to Wi-Fi: ${line(toWifi)}`);
  }
});

test('leaving the relay for the direct pair, A keeps copying onto the relayed pair: what the peer\'s NAT refuses on the direct path right after the move still arrives', () => {
  const w = startedPair(0x5e1a_0201);
  const { world, a, b, nats } = w;
  const toCell = makeBeforeBreak(w, 'cell0', 'wifi0');
  assert.equal(toCell.via, 'relay/relay', `seed ${world.seed}: on cellular both go through the relay`);
  const from = world.now;
  a.linkUp('wifi0');
  assert.ok(runUntil(world, () => route(a, BOB_PUBLIC) === 'direct', LEAD_MS), `seed ${world.seed}: A moves to the direct pair on Wi-Fi`);
  // A's check passed, yet B's NAT drops what A sends directly for a while: its filter state
  // for A's Wi-Fi mapping is not (or no longer) open, as after a conntrack flush or an expiry.
  nats.bobHome.refuseFrom(HOME_PUBLIC);
  world.runFor(REFUSED_MS);
  nats.bobHome.refuseFrom(undefined);
  world.runFor(Math.max(0, LEAD_MS - (world.now - from)));
  a.linkDown('cell0');
  world.runFor(SETTLE_MS);
  const to = world.now - IN_FLIGHT_MS;
  const m: Measured = { lostAB: a.stream.lost(from, to), lostBA: b.stream.lost(from, to), gapAB: a.stream.longestGap(from, world.now), gapBA: b.stream.longestGap(from, world.now), via: w.via() };
  console.log(`seed ${world.seed} (set ${SEED_VAR} to replay) cell0 -> wifi0 with B's NAT refusing A's direct packets for ${REFUSED_MS} ms after the move: ${line(m)}`);
  assert.equal(m.lostAB, 0, `seed ${world.seed}: ${line(m)}`);
  assert.equal(m.via, 'direct/direct', `seed ${world.seed}: back on Wi-Fi both go direct`);
});

test('break-before-make between the home NAT and the carrier NAT with the relay: traffic flows again within 1 s of the new uplink coming up', () => {
  const w = startedPair(0x5e1a_0101);
  const { world, a, b } = w;
  /** `down` goes, `up` comes 2 s later: how long after that until each stream arrives again. */
  const breakBeforeMake = (down: string, up: string): { ab: number; ba: number; via: string } => {
    a.linkDown(down);
    world.runFor(2_000);
    const upAt = world.now;
    a.linkUp(up);
    const flowing = (h: SimHost): boolean => [...h.stream.arrivals.values()].some((x) => x.at > upAt);
    runUntil(world, () => flowing(a) && flowing(b), 5_000);
    const first = (h: SimHost): number => Math.min(...[...h.stream.arrivals.values()].filter((x) => x.at > upAt).map((x) => x.at)) - upAt;
    const r = { ab: first(a), ba: first(b), via: '' };
    world.runFor(3_000);
    return { ...r, via: w.via() };
  };
  for (let round = 1; round <= ROUNDS; round++) {
    const toCell = breakBeforeMake('wifi0', 'cell0');
    const toWifi = breakBeforeMake('cell0', 'wifi0');
    console.log(`seed ${world.seed} (set ${SEED_VAR} to replay) round ${round}: wifi0 -> cell0 A→B back after ${toCell.ab} ms, B→A after ${toCell.ba} ms (${toCell.via}); `
      + `cell0 -> wifi0 A→B ${toWifi.ab} ms, B→A ${toWifi.ba} ms (${toWifi.via})`);
    for (const [name, r] of [['Wi-Fi to cellular', toCell], ['cellular to Wi-Fi', toWifi]] as const) {
      assert.ok(r.ab <= 1_000 && r.ba <= 1_000, `seed ${world.seed} round ${round} ${name}: A→B back after ${r.ab} ms, B→A after ${r.ba} ms`);
    }
    assert.equal(toCell.via, 'relay/relay', `seed ${world.seed} round ${round}: on cellular both go through the relay`);
    assert.equal(toWifi.via, 'direct/direct', `seed ${world.seed} round ${round}: back on Wi-Fi both go direct`);
  }
});
