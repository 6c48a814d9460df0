// Every SA pair is rekeyed before its sequence space runs out, not only the base one (RFC 8047
// simultaneous multihoming keys an SA pair per interface; RFC 7402 §6.9 rekeys with an UPDATE
// whose ESP_INFO names the pair's old SPI). Two HostCores on the virtual clock, A with wifi0 and
// cell0, B with one uplink: both streams are moved onto cell0's pair and A's outbound SA of it
// is forced to within 100 packets of 2^32 (the data plane model's test hook). What a user or the
// peer notices: that pair alone gets new SPIs on both sides, the base pair keeps its own, and
// the streams both ways lose nothing across the rekey (without it, the stream would stop once
// the sequence numbers ran out). Seeded (SIM_SEED replays a run); each run prints its seed.
//
//   node --import tsx --test test/integration/sim-sa-rekey.test.ts

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESP_SEQ_MAX } from '../../src-main/esp/sa.js';
import type { SaPairView } from '../../src-main/hip/host.js';
import { SimWorld, connect, type SimHost } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
const WIFI = '192.0.2.10';
const CELL = '203.0.113.7';
const B_ETH = '198.51.100.2';

function world(fallbackSeed: number) {
  const w = new SimWorld(SEED_VAR, fallbackSeed);
  const a = w.addHost('A', [
    { ifname: 'wifi0', kind: 'wifi', address: WIFI, delayMs: 5 },
    { ifname: 'cell0', kind: 'cellular', address: CELL, delayMs: 25 },
  ], { multihoming: 'simultaneous' });
  const b = w.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }], { multihoming: 'simultaneous' });
  for (const h of [a, b]) h.espModel = true;
  connect(w, a, b);
  const label = `seed ${w.seed} (set ${SEED_VAR} to replay)`;
  const deadline = w.now + 5_000;
  while (w.now < deadline && !(pairOf(a, b, 'cell0') && b.core.association(a.core.hit)!.saPairs.length === 2)) w.runFor(10);
  assert.ok(pairOf(a, b, 'cell0'), `${label}: cell0 gets an SA pair of its own`);
  return { world: w, a, b, label };
}

const pairs = (h: SimHost, peer: SimHost): SaPairView[] => h.core.association(peer.core.hit)!.saPairs;
const pairOf = (h: SimHost, peer: SimHost, ifname: string): SaPairView | undefined => pairs(h, peer).find((p) => p.ifname === ifname);
const describe = (h: SimHost, peer: SimHost): string => pairs(h, peer).map((p) => `${p.ifname}/${p.createdBy} in ${p.inboundSpi} out ${p.outboundSpi}`).join('; ');

/** The SPIs the arrivals of `sender`'s stream were opened with since `from`, in order of first use. */
function spisSince(sender: SimHost, from: number): number[] {
  const out: number[] = [];
  for (const a of [...sender.stream.arrivals.values()].sort((x, y) => x.at - y.at)) {
    if (a.at >= from && a.spi !== undefined && !out.includes(a.spi)) out.push(a.spi);
  }
  return out;
}

