// While the pair in use is lost (the peer stopped answering and no other pair works) the host
// gathers its candidates again and sends the peer a new offer, repeated with a growing back-off
// until a pair works again. A search in between (our uplink going away mid-outage moves the
// primary to a guess that is tested, then fails) neither stops that nor restarts the back-off.
// Virtual clock; the sink records when the engine is asked to gather again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { CELL, HIT, WIFI, establishedOverWifi } from '../support/path-manager.js';

class Recorder implements PathSink {
  relayedTo(): boolean { return false; }
  now = 0;
  readonly probes: { local: string; remote: string; probeId: number }[] = [];
  readonly gathered: number[] = [];
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local: local.address, remote: remote.address, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(): void {}
  setSparePath(): void {}
  handover(): void {}
  holdForPeer(): void {}
  unreachable(): boolean { return false; }
  pathLost(): void { this.gathered.push(this.now); }
}

test('an uplink lost during an outage: gathering again goes on, backing off to the 30 s cap', () => {
  const sink = new Recorder();
  const { pm, answer } = establishedOverWifi(sink, 0);
  pm.setLocalLocators(0, [WIFI, CELL]);
  pm.releaseProbes();
  let now = 0;
  for (; now < 2_000; now += 10) {
    sink.now = now;
    answer(now);
    pm.dataSent(now, HIT, 1);
    pm.dataReceived(now, HIT);
    pm.handleTimeout(now);
  }
  // The peer goes silent on both uplinks; Wi-Fi goes away once the first new offer is out.
  let wifiGone = false;
  for (; now < 150_000; now += 10) {
    sink.now = now;
    pm.dataSent(now, HIT, 1);
    pm.handleTimeout(now);
    if (!wifiGone && sink.gathered.length > 0 && now >= sink.gathered[0]! + 1_000) {
      wifiGone = true;
      pm.setLocalLocators(now, [CELL], new Map([[WIFI.address, 'address-lost' as const]]));
      pm.releaseProbes();
    }
  }
  assert.ok(wifiGone, 'the path was lost while Wi-Fi was still there');
  const gaps = sink.gathered.slice(1).map((t, i) => t - sink.gathered[i]!);
  assert.deepEqual(gaps.slice(0, 6), [2_000, 4_000, 8_000, 16_000, 30_000, 30_000], `gathered again at ${JSON.stringify(sink.gathered)}`);
});
