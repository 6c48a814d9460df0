// Flow bindings between two HIP hosts (seed 002): E-LOCATOR in R1 (host-wide), in I2 and in the
// UPDATE that announces a changed set, always beside LOCATOR_SET; what each side's association
// snapshot then shows; a peer that does not know E-LOCATOR still following LOCATOR_SET; and no
// replayed or forged packet moving a binding. Deterministic: virtual clock, seeded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket, getParam, spanIndexOf } from '../../src-main/hip/wire/codec.js';
import { PacketType, ParamType } from '../../src-main/hip/wire/constants.js';
import type { AnnouncedFlow } from '../../src-main/hip/flow-announcement.js';
import type { OwnLocator } from '../../src-main/hip/host.js';
import { seedFromEnv } from '../support/sim-network.js';
import type { TestHost } from '../support/hip-hosts.js';
import {
  A_CELL, A_WIFI, B_ALT, B_MAIN, authenticUpdate, cell, connected, locatorState, mobileWorld, updatesSent, wifi, type World,
} from './sim-mobility-harness.js';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { buildELocator } from '../../src-main/hip/flow-announcement.js';
import { mobileWorld as coreWorld, A_WIFI as CORE_A_WIFI } from '../support/sim-hosts.js';

const SEED = seedFromEnv('SIM_SEED', 0x0f10_e002);
console.log(`sim-flow-bindings seed ${SEED} (set SIM_SEED to replay)`);

const HTTPS_ON_CELL: AnnouncedFlow = { fid: 7, selector: { protocol: 'tcp', remotePorts: { from: 443, to: 443 } }, ifname: 'cell0' };
const RTP_ON_WIFI: AnnouncedFlow = { fid: 9, selector: { protocol: 'udp', localPorts: { from: 5004, to: 5010 } }, ifname: 'wifi0' };
const B_ETH0: OwnLocator = { ...B_MAIN, ifname: 'eth0', kind: 'ethernet', preferred: true };
const B_ETH1: OwnLocator = { ...B_ALT, ifname: 'eth1', kind: 'ethernet', preferred: false };

function snapshotOf(h: TestHost, peer: TestHost) {
  const s = h.host.associations().find((x) => x.peerHit.every((v, i) => v === peer.host.hit[i]));
  assert.ok(s !== undefined, 'no association');
  return s;
}

const bound = (h: TestHost, peer: TestHost) => snapshotOf(h, peer).peerFlows.map((b) => [b.fid, b.locator.address, b.locator.port]);

/** The HIP packets of this type that went over the wire, decoded. */
function sent(w: World, type: number) {
  return w.net.trace.flatMap((t) => {
    const d = decodePacket(t.bytes);
    return d.ok && d.packet.packetType === type && !t.duplicate ? [{ pkt: d.packet, bytes: t.bytes, from: t.from, to: t.to }] : [];
  });
}

test('I2 carries our flow bindings; the responder shows them, and the R2 acknowledges them', () => {
  const w = mobileWorld(SEED);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [HTTPS_ON_CELL, RTP_ON_WIFI]));
  connected(w);
  const i2 = sent(w, PacketType.I2)[0]!.pkt;
  assert.ok(getParam(i2, 'LOCATOR_SET') !== undefined && getParam(i2, 'E_LOCATOR') !== undefined, 'LOCATOR_SET and E-LOCATOR in the I2');
  assert.ok(spanIndexOf(i2, ParamType.E_LOCATOR) < spanIndexOf(i2, ParamType.HIP_SIGNATURE), 'covered by the I2 signature');
  assert.deepEqual(bound(w.b, w.a), [[7, A_CELL.address, 10500], [9, A_WIFI.address, 10500]]);
  assert.deepEqual(snapshotOf(w.b, w.a).peerFlows[0]!.selector, HTTPS_ON_CELL.selector, 'the selector as A wrote it (A\'s side local)');
  assert.equal(snapshotOf(w.a, w.b).flowsAcked, true);
  assert.deepEqual(snapshotOf(w.a, w.b).peerFlows, [], 'B announced none');
  assert.equal(sent(w, PacketType.UPDATE).filter((u) => getParam(u.pkt, 'E_LOCATOR') !== undefined).length, 0, 'no UPDATE needed for what the I2 carried');
  assert.deepEqual(w.a.host.counters.dropped, {});
  assert.deepEqual(w.b.host.counters.dropped, {});
});

