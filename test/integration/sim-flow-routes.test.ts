// Flow bindings through HostCore on a virtual clock: A (wifi0 primary, cell0) binds a flow to
// cell0. The data plane is told to send that flow on the cell0 pair once the pair works; when
// cell0 loses its carrier the flow falls back to the wifi0 pair with the reason, and it goes
// back to cell0 when cell0 returns. Removing the binding removes the route.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataplaneCommand } from '../../src-main/core/host-core.js';
import { A_CELL, A_WIFI, B_ETH, PORT, SimWorld, connect, mobileWorld, type SimHost } from '../support/sim-hosts.js';

type FlowRoutesCommand = Extract<DataplaneCommand, { type: 'set-flow-routes' }>;

function lastRoutes(a: SimHost): FlowRoutesCommand['routes'] | undefined {
  const c = a.commands.filter((x): x is FlowRoutesCommand & { at: number } => x.type === 'set-flow-routes').at(-1);
  return c?.routes;
}

test('a flow bound to cell0 is routed on the cell0 pair, falls back to wifi0 with the reason while cell0 is down, and returns', () => {
  const { world, a, b } = mobileWorld('SIM_SEED', 0xf10e_0001);
  console.log(`sim-flow-routes seed ${world.seed} (set SIM_SEED to replay)`);
  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'cell0' }]);
  world.runFor(3_000);
  const bound = a.core.flowPlacements(b.core.hit)?.[0];
  assert.equal(bound?.state, 'bound', JSON.stringify(bound));
  assert.equal(bound?.local?.address, A_CELL);
  const route = lastRoutes(a)?.[0];
  assert.deepEqual([route?.fid, route?.protocol, route?.remotePorts, route?.local.address], [1, 17, { from: 5004, to: 5004 }, A_CELL]);
  assert.equal(a.pathText()?.startsWith(A_WIFI), true, 'the peer\'s other traffic stays on wifi0');

  const routesBefore = a.commands.filter((c) => c.type === 'set-flow-routes').length;
  world.runFor(2_000);
  assert.equal(a.commands.filter((c) => c.type === 'set-flow-routes').length, routesBefore, 'routes are sent again only when they change');

  a.linkDown('cell0');
  world.runFor(50);
  const down = a.core.flowPlacements(b.core.hit)?.[0];
  assert.deepEqual([down?.state, down?.reason, down?.local?.address], ['fallback', 'cell0 is down', A_WIFI]);
  assert.equal(lastRoutes(a)?.[0]?.local.address, A_WIFI, 'the data plane sends the flow on the wifi0 pair meanwhile');

  a.linkUp('cell0');
  world.runFor(5_000);
  const back = a.core.flowPlacements(b.core.hit)?.[0];
  assert.deepEqual([back?.state, back?.local?.address], ['bound', A_CELL]);
  assert.equal(lastRoutes(a)?.[0]?.local.address, A_CELL);

  a.core.setFlowBindings(world.now, []);
  world.runFor(10);
  assert.deepEqual(lastRoutes(a), [], 'no binding, no route');
  assert.equal(a.core.flowPlacements(b.core.hit), undefined);
});

test('the peer steers its return traffic for our flow to our cell0 locator, and moves it when the binding does', () => {
  const { world, a, b } = mobileWorld('SIM_SEED', 0xf10e_0002);
  console.log(`sim-flow-routes seed ${world.seed} (set SIM_SEED to replay)`);
  world.runFor(3_000);
  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'cell0' }]);
  world.runFor(3_000);
  assert.equal(a.core.flowPlacements(b.core.hit)?.[0]?.state, 'bound');
  const back = lastRoutes(b)?.[0];
  assert.deepEqual([back?.fid, back?.protocol, back?.localPorts, back?.remotePorts, back?.remote.address], [1, 17, { from: 5004, to: 5004 }, null, A_CELL],
    'B sends what it answers from port 5004 to A\'s cell0 locator');

  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'wifi0' }]);
  world.runFor(3_000);
  assert.equal(lastRoutes(b)?.[0]?.remote.address, A_WIFI, 'moved with the binding');
});

test('a flow bound to cell0 with policy "only" is held (a drop route, pending) while cell0 is down, never routed on wifi0, and returns', () => {
  const { world, a, b } = mobileWorld('SIM_SEED', 0xf10e_0002);
  console.log(`sim-flow-routes only seed ${world.seed} (set SIM_SEED to replay)`);
  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'cell0', policy: 'only' }]);
  world.runFor(3_000);
  assert.deepEqual([a.core.flowPlacements(b.core.hit)?.[0]?.state, lastRoutes(a)?.[0]?.local.address, lastRoutes(a)?.[0]?.drop], ['bound', A_CELL, undefined]);

  a.linkDown('cell0');
  world.runFor(50);
  const held = a.core.flowPlacements(b.core.hit)?.[0];
  assert.deepEqual([held?.state, held?.reason, held?.local], ['pending', 'held for cell0 (only on cell0): cell0 is down', undefined]);
  const drop = lastRoutes(a)?.[0];
  assert.deepEqual([drop?.drop, drop?.outboundSpi], [true, 0], 'the data plane drops the flow instead of sending it on wifi0');
  world.runFor(3_000);
  const during = a.commands.filter((c): c is FlowRoutesCommand & { at: number } => c.type === 'set-flow-routes' && c.at > 3_000 && c.at < world.now);
  assert.ok(during.every((c) => c.routes.every((r) => r.drop === true || r.local.address !== A_WIFI)), 'no route of the flow on wifi0 at any time while cell0 is down');
  assert.ok(a.pathText()?.startsWith(A_WIFI), 'the peer\'s other traffic goes on over wifi0');

  a.linkUp('cell0');
  world.runFor(5_000);
  const back = a.core.flowPlacements(b.core.hit)?.[0];
  assert.deepEqual([back?.state, back?.local?.address], ['bound', A_CELL]);
  assert.deepEqual([lastRoutes(a)?.[0]?.local.address, lastRoutes(a)?.[0]?.drop], [A_CELL, undefined]);
});

