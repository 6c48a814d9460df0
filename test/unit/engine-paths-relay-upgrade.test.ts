// The move off the relay is a handover the user sees: a peer reached through our relay (the
// exchange ran there) whose own address then passes its check takes the traffic, and the path
// manager reports that move with both ends' candidate kinds, even though it is pair selection's
// first choice ('connect'), and even on one machine where the relay and the peer share an
// address and differ only by port. Virtual clock; the sink records what the engine would hear.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathManager, type EngineLocator, type Handover, type PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint, HostEvent } from '../../src-main/hip/host.js';
import type { CandidateName } from '../../src-main/hip/local-locators.js';

const HIT = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i));

class Recorder implements PathSink {
  constructor(private readonly relay: Endpoint) {}
  relayedTo(_hit: Uint8Array, remote: Endpoint): boolean {
    return remote.address === this.relay.address && remote.port === this.relay.port;
  }
  readonly probes: { local: Endpoint; remote: Endpoint; probeId: number }[] = [];
  readonly paths: Endpoint[] = [];
  readonly handovers: Handover[] = [];
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local, remote, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(_hit: Uint8Array, _local: Endpoint, remote: Endpoint): void { this.paths.push(remote); }
  setSparePath(): void {}
  handover(h: Handover): void { this.handovers.push(h); }
  holdForPeer(): void {}
  unreachable(): boolean { return false; }
}

function run(local: EngineLocator, relay: Endpoint, peer: Endpoint, peerKind: CandidateName): { sink: Recorder; pm: PathManager } {
  const sink = new Recorder(relay);
  const pm = new PathManager(sink, { abandonAfterMs: 8_000, spareWindowMs: 0 });
  pm.setLocalLocators(0, [local]);
  pm.releaseProbes();
  // The address the exchange ran to first, then what the peer's LOCATOR_SET added (pairs are
  // keyed by address, so on one machine the port listed last for 127.0.0.1 is the one probed).
  const listed = [
    { ...relay, spi: 0x1234, state: 'ACTIVE' as const, preferred: true, source: 'base-exchange' as const, candidate: 'relayed' as const, lifetimeS: 0xffffffff, verifiedAt: 0 },
    { ...peer, spi: 0x1234, state: 'UNVERIFIED' as const, preferred: false, source: 'locator-set' as const, candidate: peerKind, lifetimeS: 0xffffffff, verifiedAt: 0 },
  ];
  const established = { type: 'established', peerHit: HIT, local: { address: local.address, port: local.port }, remote: relay, initiator: true } as unknown as HostEvent;
  pm.onHostEvent(0, established, () => listed);
  // Every probe answered 5 ms later, until nothing more is sent.
  let answered = 0;
  for (let now = 5; now < 3_000; now += 5) {
    pm.handleTimeout(now);
    for (const p of sink.probes.slice(answered)) {
      pm.onHostEvent(now, { type: 'pair-probe-answered', peerHit: HIT, pair: { local: p.local, remote: p.remote }, probeId: p.probeId, rttMs: 5 }, () => listed);
    }
    answered = sink.probes.length;
  }
  return { sink, pm };
}

const moves = (sink: Recorder): string[] => sink.handovers.map((h) => `${h.from?.candidate}:${h.from?.remote.port} -> ${h.to.candidate}:${h.to.remote.port}`);

test('behind NATs: the peer\'s server-reflexive address passes its check and the move off the relay is reported', () => {
  const wifi: EngineLocator = { address: '10.1.0.2', port: 10500, ifname: 'wifi0', kind: 'wifi', operational: true, preferenceRank: 0, defaultRoute: true, prefixLength: 24 };
  const { sink } = run(wifi, { address: '198.51.100.9', port: 10500 }, { address: '203.0.113.7', port: 40001 }, 'srflx');
  assert.deepEqual(sink.paths.at(-1), { address: '203.0.113.7', port: 40001 }, `the data goes to the peer's NAT: ${JSON.stringify(sink.paths)}`);
  assert.deepEqual(moves(sink), ['relayed:10500 -> srflx:40001']);
  assert.equal(sink.handovers[0]!.to.ifname, 'wifi0');
});

test('on one machine: the relay and the peer share 127.0.0.1, and the move between their ports is still reported', () => {
  const lo: EngineLocator = { address: '127.0.0.1', port: 42599, ifname: 'lo', kind: 'other', operational: true, preferenceRank: 0, defaultRoute: true, prefixLength: 8 };
  const { sink } = run(lo, { address: '127.0.0.1', port: 48786 }, { address: '127.0.0.1', port: 58487 }, 'host');
  assert.deepEqual(sink.paths.at(-1), { address: '127.0.0.1', port: 58487 }, `the data goes to the peer's port: ${JSON.stringify(sink.paths)}`);
  assert.deepEqual(moves(sink), ['relayed:48786 -> host:58487']);
});