test('a changed set goes in an UPDATE with LOCATOR_SET and E-LOCATOR, acknowledged; the peer replaces its view as a whole', () => {
  const w = mobileWorld(SEED + 1);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  connected(w);
  assert.deepEqual(bound(w.b, w.a), []);
  const before = updatesSent(w.net).length;
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [HTTPS_ON_CELL, RTP_ON_WIFI]));
  assert.equal(snapshotOf(w.a, w.b).flowsAcked, false, 'pending until the peer acknowledges');
  const start = w.net.now;
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, start + 2_000), 'never acknowledged');
  assert.equal(w.net.now - start, 20, 'one round trip');
  const update = sent(w, PacketType.UPDATE).slice(before).find((u) => getParam(u.pkt, 'E_LOCATOR') !== undefined)!.pkt;
  const espInfo = getParam(update, 'ESP_INFO')!;
  assert.ok(getParam(update, 'SEQ') !== undefined && getParam(update, 'LOCATOR_SET') !== undefined, 'SEQ and LOCATOR_SET alongside (§3.3.1)');
  assert.equal(espInfo.oldSpi, espInfo.newSpi, 'readdressing without rekey: a gratuitous ESP_INFO');
  assert.deepEqual(bound(w.b, w.a), [[7, A_CELL.address, 10500], [9, A_WIFI.address, 10500]]);

  // HTTPS moves to wifi; RTP is no longer bound anywhere.
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [{ ...HTTPS_ON_CELL, ifname: 'wifi0' }, { ...RTP_ON_WIFI, ifname: null }]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000));
  assert.deepEqual(bound(w.b, w.a), [[7, A_WIFI.address, 10500]]);
  assert.equal(locatorState(w.b, w.a, A_CELL), 'ACTIVE', 'the listing and its verification are LOCATOR_SET\'s, unchanged by E-LOCATOR');
  assert.deepEqual(w.b.host.counters.dropped, {});
});

test('in simultaneous multihoming, a new interface\'s SA pair and its flow bindings come in one UPDATE (readdressing with new keys)', () => {
  const w = mobileWorld(SEED + 2, { multihoming: 'simultaneous' }, { multihoming: 'simultaneous' });
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true)]));
  connected(w);
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [HTTPS_ON_CELL, RTP_ON_WIFI]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000));
  assert.deepEqual(bound(w.b, w.a), [[9, A_WIFI.address, 10500]], 'no cell locator yet: HTTPS is not bound');
  const before = sent(w, PacketType.UPDATE).length;
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  assert.equal(snapshotOf(w.a, w.b).flowsAcked, false, 'HTTPS has a locator to be bound to now: pending until acknowledged');
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000));
  const newSa = sent(w, PacketType.UPDATE).slice(before).find((u) => getParam(u.pkt, 'E_LOCATOR') !== undefined)!.pkt;
  const espInfo = getParam(newSa, 'ESP_INFO')!;
  assert.equal(espInfo.oldSpi, 0, 'ESP_INFO asks for a new SA pair, keyed from a new KEYMAT index');
  assert.deepEqual(bound(w.b, w.a), [[7, A_CELL.address, 10500], [9, A_WIFI.address, 10500]]);
  assert.equal(snapshotOf(w.a, w.b).saPairs.length, 2);
});

