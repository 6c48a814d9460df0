// Protocol conformance of mobility and multihoming (issue 10): locator lifetimes (RFC 8046 §4,
// §5.3; RFC 8047), LOCATOR_TYPE_UNSUPPORTED (RFC 8047 §6.2), and a LOCATOR_SET carried in a
// NOTIFY (RFC 8047), taken only signed, as information, with the checks it starts rationed.
// Deterministic: virtual clock, seeded crypto.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { DEFAULT_TIMERS } from '../../src-main/hip/timers.js';
import { decodePacket, getParams } from '../../src-main/hip/wire/codec.js';
import { encodeParamValue } from '../../src-main/hip/wire/param-codec.js';
import { NotifyType, PacketType } from '../../src-main/hip/wire/constants.js';
import type { Locator } from '../../src-main/hip/wire/params.js';
import type { SimEndpoint, SimNetwork } from '../support/sim-network.js';
import { EXPIRED_LOCATOR_HOLD_MS } from '../../src-main/hip/peer-locators.js';
import { seedFromEnv } from '../support/sim-network.js';
import {
  A_CELL, A_WIFI, B_MAIN, INFO_NOTICE, authenticUpdate, cell, connected, notifyWithLocators, locatorState, mobileWorld, remoteOf, same, updateOf, updatesSent, wifi,
} from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0c0f_0010);
console.log(`sim-mobility-conformance seed ${SEED} (set SIM_SEED to replay)`);

const LIFETIME_MS = 20_000;

test('locator lifetimes: ours are announced with one and renewed at half of it; the peer\'s expire (DEPRECATED, then removed) unless a LOCATOR_SET repeats them, except the one in use when nothing else is left', () => {
  const { net, a, b } = connected(mobileWorld(SEED, { timers: { locatorLifetimeMs: LIFETIME_MS } }));
  const start = net.now;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, start + 2_000), 'B never verified the cell address');

  // Renewed: the listing goes again, under a new SEQ, every half lifetime; B keeps both ACTIVE.
  net.runFor(3 * LIFETIME_MS);
  const listings = updatesSent(net).filter((x) => x.u.locators !== undefined && same(x.from, A_WIFI));
  assert.ok(listings.every((x) => x.u.locators!.every((l) => l.lifetime === LIFETIME_MS / 1000)), 'every locator carries our lifetime, in seconds');
  assert.deepEqual(listings.map((x) => x.sentAt - start), [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000], 'announced, then renewed every half lifetime');
  assert.equal(new Set(listings.map((x) => x.u.seq)).size, listings.length, 'each renewal is a new SEQ');
  assert.equal(locatorState(b, a, A_CELL), 'ACTIVE');
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE');
  assert.equal(b.dropped('locator-expired'), 0);

  // A's renewals stop reaching B: at B each locator expires one lifetime after the last one arrived.
  net.filter = ({ bytes, from }) => (same(from, A_WIFI) && updateOf(bytes)?.locators !== undefined ? undefined : bytes);
  const lastArrival = Math.max(...net.trace.filter((t) => same(t.from, A_WIFI) && t.deliverAt !== undefined && updateOf(t.bytes)?.locators !== undefined).map((t) => t.deliverAt!));
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'DEPRECATED', lastArrival + 2 * LIFETIME_MS), 'cell never expired');
  assert.equal(net.now, lastArrival + LIFETIME_MS, 'expired exactly when its lifetime ran out, on the virtual clock');
  assert.equal(b.dropped('locator-expired'), 1, 'the expiry counted');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 1), false, 'nothing goes to an expired locator');
  // Wifi's lifetime ran out too, but it carries B's traffic and nothing else is left: kept in use.
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE', 'the address in use, with no alternative, stays');
  assert.equal(b.dropped('locator-expired-in-use'), 1);
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_WIFI, 1_000_000), true);

  // The expired locator is forgotten after the hold.
  net.runFor(EXPIRED_LOCATOR_HOLD_MS);
  assert.equal(locatorState(b, a, A_CELL), undefined, 'the expired locator is removed');
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE');

  // The renewals get through again: a LOCATOR_SET repeating cell brings it back, verified again.
  net.filter = undefined;
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'ACTIVE', net.now + LIFETIME_MS), 'renewal never arrived');
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE');
  assert.ok(same(remoteOf(b, a), A_WIFI));
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_WIFI, 1_000_000), true);
});