test('a metered cell0 ranked first: the peer\'s traffic takes wifi0, a flow bound to cell0 still takes cell0; cell0 carries the rest only while wifi0 is down', () => {
  const world = new SimWorld('SIM_SEED', 0xf10e_0003);
  console.log(`sim-flow-routes metered seed ${world.seed} (set SIM_SEED to replay)`);
  // The user ranks cellular first (a fast plan) but pays for it by the byte.
  const a = world.addHost('A', [
    { ifname: 'cell0', kind: 'cellular', address: A_CELL, delayMs: 5 },
    { ifname: 'wifi0', kind: 'wifi', address: A_WIFI, delayMs: 5 },
  ]);
  const b = world.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }]);
  connect(world, a, b);
  world.runFor(3_000);
  assert.ok(a.pathText()?.startsWith(A_CELL), `unmetered, the first-ranked cell0 is primary: ${a.pathText()}`);

  a.uplink('cell0').metered = true;
  a.reportInterfaces([]);
  world.runFor(3_000);
  assert.ok(a.pathText()?.startsWith(A_WIFI), `metered cell0 gives the primary up to wifi0: ${a.pathText()}`);
  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'cell0' }]);
  world.runFor(3_000);
  assert.deepEqual([a.core.flowPlacements(b.core.hit)?.[0]?.state, lastRoutes(a)?.[0]?.local.address], ['bound', A_CELL], 'the flow bound to cell0 stays on it');

  a.linkDown('wifi0');
  world.runFor(3_000);
  assert.ok(a.pathText()?.startsWith(A_CELL), `failover: the metered cell0 carries the traffic while wifi0 is down: ${a.pathText()}`);
  const upAt = world.now;
  a.linkUp('wifi0');
  world.runFor(10_000);
  assert.ok(a.pathText()?.startsWith(A_WIFI), `wifi0 back: the primary leaves the metered cell0: ${a.pathText()}`);
  const back = a.pathChanges(upAt)[0];
  console.log(`metered: back on wifi0 ${back ? back.at - upAt : '?'} ms after it came up (${back?.cause})`);
  assert.equal(lastRoutes(a)?.[0]?.local.address, A_CELL, 'the bound flow stays on cell0 throughout');
});

test('the peer\'s ESP on the pair of a flow it bound there does not move our primary, even while we doubt our pair', () => {
  const { world, a, b } = mobileWorld('SIM_SEED', 0xf10e_0004);
  console.log(`sim-flow-routes esp-source seed ${world.seed} (set SIM_SEED to replay)`);
  a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } }, interface: 'cell0' }]);
  world.runFor(3_000);
  assert.deepEqual(b.core.association(a.core.hit)?.peerFlows.map((f) => f.locator.address), [A_CELL], 'B knows the flow is bound to A\'s cell0');
  assert.ok(b.pathText()?.includes(A_WIFI), `B sends to A's wifi0: ${b.pathText()}`);
  // A falls quiet on its primary pair while B keeps sending: B doubts its pair (held, searching).
  a.setStreaming(false);
  const quietAt = world.now;
  while (!b.commands.some((c) => c.type === 'set-held' && c.on && c.at > quietAt) && world.now < quietAt + 5_000) world.runFor(1);
  assert.ok(b.commands.some((c) => c.type === 'set-held' && c.on && c.at > quietAt), 'B doubts its pair');
  // Meanwhile A's flow keeps arriving from A's cell0, as the data plane reports its source.
  const flowSource = { type: 'esp-source' as const, peerHit: a.core.hit, from: { address: A_CELL, port: PORT }, to: { address: B_ETH, port: PORT }, bytes: 120 };
  b.core.handleDataplane(world.now, flowSource);
  world.drain();
  const moves = b.commands.filter((c) => c.type === 'set-path' && c.at >= quietAt && c.remote.address === A_CELL);
  assert.deepEqual(moves.map((c) => c.type === 'set-path' && c.cause), [], 'no move of B\'s primary to A\'s cell0');
  assert.ok(b.pathText()?.includes(A_WIFI), `B's traffic stays on A's wifi0: ${b.pathText()}`);
  a.setStreaming(true);
  world.runFor(3_000);
  assert.ok(b.pathText()?.includes(A_WIFI), `and after the doubt: ${b.pathText()}`);
});
