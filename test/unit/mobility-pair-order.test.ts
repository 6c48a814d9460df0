// Which pairs may be used and in what order they are tried: RFC 6724 where it applies, the
// user's interface order, the peer's Preferred bit, and test recency for a failure search.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressFacts, buildCandidates, comparePreference, compareSearch, isLegalPair, SCOPE_GLOBAL, SCOPE_LINK_LOCAL,
} from '../../src-main/mobility/pair-order.js';
import type { Candidate, PairLocal, PeerLocator } from '../../src-main/mobility/pair-order.js';

const loc = (address: string, ifname: string, kind: PairLocal['kind'], preferenceRank: number, operational = true): PairLocal =>
  ({ address, ifname, kind, preferenceRank, operational });
const rem = (address: string, preferred = false): PeerLocator => ({ address, preferred });
const cand = (l: PairLocal, r: PeerLocator): Candidate => ({ pair: { local: l.address, remote: r.address }, local: l, remote: r });
const order = (cands: Candidate[]) => [...cands].sort(comparePreference).map((c) => `${c.pair.local}>${c.pair.remote}`);

test('address facts follow RFC 6724: private IPv4 is global, 169.254/16 and fe80::/10 link-local, mapped IPv4 is IPv4', () => {
  assert.equal(addressFacts('10.0.0.1')?.scope, SCOPE_GLOBAL);
  assert.equal(addressFacts('169.254.3.4')?.scope, SCOPE_LINK_LOCAL);
  assert.equal(addressFacts('fe80::1')?.scope, SCOPE_LINK_LOCAL);
  assert.equal(addressFacts('2001:db8::1')?.scope, SCOPE_GLOBAL);
  assert.equal(addressFacts('::ffff:192.0.2.1')?.family, 4);
  assert.equal(addressFacts('192.0.2.1')?.precedence, 35, 'IPv4 has the ::ffff:0:0/96 precedence');
  assert.equal(addressFacts('2001:db8::1')?.precedence, 40);
  assert.equal(addressFacts('fd00::1')?.label, 13, 'ULA');
  assert.equal(addressFacts('2002:c000:201::1')?.label, 2, '6to4');
  assert.equal(addressFacts('not an address'), null);
});

test('illegal pairs: mixed families, link-local with global, multicast, broadcast, unspecified, site-local, loopback with non-loopback', () => {
  assert.equal(isLegalPair('10.0.0.1', '192.0.2.1'), true);
  assert.equal(isLegalPair('2001:db8::1', '2001:db8:1::1'), true);
  assert.equal(isLegalPair('10.0.0.1', '2001:db8::1'), false, 'families differ');
  assert.equal(isLegalPair('fe80::1', '2001:db8::1'), false, 'link-local cannot reach a global address');
  assert.equal(isLegalPair('fe80::1', 'fe80::2'), true);
  assert.equal(isLegalPair('10.0.0.1', '224.0.0.1'), false, 'multicast');
  assert.equal(isLegalPair('10.0.0.1', '255.255.255.255'), false, 'broadcast');
  assert.equal(isLegalPair('0.0.0.0', '192.0.2.1'), false, 'unspecified');
  assert.equal(isLegalPair('fec0::1', 'fec0::2'), false, 'IPv6 site-local (seed 003 §3.1)');
  assert.equal(isLegalPair('127.0.0.1', '192.0.2.1'), false);
  assert.equal(isLegalPair('127.0.0.1', '127.0.0.1'), true, 'loopback to loopback, as on a test bench');
});

test('only operational local locators form candidates, and only legal combinations', () => {
  const cands = buildCandidates(
    [loc('10.0.0.2', 'eth0', 'ethernet', 0), loc('10.1.0.2', 'wlan0', 'wifi', 1, false), loc('2001:db8::2', 'eth0', 'ethernet', 0)],
    [rem('192.0.2.1'), rem('2001:db8:1::1')],
  );
  assert.deepEqual(cands.map((c) => `${c.pair.local}>${c.pair.remote}`).sort(), ['10.0.0.2>192.0.2.1', '2001:db8::2>2001:db8:1::1']);
});

