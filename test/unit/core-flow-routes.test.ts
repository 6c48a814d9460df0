// Where each flow goes (core/flow-routes.ts): a flow bound to an interface gets a route on a
// working pair there; with the interface down or no pair on it working it falls back to the
// data path and says why; the peer's announced bindings (E-LOCATOR) pick the remote locator and
// route the peer's own flows, mirrored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFlowRoutes, type FlowPairView, type FlowRoutesInput } from '../../src-main/core/flow-routes.js';

const WIFI = { address: '10.0.0.1', port: 10500 };
const CELL = { address: '10.1.0.1', port: 10500 };
const SERVER = { address: '10.9.0.2', port: 10500 };
const SERVER_ALT = { address: '10.9.1.2', port: 10500 };
const BASE_SPI = 0x1000;
const CELL_SPI = 0x1001;

const pair = (local: typeof WIFI, remote: typeof SERVER, over: Partial<FlowPairView> = {}): FlowPairView => ({
  local, remote, ifname: local === WIFI ? 'wifi0' : 'cell0', state: 'operational', verified: true, spiOut: local === WIFI ? BASE_SPI : CELL_SPI, ...over,
});

function input(over: Partial<FlowRoutesInput> = {}): FlowRoutesInput {
  return {
    own: [
      { fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5000, to: 5010 } }, interface: 'cell0' },
      { fid: 2, selector: { protocol: 'tcp', localPorts: { from: 22, to: 22 } }, interface: null },
    ],
    dataPath: { local: WIFI, remote: SERVER, spiOut: BASE_SPI },
    pairs: [pair(WIFI, SERVER), pair(CELL, SERVER)],
    uplinksUp: new Set(['wifi0', 'cell0']),
    ...over,
  };
}

test('a flow bound to cell0 with a working pair there is bound, routed on that pair and its SA; an unbound one on the data path', () => {
  const plan = planFlowRoutes(input());
  assert.deepEqual(plan.flows, [
    { fid: 1, state: 'bound', local: CELL, remote: SERVER },
    { fid: 2, state: 'bound', local: WIFI, remote: SERVER },
  ]);
  assert.deepEqual(plan.routes, [
    { fid: 1, protocol: 17, localPorts: null, remotePorts: { from: 5000, to: 5010 }, local: CELL, remote: SERVER, outboundSpi: CELL_SPI },
    { fid: 2, protocol: 6, localPorts: { from: 22, to: 22 }, remotePorts: null, local: WIFI, remote: SERVER, outboundSpi: BASE_SPI },
  ]);
});

test('cell0 down: the flow falls back to the data path with the reason, and returns when cell0 does', () => {
  const down = planFlowRoutes(input({ uplinksUp: new Set(['wifi0']), pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'failed' })] }));
  assert.deepEqual(down.flows[0], { fid: 1, state: 'fallback', reason: 'cell0 is down', local: WIFI, remote: SERVER });
  assert.deepEqual(down.routes.filter((r) => r.fid === 1).map((r) => [r.local, r.outboundSpi]), [[WIFI, BASE_SPI]]);
  const back = planFlowRoutes(input());
  assert.equal(back.flows[0]?.state, 'bound');
  assert.deepEqual(back.routes[0]?.local, CELL);
});

test('no working pair on cell0: fallback when its pairs failed, pending while one is checked or its address unverified', () => {
  const failed = planFlowRoutes(input({ pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'failed' })] }));
  assert.deepEqual([failed.flows[0]?.state, failed.flows[0]?.reason], ['fallback', 'no working pair on cell0']);
  const none = planFlowRoutes(input({ pairs: [pair(WIFI, SERVER)] }));
  assert.deepEqual([none.flows[0]?.state, none.flows[0]?.reason], ['fallback', 'no working pair on cell0']);
  const testing = planFlowRoutes(input({ pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'testing' })] }));
  assert.deepEqual([testing.flows[0]?.state, testing.flows[0]?.reason], ['pending', 'a pair on cell0 is still being checked']);
  const unverified = planFlowRoutes(input({ pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { verified: false })] }));
  assert.equal(unverified.flows[0]?.state, 'pending');
  for (const plan of [failed, none, testing, unverified]) assert.deepEqual(plan.routes[0]?.local, WIFI, 'the flow rides the data path meanwhile');
});

test('a host that does not follow its interfaces keeps a flow with no pair on its interface pending, not down', () => {
  const plan = planFlowRoutes(input({ uplinksUp: null, pairs: [pair(WIFI, SERVER)] }));
  assert.deepEqual(plan.flows[0], { fid: 1, state: 'pending', reason: 'no pair on cell0 yet', local: WIFI, remote: SERVER });
  const failed = planFlowRoutes(input({ uplinksUp: null, pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'failed' })] }));
  assert.equal(failed.flows[0]?.state, 'fallback');
});

test('without an SA nothing is routed and every interface-bound flow is pending', () => {
  const plan = planFlowRoutes(input({ dataPath: undefined, pairs: [] }));
  assert.deepEqual(plan.routes, []);
  assert.deepEqual(plan.flows[0], { fid: 1, state: 'pending', reason: 'no association with the peer yet' });
});

