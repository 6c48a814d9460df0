// A rekey of the base SA pair (RFC 7402 §6.9) loses nothing either way. The host answering the
// rekey holds the new pair one trip before the host that asked for it: if it sent on its new
// outbound SA at once, its first packets would reach the initiator before the initiator
// installed that SA and be refused there (unknown SPI): the answer goes through the engine and
// then to the data-plane worker, while ESP goes straight to the data plane. Two HostCores on
// the virtual clock, each with a data plane that takes a while to carry out a command (A 30 ms,
// B 5 ms), a 100
// packets/s stream each way on the base pair, A asks for the rekey; the data plane model opens
// a packet only with an inbound SA installed there. Seeded (SIM_SEED replays a run).
//
//   node --import tsx --test test/integration/sim-base-rekey.test.ts

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimWorld, connect, type SimHost } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
/** How long each data plane takes to carry out a command: A's engine is the busier one. */
const DATAPLANE_LATENCY_MS = { A: 30, B: 5 };

function world(fallbackSeed: number, aDelayMs: number) {
  const w = new SimWorld(SEED_VAR, fallbackSeed);
  const a = w.addHost('A', [{ ifname: 'wifi0', kind: 'wifi', address: '192.0.2.10', delayMs: aDelayMs }]);
  const b = w.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: '198.51.100.2', delayMs: 5 }]);
  for (const h of [a, b]) {
    h.espModel = true;
    // The engine's turn and the hop to the data-plane worker: B's ESP can overtake A's install.
    h.dataplaneLatencyMs = DATAPLANE_LATENCY_MS[h.name as 'A' | 'B'];
  }
  connect(w, a, b);
  a.setStreaming(true);
  b.setStreaming(true);
  w.runFor(1_000);
  return { world: w, a, b, label: `seed ${w.seed} (set ${SEED_VAR} to replay)` };
}

const basePair = (h: SimHost, peer: SimHost) => ({ ...h.core.association(peer.core.hit)!.saPairs.find((p) => p.createdBy === 'base')! });

for (const aDelayMs of [5, 25]) {
  test(`a base-pair rekey loses no packet either way (A's uplink ${aDelayMs} ms one way)`, () => {
    const { world: w, a, b, label } = world(0xba5e_0000 + aDelayMs, aDelayMs);
    const before = basePair(a, b);
    const forcedAt = w.now;
    a.core.rekey(w.now, b.core.hit);
    w.drain();
    w.runFor(3_000);
    const end = w.now - 200;
    const after = basePair(a, b);
    const lostAB = a.stream.lost(forcedAt, end);
    const lostBA = b.stream.lost(forcedAt, end);
    console.log(`${label}: base pair in ${before.inboundSpi} out ${before.outboundSpi} -> in ${after.inboundSpi} out ${after.outboundSpi};`,
      `lost A→B ${lostAB}, B→A ${lostBA}; refused at A ${JSON.stringify(a.espRefused)}, at B ${JSON.stringify(b.espRefused)}`);

    assert.notEqual(after.outboundSpi, before.outboundSpi, `${label}: A's outbound SA is replaced`);
    assert.notEqual(after.inboundSpi, before.inboundSpi, `${label}: and its inbound SA`);
    const bAfter = basePair(b, a);
    assert.deepEqual([bAfter.inboundSpi, bAfter.outboundSpi], [after.outboundSpi, after.inboundSpi], `${label}: B mirrors the new pair`);
    // B answered, so it held the new pair first: its traffic moved only once A had it too.
    const bSwitchedAt = b.stream.sent.length > 0 ? [...b.stream.arrivals.values()].filter((x) => x.spi === after.inboundSpi).reduce((m, x) => Math.min(m, x.at), Infinity) : Infinity;
    const aInstalled = a.commands.find((c) => c.type === 'install-sa' && c.sa.inboundSpi === after.inboundSpi);
    assert.ok(aInstalled !== undefined, `${label}: A installed the new pair`);
    assert.ok(bSwitchedAt >= aInstalled.at && bSwitchedAt < Infinity, `${label}: B's first packet on the new SA arrived at ${bSwitchedAt}, A installed it at ${aInstalled.at}`);
    assert.deepEqual(a.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: A refused none of B's ESP`);
    assert.deepEqual(b.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: B refused none of A's ESP`);
    assert.equal(lostAB, 0, `${label}: A→B lost ${lostAB}`);
    assert.equal(lostBA, 0, `${label}: B→A lost ${lostBA}`);
    // Both streams go on on the new pair.
    const late = (s: SimHost) => [...s.stream.arrivals.values()].filter((x) => x.at >= end - 500).map((x) => x.spi);
    assert.ok(late(a).every((spi) => spi === after.outboundSpi), `${label}: A→B on the new SA at the end`);
    assert.ok(late(b).every((spi) => spi === after.inboundSpi), `${label}: B→A on the new SA at the end`);
  });
}

test('without the initiator\'s ACK the responder moves to the new SA after at most 2 s, and its stream loses nothing', () => {
  const { world: w, a, b, label } = world(0xba5e_0100, 5);
  const forcedAt = w.now;
  a.core.rekey(w.now, b.core.hit);
  w.drain();
  // Everything A sends is lost from the moment B's answer reached it: its ACK of the answer too.
  const deadline = w.now + 1_000;
  while (w.now < deadline && !a.events.some((e) => e.type === 'rekeyed' && e.at >= forcedAt)) w.runFor(1);
  a.uplink('wifi0').txDead = true;
  w.runFor(2_500);
  const aInstalled = a.commands.find((c) => c.type === 'install-sa' && c.at >= forcedAt);
  assert.ok(aInstalled?.type === 'install-sa', `${label}: A installed the new pair`);
  a.uplink('wifi0').txDead = false;
  w.runFor(1_000);
  const end = w.now - 200;
  const added = b.commands.find((c) => c.type === 'add-sas' && c.at >= forcedAt);
  const promoted = b.commands.find((c) => c.type === 'promote-base' && c.at >= forcedAt);
  const lostBA = b.stream.lost(forcedAt, end);
  console.log(`${label}: B added the new pair at ${added?.at}, promoted it at ${promoted?.at}; lost B→A ${lostBA}; refused at A ${JSON.stringify(a.espRefused)}`);
  assert.ok(added !== undefined && promoted?.type === 'promote-base', `${label}: B installed the new pair beside the old and promoted it`);
  assert.equal(promoted.spi, aInstalled.sa.inboundSpi, `${label}: the SA promoted is the one A opens with`);
  const waited = promoted.at - added.at;
  assert.ok(waited >= 1_900 && waited <= 2_100, `${label}: B waited ${waited} ms for the ACK before switching (bound 2 s)`);
  assert.deepEqual(a.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: A refused none of B's ESP`);
  assert.equal(lostBA, 0, `${label}: B→A lost ${lostBA}`);
  assert.ok([...b.stream.arrivals.values()].filter((x) => x.at >= end - 500).every((x) => x.spi === aInstalled.sa.inboundSpi), `${label}: B→A on the new SA at the end`);
});
