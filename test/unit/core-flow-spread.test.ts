// Load sharing per flow (core/flow-spread.ts): a peer's unbound traffic is spread over its
// working, verified, unmetered pairs, one per interface, by a rendezvous hash of the flow. What
// a user notices: two uplinks each carry about half the flows; an uplink leaving moves only its
// own flows (the others keep their pair, so their TCP connections see no reordering); a metered
// uplink carries none of them; a flow bound to an interface stays there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFlowRoutes } from '../../src-main/core/flow-routes.js';
import {
  chooseMember, flowHash, fmix32, planSpread, spreadRoutes, spreadSalt, type SpreadInput, type SpreadMember, type SpreadPairView,
} from '../../src-main/core/flow-spread.js';
import { FlowSpreads } from '../../src-main/core/flow-spreads.js';

const WIFI = { address: '10.0.0.1', port: 10500 };
const CELL = { address: '10.1.0.1', port: 10500 };
const LTE = { address: '10.2.0.1', port: 10500 };
const SERVER = { address: '10.9.0.2', port: 10500 };
const OWN_HIT = Uint8Array.from({ length: 16 }, (_, i) => 0x20 + i);
const PEER_HIT = Uint8Array.from({ length: 16 }, (_, i) => 0x90 + i);
const SALT = spreadSalt(OWN_HIT, PEER_HIT);

const IFNAMES = new Map([[WIFI, 'wifi0'], [CELL, 'cell0'], [LTE, 'lte0']]);
const SPIS = new Map([[WIFI, 0x1000], [CELL, 0x1001], [LTE, 0x1002]]);

const pair = (local: typeof WIFI, over: Partial<SpreadPairView> = {}): SpreadPairView => ({
  local, remote: SERVER, ifname: IFNAMES.get(local)!, state: 'operational', verified: true, spiOut: SPIS.get(local)!, metered: false, relayed: false, ...over,
});

function input(over: Partial<SpreadInput> = {}): SpreadInput {
  return { pairs: [pair(WIFI), pair(CELL)], dataPath: { local: WIFI, remote: SERVER, spiOut: 0x1000 }, excluded: new Set(), salt: SALT, ...over };
}

/** 2,000 random TCP flows (both ports random), the same on every run. */
function flows(n = 2000): number[] {
  let x = 12345;
  const next = (): number => (x = fmix32(x + 0x9e3779b9));
  return Array.from({ length: n }, () => flowHash(6, next() & 0xffff, next() & 0xffff));
}

function assignment(members: readonly SpreadMember[], hashes: readonly number[]): string[] {
  const keys = members.map((m) => m.key);
  return hashes.map((h) => members[chooseMember(h, keys)]!.ifname);
}

test('2,000 random TCP flows over two working uplinks split close to even', () => {
  const members = planSpread(input());
  assert.deepEqual(members.map((m) => [m.ifname, m.spiOut]), [['wifi0', 0x1000], ['cell0', 0x1001]]);
  const on = assignment(members, flows());
  const wifi = on.filter((i) => i === 'wifi0').length;
  // Binomial(2000, 0.5) has a standard deviation of 22: 900..1100 is more than 4 of them.
  assert.ok(wifi >= 900 && wifi <= 1100, `wifi0 carries ${wifi} of 2000 flows, cell0 ${2000 - wifi}`);
});

test('an uplink leaving moves only its own flows, and coming back takes back exactly those', () => {
  const hashes = flows();
  const three = planSpread(input({ pairs: [pair(WIFI), pair(CELL), pair(LTE)] }));
  const before = assignment(three, hashes);
  const two = planSpread(input({ pairs: [pair(WIFI), pair(CELL), pair(LTE, { state: 'failed' })] }));
  assert.deepEqual(two.map((m) => m.ifname), ['wifi0', 'cell0']);
  const after = assignment(two, hashes);
  let moved = 0;
  for (let i = 0; i < hashes.length; i++) {
    if (before[i] === 'lte0') moved++;
    else assert.equal(after[i], before[i], `flow ${i} stays on ${before[i]}`);
  }
  assert.ok(moved > 500 && moved < 830, `lte0 had ${moved} of 2000 flows`);
  assert.deepEqual(assignment(three, hashes), before);
});

test('a metered uplink, a relayed pair, an unverified or unchecked pair carry no share', () => {
  for (const cell of [pair(CELL, { metered: true }), pair(CELL, { relayed: true }), pair(CELL, { verified: false }), pair(CELL, { state: 'testing' })]) {
    assert.deepEqual(planSpread(input({ pairs: [pair(WIFI), cell] })), [], JSON.stringify(cell));
  }
  const three = planSpread(input({ pairs: [pair(WIFI), pair(CELL, { metered: true }), pair(LTE)] }));
  assert.deepEqual(three.map((m) => m.ifname), ['wifi0', 'lte0']);
});

test('nothing is spread while the primary is on a metered uplink or not yet verified: it carries all as in fault tolerance', () => {
  assert.deepEqual(planSpread(input({ pairs: [pair(WIFI, { metered: true }), pair(CELL)] })), []);
  assert.deepEqual(planSpread(input({ pairs: [pair(WIFI, { verified: false }), pair(CELL)] })), []);
  assert.deepEqual(planSpread(input({ dataPath: undefined })), []);
});

