// Load balancing among peers (core/peer-balance.ts, seed 002 §3.3.3): the same flow with several
// peers, bound to no interface, has each peer's instance placed on one of our uplinks so that
// they carry the instances evenly; a change moves as few instances as it can, since each move
// is an UPDATE to that peer and a path change for its packets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerBalancer, balanceInstances, sharedInstances } from '../../src-main/core/peer-balance.js';

const VIDEO = { protocol: 'udp', remotePorts: { from: 5004, to: 5004 } };
const SSH = { protocol: 'tcp', remotePorts: { from: 22, to: 22 } };

type Flow = { fid: number; selector: unknown; interface: string | null };

function bindings(entries: Array<[peer: string, fid: number, selector: unknown, iface?: string]>): Map<string, Flow[]> {
  const m = new Map<string, Flow[]>();
  for (const [peer, fid, selector, iface] of entries) m.set(peer, [...(m.get(peer) ?? []), { fid, selector, interface: iface ?? null }]);
  return m;
}

const byKey = (a: [string, string], b: [string, string]): number => a[0].localeCompare(b[0]);
const where = (placed: Map<string, Flow[]>): string[] => [...placed].flatMap(([peer, list]) => list.map((f) => `${peer}:${f.fid}@${f.interface ?? '-'}`)).sort();

test('Figure 3: the same flow with three peers over two uplinks: two instances on one, one on the other', () => {
  const b = new PeerBalancer();
  const placed = b.apply(bindings([['peer1', 1, VIDEO], ['peer2', 2, VIDEO], ['peer3', 3, VIDEO]]), ['wifi0', 'cell0']);
  assert.deepEqual(where(placed), ['peer1:1@wifi0', 'peer2:2@cell0', 'peer3:3@wifi0']);
  const row: { reason?: string } = {};
  b.reason('peer2', 2, row);
  assert.equal(row.reason, 'placed on cell0 to balance the load among peers');
});

test('only shared flows without an interface are placed: one peer\'s flow, a bound flow and a different selector stay', () => {
  const b = new PeerBalancer();
  const placed = b.apply(bindings([['peer1', 1, VIDEO], ['peer2', 2, VIDEO], ['peer1', 3, SSH], ['peer2', 4, SSH, 'wifi0'], ['peer3', 5, VIDEO, 'cell0']]), ['wifi0', 'cell0']);
  assert.deepEqual(where(placed), ['peer1:1@wifi0', 'peer1:3@-', 'peer2:2@cell0', 'peer2:4@wifi0', 'peer3:5@cell0']);
  assert.deepEqual(where(b.apply(bindings([['peer1', 1, VIDEO], ['peer2', 2, VIDEO]]), [])), ['peer1:1@-', 'peer2:2@-'], 'no uplinks (not load sharing): nothing placed');
});

test('a peer joining or leaving moves at most one other instance; an uplink leaving and coming back rebalances', () => {
  const up = ['wifi0', 'cell0'];
  let placed = balanceInstances(sharedInstances([1, 2, 3].map((fid) => ({ peer: `p${fid}`, fid, selectorKey: 'v', interface: null }))), up, new Map());
  assert.deepEqual([...placed.values()], ['wifi0', 'cell0', 'wifi0']);
  const four = [1, 2, 3, 4].map((fid) => ({ peer: `p${fid}`, fid }));
  const joined = balanceInstances(four, up, placed);
  assert.deepEqual([...joined.entries()].sort(byKey), [['1|p1', 'wifi0'], ['2|p2', 'cell0'], ['3|p3', 'wifi0'], ['4|p4', 'cell0']], 'the new one on the less loaded uplink, none moved');
  const left = balanceInstances(four.filter((i) => i.fid !== 2 && i.fid !== 4), up, joined);
  assert.deepEqual([...left.entries()].sort(byKey), [['1|p1', 'wifi0'], ['3|p3', 'cell0']], 'two left cell0: one instance moves over, not both');
  const cellDown = balanceInstances(four, ['wifi0'], joined);
  assert.deepEqual(new Set(cellDown.values()), new Set(['wifi0']));
  placed = balanceInstances(four, up, cellDown);
  const moved = [...placed].filter(([k, u]) => cellDown.get(k) !== u).length;
  assert.deepEqual([[...placed.values()].filter((u) => u === 'wifi0').length, moved], [2, 2], 'cell0 back: two of four move to it');
});
