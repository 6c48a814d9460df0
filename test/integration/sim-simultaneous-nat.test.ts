// Simultaneous multihoming through NATs (seed 000 §3.2.1 and §4, RFC 8047 §4.1), on the simulated
// network: the mobile's Wi-Fi sits behind a port-preserving home NAT and its cellular uplink
// behind a symmetric carrier NAT; the correspondent is public, or behind a NAT of its own and
// reached through a relay. Each uplink gets an SA pair of its own, asked for by an UPDATE with
// ESP_INFO OLD SPI 0 that leaves from that uplink (or crosses the relay while the correspondent
// is reachable no other way). The correspondent sees the cellular uplink only as the carrier
// NAT's public endpoint, which the mobile can never list: that peer-reflexive address must be
// tied to the cellular SA pair, and checked before data goes there. Data on either uplink is
// opened by its own SA with nothing refused, and losing Wi-Fi moves both directions onto the
// cellular SA pair without loss. Seeded (SIM_SEED replays a run); each run prints its seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hitToText } from '../../src-main/hip/wire/address.js';
import { RelayServer } from '../../src-main/relay/relay-server.js';
import { DEFAULT_REGISTRAR_POLICY } from '../../src-main/relay/registrations.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { PORT, SimWorld, type SimHost } from '../support/sim-hosts.js';
import { natBehaviour } from '../support/sim-nat.js';
import { identity, seededCrypto } from '../support/hip-hosts.js';
import { RELAY_ADDRESS, RELAY_EP, RelayNode, SEED_VAR, registered, runUntil, stateWith } from '../support/sim-relay.js';
import { updateOf } from './sim-mobility-harness.js';

const HOME_NAT = '203.0.113.1';
const CARRIER_NAT = '203.0.113.9';
const CN_PUBLIC = '198.51.100.2';
const CN_NAT = '203.0.113.2';
const WIFI = '192.168.1.10';
const CELL = '10.64.0.10';

type Correspondent = 'public' | 'behind-nat';

/**
 * M: wifi0 behind a home NAT (Linux masquerade: port-preserving, port-restricted filtering),
 * cell0 behind a symmetric carrier NAT. C: public, or behind a port-preserving NAT that lets any
 * sender through a mapping (endpoint-independent filtering), so that even the carrier NAT's
 * per-destination mappings reach it. Both in simultaneous mode, registered with one relay.
 */
function simultaneousWorld(correspondent: Correspondent, fallbackSeed: number, registered = true) {
  const world = new SimWorld(SEED_VAR, fallbackSeed);
  const relayIdentity = identity('ecdsa-p256', 9);
  // Unregistered, M learns no reflexive address: it lists only its private ones (the lab's case).
  const relays = registered ? [{ hit: relayIdentity.hit, endpoint: RELAY_EP, name: 'relay1' }] : [];
  const home = world.addNat('home', HOME_NAT, natBehaviour('port-restricted-cone'));
  const carrier = world.addNat('carrier', CARRIER_NAT, natBehaviour('symmetric'));
  const m = world.addHost('M', [
    { ifname: 'wifi0', kind: 'wifi', address: WIFI, delayMs: 5, nat: home },
    { ifname: 'cell0', kind: 'cellular', address: CELL, delayMs: 25, nat: carrier },
  ], { relays, multihoming: 'simultaneous' });
  const cnNat = correspondent === 'behind-nat' ? world.addNat('correspondent', CN_NAT, natBehaviour('full-cone')) : undefined;
  const c = world.addHost('C', [
    { ifname: 'eth0', kind: 'ethernet', address: cnNat === undefined ? CN_PUBLIC : '192.168.7.2', delayMs: 5, ...(cnNat === undefined ? {} : { nat: cnNat }) },
  ], { relays, multihoming: 'simultaneous' });
  const allowed = new Set([hitToText(m.core.hit), hitToText(c.core.hit)]);
  const relay = new RelayServer({
    identity: relayIdentity, crypto: seededCrypto(world.seed ^ 0x9e1a),
    policy: { ...DEFAULT_REGISTRAR_POLICY, isAllowed: (hit) => allowed.has(hit) }, locals: [RELAY_EP],
  }, world.now);
  world.addNode('relay', [{ ifname: 'eth0', kind: 'ethernet', address: RELAY_ADDRESS, delayMs: 5 }], new RelayNode(relay));
  for (const h of [m, c]) h.espModel = true;
  m.traceHip = true;
  m.peer = c;
  c.peer = m;
  return { world, m, c };
}