test('the default interface order wins: ethernet, then wifi, then cellular', () => {
  const b = rem('192.0.2.1');
  assert.deepEqual(
    order([cand(loc('10.2.0.2', 'wwan0', 'cellular', 2), b), cand(loc('10.0.0.2', 'eth0', 'ethernet', 0), b), cand(loc('10.1.0.2', 'wlan0', 'wifi', 1), b)]),
    ['10.0.0.2>192.0.2.1', '10.1.0.2>192.0.2.1', '10.2.0.2>192.0.2.1'],
  );
});

test('the peer\'s Preferred bit comes next, then RFC 6724: native IPv6 before IPv4, matching labels, longest prefix', () => {
  const eth4 = loc('10.0.0.2', 'eth0', 'ethernet', 0);
  const eth6 = loc('2001:db8::2', 'eth0', 'ethernet', 0);
  assert.deepEqual(order([cand(eth4, rem('192.0.2.1', true)), cand(eth6, rem('2001:db8:1::1'))]), ['10.0.0.2>192.0.2.1', '2001:db8::2>2001:db8:1::1'], 'the peer asked for IPv4');
  assert.deepEqual(order([cand(eth4, rem('192.0.2.1')), cand(eth6, rem('2001:db8:1::1'))]), ['2001:db8::2>2001:db8:1::1', '10.0.0.2>192.0.2.1'], 'native IPv6 first');
  const ula = loc('fd00::2', 'eth0', 'ethernet', 0);
  assert.deepEqual(order([cand(ula, rem('2001:db8:1::1')), cand(ula, rem('fd00::1'))]), ['fd00::2>fd00::1', 'fd00::2>2001:db8:1::1'], 'ULA to ULA: labels match');
  assert.deepEqual(order([cand(eth4, rem('203.0.113.9')), cand(eth4, rem('10.0.0.1'))]), ['10.0.0.2>10.0.0.1', '10.0.0.2>203.0.113.9'], 'longest common prefix');
});

test('search order: recently OK first, recently failed last, old failures forgiven; policy inside each tier', () => {
  const opts = { freshOkMs: 60_000, failMemoryMs: 30_000 };
  const b = rem('192.0.2.1');
  const eth = { ...cand(loc('10.0.0.2', 'eth0', 'ethernet', 0), b), history: { lastFailAt: 95_000 } };
  const wifi = { ...cand(loc('10.1.0.2', 'wlan0', 'wifi', 1), b), history: {} };
  const cell = { ...cand(loc('10.2.0.2', 'wwan0', 'cellular', 2), b), history: { lastOkAt: 90_000 } };
  const sorted = (now: number) => [eth, wifi, cell].sort((x, y) => compareSearch(x, y, now, opts)).map((c) => c.local.ifname);
  assert.deepEqual(sorted(100_000), ['wwan0', 'wlan0', 'eth0']);
  assert.deepEqual(sorted(200_000), ['eth0', 'wlan0', 'wwan0'], 'a failure 105 s old and an OK 110 s old no longer count');
});

test('a metered uplink comes after every unmetered one, whatever the interface order says; among metered ones the order holds', () => {
  const cell = loc('10.2.0.1', 'cell0', 'cellular', 0);
  const wifi = loc('10.1.0.1', 'wifi0', 'wifi', 1);
  const cell2 = loc('10.3.0.1', 'cell1', 'cellular', 2);
  const r = rem('192.0.2.1');
  assert.deepEqual(order([cand(wifi, r), cand(cell, r)]), ['10.2.0.1>192.0.2.1', '10.1.0.1>192.0.2.1'], 'unmetered: the user ranked cellular first');
  const m = (l: PairLocal): PairLocal => ({ ...l, metered: true });
  assert.deepEqual(order([cand(m(cell), r), cand(wifi, r), cand(m(cell2), r)]), ['10.1.0.1>192.0.2.1', '10.2.0.1>192.0.2.1', '10.3.0.1>192.0.2.1']);
  assert.deepEqual(order([cand(m(cell), r), cand({ ...wifi, metered: false }, r)]), ['10.1.0.1>192.0.2.1', '10.2.0.1>192.0.2.1'], 'false is not metered');
});