test('a 2^32 run-out forced on a further SA rekeys that SA pair alone, and the streams both ways lose nothing', () => {
  const { world: w, a, b, label } = world(0x5e_0001);
  a.setStreaming(true);
  b.setStreaming(true);
  w.runFor(1_000);
  // Both directions onto cell0's pair (a manual choice), so that its further SAs carry them.
  const cellPair = a.core.pathsView(w.now, b.core.hit)!.pairs.find((p) => p.ifname === 'cell0' && p.state === 'operational');
  assert.ok(cellPair, `${label}: a checked pair on cell0`);
  assert.deepEqual(a.core.failover(w.now, b.core.hit, { local: CELL, remote: B_ETH }), { ok: true });
  assert.deepEqual(b.core.failover(w.now, a.core.hit, { local: B_ETH, remote: CELL }), { ok: true });
  w.drain();
  w.runFor(1_000);
  const base = { ...pairOf(a, b, 'wifi0')! };
  const cell = { ...pairOf(a, b, 'cell0')! };
  const bBefore = pairs(b, a).map((p) => ({ ...p }));
  assert.equal(a.pathText(), `${CELL}>${B_ETH}`, `${label}: A sends from cell0`);
  assert.deepEqual(spisSince(a, w.now - 500), [cell.outboundSpi], `${label}: on cell0's own SA before the run-out`);
  assert.deepEqual(spisSince(b, w.now - 500), [cell.inboundSpi], `${label}: B→A on cell0's pair too`);

  // 100 packets of sequence space left on cell0's outbound SA: one second of A's stream.
  const forcedAt = w.now;
  a.setNextEspSeq(cell.outboundSpi, ESP_SEQ_MAX - 99);
  const rekeysBefore = a.events.filter((e) => e.type === 'rekeyed').length;
  w.runFor(3_000);
  const end = w.now - 200;

  const after = { base: pairOf(a, b, 'wifi0')!, cell: pairOf(a, b, 'cell0')! };
  const rekeyed = a.events.filter((e) => e.type === 'rekeyed').slice(rekeysBefore);
  const lostAB = a.stream.lost(forcedAt, end);
  const lostBA = b.stream.lost(forcedAt, end);
  console.log(`${label}: before A: wifi0 in ${base.inboundSpi} out ${base.outboundSpi}, cell0 in ${cell.inboundSpi} out ${cell.outboundSpi}; after A: ${describe(a, b)};`,
    `B: ${describe(b, a)}; A→B opened with ${JSON.stringify(spisSince(a, forcedAt))}; lost A→B ${lostAB} gap ${a.stream.longestGap(forcedAt, end)} ms,`,
    `B→A ${lostBA}; not sealed (sequence exhausted) ${a.seqExhausted}; refused at B ${JSON.stringify(b.espRefused)}, at A ${JSON.stringify(a.espRefused)}`);

  assert.equal(rekeyed.length, 1, `${label}: one rekey`);
  assert.deepEqual([after.base.inboundSpi, after.base.outboundSpi], [base.inboundSpi, base.outboundSpi], `${label}: the base pair keeps its SPIs`);
  assert.notEqual(after.cell.outboundSpi, cell.outboundSpi, `${label}: cell0's outbound SA is replaced`);
  assert.notEqual(after.cell.inboundSpi, cell.inboundSpi, `${label}: and its inbound SA with it`);
  assert.equal(after.cell.createdBy, 'us', `${label}: the pair stays the one A made for cell0`);
  assert.equal(pairs(a, b).length, 2, `${label}: no pair added or lost`);
  // B mirrors it: its pair for A's cell0 has the new SPIs the other way round, its base pair is unchanged.
  const bAfter = pairs(b, a);
  assert.deepEqual(bAfter.find((p) => p.createdBy === 'base'), bBefore.find((p) => p.createdBy === 'base'), `${label}: B's base pair is unchanged`);
  assert.ok(bAfter.some((p) => p.inboundSpi === after.cell.outboundSpi && p.outboundSpi === after.cell.inboundSpi), `${label}: B mirrors the new pair`);
  // A's stream went on on the new SA, on the same uplink, before the old one ran out.
  assert.deepEqual(spisSince(a, forcedAt), [cell.outboundSpi, after.cell.outboundSpi], `${label}: A→B sealed with the old SA, then the new one`);
  assert.deepEqual(spisSince(b, forcedAt), [cell.inboundSpi, after.cell.inboundSpi], `${label}: B→A sealed with the old SA of the pair, then the new one`);
  assert.equal(a.pathText(), `${CELL}>${B_ETH}`, `${label}: still on cell0`);
  // B answered the rekey, so it held the new pair first: it moved its traffic onto the new SA
  // only once A acknowledged the answer (A held the new pair by then), a round trip later.
  const bInstalled = b.commands.find((c) => c.type === 'add-sas' && c.sa.outboundSpi === after.cell.inboundSpi)!;
  const bSwitched = b.commands.find((c) => c.type === 'set-path' && c.spi === after.cell.inboundSpi)!;
  const aInstalled = a.commands.find((c) => c.type === 'add-sas' && c.sa.inboundSpi === after.cell.inboundSpi)!;
  assert.ok(bInstalled && bSwitched && aInstalled, `${label}: both installed the new pair and B switched to it`);
  assert.ok(bSwitched.at - bInstalled.at >= 50, `${label}: B switched ${bSwitched.at - bInstalled.at} ms after installing (a round trip on cell0 is 60 ms)`);
  assert.ok(bSwitched.at >= aInstalled.at, `${label}: B switched at ${bSwitched.at}, after A installed at ${aInstalled.at}`);
  const bRemoved = b.commands.find((c) => c.type === 'remove-outbound' && c.spi === cell.inboundSpi);
  assert.ok(bRemoved !== undefined && bRemoved.at >= bSwitched.at, `${label}: B's old outbound SA went only after the switch`);
  assert.equal(a.seqExhausted, 0, `${label}: no packet met exhausted sequence numbers`);
  assert.deepEqual(b.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: B refused none of A's ESP`);
  assert.deepEqual(a.espRefused, { unknownSpi: 0, tooOld: 0 }, `${label}: A refused none of B's ESP`);
  assert.equal(lostAB, 0, `${label}: A→B lost ${lostAB}`);
  assert.equal(lostBA, 0, `${label}: B→A lost ${lostBA}`);
});

test('both hosts rekey different pairs at once: each pair is replaced once, with keys of its own, and nothing is lost', () => {
  const { world: w, a, b, label } = world(0x5e_0002);
  a.setStreaming(true);
  b.setStreaming(true);
  w.runFor(1_000);
  assert.deepEqual(a.core.failover(w.now, b.core.hit, { local: CELL, remote: B_ETH }), { ok: true });
  w.drain();
  w.runFor(1_000);
  const base = { ...pairOf(a, b, 'wifi0')! };
  const cell = { ...pairOf(a, b, 'cell0')! };
  // A's cell0 pair wears out at A, the base pair at B, in the same instant.
  const forcedAt = w.now;
  a.core.rekey(w.now, b.core.hit, cell.outboundSpi);
  b.core.rekey(w.now, a.core.hit, base.inboundSpi);
  w.drain();
  w.runFor(3_000);
  const end = w.now - 200;
  const after = { base: pairOf(a, b, 'wifi0')!, cell: pairOf(a, b, 'cell0')! };
  const lostAB = a.stream.lost(forcedAt, end);
  const lostBA = b.stream.lost(forcedAt, end);
  console.log(`${label}: before A: wifi0 in ${base.inboundSpi} out ${base.outboundSpi}, cell0 in ${cell.inboundSpi} out ${cell.outboundSpi}; after A: ${describe(a, b)};`,
    `B: ${describe(b, a)}; rekeys A ${a.core.association(b.core.hit)!.rekeys} B ${b.core.association(a.core.hit)!.rekeys}; lost A→B ${lostAB}, B→A ${lostBA}`);
  const spis = [after.base.inboundSpi, after.base.outboundSpi, after.cell.inboundSpi, after.cell.outboundSpi];
  const old = [base.inboundSpi, base.outboundSpi, cell.inboundSpi, cell.outboundSpi];
  assert.ok(spis.every((s) => !old.includes(s)), `${label}: every SPI of both pairs is new`);
  assert.equal(a.core.association(b.core.hit)!.rekeys, 2, `${label}: two rekeys at A`);
  assert.equal(b.core.association(a.core.hit)!.rekeys, 2, `${label}: two rekeys at B`);
  for (const p of [after.base, after.cell]) {
    assert.ok(pairs(b, a).some((q) => q.inboundSpi === p.outboundSpi && q.outboundSpi === p.inboundSpi), `${label}: B mirrors ${p.ifname}'s pair`);
  }
  // Each new SA has keys of its own: the two rekeys drew different KEYMAT octets.
  const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');
  const installed = a.commands.filter((c) => c.at >= forcedAt).flatMap((c) => (c.type === 'install-sa' || c.type === 'add-sas' ? [c.sa] : []));
  const keys = installed.flatMap((sa) => [hex(sa.inbound.encKey), hex(sa.outbound.encKey)]);
  assert.equal(installed.length, 2, `${label}: A installed two new pairs`);
  assert.equal(new Set(keys).size, 4, `${label}: four distinct keys`);
  assert.deepEqual(b.espRefused, { unknownSpi: 0, tooOld: 0 });
  assert.deepEqual(a.espRefused, { unknownSpi: 0, tooOld: 0 });
  assert.equal(lostAB + lostBA, 0, `${label}: lost A→B ${lostAB}, B→A ${lostBA}`);
  assert.equal(a.core.association(b.core.hit)!.state, 'ESTABLISHED');
});