test('the peer\'s locator announced for the FID is the one the flow goes to (seed 002 §3.2 step 5)', () => {
  const pairs = [pair(WIFI, SERVER), pair(CELL, SERVER), pair(CELL, SERVER_ALT, { spiOut: 0x1002 })];
  const without = planFlowRoutes(input({ pairs }));
  assert.deepEqual(without.routes[0]?.remote, SERVER);
  const plan = planFlowRoutes(input({ pairs, peerFlows: [{ fid: 1, selector: { protocol: 'udp', localPorts: { from: 5000, to: 5010 } }, locator: SERVER_ALT }] }));
  assert.deepEqual([plan.routes[0]?.local, plan.routes[0]?.remote, plan.routes[0]?.outboundSpi], [CELL, SERVER_ALT, 0x1002]);
});

test('a flow the peer bound to one of its locators is routed there, its selector mirrored, in FID order', () => {
  const pairs = [pair(WIFI, SERVER), pair(WIFI, SERVER_ALT, { spiOut: 0x1003 })];
  const plan = planFlowRoutes(input({
    own: [{ fid: 9, selector: { protocol: 'any' }, interface: null }],
    pairs,
    peerFlows: [
      { fid: 4, selector: { protocol: 'tcp', localPorts: { from: 8080, to: 8080 }, remotePorts: { from: 40000, to: 40100 } }, locator: SERVER_ALT },
      { fid: 5, selector: { protocol: 'icmp' }, locator: { address: '10.9.9.9', port: 10500 } },
    ],
  }));
  assert.deepEqual(plan.routes.map((r) => [r.fid, r.protocol, r.localPorts, r.remotePorts, r.remote.address]), [
    [4, 6, { from: 40000, to: 40100 }, { from: 8080, to: 8080 }, SERVER_ALT.address],
    [9, 0, null, null, SERVER.address],
  ], 'fid 5 names a locator no working pair reaches: it follows the data path unrouted');
  assert.deepEqual(plan.flows.map((f) => f.fid), [9], 'only our own bindings have a state');
});

test('an ICMP flow routes both ICMP and ICMPv6', () => {
  const plan = planFlowRoutes(input({ own: [{ fid: 3, selector: { protocol: 'icmp' }, interface: 'cell0' }] }));
  assert.deepEqual(plan.routes.map((r) => [r.fid, r.protocol]), [[3, 1], [3, 58]]);
});

test('a flow the announcement had no room for is steered on its uplink, and says the peer does not steer its return traffic', () => {
  const plan = planFlowRoutes(input({ flowsAcked: true, flowsLeftOut: [1] }));
  assert.deepEqual(plan.flows[0], {
    fid: 1, state: 'bound', local: CELL, remote: SERVER,
    reason: 'not announced to the peer (no room left in one HIP packet): its return traffic takes the primary pair',
  });
  assert.equal(plan.routes[0]?.outboundSpi, CELL_SPI, 'our packets of the flow still leave on cell0');
  assert.deepEqual(planFlowRoutes(input({ flowsAcked: true, flowsLeftOut: [] })).flows[0], { fid: 1, state: 'bound', local: CELL, remote: SERVER });
});

test("policy 'only': with cell0 down the flow is held (a drop route, pending, why), never on wifi0; back on cell0 when it returns", () => {
  const only = (over: Partial<FlowRoutesInput> = {}) => input({
    own: [{ fid: 1, selector: { protocol: 'udp', remotePorts: { from: 5000, to: 5010 } }, interface: 'cell0', policy: 'only' }],
    ...over,
  });
  const down = planFlowRoutes(only({ uplinksUp: new Set(['wifi0']), pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'failed' })] }));
  assert.deepEqual(down.flows, [{ fid: 1, state: 'pending', reason: 'held for cell0 (only on cell0): cell0 is down' }]);
  assert.deepEqual(down.routes, [
    { fid: 1, protocol: 17, localPorts: null, remotePorts: { from: 5000, to: 5010 }, local: WIFI, remote: SERVER, outboundSpi: 0, drop: true },
  ]);
  const checking = planFlowRoutes(only({ pairs: [pair(WIFI, SERVER), pair(CELL, SERVER, { state: 'testing' })] }));
  assert.deepEqual([checking.flows[0]?.state, checking.flows[0]?.reason, checking.routes[0]?.drop], ['pending', 'held for cell0 (only on cell0): a pair on cell0 is still being checked', true]);
  const back = planFlowRoutes(only());
  assert.deepEqual(back.flows, [{ fid: 1, state: 'bound', local: CELL, remote: SERVER }]);
  assert.deepEqual(back.routes.map((r) => [r.local, r.outboundSpi, r.drop]), [[CELL, CELL_SPI, undefined]]);
});

test("policy 'prefer' (\"prefer cellular\") falls back as a binding without a policy does; 'only' without an interface follows the data path", () => {
  const prefer = planFlowRoutes(input({
    own: [{ fid: 1, selector: { protocol: 'any' }, interface: 'cell0', policy: 'prefer' }],
    uplinksUp: new Set(['wifi0']), pairs: [pair(WIFI, SERVER)],
  }));
  assert.deepEqual(prefer.flows, [{ fid: 1, state: 'fallback', reason: 'cell0 is down', local: WIFI, remote: SERVER }]);
  assert.equal(prefer.routes[0]?.drop, undefined);
  const unbound = planFlowRoutes(input({ own: [{ fid: 3, selector: { protocol: 'any' }, interface: null, policy: 'only' }] }));
  assert.deepEqual(unbound.flows, [{ fid: 3, state: 'bound', local: WIFI, remote: SERVER }]);
});