test('one pair per interface: the primary on its own, the best ranked elsewhere', () => {
  const SERVER2 = { address: '10.9.1.2', port: 10500 };
  const members = planSpread(input({ pairs: [pair(CELL, { remote: SERVER2 }), pair(WIFI, { remote: SERVER2 }), pair(WIFI), pair(CELL)] }));
  assert.deepEqual(members.map((m) => [m.ifname, m.remote.address]), [['wifi0', SERVER.address], ['cell0', SERVER2.address]]);
});

test('peers spread the same ports differently (the salt of both HITs)', () => {
  const other = spreadSalt(OWN_HIT, Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i));
  const hashes = flows(400);
  const a = assignment(planSpread(input()), hashes);
  const b = assignment(planSpread(input({ salt: other })), hashes);
  const differ = a.filter((x, i) => x !== b[i]).length;
  assert.ok(differ > 120 && differ < 280, `${differ} of 400 flows take the other uplink for the other peer`);
});

test('bound flows win over the spread: only flows on the data path are marked to follow it, members come after every flow', () => {
  const plan = planFlowRoutes({
    own: [
      { fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5000, to: 5000 } }, interface: 'wifi0' },
      { fid: 2, selector: { protocol: 'tcp', remotePorts: { from: 22, to: 22 } }, interface: null },
      { fid: 3, selector: { protocol: 'tcp', remotePorts: { from: 80, to: 80 } }, interface: 'lte0' },
    ],
    dataPath: { local: WIFI, remote: SERVER, spiOut: 0x1000 },
    pairs: [pair(WIFI), pair(CELL)],
    uplinksUp: new Set(['wifi0', 'cell0']),
    spreadUnbound: true,
  });
  const routes = [...plan.routes, ...spreadRoutes(planSpread(input()))];
  assert.deepEqual(routes.map((r) => [r.fid, r.spread === true, r.spreadKey !== undefined]), [
    [1, false, false], // bound to wifi0, the primary's interface: stays on its pair whatever the hash says
    [2, true, false], // no interface: rides the spread, counted as flow 2
    [3, true, false], // lte0 is down: falls back onto the spread
    [0, false, true],
    [0, false, true],
  ]);
  const plain = planFlowRoutes({ own: [{ fid: 2, selector: { protocol: 'tcp' }, interface: null }], dataPath: { local: WIFI, remote: SERVER, spiOut: 0x1000 }, pairs: [pair(WIFI)], uplinksUp: null });
  assert.equal(plain.routes[0]?.spread, undefined, 'without load sharing no route follows a spread');
});

test('"Fail over now" takes the interface left out of the spread until a pair on it is chosen or the primary returns to it', () => {
  const spreads = new FlowSpreads(OWN_HIT);
  const peer = 'peer';
  const on = (primary: typeof WIFI): string[] => spreads.plan(peer, PEER_HIT, IFNAMES.get(primary)!, {
    pairs: [pair(WIFI), pair(CELL), pair(LTE)], dataPath: { local: primary, remote: SERVER, spiOut: SPIS.get(primary)! },
  }).map((m) => m.ifname);
  assert.deepEqual(on(WIFI), ['wifi0', 'cell0', 'lte0']);
  spreads.failedAway(peer, 'wifi0');
  assert.deepEqual(on(CELL), ['cell0', 'lte0']);
  assert.ok(!spreads.carries(peer, WIFI, SERVER) && spreads.carries(peer, LTE, SERVER));
  spreads.failedAway(peer, 'lte0');
  assert.deepEqual(on(WIFI), ['wifi0', 'cell0'], 'the primary back on wifi0 by itself ends that exclusion, not the other');
  assert.deepEqual(on(CELL), ['cell0', 'wifi0']);
});

test('"Use this pair" puts all unbound traffic on that pair until the primary leaves it by itself', () => {
  const spreads = new FlowSpreads(OWN_HIT);
  const peer = 'peer';
  const on = (primary: typeof WIFI): string[] => spreads.plan(peer, PEER_HIT, IFNAMES.get(primary)!, {
    pairs: [pair(WIFI), pair(CELL), pair(LTE)], dataPath: { local: primary, remote: SERVER, spiOut: SPIS.get(primary)! },
  }).map((m) => m.ifname);
  spreads.failedAway(peer, 'cell0');
  assert.deepEqual(on(WIFI), ['wifi0', 'lte0']);
  spreads.chosen(peer, 'cell0', CELL, SERVER);
  assert.deepEqual(on(WIFI), [], 'the move to the chosen pair is under way: nothing spread meanwhile');
  assert.deepEqual(on(CELL), [], 'on the chosen pair: it carries everything unbound');
  assert.deepEqual(on(CELL), []);
  assert.deepEqual(on(WIFI), ['wifi0', 'cell0', 'lte0'], 'the primary left it: the spread resumes, cell0 included again');
});
