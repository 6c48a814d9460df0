// Flow steering (core/flow-steering.ts) in load sharing: a peer's spread is kept while what it
// is made from stays the same, and planned again when any of it changes, also what the pairs do
// not show (the user's failover away from an interface, or a pair chosen).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AssociationSnapshot } from '../../src-main/hip/host.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { DataplaneCommand } from '../../src-main/core/core-io.js';
import { FlowSteering } from '../../src-main/core/flow-steering.js';
import { OutboundSas } from '../../src-main/core/outbound-sas.js';
import type { EngineLocator, PeerPathsView } from '../../src-main/core/path-manager.js';

const WIFI = { address: '10.0.0.1', port: 10500 };
const CELL = { address: '10.1.0.1', port: 10500 };
const SERVER = { address: '10.9.0.2', port: 10500 };
const OWN_HIT = Uint8Array.from({ length: 16 }, (_, i) => 0x20 + i);
const PEER_HIT = Uint8Array.from({ length: 16 }, (_, i) => 0x90 + i);
const PEER = hitToText(PEER_HIT);

const locator = (l: typeof WIFI, ifname: string, rank: number): EngineLocator => ({
  ...l, ifname, kind: 'other', operational: true, preferenceRank: rank, defaultRoute: true, prefixLength: 24,
});
const pathView = (local: typeof WIFI, ifname: string) => ({ local, remote: SERVER, ifname, kind: 'other' as const, candidate: 'host' as const });

function steering(): { flows: FlowSteering; commands: DataplaneCommand[]; statusCalls: () => number } {
  const commands: DataplaneCommand[] = [];
  const outbound = new OutboundSas();
  outbound.install(PEER, 0x1000, 1, WIFI, SERVER, true);
  const association = {
    peerHitText: PEER, state: 'ESTABLISHED', multihoming: 'simultaneous', peerFlows: [], flowsAcked: true, flowsLeftOut: [],
    outboundSpi: 0x1000, inboundSpi: 0x2000, saPairs: [], peerLocators: [],
  } as unknown as AssociationSnapshot;
  const view = {
    state: 'operational',
    primary: pathView(WIFI, 'wifi0'),
    inbound: undefined,
    pairs: [{ ...pathView(WIFI, 'wifi0'), state: 'operational' }, { ...pathView(CELL, 'cell0'), state: 'operational' }],
  } as unknown as PeerPathsView;
  let calls = 0;
  const flows = new FlowSteering({
    ownHit: OWN_HIT,
    commands,
    paths: {
      status: () => {
        calls++;
        return view;
      },
      localLocators: () => [locator(WIFI, 'wifi0', 0), locator(CELL, 'cell0', 1)],
    },
    outbound,
    monitored: true,
    balanced: true,
    association: () => association,
    isVerified: () => true,
    announceFlows: () => {},
  });
  return { flows, commands, statusCalls: () => calls };
}

const spreadOver = (c: DataplaneCommand | undefined): string[] =>
  c?.type === 'set-flow-routes' ? c.routes.filter((r) => r.spreadKey !== undefined).map((r) => r.local.address) : ['not set-flow-routes'];

test('load sharing: the spread goes to the data plane once, and again only when it changes', () => {
  const { flows, commands, statusCalls } = steering();
  flows.changed(PEER);
  flows.refresh(0);
  assert.deepEqual(spreadOver(commands.shift()), [WIFI.address, CELL.address]);
  for (let i = 1; i <= 25; i++) {
    flows.mayHaveMoved();
    flows.refresh(i * 40);
  }
  assert.equal(commands.length, 0, 'an unchanged spread is not given again');
  assert.equal(statusCalls(), 26, 'each report still looks at the pairs');
});

test('load sharing: a pair the user chooses ends the spread though the pairs stay the same', () => {
  const { flows, commands } = steering();
  flows.changed(PEER);
  flows.refresh(0);
  commands.length = 0;
  const view = { primary: pathView(WIFI, 'wifi0'), pairs: [pathView(WIFI, 'wifi0'), pathView(CELL, 'cell0')] } as unknown as PeerPathsView;
  flows.failedOver(PEER, view, { local: CELL.address, remote: SERVER.address });
  flows.mayHaveMoved();
  flows.refresh(40);
  assert.deepEqual(spreadOver(commands.shift()), [], 'all unbound traffic on the chosen pair: no spread while the move is under way');
  assert.ok(!flows.spreadCarries(PEER, WIFI, SERVER));
});