test('a lifetime of 0 means none: the base exchange\'s address and an observed source never expire', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 1, { timers: { locatorLifetimeMs: LIFETIME_MS } }, { timers: { locatorLifetimeMs: LIFETIME_MS } }));
  // A authenticated packet from a new source: observed, checked, never listed with a lifetime.
  b.act((h) => h.espAuthenticated(net.now, a.host.hit, { bytes: 200, from: A_CELL }));
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'ACTIVE', net.now + 2_000), 'observed source verified');
  net.runFor(20 * LIFETIME_MS);
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE', 'base exchange address (lifetime 0)');
  assert.equal(locatorState(b, a, A_CELL), 'ACTIVE', 'observed source (lifetime 0)');
  assert.equal(b.dropped('locator-expired'), 0);
  assert.equal(updatesSent(net).filter((x) => x.u.locators !== undefined).length, 0, 'nothing of ours announced, nothing renewed');
});

/** Every NOTIFY sent so far: who sent it where, and its notices. */
function notifiesSent(net: SimNetwork): { from: SimEndpoint; to: SimEndpoint; sentAt: number; notices: { notifyType: number; data: Uint8Array }[] }[] {
  return net.trace.flatMap((t) => {
    const d = decodePacket(t.bytes);
    if (!d.ok || d.packet.packetType !== PacketType.NOTIFY || t.duplicate) return [];
    return [{ from: t.from, to: t.to, sentAt: t.sentAt, notices: getParams(d.packet, 'NOTIFICATION') }];
  });
}

/** A locator of a type we do not support (7): 20 octets we cannot interpret. */
const unknownTypeLocator = (preferred: boolean): Locator => ({
  trafficType: 0, locatorType: 7, preferred, lifetime: 60, address: new Uint8Array(0), raw: new Uint8Array(20).fill(0x5a),
});

test('LOCATOR_TYPE_UNSUPPORTED: a preferred locator of a type we lack is answered with a NOTIFY naming it, rate-limited; a non-preferred one only counted', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 2));
  const wifiEntry = buildLocatorSet([{ locator: A_WIFI, spi: a.host.associations()[0]!.inboundSpi!, preferred: false }]).locators[0]!;
  const listing = (unknownPreferred: boolean) => ({ kind: 'LOCATOR_SET' as const, locators: [wifiEntry, unknownTypeLocator(unknownPreferred)] });

  net.inject(A_WIFI, B_MAIN, authenticUpdate(a, b, { locatorSet: listing(true) }));
  net.runFor(100);
  const sent = notifiesSent(net);
  assert.equal(sent.length, 1, 'one NOTIFY');
  assert.ok(same(sent[0]!.from, B_MAIN) && same(sent[0]!.to, A_WIFI), 'back where the UPDATE came from');
  assert.equal(sent[0]!.notices[0]!.notifyType, NotifyType.LOCATOR_TYPE_UNSUPPORTED);
  assert.deepEqual(sent[0]!.notices[0]!.data, encodeParamValue({ kind: 'LOCATOR_SET', locators: [unknownTypeLocator(true)] }), 'naming the locator B could not process');
  const heard = a.eventsOf('notify');
  assert.equal(heard.length, 1);
  assert.equal(heard[0]!.notifyType, NotifyType.LOCATOR_TYPE_UNSUPPORTED);
  assert.equal(heard[0]!.authenticated, true, 'signed by B');
  assert.equal(b.dropped('locator-refused'), 1, 'the unsupported locator is still refused and counted');
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE', 'the supported locator of the listing is processed');

  // More such UPDATEs at once: fresh and authentic, but the answers are rationed.
  for (let i = 0; i < 5; i++) net.inject(A_WIFI, B_MAIN, authenticUpdate(a, b, { locatorSet: listing(true) }));
  net.runFor(100);
  assert.equal(notifiesSent(net).length, 1, 'no further NOTIFY within the interval');
  assert.equal(b.dropped('locator-unsupported-notify-limited'), 5);
  net.runFor(1_000);
  net.inject(A_WIFI, B_MAIN, authenticUpdate(a, b, { locatorSet: listing(true) }));
  net.runFor(100);
  assert.equal(notifiesSent(net).length, 2, 'one again once the interval has passed');

  // Unsupported but not preferred: counted, not answered (the RFC asks for the NOTIFY only then).
  net.runFor(1_000);
  net.inject(A_WIFI, B_MAIN, authenticUpdate(a, b, { locatorSet: listing(false) }));
  net.runFor(100);
  assert.equal(notifiesSent(net).length, 2);
  assert.equal(b.dropped('locator-refused'), 8);
});

