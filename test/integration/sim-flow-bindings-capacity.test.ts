// Flow bindings towards one peer beyond what one HIP packet (2048 octets) can carry in
// E-LOCATOR: the base exchange and the announcements still go out, with the bindings of the
// highest priority (lowest FIDs) that fit, and the association says which were left out.
// Deterministic: virtual clock, seeded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket, getParam, MAX_PACKET_LENGTH } from '../../src-main/hip/wire/codec.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import type { AnnouncedFlow } from '../../src-main/hip/flow-announcement.js';
import { seedFromEnv } from '../support/sim-network.js';
import type { TestHost } from '../support/hip-hosts.js';
import { A_CELL, A_WIFI, cell, connected, mobileWorld, wifi, type World } from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0f10_e100);
console.log(`sim-flow-bindings-capacity seed ${SEED} (set SIM_SEED to replay)`);

const FLOWS = 100;

/** TCP to ports 6001.., alternately on wifi0 and cell0. */
const manyFlows: AnnouncedFlow[] = Array.from({ length: FLOWS }, (_, i) => ({
  fid: i + 1, selector: { protocol: 'tcp', remotePorts: { from: 6001 + i, to: 6001 + i } }, ifname: i % 2 ? 'cell0' : 'wifi0',
}));

function snapshotOf(h: TestHost, peer: TestHost) {
  const s = h.host.associations().find((x) => x.peerHit.every((v, i) => v === peer.host.hit[i]));
  assert.ok(s !== undefined, 'no association');
  return s;
}

function sent(w: World, type: number) {
  return w.net.trace.flatMap((t) => {
    const d = decodePacket(t.bytes);
    return d.ok && d.packet.packetType === type && !t.duplicate ? [{ pkt: d.packet, bytes: t.bytes }] : [];
  });
}

/** What B holds of A's bindings: the first FIDs in order, each on the locator of its interface; and A's left-out FIDs the rest. */
function assertLeadingFlowsBound(w: World): number {
  const peerFlows = snapshotOf(w.b, w.a).peerFlows;
  const fids = peerFlows.map((b) => b.fid);
  assert.ok(fids.length >= 10 && fids.length < FLOWS, `B holds ${fids.length} of ${FLOWS} bindings`);
  assert.deepEqual(fids, fids.map((_, i) => i + 1), 'the lowest FIDs (highest priority) are the ones announced');
  for (const b of peerFlows) assert.equal(b.locator.address, b.fid % 2 ? A_WIFI.address : A_CELL.address, `FID ${b.fid} on its interface's locator`);
  const leftOut = snapshotOf(w.a, w.b).flowsLeftOut;
  assert.deepEqual(leftOut, manyFlows.slice(fids.length).map((f) => f.fid), 'A names every binding it had no room for');
  return fids.length;
}

test(`with ${FLOWS} bindings towards the peer, the base exchange completes; the I2 carries those that fit and says which did not`, () => {
  const w = mobileWorld(SEED);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, manyFlows));
  connected(w);
  const i2 = sent(w, PacketType.I2)[0]!;
  assert.ok(i2.bytes.length <= MAX_PACKET_LENGTH && i2.bytes.length > MAX_PACKET_LENGTH - 200, `the I2 is filled: ${i2.bytes.length} octets`);
  assert.ok(getParam(i2.pkt, 'LOCATOR_SET') !== undefined, 'LOCATOR_SET goes whole');
  const announced = assertLeadingFlowsBound(w);
  console.log(`# I2 of ${i2.bytes.length} octets carries ${announced} of ${FLOWS} bindings`);
  assert.equal(snapshotOf(w.a, w.b).flowsAcked, true, 'the R2 acknowledges the set');
});

test(`${FLOWS} bindings announced on an established association: the UPDATE goes out and is acknowledged, and readdressing still works`, () => {
  const w = mobileWorld(SEED + 1);
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true), cell(false)]));
  connected(w);
  w.a.act((h) => h.announceFlows(w.net.now, w.b.host.hit, manyFlows));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000), 'the announcement is acknowledged');
  const announced = assertLeadingFlowsBound(w);
  const updates = sent(w, PacketType.UPDATE).filter((u) => getParam(u.pkt, 'E_LOCATOR') !== undefined);
  assert.ok(updates.every((u) => u.bytes.length <= MAX_PACKET_LENGTH));
  console.log(`# UPDATE of ${updates[0]!.bytes.length} octets carries ${announced} of ${FLOWS} bindings`);

  // cell0 goes away: the listing without it still reaches the peer, with the wifi0 flows that fit.
  w.a.act((h) => h.setLocalLocators(w.net.now, [wifi(true)]));
  assert.ok(w.net.runUntil(() => snapshotOf(w.a, w.b).flowsAcked, w.net.now + 2_000), 'the readdressing UPDATE is acknowledged');
  const onWifi = snapshotOf(w.b, w.a).peerFlows;
  assert.ok(onWifi.length > announced, `with half the flows unbindable, more wifi0 flows fit: ${onWifi.length}`);
  assert.ok(onWifi.every((b) => b.fid % 2 === 1 && b.locator.address === A_WIFI.address), 'only wifi0 flows, on wifi0');
  assert.deepEqual(w.a.host.counters.dropped, {});
  assert.deepEqual(w.b.host.counters.dropped, {});
});
