// Simultaneous multihoming (RFC 8047 §4.1, §6.1–6.2; seed 000 §3.2.1): an SA pair per local
// interface, created with ESP_INFO OLD SPI 0 and removed with NEW SPI 0, every LOCATOR_SET a
// complete listing — so two paths used at once never share an anti-replay window.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EspInboundSa, EspOutboundSa } from '../../src-main/esp/sa.js';
import type { HostEvent } from '../../src-main/hip/host.js';
import { seedFromEnv } from '../support/sim-network.js';
import {
  A_CELL, A_WIFI, B_ALT, B_MAIN, cell, connected, locatorState, mobileWorld, same, setPath, updatesSent, wifi,
} from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0b11_e002);
console.log(`sim-mobility-multihoming seed ${SEED} (set SIM_SEED to replay)`);

const SIMULTANEOUS = { multihoming: 'simultaneous' as const };

type SaAdded = Extract<HostEvent, { type: 'sa-added' }>;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** The SA A created for `ifname` and its mirror on B: same SPIs crossed, same keys crossed. */
function assertMirrored(x: SaAdded, y: SaAdded): void {
  assert.equal(x.sa.inboundSpi, y.sa.outboundSpi);
  assert.equal(x.sa.outboundSpi, y.sa.inboundSpi);
  assert.equal(hex(x.sa.inbound.encKey), hex(y.sa.outbound.encKey));
  assert.equal(hex(x.sa.outbound.authKey), hex(y.sa.inbound.authKey));
}

test('a second interface gets its own SA pair: ESP_INFO OLD SPI 0 from that interface, keys agreed on both sides', () => {
  const { net, a, b } = connected(mobileWorld(SEED, SIMULTANEOUS, SIMULTANEOUS));
  const base = a.host.associations()[0]!;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-added').length === 1 && b.eventsOf('sa-added').length === 1, net.now + 2_000), 'no new SA pair');
  const request = updatesSent(net).find((x) => x.u.espInfo?.oldSpi === 0 && x.u.locators !== undefined)!;
  assert.ok(same(request.from, A_CELL) && same(request.to, B_MAIN), 'sent from the new interface to the peer\'s preferred address');
  const newSpi = request.u.espInfo!.newSpi;
  assert.ok(newSpi !== 0 && newSpi !== base.inboundSpi, 'a fresh inbound SPI');
  assert.deepEqual(
    request.u.locators!.map((l) => [l.address, l.spi, l.preferred]),
    [[A_WIFI.address, base.inboundSpi, true], [A_CELL.address, newSpi, false]],
    'complete listing: wifi on the base SA, cell on the new one',
  );
  const answer = updatesSent(net).find((x) => x.u.ack.includes(request.u.seq!) && x.u.espInfo !== undefined)!;
  assert.equal(answer.u.espInfo!.oldSpi, 0, 'the peer answers with its own new SPI');
  assert.ok(answer.u.seq !== undefined, 'under its own SEQ');

  const ours = a.eventsOf('sa-added')[0]!;
  const theirs = b.eventsOf('sa-added')[0]!;
  assert.equal(ours.ifname, 'cell0');
  assert.equal(ours.createdBy, 'us');
  assert.equal(theirs.createdBy, 'peer');
  assert.equal(ours.sa.inboundSpi, newSpi);
  assertMirrored(ours, theirs);
  const baseKeys = a.eventsOf('established')[0]!.sa;
  assert.notEqual(hex(ours.sa.outbound.encKey), hex(baseKeys.outbound.encKey), 'new keys, not the base SA\'s');
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'ACTIVE', net.now + 2_000), 'B verifies the cell address');
  const snap = a.host.associations()[0]!;
  assert.deepEqual(snap.saPairs.map((p) => [p.ifname, p.createdBy]), [['wifi0', 'base'], ['cell0', 'us']]);
  assert.equal(snap.multihoming, 'simultaneous');
  assert.deepEqual(a.host.counters.dropped, {});
  assert.deepEqual(b.host.counters.dropped, {});
});

test('both paths used at once: separate SAs keep every packet; one shared SA would drop the slow path\'s as too old', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 1, SIMULTANEOUS, SIMULTANEOUS));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-added').length === 1 && b.eventsOf('sa-added').length === 1, net.now + 2_000), 'no new SA pair');
  const suite = a.eventsOf('established')[0]!.sa.suite;
  const pairs = [a.eventsOf('established')[0]!.sa, a.eventsOf('sa-added')[0]!.sa];
  const mirrors = [b.eventsOf('established')[0]!.sa, b.eventsOf('sa-added')[0]!.sa];
  // A sends 2,000 packets alternately on wifi (fast) and cell, whose packets arrive 1,200 later.
  const deliver = (shared: boolean): number => {
    const out = pairs.map((p) => new EspOutboundSa({ spi: p.outboundSpi, suite, keys: p.outbound, createdAt: 0 }));
    const inn = mirrors.map((p) => new EspInboundSa({ spi: p.inboundSpi, suite, keys: p.inbound, createdAt: 0, replayWindowSize: 1024 }));
    const wifiPath: Uint8Array[] = [];
    const cellPath: Uint8Array[] = [];
    for (let i = 0; i < 2_000; i++) {
      const path = i % 2;
      const sa = shared ? 0 : path;
      (path === 0 ? wifiPath : cellPath).push(out[sa]!.seal(new Uint8Array(64), 59, 0));
    }
    let accepted = 0;
    const arrivals = [...wifiPath.map((p, i) => ({ at: i, p })), ...cellPath.map((p, i) => ({ at: i + 1_200, p }))].sort((x, y) => x.at - y.at);
    for (const { p } of arrivals) {
      const spi = new DataView(p.buffer, p.byteOffset).getUint32(0);
      const sa = inn.find((s) => s.spi === spi)!;
      if (sa.open(p, 0).ok) accepted++;
    }
    return accepted;
  };
  assert.equal(deliver(false), 2_000, 'an SA per path: nothing lost to the anti-replay window');
  assert.ok(deliver(true) < 2_000, 'one SA over both paths: the slow path trips the window');
});

