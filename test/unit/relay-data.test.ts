// The data relay as its clients and strangers see it: ESP reaches a client only on an SPI it
// permitted, from the peer it named (any port of that address, or the peer's registered
// endpoint); everything else is dropped and counted by reason; an SPI another client owns is
// refused; one client's flood is limited without starving another.

import test from 'node:test';
import assert from 'node:assert/strict';
import { DataRelay } from '../../src-main/relay/data-relay.js';
import { MOVED_SOURCE_GRACE_MS, RegistrationTable } from '../../src-main/relay/registrations.js';
import { RegistrationType } from '../../src-main/hip/wire/constants.js';
import { ipToBytes16, textToHit } from '../../src-main/hip/wire/address.js';
import type { PeerPermission } from '../../src-main/hip/wire/params.js';

const ALICE = '2001:20::a';
const BOB = '2001:20::b';
const CAROL = '2001:20::c';
const ALICE_NAT = { address: '198.51.100.7', port: 40123 };
const BOB_NAT = { address: '198.51.100.8', port: 50000 };
const CAROL_NAT = { address: '198.51.100.9', port: 50001 };
const STRANGER = { address: '203.0.113.66', port: 10500 };
const LIFETIME_MS = 16_000; // encoded lifetime 96

function setup(opts: { packetBucket?: { capacity: number; perSecond: number } } = {}) {
  const registrations = new RegistrationTable({ minLifetime: 96, maxLifetime: 168, offered: [1, 2, 3], acceptAny: true });
  for (const [hit, from] of [[ALICE, ALICE_NAT], [BOB, BOB_NAT], [CAROL, CAROL_NAT]] as const) {
    registrations.handleRequest(hit, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP] }, from, 0);
  }
  const relay = new DataRelay({ registrations, ...opts });
  return { registrations, relay };
}

function permission(peerHit: string, peer: { address: string; port: number }, connectedSpi: number): PeerPermission {
  return { kind: 'PEER_PERMISSION', port: peer.port, protocol: 50, address: ipToBytes16(peer.address)!, peerHit: textToHit(peerHit)!, connectedSpi };
}

function esp(spi: number, length = 64): Uint8Array {
  const b = new Uint8Array(length).fill(0xab);
  new DataView(b.buffer).setUint32(0, spi);
  new DataView(b.buffer).setUint32(4, 1);
  return b;
}

test('ESP on a permitted SPI from the permitted address reaches the client that owns it, unchanged', () => {
  const { relay } = setup();
  relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 10);
  const packet = esp(0x1001);
  const d = relay.handle(packet, BOB_NAT, 20);
  assert.equal(d.action, 'forward');
  if (d.action !== 'forward') return;
  assert.deepEqual(d.to, ALICE_NAT);
  assert.equal(d.client, ALICE);
  assert.deepEqual(d.datagram, packet);
  // Another port of the same address (a symmetric NAT's other mapping) is the same peer: TURN's rule.
  assert.equal(relay.handle(esp(0x1001), { address: BOB_NAT.address, port: 61000 }, 21).action, 'forward');
  assert.deepEqual(relay.forwarded, { packets: 2, bytes: 128 });
});

test('a source that is neither the permitted address nor the permitted peer\'s registered endpoint is dropped and counted', () => {
  const { relay } = setup();
  // Alice learned Bob's endpoint as some address other than his registration's.
  relay.setPermissions(ALICE, [permission(BOB, { address: '192.0.2.200', port: 4000 }, 0x1001)], 10);
  const d = relay.handle(esp(0x1001), STRANGER, 20);
  assert.equal(d.action, 'drop');
  assert.equal(d.action === 'drop' && d.reason, 'esp-no-permission');
  // Carol is registered too, but she is not the peer Alice permitted.
  assert.equal(relay.handle(esp(0x1001), CAROL_NAT, 21).action, 'drop');
  assert.equal(relay.drops['esp-no-permission'], 2);
  // Bob's registered reflexive endpoint is Bob, whatever address Alice wrote down.
  assert.equal(relay.handle(esp(0x1001), BOB_NAT, 22).action, 'forward');
  // ... but only that exact endpoint: another port at his NAT is not his registration.
  assert.equal(relay.handle(esp(0x1001), { address: BOB_NAT.address, port: 1 }, 23).action, 'drop');
});

