// A peer address listed at several ports (a symmetric NAT maps each destination to its own port,
// and an older mapping stays listed as deprecated or unverified): the pair to that address goes
// to one port, and what the user is shown of it, and where the data goes when no pair is left,
// follow that port's listing, not whichever listing of the address came first.
// Virtual clock; the sink records what the data plane would be told.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint, HostEvent } from '../../src-main/hip/host.js';
import type { PeerLocator } from '../../src-main/hip/peer-locators.js';
import { CELL, HIT, PEER, establishedOverWifi } from '../support/path-manager.js';

class Recorder implements PathSink {
  relayedTo(): boolean { return false; }
  readonly probes: { local: string; remote: string; probeId: number }[] = [];
  readonly paths: Array<{ local: string; remote: Endpoint }> = [];
  probePair(_hit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number): void {
    this.probes.push({ local: local.address, remote: remote.address, probeId });
  }
  setActivePair(): boolean { return true; }
  setDataPath(_hit: Uint8Array, local: Endpoint, remote: Endpoint): void { this.paths.push({ local: local.address, remote: { ...remote } }); }
  setSparePath(): void {}
  handover(): void {}
  holdForPeer(): void {}
  unreachable(): boolean { return false; }
}

function listing(address: string, port: number, state: PeerLocator['state'], preferred: boolean, source: PeerLocator['source']): PeerLocator {
  return { address, port, spi: 0x1234, state, preferred, source, candidate: 'srflx', lifetimeS: 0xffffffff, verifiedAt: 0 };
}

const peerLocators = (locators: PeerLocator[]): HostEvent => ({ type: 'peer-locators', peerHit: HIT, locators } as unknown as HostEvent);

test('the Pairs view shows the state of the port the pair goes to, not of an older port listed first', () => {
  const sink = new Recorder();
  const { pm, answer } = establishedOverWifi(sink, 0);
  answer(10);
  // The old mapping, now deprecated, is listed before the one that answers.
  const listed = [listing(PEER.address, 40_000, 'DEPRECATED', false, 'locator-set'), listing(PEER.address, PEER.port, 'ACTIVE', true, 'base-exchange')];
  pm.onHostEvent(20, peerLocators(listed), () => listed);
  const pair = pm.status(30, HIT)!.pairs.find((p) => p.remote.address === PEER.address);
  assert.ok(pair !== undefined);
  assert.equal(pair.remote.port, PEER.port, 'the pair goes to the port that answers');
  assert.equal(pair.remoteState, 'ACTIVE', `the badge says the state of that port: ${JSON.stringify(pair)}`);
});

test('with no pair left, data goes to an address verified at the port the pair takes, even when an unverified port of it is listed first', () => {
  const sink = new Recorder();
  const { pm, answer } = establishedOverWifi(sink, 0);
  answer(10);
  // The peer's preferred address: unverified at the port it listed first, verified at another.
  const listed = [
    listing('198.51.100.5', 1111, 'UNVERIFIED', true, 'locator-set'),
    listing('198.51.100.5', 2222, 'ACTIVE', true, 'locator-set'),
    listing(PEER.address, PEER.port, 'ACTIVE', false, 'base-exchange'),
  ];
  pm.onHostEvent(20, peerLocators(listed), () => listed);
  pm.setLocalLocators(100, []);
  pm.releaseProbes();
  sink.paths.length = 0;
  pm.setLocalLocators(200, [CELL]);
  pm.releaseProbes();
  assert.deepEqual(sink.paths[0], { local: CELL.address, remote: { address: '198.51.100.5', port: 2222 } },
    `the first pair through the new uplink goes to the verified port: ${JSON.stringify(sink.paths)}`);
});
