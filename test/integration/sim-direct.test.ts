// Direct paths between two hosts behind NATs (seed 000 §4–§5, RFC 9028), on the simulated
// network: both register with a public relay and reach each other by HIT through it; each then
// lists its candidates (host, server reflexive from REG_FROM, relayed) to the other through the
// relay, both check the other's at once, and a pair that works takes the traffic from the relay.
// Which pairings get a direct path is what RFC 4787's behaviours allow: NATs that keep a
// mapping per internal endpoint get one, a symmetric NAT facing a filtering one does not, and
// traffic stays on the relay. When the direct path stops working the relay carries the traffic
// again. Seeded (SIM_SEED replays a run); each run prints its seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { SimHost } from '../support/sim-hosts.js';
import type { NatKind } from '../support/sim-nat.js';
import { RELAY_ADDRESS, RELAY_EP, SEED_VAR, registered, relayWorld, runUntil, stateWith } from '../support/sim-relay.js';

const NAT_A = '203.0.113.1';
const NAT_B = '203.0.113.2';

/** Where `h` sends its peer's ESP now: 'relay', 'direct' (the peer's NAT), or something else. */
function route(h: SimHost, peerNat: string): string {
  const remote = h.remoteOf(h.peer!)?.address;
  return remote === RELAY_ADDRESS ? 'relay' : remote === peerNat ? 'direct' : `${remote}`;
}

/** Both registered, then A reaches B by HIT through the relay; the time both were established. */
function relayedPair(kindA: NatKind, kindB: NatKind, seed: number) {
  const w = relayWorld(kindA, kindB, seed);
  const { world, a, b } = w;
  a.peer = b;
  b.peer = a;
  assert.ok(runUntil(world, () => registered(a, world) && registered(b, world), 5_000), `${kindA}/${kindB} seed ${world.seed}: both register`);
  a.core.connect(world.now, b.core.hit, RELAY_EP);
  assert.ok(runUntil(world, () => stateWith(a, b) === 'ESTABLISHED' && stateWith(b, a) === 'ESTABLISHED', 5_000), `${kindA}/${kindB} seed ${world.seed}: established`);
  return { ...w, establishedAt: world.now };
}

const EXPECTED: Array<[NatKind, NatKind, 'direct' | 'relay']> = [
  ['port-restricted-cone', 'port-restricted-cone', 'direct'], // Linux masquerade at both homes
  ['full-cone', 'symmetric', 'direct'], // the symmetric side's checks get in; its mapping is peer reflexive
  ['port-restricted-cone', 'symmetric', 'relay'],
  ['symmetric', 'port-restricted-cone', 'relay'],
  ['symmetric', 'symmetric', 'relay'],
];

test('the path each NAT pairing gets: direct within 2 s of the relayed exchange where the NATs allow one, else the relay', () => {
  for (const [i, [kindA, kindB, expected]] of EXPECTED.entries()) {
    const { world, a, b, establishedAt } = relayedPair(kindA, kindB, 0xd1_0001 + i);
    const bothAre = (want: string): boolean => route(a, NAT_B) === want && route(b, NAT_A) === want;
    const direct = runUntil(world, () => bothAre('direct'), 2_000);
    const at = world.now;
    // Whatever happened in the first 2 s must last: no flapping back, no late upgrade claimed.
    world.runFor(20_000);
    const candidates = (h: SimHost, peer: SimHost) =>
      h.core.association(peer.core.hit)!.peerLocators.map((l) => `${l.candidate}:${l.address}:${l.port}:${l.state}`).join(' ');
    console.log(`${kindA} / ${kindB} seed ${world.seed} (set ${SEED_VAR} to replay): ${direct ? `direct ${at - establishedAt} ms after the exchange` : 'no direct path'};`,
      `A→B ${route(a, NAT_B)}, B→A ${route(b, NAT_A)}; A knows B at ${candidates(a, b)}`);
    assert.equal(route(a, NAT_B), expected, `${kindA}/${kindB} seed ${world.seed}: A's traffic to B goes ${route(a, NAT_B)}`);
    assert.equal(route(b, NAT_A), expected, `${kindA}/${kindB} seed ${world.seed}: B's traffic to A goes ${route(b, NAT_A)}`);
    if (expected === 'direct') assert.ok(direct, `${kindA}/${kindB} seed ${world.seed}: direct within 2 s (${at - establishedAt} ms)`);
    // Status names the path as the user should read it.
    assert.equal(a.core.via(b.core.hit).via, expected);
    const primary = a.core.pathsView(world.now, b.core.hit)!.pairs.find((p) => p.primary)!;
    const kinds = new Set(a.core.pathsView(world.now, b.core.hit)!.pairs.map((p) => p.candidate));
    if (expected === 'relay') assert.equal(primary.candidate, 'relayed');
    else assert.ok(primary.candidate === 'srflx' || primary.candidate === 'prflx', `primary pair candidate ${primary.candidate}`);
    assert.ok(kinds.has('relayed'), `the relay stays a pair of A's: ${[...kinds].join(', ')}`);
  }
});

