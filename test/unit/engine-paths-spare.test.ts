// The path manager turns pair selection's spare decisions into data-plane calls: a new uplink
// whose pair passes its first test gets copies of the data for the policy's window, moving the
// data onto the spare needs no separate stop, and a spare window of 0 turns copying off.
// Virtual clock; the sink records what the data plane would be told.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Handover, PathManager, PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { CELL, HIT, PEER, WIFI, establishedOverWifi } from '../support/path-manager.js';

interface Probe { local: string; remote: string; probeId: number }

class Recorder implements PathSink {
  relayedTo(): boolean {
    return false;
  }
  readonly probes: Probe[] = [];
  readonly spares: { local: string; remote: string; forMs: number }[] = [];
  readonly paths: { local: string; remote: string }[] = [];
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local: local.address, remote: remote.address, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(_hit: Uint8Array, local: Endpoint, remote: Endpoint): void {
    this.paths.push({ local: local.address, remote: remote.address });
  }
  setSparePath(_hit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void {
    this.spares.push({ local: local.address, remote: remote.address, forMs });
  }
  readonly handovers: Handover[] = [];
  handover(h: Handover): void { this.handovers.push(h); }
  holdForPeer(): void {}
  unreachable(): boolean { return false; }
}

/** Established over wifi0 only; each probe sent is answered when the test says. */
function established(spareWindowMs = 5_000): { pm: PathManager; sink: Recorder; answer: (now: number) => void } {
  const sink = new Recorder();
  return { sink, ...establishedOverWifi(sink, spareWindowMs) };
}

test('a new uplink that passes its test carries copies for the spare window; the data then moves onto it without a stop', () => {
  const { pm, sink, answer } = established();
  answer(10);
  pm.setLocalLocators(1_000, [WIFI, CELL]);
  pm.releaseProbes();
  pm.handleTimeout(1_000); // the background test
  assert.ok(sink.probes.some((p) => p.local === CELL.address), `cell0's pair was not tested: ${JSON.stringify(sink.probes)}`);
  assert.deepEqual(sink.spares, [], 'no copies before the test passes');
  answer(1_010);
  assert.deepEqual(sink.spares, [{ local: CELL.address, remote: PEER.address, forMs: 5_000 }]);
  pm.setLocalLocators(2_000, [CELL]); // wifi0 goes down
  assert.deepEqual(sink.paths.at(-1), { local: CELL.address, remote: PEER.address }, 'the data moved to the spare');
  assert.equal(sink.spares.length, 1, `moving onto the spare ended its copies without another call: ${JSON.stringify(sink.spares)}`);
});

test('a spare window of 0 never copies', () => {
  const { pm, sink, answer } = established(0);
  answer(10);
  pm.setLocalLocators(1_000, [WIFI, CELL]);
  pm.releaseProbes();
  pm.handleTimeout(1_000); // the background test
  answer(1_010);
  assert.ok(sink.probes.some((p) => p.local === CELL.address), 'cell0 is still tested as a spare');
  assert.deepEqual(sink.spares, []);
});

test('an uplink the monitor reports gone costs the time to switch, not the time since the peer was last heard', () => {
  const { pm, sink, answer } = established();
  answer(10);
  pm.setLocalLocators(1_000, [WIFI, CELL]);
  pm.releaseProbes();
  pm.handleTimeout(1_000);
  answer(1_010);
  // The tunnel idles: the peer was last heard 1.5 s before wifi0 goes down.
  pm.dataReceived(1_500, HIT);
  pm.setLocalLocators(3_000, [CELL]);
  const h = sink.handovers.at(-1);
  assert.equal(h?.cause, 'pair-deleted', `handovers: ${JSON.stringify(sink.handovers)}`);
  assert.equal(h?.to.local.address, CELL.address);
  assert.ok(h.gapMs < 100, `the switch to a tested spare was immediate, yet the gap reads ${h.gapMs} ms`);
});