test('an interface going away has its SA deprecated with NEW SPI 0; its locators become DEPRECATED at the peer', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 2, SIMULTANEOUS, SIMULTANEOUS));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'ACTIVE', net.now + 2_000), 'cell SA up and verified');
  const cellSa = a.eventsOf('sa-added')[0]!.sa;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true)]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-removed').length === 1 && b.eventsOf('sa-removed').length === 1, net.now + 2_000), 'SA not removed');
  const deprecation = updatesSent(net).find((x) => x.u.espInfo?.newSpi === 0)!;
  assert.equal(deprecation.u.espInfo!.oldSpi, cellSa.inboundSpi);
  assert.deepEqual(deprecation.u.locators!.map((l) => l.address), [A_WIFI.address], 'the listing no longer has cell');
  assert.deepEqual([a.eventsOf('sa-removed')[0]!.inboundSpi, a.eventsOf('sa-removed')[0]!.ifname], [cellSa.inboundSpi, 'cell0']);
  assert.equal(b.eventsOf('sa-removed')[0]!.outboundSpi, cellSa.inboundSpi);
  assert.equal(locatorState(b, a, A_CELL), 'DEPRECATED');
  assert.equal(a.host.associations()[0]!.saPairs.length, 1);
  assert.equal(b.host.associations()[0]!.saPairs.length, 1);
});

test('losing the base interface: the other interface\'s SA is made first, then the base SA deprecated and replaced', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 3, SIMULTANEOUS, SIMULTANEOUS));
  const base = a.host.associations()[0]!;
  setPath(net, A_WIFI, B_MAIN);
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-removed').length === 1 && b.eventsOf('sa-removed').length === 1, net.now + 3_000), 'base SA never removed');
  const spis = updatesSent(net).filter((x) => x.u.locators !== undefined).map((x) => [x.u.espInfo!.oldSpi === 0 ? 'new' : x.u.espInfo!.newSpi === 0 ? 'deprecate' : 'other']);
  assert.deepEqual(spis, [['new'], ['deprecate']], 'make before break');
  const snapA = a.host.associations()[0]!;
  assert.equal(snapA.saPairs.length, 1);
  assert.equal(snapA.saPairs[0]!.ifname, 'cell0');
  assert.notEqual(snapA.inboundSpi, base.inboundSpi, 'the cell SA is now the base pair');
  assert.equal(b.host.associations()[0]!.outboundSpi, snapA.inboundSpi);
  assert.ok(same(b.host.associations()[0]!.remote, A_CELL), 'B sends to cell');
  // The association still works end to end: a rekey now replaces the promoted pair.
  a.act((h) => h.rekey(net.now, b.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 1 && b.eventsOf('rekeyed').length === 1, net.now + 3_000), 'rekey after promotion');
});

test('both hosts add an interface at once: both SA pairs are made, one after the other, never from the same KEYMAT octets', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 4, SIMULTANEOUS, SIMULTANEOUS));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  b.act((h) => h.setLocalLocators(net.now, [
    { ...B_MAIN, ifname: 'eth0', kind: 'ethernet', preferred: true },
    { ...B_ALT, ifname: 'eth1', kind: 'ethernet', preferred: false },
  ]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-added').length === 2 && b.eventsOf('sa-added').length === 2, net.now + 10_000), 'both SA pairs');
  const keys = [...a.eventsOf('sa-added'), ...a.eventsOf('established')].map((e) => hex(e.sa.inbound.encKey));
  assert.equal(new Set(keys).size, keys.length, 'every SA has keys of its own');
  for (const x of a.eventsOf('sa-added')) {
    const mirror = b.eventsOf('sa-added').find((y) => y.sa.inboundSpi === x.sa.outboundSpi)!;
    assertMirrored(x, mirror);
  }
  assert.equal(a.host.associations()[0]!.saPairs.length, 3);
  assert.equal(b.host.associations()[0]!.saPairs.length, 3);
  assert.equal(a.state(b), 'ESTABLISHED');
});

test('a peer in fault-tolerance mode still keys the SA pair it is asked for (RFC 8047 §6.2 case 3)', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 5, SIMULTANEOUS, {}));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => a.eventsOf('sa-added').length === 1 && b.eventsOf('sa-added').length === 1, net.now + 2_000), 'no SA pair');
  assertMirrored(a.eventsOf('sa-added')[0]!, b.eventsOf('sa-added')[0]!);
  assert.equal(b.host.associations()[0]!.multihoming, 'fault-tolerance');
});

test('a rekey asked for while a new SA pair is being keyed runs right after it, with keys of its own', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 6, SIMULTANEOUS, SIMULTANEOUS));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  a.act((h) => h.rekey(net.now, b.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 1 && b.eventsOf('rekeyed').length === 1, net.now + 5_000), 'rekey never ran');
  assert.equal(a.eventsOf('sa-added').length, 1);
  const keys = [a.eventsOf('established')[0]!.sa, a.eventsOf('sa-added')[0]!.sa, a.eventsOf('rekeyed')[0]!.sa].map((sa) => hex(sa.inbound.encKey));
  assert.equal(new Set(keys).size, 3, 'no two SAs share keys');
  assert.equal(hex(a.eventsOf('rekeyed')[0]!.sa.outbound.encKey), hex(b.eventsOf('rekeyed')[0]!.sa.inbound.encKey));
});
