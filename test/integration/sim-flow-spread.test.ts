// Load sharing per flow through HostCore on a virtual clock (core/flow-spread.ts,
// core/flow-spreads.ts, core/peer-balance.ts): in simultaneous multihoming A (wifi0, cell0)
// gives its data plane a spread over both uplinks' pairs once they work, and status marks both;
// "Fail over now" takes the uplink left out of the spread; "Use this pair" pins the traffic to
// the chosen pair. With a second peer, a flow bound to no interface towards both peers has one
// instance placed on each uplink, and each peer is told which of A's locators to send it to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataplaneCommand } from '../../src-main/core/host-core.js';
import { SimWorld, connect, type SimHost } from '../support/sim-hosts.js';

type FlowRoutesCommand = Extract<DataplaneCommand, { type: 'set-flow-routes' }>;

const WIFI = '192.0.2.10';
const CELL = '203.0.113.7';
const B_ETH = '198.51.100.2';
const C_ETH = '198.51.100.3';

function lastRoutes(a: SimHost, peer: SimHost): FlowRoutesCommand['routes'] {
  const c = a.commands.filter((x): x is FlowRoutesCommand & { at: number } => x.type === 'set-flow-routes' && x.peerHit.every((o, i) => o === peer.core.hit[i])).at(-1);
  return c?.routes ?? [];
}

/** The local addresses of the spread's members in A's last routes to `peer`. */
const spreadOver = (a: SimHost, peer: SimHost): string[] => lastRoutes(a, peer).filter((r) => r.spreadKey !== undefined).map((r) => r.local.address).sort((x, y) => x.localeCompare(y));

function world(fallbackSeed: number, withC = false) {
  const w = new SimWorld('SIM_SEED', fallbackSeed);
  const a = w.addHost('A', [
    { ifname: 'wifi0', kind: 'wifi', address: WIFI, delayMs: 5 },
    { ifname: 'cell0', kind: 'cellular', address: CELL, delayMs: 25 },
  ], { multihoming: 'simultaneous' });
  const b = w.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }], { multihoming: 'simultaneous' });
  const c = withC ? w.addHost('C', [{ ifname: 'eth0', kind: 'ethernet', address: C_ETH, delayMs: 5 }], { multihoming: 'simultaneous' }) : undefined;
  connect(w, a, b);
  if (c) connect(w, a, c);
  w.runFor(3_000);
  console.log(`sim-flow-spread seed ${w.seed} (set SIM_SEED to replay)`);
  return { world: w, a, b, c };
}

test('both uplinks share the load once their pairs work; "Fail over now" leaves an uplink, "Use this pair" pins one', () => {
  const { world: w, a, b } = world(0x5b7e_0001);
  assert.deepEqual(spreadOver(a, b), [CELL, WIFI].sort((x, y) => x.localeCompare(y)), `A spreads over both uplinks; routes ${JSON.stringify(lastRoutes(a, b))}`);
  const pairs = a.core.pathsView(w.now, b.core.hit)?.pairs ?? [];
  assert.deepEqual(pairs.filter((p) => p.spread === true).map((p) => p.ifname).sort((x, y) => String(x).localeCompare(String(y))), ['cell0', 'wifi0']);
  assert.equal(pairs.filter((p) => p.primary).length, 1, 'one primary still');

  assert.deepEqual(a.core.failover(w.now, b.core.hit), { ok: true });
  w.runFor(1_000);
  assert.equal(a.pathText()?.startsWith(CELL), true, `the primary left wifi0: ${a.pathText()}`);
  assert.deepEqual(spreadOver(a, b), [], 'wifi0 is out of the spread: cell0 carries everything');

  assert.deepEqual(a.core.failover(w.now, b.core.hit, { local: WIFI, remote: B_ETH }), { ok: true });
  w.runFor(1_000);
  assert.equal(a.pathText()?.startsWith(WIFI), true);
  assert.deepEqual(spreadOver(a, b), [], 'the chosen pair carries everything');

  a.linkDown('wifi0');
  w.runFor(3_000);
  a.linkUp('wifi0');
  w.runFor(8_000);
  assert.deepEqual(spreadOver(a, b), [CELL, WIFI].sort((x, y) => x.localeCompare(y)), `the primary left the chosen pair by itself: the spread resumes; A on ${a.pathText()}`);
});

test('a flow bound to no interface towards two peers: one instance on each uplink, each peer told where', () => {
  const { world: w, a, b, c } = world(0x5b7e_0002, true);
  const video = { protocol: 'udp' as const, remotePorts: { from: 5004, to: 5004 } };
  a.core.setFlowBindings(w.now, [
    { peerHit: b.core.hit, fid: 1, selector: video, interface: null },
    { peerHit: c!.core.hit, fid: 2, selector: video, interface: null },
  ]);
  w.runFor(3_000);
  const atB = a.core.flowPlacements(b.core.hit)?.[0];
  const atC = a.core.flowPlacements(c!.core.hit)?.[0];
  assert.deepEqual([atB?.state, atB?.local?.address, atB?.reason], ['bound', WIFI, 'placed on wifi0 to balance the load among peers']);
  assert.deepEqual([atC?.state, atC?.local?.address, atC?.reason], ['bound', CELL, 'placed on cell0 to balance the load among peers']);
  // Each peer sends its side of the flow to the one locator A named for it (E-LOCATOR).
  assert.deepEqual(b.core.association(a.core.hit)?.peerFlows?.map((f) => [f.fid, f.locator.address]), [[1, WIFI]]);
  assert.deepEqual(c!.core.association(a.core.hit)?.peerFlows?.map((f) => [f.fid, f.locator.address]), [[2, CELL]]);
  const route = lastRoutes(a, c!).find((r) => r.fid === 2);
  assert.deepEqual([route?.local.address, route?.spread], [CELL, undefined], 'the instance is bound there, not spread');
});

test('a flow bound to no interface rides the spread: status names the uplinks it is shared over, not the primary pair', () => {
  const { world: w, a, b } = world(0x5b7e_0003);
  a.core.setFlowBindings(w.now, [{ peerHit: b.core.hit, fid: 7, selector: { protocol: 'tcp' as const, remotePorts: { from: 5201, to: 5201 } }, interface: null }]);
  w.runFor(1_000);
  assert.deepEqual(spreadOver(a, b), [CELL, WIFI].sort((x, y) => x.localeCompare(y)), 'A spreads over both uplinks');
  const flow = a.core.flowPlacements(b.core.hit)?.[0];
  assert.equal(flow?.state, 'bound');
  assert.equal(flow?.local, undefined, `no one pair is named: ${JSON.stringify(flow)}`);
  assert.match(flow?.reason ?? '', /^shared per flow over (wifi0 and cell0|cell0 and wifi0) with the unbound traffic$/);
  assert.equal(lastRoutes(a, b).find((r) => r.fid === 7)?.spread, true, 'its route follows the spread');
});