test('unknown SPIs and runts are dropped and counted; nothing throws', () => {
  const { relay } = setup();
  relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 10);
  assert.equal(relay.handle(esp(0x2002), BOB_NAT, 20).action, 'drop');
  assert.equal(relay.handle(new Uint8Array([0, 0, 0x10, 1, 0, 0, 0]), BOB_NAT, 20).action, 'drop');
  assert.equal(relay.handle(new Uint8Array(0), BOB_NAT, 20).action, 'drop');
  assert.equal(relay.drops['esp-unknown-spi'], 1);
  assert.equal(relay.drops['esp-too-short'], 2);
  assert.equal(relay.forwarded.packets, 0);
});

test('permissions live as long as the RELAY_UDP_ESP registration', () => {
  const { relay, registrations } = setup();
  relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 10);
  const d = relay.handle(esp(0x1001), BOB_NAT, LIFETIME_MS + 1);
  assert.equal(d.action === 'drop' && d.reason, 'esp-unregistered');
  assert.equal(relay.prune(LIFETIME_MS + 1), 1);
  assert.equal(relay.handle(esp(0x1001), BOB_NAT, LIFETIME_MS + 2).action === 'drop' && relay.drops['esp-unknown-spi'], 1);
  // A cancelled registration (lifetime 0) ends them too, and a client without one cannot install any.
  registrations.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_ESP] }, ALICE_NAT, 20_000);
  assert.equal(relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 20_001).installed.length, 1);
  registrations.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 0, regTypes: [RegistrationType.RELAY_UDP_ESP] }, ALICE_NAT, 20_002);
  assert.equal(relay.prune(20_003), 1);
  const refused = relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 20_004);
  assert.deepEqual(refused.refused, [{ spi: 0x1001, reason: 'permission-unregistered' }]);
  assert.equal(relay.refusals['permission-unregistered'], 1);
});

test('an SPI another client owns is refused (spi-conflict) and the owner keeps its traffic', () => {
  const { relay } = setup();
  relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 10);
  const r = relay.setPermissions(CAROL, [permission(BOB, BOB_NAT, 0x1001)], 11);
  assert.deepEqual(r.refused, [{ spi: 0x1001, reason: 'spi-conflict' }]);
  assert.equal(relay.refusals['spi-conflict'], 1);
  const d = relay.handle(esp(0x1001), BOB_NAT, 12);
  assert.equal(d.action === 'forward' && d.client, ALICE);
});

test('a new permission for the same SPI replaces the old one; at most 256 per client, oldest dropped', () => {
  const { relay } = setup();
  relay.setPermissions(ALICE, [permission(BOB, { address: '192.0.2.200', port: 4000 }, 0x1001)], 10);
  relay.setPermissions(ALICE, [permission(CAROL, { address: '192.0.2.201', port: 4000 }, 0x1001)], 11);
  assert.equal(relay.permissionsOf(ALICE).length, 1);
  assert.equal(relay.handle(esp(0x1001), { address: '192.0.2.200', port: 4000 }, 12).action, 'drop');
  assert.equal(relay.handle(esp(0x1001), { address: '192.0.2.201', port: 4000 }, 12).action, 'forward');

  const many = Array.from({ length: 300 }, (_, i) => permission(BOB, BOB_NAT, 0x10000 + i));
  relay.setPermissions(ALICE, many, 20);
  const held = relay.permissionsOf(ALICE);
  assert.equal(held.length, 256);
  assert.equal(held[0]!.spi, 0x10000 + 300 - 256);
  assert.equal(relay.handle(esp(0x10000), BOB_NAT, 21).action, 'drop');
  assert.equal(relay.handle(esp(0x10000 + 299), BOB_NAT, 21).action, 'forward');
  assert.equal(relay.tableSizes().permissions, 256);
});