/** Registered, connected (directly to a public C, by HIT through the relay to a NATed one), and both uplinks' SA pairs made and checked. */
function connected(correspondent: Correspondent, fallbackSeed: number) {
  const { world, m, c } = simultaneousWorld(correspondent, fallbackSeed);
  const label = `${correspondent} seed ${world.seed} (set ${SEED_VAR} to replay)`;
  assert.ok(runUntil(world, () => registered(m, world) && registered(c, world), 5_000), `${label}: both register`);
  m.core.connect(world.now, c.core.hit, correspondent === 'public' ? { address: CN_PUBLIC, port: PORT } : RELAY_EP);
  assert.ok(runUntil(world, () => stateWith(m, c) === 'ESTABLISHED' && stateWith(c, m) === 'ESTABLISHED', 5_000), `${label}: established`);
  const establishedAt = world.now;
  const ready = runUntil(world, () => cellLocator(c, m)?.state === 'ACTIVE' && cellLocator(c, m)?.spi === cellSa(m, c)?.inboundSpi, 5_000);
  return { world, m, c, label, establishedAt, ready };
}

const sas = (h: SimHost, peer: SimHost) => h.core.association(peer.core.hit)!.saPairs;
const cellSa = (m: SimHost, c: SimHost) => sas(m, c).find((p) => p.ifname === 'cell0');
const wifiSa = (m: SimHost, c: SimHost) => sas(m, c).find((p) => p.ifname === 'wifi0');
/** C's view of M's cellular uplink: the carrier NAT's public endpoint (peer reflexive). */
const cellLocator = (c: SimHost, m: SimHost) => c.core.association(m.core.hit)?.peerLocators.find((l) => l.address === CARRIER_NAT);
const homeLocator = (c: SimHost, m: SimHost) => c.core.association(m.core.hit)?.peerLocators.find((l) => l.address === HOME_NAT);

/** The SPI each arrival of `sender`'s stream was opened with, counted, since `from`. */
function spisOf(sender: SimHost, from: number): Map<number | undefined, number> {
  const out = new Map<number | undefined, number>();
  for (const a of sender.stream.arrivals.values()) if (a.at >= from) out.set(a.spi, (out.get(a.spi) ?? 0) + 1);
  return out;
}

const pair = (h: SimHost): string => `${h.pathText()}`;
const describeSas = (h: SimHost, peer: SimHost) => sas(h, peer).map((p) => `${p.ifname}/${p.createdBy} in ${p.inboundSpi} out ${p.outboundSpi}`).join('; ');

