// Whole-path scenarios for pair selection, two hosts in a simulated world with a virtual clock:
// what a user of the tunnel would notice (packets lost, how long traffic stopped) and what the
// issue promises (silent failure left within 1 s, asymmetric paths used, keepalives silent while
// data flows, make-before-break losing nothing).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, local, peer } from './mobility-pair-world.js';
import type { SimHost } from './mobility-pair-world.js';
import { Prng, seedFromEnv } from '../support/sim-network.js';

const A_WIFI = '10.1.0.2';
const A_CELL = '10.2.0.2';
const B1 = '192.0.2.1';
const B2 = '198.51.100.1';

const wifi = local(A_WIFI, 'wifi0', 'wifi', 1);
const cell = local(A_CELL, 'cell0', 'cellular', 2);
const bEth = (address: string) => local(address, 'eth0', 'ethernet', 0);

/** A with wifi0 and cell0 uplinks, B with one address; connected over wifi. */
function twoUplinks(): World {
  const w = new World();
  w.link(A_WIFI, B1, true, 5);
  w.link(A_CELL, B1, true, 20);
  w.a.sel.setLocalLocators(0, [wifi, cell]);
  w.a.sel.setPeerLocators(0, [peer(B1)]);
  w.b.sel.setLocalLocators(0, [bEth(B1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI), peer(A_CELL)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  return w;
}

/** Sent after `from`, the first packet that arrived: when traffic resumed. */
function firstDeliveredFrom(h: SimHost, from: number): number | undefined {
  return h.delivered.find((t) => t > from);
}

function lostBetween(h: SimHost, from: number, to: number): number {
  const sent = h.sent.filter((t) => t >= from && t < to).length;
  const got = h.delivered.filter((t) => t >= from && t < to).length;
  return sent - got;
}

test('silent failure of the primary while traffic flows: both sides move to the working pair within 1 s', (t) => {
  const w = twoUplinks();
  w.a.startSending(10); // 100 packets/s
  w.b.ackEach = true; // answered like TCP
  w.runUntil(5_000);
  assert.deepEqual(w.a.sel.primary, { local: A_WIFI, remote: B1 }, 'on wifi before the cut');

  const cutAt = 5_000;
  w.link(A_WIFI, B1, false); // the far side dies; neither host is told
  w.runUntil(8_000);

  const aMove = w.a.primaryChanges().find((c) => c.at >= cutAt);
  assert.ok(aMove, 'A moved');
  assert.deepEqual(aMove.new, { local: A_CELL, remote: B1 }, 'A moved to cell0');
  assert.equal(aMove.cause, 'data-silence');
  assert.ok(aMove.lastHeardAt <= cutAt + 5 && aMove.lastHeardAt >= cutAt - 10, `last heard ${aMove.lastHeardAt} ms: just before the cut`);
  assert.ok(aMove.at - cutAt < 1_000, `A moved ${aMove.at - cutAt} ms after the cut`);
  const bMove = w.b.primaryChanges().find((c) => c.at >= cutAt);
  assert.ok(bMove, 'B moved');
  assert.deepEqual(bMove.new, { local: B1, remote: A_CELL }, 'B moved to A\'s cell address');
  assert.ok(bMove.at - cutAt < 1_000, `B moved ${bMove.at - cutAt} ms after the cut`);

  const resumed = firstDeliveredFrom(w.a, cutAt);
  assert.ok(resumed !== undefined && resumed - cutAt < 1_000, `A's traffic resumed ${resumed! - cutAt} ms after the cut`);
  const ackResumed = firstDeliveredFrom(w.b, cutAt);
  assert.ok(ackResumed !== undefined && ackResumed - cutAt < 1_000, `B's answers resumed ${ackResumed! - cutAt} ms after the cut`);
  assert.equal(lostBetween(w.a, cutAt + 1_000, 7_900), 0, 'nothing lost once moved');
  t.diagnostic(`silent failure: A moved after ${aMove.at - cutAt} ms (gap from detection ${aMove.gapMs} ms), B after ${bMove.at - cutAt} ms, traffic resumed after ${resumed - cutAt} ms`);
});

test('silent failure under a one-way stream (no return traffic): still moved within 1 s, and few probes before it', (t) => {
  const w = twoUplinks();
  w.a.startSending(10);
  w.runUntil(10_000);
  const probesWhileHealthy = w.a.probes.filter((p) => p.at >= 5_000 && p.at < 10_000).length;
  // A one-way stream hears nothing back by nature: the silence threshold backs off to 500 ms.
  assert.ok(probesWhileHealthy <= 12, `${probesWhileHealthy} probes in 5 s of a healthy one-way stream`);
  assert.equal(w.a.primaryChanges().length, 1, 'no move while the path is healthy (only the connect)');

  const cutAt = 10_000;
  w.link(A_WIFI, B1, false);
  w.runUntil(12_000);
  const move = w.a.primaryChanges().find((c) => c.at >= cutAt);
  assert.ok(move && move.at - cutAt < 1_000, `moved ${move ? move.at - cutAt : 'never'} ms after the cut`);
  t.diagnostic(`one-way stream: ${probesWhileHealthy / 5} probes/s while healthy; moved ${move.at - cutAt} ms after the cut`);
});

test('asymmetric reachability: A→B works only on (A1,B1), B→A only on (B2,A1); both are found and used', (t) => {
  const w = new World();
  w.link(A_WIFI, B1, true);
  w.link(A_WIFI, B2, true);
  w.a.sel.setLocalLocators(0, [wifi]);
  w.a.sel.setPeerLocators(0, [peer(B1), peer(B2)]);
  w.b.sel.setLocalLocators(0, [bEth(B1), local(B2, 'eth1', 'ethernet', 1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  w.a.startSending(10);
  w.b.ackEach = true;
  w.runUntil(3_000);

  // One direction of each pair dies: there is no pair left that works both ways.
  const cutAt = 3_000;
  w.path(B1, A_WIFI, false);
  w.path(A_WIFI, B2, false);
  w.runUntil(10_000);

  assert.deepEqual(w.a.sel.primary, { local: A_WIFI, remote: B1 }, 'A sends on (A1,B1)');
  assert.deepEqual(w.b.sel.primary, { local: B2, remote: A_WIFI }, 'B sends on (B2,A1)');
  assert.deepEqual(w.a.sel.status().inbound, { local: A_WIFI, remote: B2 }, 'A hears B on (B2→A1): not the reverse of its own pair');
  const aPair = w.a.sel.status().pairs.find((p) => p.primary);
  assert.equal(aPair?.direction, 'outbound', 'A knows its pair works one way only');
  assert.equal(lostBetween(w.a, 6_000, 9_900), 0, 'A→B traffic flows');
  assert.equal(lostBetween(w.b, 6_000, 9_900), 0, 'B→A answers flow');
  const settled = (h: SimHost) => h.primaryChanges().filter((c) => c.at >= 6_000).length;
  assert.equal(settled(w.a) + settled(w.b), 0, 'the asymmetric set is stable: no flapping');
  const resumed = firstDeliveredFrom(w.b, cutAt);
  assert.ok(resumed !== undefined, 'answers resumed');
  t.diagnostic(`asymmetric: B's answers resumed ${resumed - cutAt} ms after the cut`);
});

test('keepalives are omitted while data flows and sent every 20 s when idle', () => {
  const w = new World();
  w.link(A_WIFI, B1, true);
  w.a.sel.setLocalLocators(0, [wifi]);
  w.a.sel.setPeerLocators(0, [peer(B1)]);
  w.b.sel.setLocalLocators(0, [bEth(B1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  w.a.startSending(10);
  w.b.ackEach = true;
  w.runUntil(60_000);
  assert.equal(w.a.probes.length + w.b.probes.length, 0, 'not one probe during a minute of two-way traffic');

  w.a.stopSending();
  const lastData = w.a.sent.at(-1)!;
  w.runUntil(130_000);
  const keepalives = w.a.probes.filter((p) => p.at > lastData);
  assert.ok(keepalives.length >= 3, `${keepalives.length} keepalives in 70 idle seconds`);
  assert.ok(keepalives[0]!.at - lastData >= 20_000, `first keepalive ${keepalives[0]!.at - lastData} ms after the last packet`);
  const gaps = keepalives.slice(1).map((p, i) => p.at - keepalives[i]!.at);
  assert.ok(gaps.every((g) => g <= 20_100), `keepalive gaps ${gaps.join(', ')} ms`);
  assert.equal(w.a.primaryChanges().length, 1, 'keepalives answered: no move');
});

test('make-before-break: cell0 comes up and is tested in the background; losing wifi0 then moves at once with nothing lost', (t) => {
  const w = new World();
  w.link(A_WIFI, B1, true, 5);
  w.link(A_CELL, B1, true, 20);
  w.a.sel.setLocalLocators(0, [wifi]);
  w.a.sel.setPeerLocators(0, [peer(B1)]);
  w.b.sel.setLocalLocators(0, [bEth(B1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  w.a.startSending(10);
  w.b.ackEach = true;

  w.at(2_000, () => {
    w.a.sel.setLocalLocators(w.now, [wifi, cell]);
    w.b.sel.setPeerLocators(w.now, [peer(A_WIFI), peer(A_CELL)]); // A's UPDATE
  });
  w.runUntil(4_000);
  const cellPair = w.a.sel.status().pairs.find((p) => p.pair.local === A_CELL);
  assert.equal(cellPair?.state, 'operational', 'cell0 tested in the background');
  assert.deepEqual(w.a.sel.primary, { local: A_WIFI, remote: B1 }, 'still on the preferred wifi0');

  const downAt = 5_000;
  w.at(downAt, () => {
    w.link(A_WIFI, B1, false);
    w.a.sel.setLocalLocators(w.now, [cell]);
    w.b.sel.setPeerLocators(w.now, [peer(A_CELL)]);
  });
  w.runUntil(8_000);
  const move = w.a.primaryChanges().find((c) => c.at >= downAt);
  assert.ok(move, 'A moved');
  assert.equal(move.at, downAt, 'A moved the moment wifi0 went');
  assert.equal(move.gapMs, 0);
  assert.equal(move.cause, 'pair-deleted');
  assert.equal(lostBetween(w.a, 1_000, 7_900), 0, 'no packet of A lost');
  assert.equal(lostBetween(w.b, 1_000, 7_900), 0, 'no answer of B lost');
  assert.equal(w.a.sel.state, 'primary-operational');
  t.diagnostic(`make-before-break: gap ${move.gapMs} ms, 0 packets lost of ${w.a.sent.length}`);
});

test('break-before-make: wifi0 goes, cell0 comes 2 s later; traffic resumes one RTT after the address appears', (t) => {
  const w = new World();
  w.link(A_WIFI, B1, true, 5);
  w.link(A_CELL, B1, true, 20);
  w.a.sel.setLocalLocators(0, [wifi]);
  w.a.sel.setPeerLocators(0, [peer(B1)]);
  w.b.sel.setLocalLocators(0, [bEth(B1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  w.a.startSending(10);
  w.b.ackEach = true;
  w.at(3_000, () => {
    w.link(A_WIFI, B1, false);
    w.a.sel.setLocalLocators(w.now, []);
  });
  w.runUntil(4_000);
  assert.equal(w.a.sel.state, 'no-primary', 'nothing to send on');
  assert.equal(w.a.sel.primary, undefined);

  const upAt = 5_000;
  w.at(upAt, () => w.a.sel.setLocalLocators(w.now, [cell]));
  w.at(upAt + 20, () => w.b.sel.setPeerLocators(w.now, [peer(A_CELL)])); // A's UPDATE arrives
  w.runUntil(8_000);
  const move = w.a.primaryChanges().find((c) => c.at >= upAt);
  assert.ok(move, 'A moved');
  assert.deepEqual(move.new, { local: A_CELL, remote: B1 });
  assert.equal(move.at - upAt, 40, 'one cell RTT (2 × 20 ms) after the address appeared');
  const resumed = firstDeliveredFrom(w.a, upAt);
  assert.ok(resumed !== undefined && resumed - upAt <= 40 + 10, `traffic resumed ${resumed! - upAt} ms after cell0 came up`);
  t.diagnostic(`break-before-make: moved ${move.at - upAt} ms after the address appeared, traffic resumed after ${resumed - upAt} ms`);
});

test('random path failures and repairs: within 10 s of each, both sides settle on pairs that work their way, and traffic flows', (t) => {
  const seed = seedFromEnv('PAIR_SIM_SEED', 0x5eed);
  const rng = new Prng(seed);
  const w = new World();
  const aAddrs = [A_WIFI, A_CELL];
  const bAddrs = [B1, B2];
  const dirs: [string, string][] = [];
  for (const a of aAddrs) for (const b of bAddrs) dirs.push([a, b], [b, a]);
  const up = new Map(dirs.map(([s, d]) => [`${s}>${d}`, true]));
  for (const [s, d] of dirs) w.path(s, d, true, s === A_CELL || d === A_CELL ? 20 : 5);
  w.a.sel.setLocalLocators(0, [wifi, cell]);
  w.a.sel.setPeerLocators(0, [peer(B1), peer(B2)]);
  w.b.sel.setLocalLocators(0, [bEth(B1), local(B2, 'eth1', 'ethernet', 1)]);
  w.b.sel.setPeerLocators(0, [peer(A_WIFI), peer(A_CELL)]);
  w.a.sel.connect(0, { local: A_WIFI, remote: B1 }, 10);
  w.b.sel.connect(0, { local: B1, remote: A_WIFI }, 10);
  w.a.startSending(10);
  w.b.startSending(10); // both send: each side's silence detection works on its own
  const works = (p: { local: string; remote: string } | undefined) => p !== undefined && up.get(`${p.local}>${p.remote}`) === true;
  const anyWorks = (from: string[], to: string[]) => from.some((s) => to.some((d) => up.get(`${s}>${d}`)));

  let checked = 0;
  for (let step = 1; step <= 30; step++) {
    const [s, d] = rng.pick(dirs);
    const key = `${s}>${d}`;
    up.set(key, !up.get(key));
    w.path(s, d, up.get(key)!, s === A_CELL || d === A_CELL ? 20 : 5);
    const changedAt = step * 20_000;
    w.runUntil(changedAt + 10_000); // 4 pairs at the 2 s back-off cap: 8 s at worst
    const ctx = `seed ${seed} step ${step}: ${[...up].filter(([, v]) => !v).map(([k]) => k).join(' ') || 'all up'}`;
    // A pair is proven by an answer or by a report, and both need some way back: with one
    // direction dead on every pair nothing can be proven, and there is nothing to check.
    if (!anyWorks(aAddrs, bAddrs) || !anyWorks(bAddrs, aAddrs)) {
      w.runUntil(changedAt + 20_000);
      continue;
    }
    {
      assert.ok(works(w.a.sel.primary), `A settled on a working pair (${ctx}; A on ${JSON.stringify(w.a.sel.primary)})`);
      assert.equal(lostBetween(w.a, changedAt + 9_000, changedAt + 9_900), 0, `A's traffic flows (${ctx})`);
      checked++;
    }
    {
      assert.ok(works(w.b.sel.primary), `B settled on a working pair (${ctx}; B on ${JSON.stringify(w.b.sel.primary)})`);
      assert.equal(lostBetween(w.b, changedAt + 9_000, changedAt + 9_900), 0, `B's traffic flows (${ctx})`);
    }
    w.runUntil(changedAt + 20_000);
  }
  t.diagnostic(`seed ${seed}: ${checked} of 30 random changes checked with a working way out`);
});