test('a LOCATOR_SET in a NOTIFY: only signed, only as information (new addresses checked, nothing revived, no traffic moved)', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 3));

  // Unsigned: the notice is reported as unauthenticated; its LOCATOR_SET is refused, counted.
  net.inject(A_WIFI, B_MAIN, notifyWithLocators(a, b, [A_WIFI, A_CELL], { signed: false }));
  net.runFor(100);
  assert.deepEqual(b.eventsOf('notify').map((e) => [e.notifyType, e.authenticated]), [[INFO_NOTICE, false]]);
  assert.equal(b.dropped('notify-locator-set-unsigned'), 1);
  assert.equal(locatorState(b, a, A_CELL), undefined, 'nothing learned from an unsigned NOTIFY');

  // Signed: the new address is added UNVERIFIED and checked; its P bit moves nothing.
  const signed = notifyWithLocators(a, b, [A_WIFI, A_CELL]);
  net.inject(A_WIFI, B_MAIN, signed);
  assert.ok(net.runUntil(() => locatorState(b, a, A_CELL) === 'ACTIVE', net.now + 1_000), 'the address a signed NOTIFY named was never checked');
  const check = updatesSent(net).find((x) => x.u.echoRequest !== undefined && same(x.to, A_CELL));
  assert.ok(check !== undefined && same(check.from, B_MAIN), 'B checked the address before using it');
  assert.equal(b.eventsOf('address-changed').length, 0, 'no traffic moves on a NOTIFY');
  assert.ok(same(remoteOf(b, a), A_WIFI));
  const view = b.host.associations()[0]!.peerLocators;
  assert.equal(view.find((l) => same(l, A_CELL))!.preferred, false, 'the P bit of a NOTIFY is not followed');
  assert.equal(view.find((l) => same(l, A_CELL))!.lifetimeS, 0, 'no lifetime starts from a NOTIFY');

  // A moves to cell for real (a fresh UPDATE): wifi is DEPRECATED. The old NOTIFY, replayed, lists
  // wifi again: it stays DEPRECATED, and nothing the UPDATE set up is undone.
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  assert.ok(net.runUntil(() => locatorState(b, a, A_WIFI) === 'DEPRECATED' && same(remoteOf(b, a), A_CELL), net.now + 2_000), 'moved to cell');
  const sentBefore = updatesSent(net).length;
  for (let i = 0; i < 20; i++) net.inject(A_WIFI, B_MAIN, signed, i * 50);
  net.runFor(2_000);
  assert.equal(locatorState(b, a, A_WIFI), 'DEPRECATED', 'a NOTIFY never revives a DEPRECATED locator');
  assert.equal(locatorState(b, a, A_CELL), 'ACTIVE');
  assert.ok(same(remoteOf(b, a), A_CELL));
  assert.equal(updatesSent(net).length, sentBefore, 'nothing known, so nothing to check: not one UPDATE');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_WIFI, 1), false);
});

test('a flood of replayed signed NOTIFYs naming addresses that never answer costs a bounded number of checks, the rest counted', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 4));
  const victims = Array.from({ length: 8 }, (_, i) => ({ address: `192.0.2.${100 + i}`, port: 10500 }));
  const recorded = notifyWithLocators(a, b, victims);
  const FLOOD_MS = 60_000;
  const start = net.now;
  for (let t = 0; t < FLOOD_MS; t += 100) net.inject(A_WIFI, B_MAIN, recorded, t);
  net.runFor(FLOOD_MS + 30_000);
  const checks = updatesSent(net).filter((x) => x.u.echoRequest !== undefined && victims.some((v) => same(x.to, v)));
  const started = new Set(checks.map((x) => x.u.seq)).size;
  const { notifyVerifyBurst, notifyVerifyIntervalMs, updateRetriesMax } = DEFAULT_TIMERS;
  const bound = notifyVerifyBurst + Math.ceil(FLOOD_MS / notifyVerifyIntervalMs);
  console.log(`sim-mobility-conformance: ${FLOOD_MS / 100} replays started ${started} checks (${checks.length} packets); bound ${bound}`);
  assert.ok(started >= notifyVerifyBurst, `the first checks run (${started})`);
  assert.ok(started <= bound, `${started} checks started, more than the ${bound} the bucket allows`);
  assert.ok(checks.length <= bound * (1 + updateRetriesMax), `${checks.length} check packets`);
  assert.ok(checks.every((x) => x.sentAt - start <= FLOOD_MS + 30_000));
  assert.ok(b.dropped('notify-verify-limited') > 0, 'the checks refused are counted');
  assert.equal(b.eventsOf('address-changed').length, 0, 'no traffic ever went to the named addresses');
  assert.ok(victims.every((v) => locatorState(b, a, v) === 'UNVERIFIED'));
});
