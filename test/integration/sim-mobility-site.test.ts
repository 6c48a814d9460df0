// Site multihoming (seed 000 §3.3): the peer's packets start arriving from a source address it
// never announced — its site router or NAT moved to another uplink. The new address is reported,
// checked with an echo under the association's keys, and used only once that succeeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUpdate } from '../../src-main/hip/messages.js';
import { seedFromEnv } from '../support/sim-network.js';
import { identity, seededCrypto } from '../support/hip-hosts.js';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { A_WIFI, B_ALT, B_MAIN, authenticUpdate, connected, locatorState, mobileWorld, remoteOf, same, setPath, updatesSent } from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0b11_e004);
console.log(`sim-mobility-site seed ${SEED} (set SIM_SEED to replay)`);

test('ESP from a new source address: reported UNVERIFIED, checked, then traffic follows it', () => {
  const { net, a, b } = connected(mobileWorld(SEED));
  const start = net.now;
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 120, from: B_ALT }));
  assert.equal(locatorState(a, b, B_ALT), 'UNVERIFIED', 'reported at once');
  const reported = a.eventsOf('peer-locators').at(-1)!;
  assert.equal(reported.locators.find((l) => same(l, B_ALT))?.source, 'observed');
  assert.ok(same(remoteOf(a, b), B_MAIN), 'not used before it is verified');
  assert.ok(net.runUntil(() => a.eventsOf('address-changed').length === 1, start + 1_000), 'never moved');
  const moved = a.eventsOf('address-changed')[0]!;
  assert.deepEqual([moved.from, moved.to, moved.verified, moved.cause], [B_MAIN, B_ALT, true, 'peer-source-changed']);
  assert.equal(net.now - start, 20, 'one round trip');
  const check = updatesSent(net).find((x) => x.u.echoRequest !== undefined && same(x.to, B_ALT))!;
  assert.ok(same(check.from, A_WIFI), 'the check went to the new address');
  assert.deepEqual(a.eventsOf('locator-verified')[0]!.locator, B_ALT);
  assert.equal(locatorState(a, b, B_MAIN), 'ACTIVE', 'the old address is not withdrawn, just no longer used');
});

test('our pair in doubt: ESP from a new source moves the traffic there at once, under credit, and the check still runs', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 4));
  setPath(net, A_WIFI, B_MAIN); // the old address is dead
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  const start = net.now;
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 1_200, from: B_ALT }));
  const moved = a.eventsOf('address-changed');
  assert.equal(moved.length, 1, `no immediate move while the pair was in doubt: ${JSON.stringify(moved)}`);
  assert.deepEqual([moved[0]!.from, moved[0]!.to, moved[0]!.verified, moved[0]!.cause], [B_MAIN, B_ALT, false, 'peer-source-changed']);
  assert.ok(same(remoteOf(a, b), B_ALT), 'traffic goes to the new source before any round trip');
  assert.equal(locatorState(a, b, B_ALT), 'UNVERIFIED', 'sent to under credit, not yet verified');
  assert.equal(a.host.authorizeSend(net.now, b.host.hit, B_ALT, 1_000), true, 'the peer\'s 1200 bytes earned credit for sending there');
  assert.ok(net.runUntil(() => locatorState(a, b, B_ALT) === 'ACTIVE', start + 1_000), 'the check never completed');
  const check = updatesSent(net).find((x) => x.u.echoRequest !== undefined && same(x.to, B_ALT));
  assert.ok(check !== undefined && check.sentAt === start, `the new address was not checked at once (${check?.sentAt} vs ${start})`);
  assert.equal(a.eventsOf('address-changed').length, 1, 'verification does not move the traffic a second time');
});

test('our pair in doubt, then answered again: a new source is verified before it carries traffic, as when healthy', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 5));
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  a.act((h) => h.setPathInDoubt(b.host.hit, false));
  const start = net.now;
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 1_200, from: B_ALT }));
  assert.equal(a.eventsOf('address-changed').length, 0, 'moved before the check while our pair works');
  assert.ok(same(remoteOf(a, b), B_MAIN));
  assert.ok(net.runUntil(() => a.eventsOf('address-changed').length === 1, start + 1_000), 'never moved');
  const moved = a.eventsOf('address-changed')[0]!;
  assert.deepEqual([moved.to, moved.verified], [B_ALT, true]);
  assert.equal(net.now - start, 20, 'after one round trip (the check)');
});

test('our pair in doubt: a replayed UPDATE from a spoofed address moves nothing (only fresh packets move traffic)', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 6));
  let captured: Uint8Array | undefined;
  net.filter = ({ bytes, from }) => {
    if (same(from, B_MAIN) && captured === undefined) captured = bytes.slice();
    return bytes;
  };
  b.act((h) => { h.probe(net.now, a.host.hit); });
  assert.ok(net.runUntil(() => b.eventsOf('probe-answered').length === 1, net.now + 5_000), 'B\'s probe answered');
  net.filter = ({ bytes }) => bytes;
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  const victim = { address: '203.0.113.66', port: 10500 }; // not B: nobody answers a check there
  net.inject(victim, A_WIFI, captured!, 1);
  net.runFor(100);
  assert.equal(a.eventsOf('address-changed').length, 0, `a replayed UPDATE moved our traffic: ${JSON.stringify(a.eventsOf('address-changed'))}`);
  assert.ok(same(remoteOf(a, b), B_MAIN), 'traffic still goes where it went');
});