test('a peer readdressing with a rekey (seed 002 §3.3.2: ESP_INFO with a new SPI, LOCATOR_SET, E-LOCATOR) has its bindings taken', () => {
  const w = mobileWorld(SEED + 7);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  connected(w);
  const spi = snapshotOf(w.a, w.b).inboundSpi!;
  const listing = buildLocatorSet([A_WIFI, A_CELL].map((l, i) => ({ locator: l, spi, preferred: i === 0 })));
  const { param } = buildELocator([HTTPS_ON_CELL], [wifi(true), cell(false)], listing);
  // Played as another implementation would send it: our own code announces flows beside its
  // listing and rekeys in UPDATEs of their own.
  const update = authenticUpdate(w.a, w.b, { espInfo: { keymatIndex: 200, oldSpi: spi, newSpi: 0x5eed }, locatorSet: listing, extra: [param] });
  w.net.inject(A_WIFI, B_MAIN, update);
  w.net.runFor(100);
  assert.deepEqual(bound(w.b, w.a), [[7, A_CELL.address, 10500]]);
  const bInbound = snapshotOf(w.b, w.a).inboundSpi;
  const answer = sent(w, PacketType.UPDATE).find((u) => u.from.address === B_MAIN.address && getParam(u.pkt, 'ESP_INFO')?.newSpi === bInbound);
  assert.ok(answer !== undefined && getParam(answer.pkt, 'ACK') !== undefined, 'B answered the rekey with its own new SPI and the ACK');
  assert.equal(w.b.dropped('e-locator-refused') + w.b.dropped('e-locator-unlisted'), 0);
});

test('R1 carries the responder\'s host-wide bindings, signed ahead of time; the initiator shows them', () => {
  const w = mobileWorld(SEED + 3);
  w.b.act((h) => h.setLocalLocators(w.net.now, [B_ETH0, B_ETH1]));
  w.b.act((h) => h.setHostWideFlows([{ fid: 1, selector: { protocol: 'udp', localPorts: { from: 53, to: 53 } }, ifname: 'eth1' }]));
  connected(w);
  const r1 = sent(w, PacketType.R1)[0]!.pkt;
  assert.ok(getParam(r1, 'E_LOCATOR') !== undefined && spanIndexOf(r1, ParamType.E_LOCATOR) < spanIndexOf(r1, ParamType.HIP_SIGNATURE_2));
  assert.deepEqual(bound(w.a, w.b), [[1, B_ALT.address, 10500]]);
  assert.deepEqual(snapshotOf(w.a, w.b).peerFlows[0]!.selector, { protocol: 'udp', localPorts: { from: 53, to: 53 } });
});

test('the responder\'s bindings for this initiator, set before it connected, go in its first UPDATE (R1 carries only host-wide ones)', () => {
  const w = mobileWorld(SEED + 8);
  w.b.act((h) => h.setLocalLocators(w.net.now, [B_ETH0, B_ETH1]));
  w.b.act((h) => h.announceFlows(w.net.now, w.a.host.hit, [{ fid: 5, selector: { protocol: 'tcp', localPorts: { from: 22, to: 22 } }, ifname: 'eth1' }]));
  connected(w);
  assert.equal(getParam(sent(w, PacketType.R1)[0]!.pkt, 'E_LOCATOR'), undefined, 'no per-peer binding in the R1');
  assert.deepEqual(bound(w.a, w.b), [[5, B_ALT.address, 10500]]);
  assert.equal(snapshotOf(w.b, w.a).flowsAcked, true);
});

test('a peer that does not know E-LOCATOR ignores it and keeps to LOCATOR_SET: exchange, announcement and address check all work', () => {
  const w = mobileWorld(SEED + 4, {}, { flowBindings: false });
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [RTP_ON_WIFI]));
  connected(w);
  assert.ok(getParam(sent(w, PacketType.I2)[0]!.pkt, 'E_LOCATOR') !== undefined, 'our I2 carried it');
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [HTTPS_ON_CELL]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000), 'the UPDATE is acknowledged like any other');
  assert.ok(w.net.runUntil(() => locatorState(w.b, w.a, A_CELL) === 'ACTIVE', w.net.now + 2_000), 'B verified the cell address from LOCATOR_SET');
  assert.deepEqual(snapshotOf(w.b, w.a).peerFlows, []);
  w.a.act((h) => { assert.ok(h.probe(w.net.now, w.b.host.hit).ok); });
  const answered = w.net.runUntil(() => w.a.eventsOf('probe-answered').length > 0, w.net.now + 2_000);
  assert.ok(answered, 'the association still carries signalling');
  assert.deepEqual(w.b.host.counters.dropped, {}, 'nothing refused for the parameter B does not read');
});