test('a direct path upgraded from the relay carries a 100 packets/s stream each way without loss; the relay takes over when the direct path is cut', () => {
  const { world, a, b } = relayedPair('port-restricted-cone', 'port-restricted-cone', 0xd1_0101);
  assert.ok(runUntil(world, () => route(a, NAT_B) === 'direct' && route(b, NAT_A) === 'direct', 2_000), `seed ${world.seed}: direct`);
  a.setStreaming(true);
  b.setStreaming(true);
  // The sim's data streams are modelled and do not cross the relay node: count from the first
  // packet sent once both sides are direct.
  world.runFor(100);
  const streamFrom = world.now;
  world.runFor(5_000);
  const lostA = a.stream.lost(streamFrom, world.now - 200);
  const lostB = b.stream.lost(streamFrom, world.now - 200);
  assert.equal(lostA + lostB, 0, `seed ${world.seed}: on the direct path A→B lost ${lostA}, B→A ${lostB}`);

  // A firewall in front of B's NAT starts refusing A's direct packets (the relay's still pass).
  const nat = world.nats.find((n) => n.publicAddress === NAT_B)!;
  nat.refuseFrom(NAT_A);
  const cutAt = world.now;
  const back = runUntil(world, () => route(a, NAT_B) === 'relay', 3_000);
  const fellBackMs = world.now - cutAt;
  const moves = a.handovers(cutAt).map((h) => `${h.cause} ${h.from?.candidate}→${h.to.candidate}`);
  console.log(`seed ${world.seed} (set ${SEED_VAR} to replay): direct cut, A back on the relay after ${fellBackMs} ms (${moves.join(', ')}); B→A ${route(b, NAT_A)}`);
  assert.ok(back, `seed ${world.seed}: A's traffic back on the relay within 3 s (it goes ${route(a, NAT_B)})`);
  assert.ok(moves.some((m) => m.endsWith('→relayed')), `the handover says relayed: ${moves.join(', ')}`);
  assert.equal(a.core.via(b.core.hit).via, 'relay');
  assert.equal(stateWith(a, b), 'ESTABLISHED');
  assert.equal(hitToText(b.core.hit), a.core.associations().find((x) => x.peerHitText === hitToText(b.core.hit))?.peerHitText);

  // The firewall goes: the direct path is found again by the background checks.
  nat.refuseFrom(undefined);
  const healedAt = world.now;
  const again = runUntil(world, () => route(a, NAT_B) === 'direct', 40_000);
  console.log(`seed ${world.seed}: direct again ${world.now - healedAt} ms after the firewall went`);
  assert.ok(again, `seed ${world.seed}: A upgrades to direct again (goes ${route(a, NAT_B)})`);
});

test('a public peer that checks our relayed candidate does not pull our traffic to it onto the relay', () => {
  const { world, a } = relayWorld('port-restricted-cone', 'symmetric', 0xd1_0201);
  const server = world.addHost('S', [{ ifname: 'eth0', kind: 'ethernet', address: '198.51.100.2', delayMs: 5 }]);
  assert.ok(runUntil(world, () => registered(a, world), 5_000), `seed ${world.seed}: A registers`);
  a.peer = server;
  server.peer = a;
  a.core.connect(world.now, server.core.hit, { address: '198.51.100.2', port: 10500 });
  assert.ok(runUntil(world, () => stateWith(a, server) === 'ESTABLISHED' && stateWith(server, a) === 'ESTABLISHED', 5_000), `seed ${world.seed}: established`);
  world.runFor(10_000);
  // S lists no relay, but checks the one A lists: its check reaches A through the relay.
  const sKnowsA = server.core.association(a.core.hit)!.peerLocators.map((l) => `${l.candidate}:${l.address}:${l.state}`);
  const aKnowsS = a.core.association(server.core.hit)!.peerLocators.map((l) => `${l.candidate}:${l.address}:${l.state}`);
  console.log(`seed ${world.seed} (set ${SEED_VAR} to replay): S knows A at ${sKnowsA.join(' ')}; A knows S at ${aKnowsS.join(' ')}`);
  assert.ok(sKnowsA.includes(`relayed:${RELAY_ADDRESS}:ACTIVE`), 'S verified A\'s relayed candidate');
  assert.deepEqual(aKnowsS, ['host:198.51.100.2:ACTIVE'], 'the relay is no address of S\'s');
  assert.equal(a.core.via(server.core.hit).via, 'direct');
  assert.equal(a.remoteOf(server)?.address, '198.51.100.2');
  assert.equal(server.remoteOf(a)?.address, NAT_A);
});