test('an authenticated UPDATE from a new source (the NAT rebound) is followed the same way', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 1));
  // B's site now sends everything out through another uplink: its packets reach A from B_ALT.
  net.filter = ({ bytes, from, to }) => {
    if (same(from, B_MAIN)) {
      net.inject(B_ALT, to, bytes, 10);
      return undefined;
    }
    return bytes;
  };
  b.act((h) => { h.probe(net.now, a.host.hit); });
  assert.ok(net.runUntil(() => a.eventsOf('address-changed').length === 1, net.now + 1_000), 'never moved');
  assert.deepEqual(a.eventsOf('address-changed')[0]!.to, B_ALT);
  assert.ok(net.runUntil(() => b.eventsOf('probe-answered').length === 1, net.now + 5_000), 'B\'s probe answered');
});

test('a new source address that does not answer the check is never used, and is deprecated until the peer is heard from it again', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 2));
  setPath(net, A_WIFI, B_ALT);
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 120, from: B_ALT }));
  net.runFor(60_000);
  assert.equal(locatorState(a, b, B_ALT), 'DEPRECATED');
  assert.equal(a.eventsOf('address-changed').length, 0);
  assert.ok(same(remoteOf(a, b), B_MAIN));
  assert.equal(a.host.authorizeSend(net.now, b.host.hit, B_ALT, 1), false, 'a deprecated address gets no data, credit or not');
  const checks = updatesSent(net).filter((x) => x.u.echoRequest !== undefined && same(x.to, B_ALT));
  assert.equal(checks.length, 6, 'the check is re-sent five times, then given up');
  assert.equal(a.state(b), 'ESTABLISHED');
});

test('a forged packet from a new address reveals nothing and changes nothing', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 3));
  const forged = buildUpdate({ crypto: seededCrypto(SEED), identity: identity('ecdsa-p256', 9) }, 'sha384', new Uint8Array(48), b.host.hit, a.host.hit, {
    seq: 5, echoRequest: new Uint8Array(16),
  });
  net.inject(B_ALT, A_WIFI, forged);
  net.runFor(1_000);
  assert.equal(a.dropped('bad-mac'), 1);
  assert.equal(locatorState(a, b, B_ALT), undefined);
  assert.equal(a.eventsOf('peer-locators').length, 0);
  assert.equal(updatesSent(net).filter((x) => same(x.to, B_ALT)).length, 0, 'nothing sent to the forger\'s address');
});

test('a peer behind a NAT that returns to an uplink it left is checked again at its old public address and followed there', () => {
  // B's packets come from its NAT's public addresses (B_MAIN, then B_ALT); its LOCATOR_SETs can
  // only name its private address, which nobody outside reaches.
  const { net, a, b } = connected(mobileWorld(SEED + 6));
  const PRIVATE = { address: '192.168.1.2', port: 10500 };
  const listing = buildLocatorSet([{ locator: PRIVATE, spi: b.host.associations()[0]!.inboundSpi!, preferred: true }]);
  net.inject(B_ALT, A_WIFI, authenticUpdate(b, a, { locatorSet: listing }));
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 1_200, from: B_ALT }));
  assert.ok(net.runUntil(() => same(remoteOf(a, b), B_ALT) && locatorState(a, b, B_ALT) === 'ACTIVE', net.now + 2_000), 'A never followed B to B_ALT');
  assert.equal(locatorState(a, b, B_MAIN), 'DEPRECATED', 'the listing that cannot name it deprecated the old public address');

  // B comes back to its first uplink: the NAT maps it to B_MAIN again, and B_ALT is gone.
  setPath(net, A_WIFI, B_ALT);
  const back = net.now;
  a.act((h) => h.espAuthenticated(net.now, b.host.hit, { bytes: 1_200, from: B_MAIN }));
  assert.equal(locatorState(a, b, B_MAIN), 'UNVERIFIED', 'a fresh packet from it makes it a candidate again');
  assert.ok(net.runUntil(() => same(remoteOf(a, b), B_MAIN), back + 1_000), `traffic stayed at ${JSON.stringify(remoteOf(a, b))}`);
  assert.equal(locatorState(a, b, B_MAIN), 'ACTIVE', 'followed only once checked');
  const check = updatesSent(net).find((x) => x.u.echoRequest !== undefined && same(x.to, B_MAIN) && x.sentAt >= back);
  assert.ok(check !== undefined && check.sentAt === back, 'checked at once');
  assert.equal(a.state(b), 'ESTABLISHED');
});