test('a replayed or forged UPDATE with E-LOCATOR changes no binding', () => {
  const w = mobileWorld(SEED + 5);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  connected(w);
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [HTTPS_ON_CELL]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000));
  const first = sent(w, PacketType.UPDATE).find((u) => getParam(u.pkt, 'E_LOCATOR') !== undefined)!;
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, [{ ...HTTPS_ON_CELL, ifname: 'wifi0' }]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000));
  const now = [[7, A_WIFI.address, 10500]];
  assert.deepEqual(bound(w.b, w.a), now);

  // The old announcement, replayed from where it came.
  const duplicatesBefore = w.b.dropped('update-duplicate') + w.b.dropped('update-replay');
  w.net.inject(first.from, first.to, first.bytes);
  w.net.runFor(100);
  assert.deepEqual(bound(w.b, w.a), now, 'the replay moved nothing');
  assert.equal(w.b.dropped('update-duplicate') + w.b.dropped('update-replay'), duplicatesBefore + 1);

  // The same, with a fresh SEQ and the FID bound to cell again: no key, so no valid HIP_MAC.
  const forged = first.bytes.slice();
  const seqAt = first.pkt.spans[spanIndexOf(first.pkt, ParamType.SEQ)]!.start + 4;
  forged.set([0, 0, 0x10, 0], seqAt);
  const eAt = first.pkt.spans[spanIndexOf(first.pkt, ParamType.E_LOCATOR)]!.start + 4;
  forged[eAt + 8 + 28 + 3] = 8; // FID 7 → 8 in the flow option after the first locator
  const refusedBefore = Object.values(w.b.host.counters.dropped).reduce((n, x) => n + x, 0);
  w.net.inject(first.from, first.to, forged);
  w.net.runFor(100);
  assert.deepEqual(bound(w.b, w.a), now, 'the forgery moved nothing');
  assert.equal(Object.values(w.b.host.counters.dropped).reduce((n, x) => n + x, 0), refusedBefore + 1, 'and was counted');
  assert.equal(w.b.dropped('bad-mac'), 1);
});

test('through HostCore: setFlowBindings reaches the peer\'s snapshot; the flow is pending until the peer acknowledges, bound on the datagram that does', () => {
  const { world, a, b } = coreWorld('SIM_SEED', SEED + 6);
  assert.equal(a.core.association(b.core.hit)?.flowsAcked, true, 'nothing announced yet');
  // The acknowledgement is an input like any other: the placement must follow on that input,
  // not on whichever timer or counter report comes next.
  const seen: Array<{ acked: boolean | undefined; state: string | undefined; reason: string | undefined }> = [];
  const handle = a.handleDatagram.bind(a);
  a.handleDatagram = (now, bytes, from, to) => {
    handle(now, bytes, from, to);
    const placed = a.core.flowPlacements(b.core.hit)?.[0];
    seen.push({ acked: a.core.association(b.core.hit)?.flowsAcked, state: placed?.state, reason: placed?.reason });
  };
  let pendingRightAfter: string | undefined;
  world.at(world.now + 10, () => {
    a.core.setFlowBindings(world.now, [{ peerHit: b.core.hit, fid: 7, selector: HTTPS_ON_CELL.selector, interface: 'wifi0' }]);
    pendingRightAfter = `${a.core.flowPlacements(b.core.hit)?.[0]?.state}: ${a.core.flowPlacements(b.core.hit)?.[0]?.reason}`;
  });
  world.runFor(1_000);
  assert.equal(pendingRightAfter, 'pending: waiting for the peer to acknowledge the binding');
  const ackAt = seen.findIndex((s) => s.acked === true);
  assert.ok(ackAt >= 0, 'the peer acknowledged');
  assert.deepEqual(seen[ackAt], { acked: true, state: 'bound', reason: undefined }, 'bound on the datagram carrying the acknowledgement');
  assert.deepEqual(b.core.association(a.core.hit)?.peerFlows.map((f) => [f.fid, f.locator.address]), [[7, CORE_A_WIFI]]);
  assert.equal(a.core.association(b.core.hit)?.state, 'ESTABLISHED');
});
