// The path manager tells the data plane when a peer's pair is in doubt (hold: keep copies of the
// ESP sent, re-send them on the next pair) and when it is not (discard them): data silence on a
// working pair holds and the peer's answer on that same pair releases; losing the uplink holds,
// and the move to the new uplink comes before the release, so the copies follow the data.
// Virtual clock; the sink records, in order, what the data plane would be told.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathManager, PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { CELL, HIT, PEER, WIFI, establishedOverWifi } from '../support/path-manager.js';

type Call = { call: 'hold'; on: boolean; at: number } | { call: 'path'; local: string; remotePort?: number; at: number };

class Recorder implements PathSink {
  relayedTo(): boolean {
    return false;
  }
  now = 0;
  readonly calls: Call[] = [];
  readonly probes: { local: string; remote: string; probeId: number }[] = [];
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local: local.address, remote: remote.address, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(_hit: Uint8Array, local: Endpoint, remote: Endpoint): void { this.calls.push({ call: 'path', local: local.address, remotePort: remote.port, at: this.now }); }
  setSparePath(): void {}
  handover(): void {}
  holdForPeer(_hit: Uint8Array, on: boolean): void { this.calls.push({ call: 'hold', on, at: this.now }); }
  unreachable(): boolean { return false; }
  holds(): Array<{ on: boolean; at: number }> {
    return this.calls.flatMap((c) => (c.call === 'hold' ? [{ on: c.on, at: c.at }] : []));
  }
}

function established(): { pm: PathManager; sink: Recorder; answerAll: (now: number) => void } {
  const sink = new Recorder();
  const { pm, answer } = establishedOverWifi(sink, 0);
  return { pm, sink, answerAll: answer };
}

test('data silence on a working pair holds the data; the peer answering on that pair releases it without a move', () => {
  const { pm, sink, answerAll } = established();
  answerAll(10);
  // A steady exchange, then our packets keep going and nothing comes back.
  let now = 10;
  for (; now < 1_000; now += 10) {
    sink.now = now;
    pm.dataSent(now, HIT, 1);
    pm.dataReceived(now, HIT);
    pm.handleTimeout(now);
  }
  assert.deepEqual(sink.holds(), [], `nothing is held while the peer answers: ${JSON.stringify(sink.calls)}`);
  const silentFrom = now;
  for (; now < silentFrom + 3_000 && sink.holds().length === 0; now += 10) {
    sink.now = now;
    pm.dataSent(now, HIT, 1);
    pm.handleTimeout(now);
  }
  const held = sink.holds();
  assert.equal(held[0]?.on, true, `3 s of one-way data never put the pair in doubt: ${JSON.stringify(sink.calls)}`);
  assert.ok(held[0].at - silentFrom < 2_000, `held ${held[0].at - silentFrom} ms after the silence began`);
  const pathsBefore = sink.calls.filter((c) => c.call === 'path').length;
  sink.now = now;
  pm.dataReceived(now, HIT, { local: WIFI.address, remote: PEER.address });
  assert.deepEqual(sink.holds().at(-1), { on: false, at: now }, `the peer's answer did not release the copies: ${JSON.stringify(sink.calls)}`);
  assert.equal(sink.calls.filter((c) => c.call === 'path').length, pathsBefore, 'no move: the copies are discarded, not re-sent');
});

test('losing the uplink holds the data; the move to the new uplink comes before the release', () => {
  const { pm, sink, answerAll } = established();
  answerAll(10);
  sink.now = 1_000;
  pm.setLocalLocators(1_000, []); // wifi0 goes down
  pm.releaseProbes();
  pm.handleTimeout(1_000);
  assert.deepEqual(sink.holds(), [{ on: true, at: 1_000 }], `no primary is a pair in doubt: ${JSON.stringify(sink.calls)}`);
  sink.now = 3_000;
  pm.setLocalLocators(3_000, [CELL]); // cell0 comes up 2 s later
  pm.releaseProbes();
  pm.handleTimeout(3_000);
  const move = sink.calls.findIndex((c) => c.call === 'path' && c.local === CELL.address);
  assert.ok(move >= 0, `the data never moved to cell0: ${JSON.stringify(sink.calls)}`);
  assert.ok(!sink.calls.slice(0, move).some((c) => c.call === 'hold' && !c.on), `released before the move (the copies would be lost): ${JSON.stringify(sink.calls)}`);
  sink.now = 3_020;
  answerAll(3_020);
  pm.handleTimeout(3_020);
  assert.deepEqual(sink.holds().at(-1), { on: false, at: 3_020 }, `cell0's pair passed its test, yet the hold stayed: ${JSON.stringify(sink.calls)}`);
});

test('an association that ends while held releases the hold: the next one does not inherit the doubt', () => {
  const { pm, sink, answerAll } = established();
  answerAll(10);
  sink.now = 1_000;
  pm.setLocalLocators(1_000, []); // wifi0 goes down: held
  pm.releaseProbes();
  pm.handleTimeout(1_000);
  assert.deepEqual(sink.holds(), [{ on: true, at: 1_000 }]);
  sink.now = 1_500;
  pm.onHostEvent(1_500, { type: 'failed', peerHit: HIT, reason: 'peer forgot us' }, () => []);
  assert.deepEqual(sink.holds().at(-1), { on: false, at: 1_500 }, `the hold outlived its association: ${JSON.stringify(sink.calls)}`);
});

test('HIP moving the peer to another port of the same address (its NAT rebound) moves the data too', () => {
  const { pm, sink, answerAll } = established();
  answerAll(10);
  sink.now = 500;
  const rebound = { address: PEER.address, port: 40_001 };
  pm.onHostEvent(500, { type: 'address-changed', peerHit: HIT, from: PEER, to: rebound, verified: false, cause: 'peer-source-changed' }, () => []);
  const last = sink.calls.filter((c) => c.call === 'path').at(-1);
  assert.equal(last?.call === 'path' ? last.remotePort : undefined, 40_001, `the data stayed on port ${PEER.port}: ${JSON.stringify(sink.calls)}`);
});
