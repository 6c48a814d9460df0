// A notice that found no way out is not taken as sent: when every check toward the peer's direct
// candidate failed but the notice could not go (no relay route yet), the path manager asks again
// at later judgements, and once one went out it asks no more for that offer. Virtual clock; the
// direct candidate never answers, the relay always does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathManager, type EngineLocator, type PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint, HostEvent } from '../../src-main/hip/host.js';

const HIT = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i));
const RELAY: Endpoint = { address: '198.51.100.9', port: 10500 };
const PEER: Endpoint = { address: '203.0.113.7', port: 40001 };
const WIFI: EngineLocator = { address: '10.1.0.2', port: 10500, ifname: 'wifi0', kind: 'wifi', operational: true, preferenceRank: 0, defaultRoute: true, prefixLength: 24 };

class Recorder implements PathSink {
  readonly probes: { local: Endpoint; remote: Endpoint; probeId: number }[] = [];
  /** Whether a notice can go out (a relay route exists); each ask, and whether it went. */
  canSend = false;
  readonly asks: { at: number; sent: boolean }[] = [];
  now = 0;
  relayedTo(_hit: Uint8Array, remote: Endpoint): boolean {
    return remote.address === RELAY.address && remote.port === RELAY.port;
  }
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local, remote, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(): void {}
  setSparePath(): void {}
  handover(): void {}
  holdForPeer(): void {}
  unreachable(): boolean { return false; }
  checksFailed(): boolean {
    this.asks.push({ at: this.now, sent: this.canSend });
    return this.canSend;
  }
}

test('a check-failure notice that could not be sent is asked for again, and once sent not again for that offer', () => {
  const sink = new Recorder();
  const pm = new PathManager(sink, { abandonAfterMs: 8_000, spareWindowMs: 0 });
  pm.setLocalLocators(0, [WIFI]);
  pm.releaseProbes();
  const listed = [
    { ...RELAY, spi: 0x1234, state: 'ACTIVE' as const, preferred: true, source: 'base-exchange' as const, candidate: 'relayed' as const, lifetimeS: 0xffffffff, verifiedAt: 0 },
    { ...PEER, spi: 0x1234, state: 'UNVERIFIED' as const, preferred: false, source: 'locator-set' as const, candidate: 'srflx' as const, lifetimeS: 0xffffffff, verifiedAt: 0 },
  ];
  const established = { type: 'established', peerHit: HIT, local: { address: WIFI.address, port: WIFI.port }, remote: RELAY, initiator: true } as unknown as HostEvent;
  pm.onHostEvent(0, established, () => listed);
  let answered = 0;
  const runUntil = (until: number): void => {
    for (let now = sink.now + 5; now <= until; now += 5) {
      sink.now = now;
      pm.handleTimeout(now);
      for (const p of sink.probes.slice(answered)) {
        if (p.remote.address !== RELAY.address) continue;
        pm.onHostEvent(now, { type: 'pair-probe-answered', peerHit: HIT, pair: { local: p.local, remote: p.remote }, probeId: p.probeId, rttMs: 5 }, () => listed);
      }
      answered = sink.probes.length;
    }
  };
  runUntil(60_000);
  const directChecks = sink.probes.filter((p) => p.remote.address === PEER.address).length;
  const unsent = sink.asks.length;
  console.log(`direct checks in 60 s: ${directChecks}; asks while no notice could go: ${unsent} (first at ${sink.asks[0]?.at} ms)`);
  assert.ok(unsent >= 2, `the failed checks are judged again after a notice could not go (${unsent} asks)`);
  sink.canSend = true;
  runUntil(180_000);
  const sent = sink.asks.filter((a) => a.sent);
  console.log(`asks after a route appeared: ${sink.asks.length - unsent}; sent: ${sent.length} at ${sent[0]?.at} ms`);
  assert.equal(sent.length, 1, 'sent once the route exists');
  assert.equal(sink.asks.length, unsent + 1, 'not asked again for the same offer once sent');
});