test('one client flooded to its limit does not starve another; the drops are counted for that client', () => {
  const { relay } = setup({ packetBucket: { capacity: 100, perSecond: 1000 } });
  relay.setPermissions(ALICE, [permission(CAROL, CAROL_NAT, 0x1001)], 0);
  relay.setPermissions(BOB, [permission(CAROL, CAROL_NAT, 0x2002)], 0);
  let toAlice = 0;
  for (let i = 0; i < 1000; i++) if (relay.handle(esp(0x1001), CAROL_NAT, 10).action === 'forward') toAlice++;
  assert.equal(toAlice, 100);
  assert.equal(relay.drops['esp-rate-limited'], 900);
  assert.equal(relay.rateLimitedByClient.get(ALICE), 900);
  let toBob = 0;
  for (let i = 0; i < 50; i++) if (relay.handle(esp(0x2002), CAROL_NAT, 10).action === 'forward') toBob++;
  assert.equal(toBob, 50);
  assert.equal(relay.rateLimitedByClient.get(BOB), undefined);
  // The bucket refills: 100 ms later Alice gets 100 more.
  toAlice = 0;
  for (let i = 0; i < 200; i++) if (relay.handle(esp(0x1001), CAROL_NAT, 110).action === 'forward') toAlice++;
  assert.equal(toAlice, 100);
});

test('the octet budget limits large packets by size', () => {
  const registrations = new RegistrationTable({ minLifetime: 96, maxLifetime: 168, offered: [3], acceptAny: true });
  registrations.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [3] }, ALICE_NAT, 0);
  const relay = new DataRelay({ registrations, byteBucket: { capacity: 10_000, perSecond: 0 } });
  relay.setPermissions(ALICE, [permission(BOB, BOB_NAT, 0x1001)], 0);
  let passed = 0;
  for (let i = 0; i < 20; i++) if (relay.handle(esp(0x1001, 1400), BOB_NAT, 1).action === 'forward') passed++;
  assert.equal(passed, 7);
  // Small packets still fit in what the large ones left.
  assert.equal(relay.handle(esp(0x1001, 100), BOB_NAT, 1).action, 'forward');
});

test('a client that moved its registration to a new uplink is still itself from the old endpoint for a grace period, then no longer', () => {
  const { registrations, relay } = setup();
  relay.setPermissions(ALICE, [permission(BOB, { address: '192.0.2.200', port: 4000 }, 0x1001)], 10);
  const BOB_NEW = { address: '198.51.100.88', port: 10500 };
  registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP] }, BOB_NEW, 1_000);
  // Make-before-break: Bob's copies still leave through the old uplink while his registration moved.
  assert.equal(relay.handle(esp(0x1001), BOB_NAT, 1_010).action, 'forward');
  assert.equal(relay.handle(esp(0x1001), BOB_NEW, 1_020).action, 'forward');
  // Renewing from the new endpoint does not extend the old one's grace.
  registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP] }, BOB_NEW, 6_000);
  assert.equal(relay.handle(esp(0x1001), BOB_NAT, 1_000 + MOVED_SOURCE_GRACE_MS - 1).action, 'forward');
  const late = relay.handle(esp(0x1001), BOB_NAT, 1_000 + MOVED_SOURCE_GRACE_MS);
  assert.equal(late.action === 'drop' && late.reason, 'esp-no-permission');
  assert.equal(relay.handle(esp(0x1001), BOB_NEW, 1_000 + MOVED_SOURCE_GRACE_MS).action, 'forward');
  // Moving again makes the endpoint left last the one with a grace, not any older one.
  const BOB_THIRD = { address: '198.51.100.99', port: 10500 };
  registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP] }, BOB_THIRD, 12_000);
  assert.equal(relay.handle(esp(0x1001), BOB_NEW, 12_010).action, 'forward');
  assert.equal(relay.handle(esp(0x1001), BOB_NAT, 12_010).action, 'drop');
});