for (const correspondent of ['public', 'behind-nat'] as const) {
  test(`${correspondent} correspondent: each uplink behind its own NAT gets its own SA pair, asked for with OLD SPI 0, tied to the NAT's public endpoint and checked before use`, () => {
    const { world, m, c, label, establishedAt, ready } = connected(correspondent, correspondent === 'public' ? 0x5a_0001 : 0x5a_0002);
    const cellLoc = cellLocator(c, m);
    console.log(`${label}: cell0's SA pair tied to the carrier NAT's endpoint and checked ${world.now - establishedAt} ms after the exchange;`,
      `M: ${describeSas(m, c)}; C knows M at ${c.core.association(m.core.hit)!.peerLocators.map((l) => `${l.candidate}:${l.address}:${l.port}/${l.spi}/${l.state}`).join(' ')}`);
    assert.ok(ready, `${label}: C ties ${CARRIER_NAT} to cell0's SA pair and verifies it (it has ${JSON.stringify(cellLoc)})`);

    // An SA pair per uplink, SPIs all distinct, mirrored at C.
    const wifi = wifiSa(m, c)!;
    const cell = cellSa(m, c)!;
    assert.equal(wifi.createdBy, 'base');
    assert.equal(cell.createdBy, 'us');
    assert.equal(new Set([wifi.inboundSpi, wifi.outboundSpi, cell.inboundSpi, cell.outboundSpi]).size, 4, `${label}: distinct SPIs: ${describeSas(m, c)}`);
    assert.ok(sas(c, m).some((p) => p.createdBy === 'peer' && p.inboundSpi === cell.outboundSpi && p.outboundSpi === cell.inboundSpi), `${label}: C mirrors it: ${describeSas(c, m)}`);
    // C's data plane, which follows M's ESP on its own while C doubts its pair, knows the carrier
    // NAT's endpoint is verified and takes cell0's SA: it sends there free of credit, on that SA.
    const told = c.commands.filter((x) => x.type === 'set-verified-addresses' && hitToText(x.peerHit) === hitToText(m.core.hit)).at(-1);
    const toldCell = told?.type === 'set-verified-addresses' ? told.addresses.find((x) => x.remote.address === CARRIER_NAT) : undefined;
    assert.deepEqual(toldCell, { remote: { address: CARRIER_NAT, port: cellLoc!.port }, spi: cell.inboundSpi }, `${label}: C's data plane told ${JSON.stringify(told)}`);

    // The request: ESP_INFO OLD SPI 0 with cell0 on the new SPI, from cell0 itself to a public C,
    // through the relay to a C that was reachable only there when the pair was asked for.
    const requests = m.hipTrace.flatMap((t) => {
      const u = updateOf(t.bytes);
      const toC = hitToText(t.bytes.subarray(24, 40)) === hitToText(c.core.hit);
      return toC && u?.espInfo?.oldSpi === 0 && u.locators !== undefined ? [{ ...t, u }] : [];
    });
    assert.equal(requests.length >= 1, true, `${label}: an UPDATE with OLD SPI 0`);
    const request = requests[0]!;
    assert.equal(request.u.espInfo!.newSpi, cell.inboundSpi);
    assert.ok(request.u.locators!.some((l) => l.address === CELL && l.spi === cell.inboundSpi), `${label}: cell0 listed on its new SPI`);
    assert.ok(request.u.locators!.some((l) => l.spi === wifi.inboundSpi), `${label}: wifi0's locators stay on the base SPI`);
    const expectedTo: Endpoint = correspondent === 'public' ? { address: CN_PUBLIC, port: PORT } : RELAY_EP;
    assert.deepEqual([request.from.address, request.to.address], [CELL, expectedTo.address], `${label}: sent from cell0 to ${expectedTo.address}`);

    // C reaches cell0 at the carrier NAT's mapping with the cellular SA pair, the home NAT's with the base one.
    assert.equal(cellLoc?.candidate, 'prflx');
    assert.equal(homeLocator(c, m)?.spi, wifi.inboundSpi);
    const cView = c.core.pathsView(world.now, m.core.hit)!;
    const viaCarrier = cView.pairs.find((p) => p.remote.address === CARRIER_NAT)!;
    assert.deepEqual([viaCarrier.spiOut, viaCarrier.spiIn], [cell.inboundSpi, cell.outboundSpi], `${label}: C's pair to the carrier NAT uses cell0's SAs`);
    const mView = m.core.pathsView(world.now, c.core.hit)!;
    for (const p of mView.pairs.filter((x) => x.candidate !== 'relayed')) {
      const want = p.ifname === 'cell0' ? cell : wifi;
      assert.deepEqual([p.spiOut, p.spiIn], [want.outboundSpi, want.inboundSpi], `${label}: M's pair ${p.ifname} → ${p.remote.address} uses ${p.ifname}'s SAs`);
    }
  });

  test(`${correspondent} correspondent: data on either uplink is opened by that uplink's SA with nothing refused; losing Wi-Fi moves both directions to cell0's SA pair with no loss`, () => {
    const { world, m, c, label, ready } = connected(correspondent, correspondent === 'public' ? 0x5a_0101 : 0x5a_0102);
    assert.ok(ready, `${label}: cell0's SA pair ready`);
    const cell = cellSa(m, c)!;
    const wifi = wifiSa(m, c)!;
    m.setStreaming(true);
    c.setStreaming(true);
    world.runFor(2_000);

    // Data on Wi-Fi, then (a manual choice) on cell0, then Wi-Fi again: each on its own SA.
    const onWifiFrom = world.now;
    world.runFor(2_000);
    const mWifiPair = m.core.pathsView(world.now, c.core.hit)!.pairs.find((p) => p.ifname === 'wifi0' && p.primary);
    assert.ok(mWifiPair !== undefined, `${label}: M's primary is on wifi0 (${pair(m)})`);
    const cellPair = m.core.pathsView(world.now, c.core.hit)!.pairs.find((p) => p.ifname === 'cell0' && p.candidate !== 'relayed' && p.state === 'operational');
    assert.ok(cellPair !== undefined, `${label}: a checked direct pair on cell0`);
    assert.deepEqual(m.core.failover(world.now, c.core.hit, { local: CELL, remote: cellPair.remote.address }), { ok: true });
    world.drain();
    const onCellFrom = world.now;
    world.runFor(2_000);
    const mOnCell = pair(m);
    assert.deepEqual(m.core.failover(world.now, c.core.hit, { local: WIFI, remote: mWifiPair.remote.address }), { ok: true });
    world.drain();
    world.runFor(1_000);
    const fromM = spisOf(m, onWifiFrom);
    const onCell = [...spisOf(m, onCellFrom).entries()];
    console.log(`${label}: M→C opened per SPI ${JSON.stringify([...fromM.entries()])} (wifi0 ${wifi.outboundSpi}, cell0 ${cell.outboundSpi}); while on ${mOnCell}: ${JSON.stringify(onCell)};`,
      `refused at C ${JSON.stringify(c.espRefused)}, at M ${JSON.stringify(m.espRefused)}; lost M→C ${m.stream.lost(onWifiFrom, world.now - 200)}, C→M ${c.stream.lost(onWifiFrom, world.now - 200)}`);
    assert.ok(mOnCell.startsWith(`${CELL}>`), `${label}: M sent from cell0 (${mOnCell})`);
    assert.ok((fromM.get(wifi.outboundSpi) ?? 0) > 100, `${label}: C opened M's Wi-Fi traffic with the base SA`);
    assert.ok((fromM.get(cell.outboundSpi) ?? 0) > 100, `${label}: C opened M's cell0 traffic with cell0's SA`);
    assert.deepEqual(c.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: C refused none of M's ESP`);
    assert.deepEqual(m.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: M refused none of C's ESP`);
    assert.equal(m.stream.lost(onWifiFrom, world.now - 200) + c.stream.lost(onWifiFrom, world.now - 200), 0, `${label}: nothing lost moving between the uplinks`);

    // Wi-Fi goes (make before break: cell0 is up, its pair checked, its SAs in place).
    const unverifiedBefore = c.unverifiedSends.length;
    const lostAt = world.now;
    m.linkDown('wifi0');
    world.runFor(5_000);
    const end = world.now - 200;
    const lostMC = m.stream.lost(lostAt, end);
    const lostCM = c.stream.lost(lostAt, end);
    const gapMC = m.stream.longestGap(lostAt, end);
    const gapCM = c.stream.longestGap(lostAt, end);
    const afterSpis = [...spisOf(c, lostAt + 1_000).keys()];
    console.log(`${label}: wifi0 lost; M→C lost ${lostMC} gap ${gapMC} ms, C→M lost ${lostCM} gap ${gapCM} ms; M on ${pair(m)}, C on ${pair(c)};`,
      `C→M opened with ${JSON.stringify(afterSpis)} (cell0's ${cell.inboundSpi}); refused at C ${JSON.stringify(c.espRefused)}, at M ${JSON.stringify(m.espRefused)}; M: ${describeSas(m, c)}`);
    assert.ok(pair(m).startsWith(`${CELL}>`), `${label}: M sends from cell0 (${pair(m)})`);
    assert.ok(pair(c).endsWith(`>${CARRIER_NAT}`), `${label}: C sends to the carrier NAT (${pair(c)})`);
    assert.deepEqual(afterSpis, [cell.inboundSpi], `${label}: C→M sealed with cell0's SA only`);
    assert.equal(c.unverifiedSends.length - unverifiedBefore, 0, `${label}: C sent nothing to an unverified address`);
    assert.deepEqual(c.espRefused, { unknownSpi: 0, tooOld: 0 });
    assert.deepEqual(m.espRefused, { unknownSpi: 0, tooOld: 0 });
    assert.equal(lostMC, 0, `${label}: M→C lost ${lostMC} (gap ${gapMC} ms)`);
    assert.equal(lostCM, 0, `${label}: C→M lost ${lostCM} (gap ${gapCM} ms)`);
    assert.equal(stateWith(m, c), 'ESTABLISHED');
    assert.equal(stateWith(c, m), 'ESTABLISHED');
  });
}

test('public correspondent, M not registered anywhere: cell0 announcing itself from the carrier NAT leaves C\'s working pair to the home NAT alone (no pair deleted, no hold, nothing sent unverified)', () => {
  // M knows no reflexive address, so every listing it sends names only 192.168.1.10 and
  // 10.64.0.10; cell0's UPDATE (its new SA pair, with the listing) arrives from the carrier NAT.
  const { world, m, c } = simultaneousWorld('public', 0x5a_0201, false);
  const label = `seed ${world.seed} (set ${SEED_VAR} to replay)`;
  m.core.connect(world.now, c.core.hit, { address: CN_PUBLIC, port: PORT });
  assert.ok(runUntil(world, () => stateWith(m, c) === 'ESTABLISHED' && stateWith(c, m) === 'ESTABLISHED', 5_000), `${label}: established`);
  const establishedAt = world.now;
  c.setStreaming(true);
  const homeStates = new Set<string | undefined>();
  const homePairMissing: number[] = [];
  for (let t = 0; t < 4_000; t += 20) {
    world.runFor(20);
    homeStates.add(homeLocator(c, m)?.state);
    if (!c.core.pathsView(world.now, m.core.hit)!.pairs.some((p) => p.remote.address === HOME_NAT)) homePairMissing.push(world.now - establishedAt);
  }
  const deleted = c.handovers(establishedAt).filter((h) => h.cause === 'pair-deleted');
  const holds = c.commands.filter((x) => x.at >= establishedAt && x.type === 'set-held' && x.on);
  const unverified = c.unverifiedSends.filter((x) => x.at >= establishedAt);
  console.log(`${label}: C's home NAT locator states ${JSON.stringify([...homeStates])}; pair missing at ${JSON.stringify(homePairMissing.slice(0, 5))} ms;`,
    `pair-deleted handovers ${deleted.length}, holds ${holds.length}, data sent unverified ${unverified.length} (${JSON.stringify([...new Set(unverified.map((u) => u.address))])});`,
    `C knows M at ${c.core.association(m.core.hit)!.peerLocators.map((l) => `${l.candidate}:${l.address}:${l.port}/${l.state}`).join(' ')}`);
  assert.ok(cellLocator(c, m)?.state === 'ACTIVE', `${label}: cell0 announced itself and C checked the carrier NAT's mapping`);
  assert.deepEqual([...homeStates], ['ACTIVE'], `${label}: C's home NAT mapping of M stays verified`);
  assert.deepEqual(homePairMissing, [], `${label}: C's pair to the home NAT is never deleted`);
  assert.deepEqual(deleted.map((h) => `${h.from?.remote.address} -> ${h.to.remote.address}`), [], `${label}: no pair-deleted move at C`);
  assert.equal(holds.length, 0, `${label}: C never doubts its pair to M (no hold)`);
  assert.deepEqual(unverified.map((u) => u.address), [], `${label}: C sends no data to an unverified address of M's`);
  assert.equal(c.stream.lost(establishedAt + 200, world.now - 200), 0, `${label}: nothing C sent is lost`);
});
