// The peer-locator table (RFC 8047 §6.2–6.4) and credit-based authorization (RFC 8046 §5.6):
// every state transition, the change-of-preferred-locator procedure, and credit aging.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreditAccount } from '../../src-main/hip/credit.js';
import { EXPIRED_LOCATOR_HOLD_MS, PeerLocatorTable, type AnnouncedLocator } from '../../src-main/hip/peer-locators.js';

const BASE = { address: '192.0.2.1', port: 10500 };
const WIFI = { address: '192.0.2.1', port: 10500 };
const CELL = { address: '203.0.113.7', port: 10500 };
const ETH = { address: '198.51.100.9', port: 10500 };
const SPI = 0x1000;

const listed = (l: { address: string; port: number }, preferred = false, spi = SPI): AnnouncedLocator => ({ ...l, spi, preferred, lifetimeS: 3600 });
const stateOf = (t: PeerLocatorTable, l: { address: string; port: number }): string | undefined => t.get(l)?.state;

test('the base exchange address starts ACTIVE, preferred and current', () => {
  const t = new PeerLocatorTable(5, BASE, SPI);
  assert.equal(stateOf(t, BASE), 'ACTIVE');
  assert.deepEqual(t.current(), { locator: BASE, verified: true });
  assert.equal(t.get(BASE)?.verifiedAt, 5);
  assert.equal(t.get(BASE)?.source, 'base-exchange');
});

test('a listing adds new locators UNVERIFIED, keeps ACTIVE ones, and deprecates those left out', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  const first = t.applyLocatorSet(0, [listed(WIFI, true), listed(CELL)], WIFI);
  assert.deepEqual(first.toVerify, [CELL]);
  assert.equal(first.changed, true);
  assert.equal(stateOf(t, WIFI), 'ACTIVE');
  assert.equal(stateOf(t, CELL), 'UNVERIFIED');
  assert.equal(t.markVerified(10, CELL), true);
  assert.equal(stateOf(t, CELL), 'ACTIVE');
  assert.equal(t.markVerified(11, CELL), false, 'only UNVERIFIED becomes ACTIVE');
  // Wifi is left out and the listing comes from cell: wifi is deprecated.
  const second = t.applyLocatorSet(0, [listed(CELL, true)], CELL);
  assert.deepEqual(second.toVerify, []);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.equal(t.get(CELL)?.preferred, true);
  assert.equal(t.get(WIFI)?.preferred, false, 'the P bit moved');
  // Listed again: back to UNVERIFIED, to be checked again.
  const third = t.applyLocatorSet(0, [listed(CELL, true), listed(WIFI)], CELL);
  assert.deepEqual(third.toVerify, [WIFI]);
  assert.equal(stateOf(t, WIFI), 'UNVERIFIED');
  // The same listing again changes nothing, and asks to keep checking what is still unverified.
  const again = t.applyLocatorSet(0, [listed(CELL, true), listed(WIFI)], CELL);
  assert.equal(again.changed, false);
  assert.deepEqual(again.toVerify, [WIFI]);
});

test('the address the listing came from is never deprecated by it (a peer behind a NAT cannot list it)', () => {
  const t = new PeerLocatorTable(0, BASE, SPI);
  t.applyLocatorSet(0, [listed({ address: '10.0.0.5', port: 10500 }, true)], BASE);
  assert.equal(stateOf(t, BASE), 'ACTIVE');
  assert.equal(stateOf(t, { address: '10.0.0.5', port: 10500 }), 'UNVERIFIED');
});

// A peer behind two NATs: its home NAT's and its carrier NAT's mappings, and the private
// addresses behind them it lists.
const homeMapping = { address: '198.51.100.20', port: 10500 };
const carrierMapping = { address: '198.51.100.30', port: 40123 };
const wifiPrivate = { address: '192.168.1.10', port: 10500 };
const cellPrivate = { address: '10.64.0.10', port: 10500 };

/** The exchange ran over the home NAT's mapping, and the peer listed Wi-Fi's private address. */
function behindHomeNat(): PeerLocatorTable {
  const t = new PeerLocatorTable(0, homeMapping, SPI);
  t.applyLocatorSet(0, [listed(wifiPrivate, true)], homeMapping);
  return t;
}

test('a NAT mapping the peer cannot list stays verified when another uplink lists the peer\'s addresses from its own mapping', () => {
  // Simultaneous multihoming: cell0's UPDATE (its own SA) comes from the carrier NAT.
  const t = behindHomeNat();
  t.observe(carrierMapping, 0x2000);
  const outcome = t.applyLocatorSet(0, [listed(wifiPrivate, true), listed(cellPrivate, false, 0x2000)], carrierMapping);
  assert.equal(stateOf(t, homeMapping), 'ACTIVE', 'nothing on its SA was withdrawn: Wi-Fi is still there');
  assert.deepEqual(outcome.toVerify, [wifiPrivate, cellPrivate], 'what is listed and unchecked is checked');
  assert.deepEqual(t.choose(), { locator: homeMapping, verified: true }, 'traffic stays on the working mapping');
  // Wi-Fi goes: the listing withdraws its private address, and with it the mapping on its SA.
  t.applyLocatorSet(1, [listed(cellPrivate, true, 0x2000)], carrierMapping);
  assert.equal(stateOf(t, homeMapping), 'DEPRECATED');
  assert.equal(stateOf(t, carrierMapping), 'UNVERIFIED', 'the listing\'s own source stays');
  assert.deepEqual(t.choose(), { locator: carrierMapping, verified: false });
});

test('one SA, the peer moves between NATs: withdrawing the old uplink\'s address deprecates its mapping', () => {
  const t = behindHomeNat();
  t.observe(carrierMapping, SPI);
  t.applyLocatorSet(1, [listed(cellPrivate, true)], carrierMapping);
  assert.equal(stateOf(t, homeMapping), 'DEPRECATED');
  assert.deepEqual(t.choose(), { locator: carrierMapping, verified: false }, 'the mapping the listing came from, within credit');
});

test('change of preferred locator: ACTIVE preferred at once; UNVERIFIED waits while another is ACTIVE', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(WIFI), listed(CELL, true)], WIFI);
  assert.deepEqual(t.choose(), { locator: WIFI, verified: true }, 'case 2: keep an ACTIVE one while the preferred is checked');
  t.markVerified(1, CELL);
  assert.deepEqual(t.choose(), { locator: CELL, verified: true }, 'case 1: preferred and ACTIVE');
});

test('change of preferred locator: with nothing ACTIVE left, the preferred one is used unverified (credit applies)', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(CELL, true)], CELL);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.deepEqual(t.choose(), { locator: CELL, verified: false });
});

test('change of preferred locator: with nothing ACTIVE left, the NAT address the peer\'s fresh packets come from goes before its listed private one', () => {
  // The peer moved to cellular behind a carrier NAT: its UPDATE comes from the NAT's public
  // endpoint and lists (preferred) only its private address, which is unreachable from here.
  const t = new PeerLocatorTable(0, WIFI, SPI);
  const carrierPublic = { address: '198.51.100.11', port: 40123 };
  const cellPrivate = { address: '100.64.0.7', port: 10500 };
  assert.equal(t.observe(carrierPublic, SPI), true);
  t.applyLocatorSet(0, [listed(cellPrivate, true)], carrierPublic);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.deepEqual(t.choose(), { locator: carrierPublic, verified: false }, 'heard from, so within credit until its check passes');
  // Once the private address is verified (the two are on one network after all), it is preferred and ACTIVE.
  t.markVerified(1, cellPrivate);
  assert.deepEqual(t.choose(), { locator: cellPrivate, verified: true });
});

test('change of preferred locator: a deprecated or absent preference falls back to a non-deprecated address', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(WIFI), listed(CELL), listed(ETH)], WIFI); // no P bit at all: case 3
  t.markVerified(1, ETH);
  t.setCurrent(ETH);
  assert.deepEqual(t.choose(), { locator: ETH, verified: true }, 'the current ACTIVE one stays');
  t.deprecateSpi(SPI);
  assert.equal(t.choose(), undefined, 'nothing usable at all');
  t.applyLocatorSet(0, [listed(CELL)], CELL); // case 4: only cell left, unverified
  assert.deepEqual(t.choose(), { locator: CELL, verified: false });
});

test('SPIs: a rekey rebinds locators to the new SPI; deprecating an SPI deprecates its locators only', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(WIFI, true), listed(CELL, false, 0x2000)], WIFI);
  t.rebindSpi(SPI, 0x3000);
  assert.equal(t.get(WIFI)?.spi, 0x3000);
  assert.equal(t.get(CELL)?.spi, 0x2000);
  assert.equal(t.deprecateSpi(0x2000), true);
  assert.equal(stateOf(t, CELL), 'DEPRECATED');
  assert.equal(stateOf(t, WIFI), 'ACTIVE');
  assert.equal(t.deprecateSpi(0x2000), false, 'already deprecated');
});

test('an observed source address is added once, UNVERIFIED; a known live one is left alone', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  assert.equal(t.observe(ETH, SPI), true);
  assert.equal(t.get(ETH)?.source, 'observed');
  assert.equal(stateOf(t, ETH), 'UNVERIFIED');
  assert.equal(t.observe(ETH, SPI), false);
  assert.equal(t.observe(WIFI, SPI), false);
});

test('an address the peer listed and withdrew stays deprecated whatever arrives from it', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(WIFI, true), listed(CELL, false)], WIFI);
  t.applyLocatorSet(0, [listed(CELL, true)], CELL);
  assert.equal(t.observe(WIFI, SPI), false, 'late packets from a withdrawn address do not revive it');
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
});

test('an address the peer could never list (its NAT\'s, seen in the base exchange) comes back UNVERIFIED when the peer does; an unanswered check deprecates it again', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(CELL, true)], CELL);
  t.setCurrent(CELL);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.equal(t.observe(WIFI, SPI), true, 'a fresh packet from it needs a check');
  assert.deepEqual([stateOf(t, WIFI), t.get(WIFI)?.source], ['UNVERIFIED', 'observed']);
  assert.equal(t.observe(WIFI, SPI), false, 'one check at a time');
  assert.equal(t.verificationFailed(WIFI), true);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.equal(t.verificationFailed(WIFI), false, 'only an address being checked can fail its check');
  assert.equal(t.verificationFailed(CELL), false, 'a listed address is the peer\'s word, not a guess');
});

test('setCurrent only accepts known locators, and list() hands out copies', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  assert.equal(t.setCurrent(CELL), false);
  t.observe(CELL, SPI);
  assert.equal(t.setCurrent(CELL), true);
  assert.deepEqual(t.current(), { locator: CELL, verified: false });
  t.list()[0]!.state = 'DEPRECATED';
  assert.equal(stateOf(t, WIFI), 'ACTIVE');
});

test('credit: what may go to an unverified address is bounded by what the peer sent us', () => {
  const c = new CreditAccount(0);
  assert.equal(c.trySpend(0, 1), false, 'no credit before anything is received');
  c.received(0, 1000);
  assert.equal(c.trySpend(1, 600), true);
  assert.equal(c.trySpend(2, 600), false, 'only 400 left');
  assert.equal(c.trySpend(3, 400), true);
  assert.equal(c.balance(3), 0);
});

test('credit ages: multiplied by 7/8 every 5 s, so old traffic stops buying new sends', () => {
  const c = new CreditAccount(0);
  c.received(0, 8000);
  assert.equal(c.balance(4_999), 8000);
  assert.equal(c.balance(5_000), 7000);
  assert.equal(c.balance(10_000), 6125);
  assert.equal(c.balance(1_000_000), 0, 'decays to nothing');
  const custom = new CreditAccount(0, { agingFactor: 0.5, agingIntervalMs: 1000 });
  custom.received(0, 100);
  assert.equal(custom.balance(2000), 25);
  // A clock that steps back restarts the interval instead of minting credit.
  custom.received(500, 0);
  assert.equal(custom.balance(500), 25);
});

test('lifetimes: a listed locator expires (DEPRECATED) when its lifetime runs out, is forgotten after the hold, and a repeat renews it', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  const short = (l: { address: string; port: number }, preferred = false): AnnouncedLocator => ({ ...l, spi: SPI, preferred, lifetimeS: 10 });
  t.applyLocatorSet(0, [short(WIFI, true), short(CELL)], WIFI);
  t.markVerified(1, CELL);
  assert.equal(t.nextDeadline(), 10_000);
  t.applyLocatorSet(6_000, [short(WIFI, true), short(CELL)], WIFI); // renewed
  assert.equal(t.nextDeadline(), 16_000);
  assert.deepEqual(t.expire(15_999), { expired: 0, kept: 0, changed: false });
  assert.equal(t.isExpired(16_000, CELL), true, 'expired at its deadline even before expire() runs');
  assert.equal(t.isExpired(16_000, WIFI), false, 'the current one is left to expire()');
  assert.deepEqual(t.expire(16_000), { expired: 1, kept: 1, changed: true });
  assert.equal(stateOf(t, CELL), 'DEPRECATED');
  assert.equal(stateOf(t, WIFI), 'ACTIVE', 'the current one, with nothing else left, is kept in use');
  assert.deepEqual(t.choose(), { locator: WIFI, verified: true });
  assert.equal(t.nextDeadline(), 16_000 + EXPIRED_LOCATOR_HOLD_MS);
  t.expire(16_000 + EXPIRED_LOCATOR_HOLD_MS);
  assert.equal(stateOf(t, CELL), undefined, 'forgotten');
  assert.equal(t.nextDeadline(), undefined, 'nothing left to do: no deadline in the past');
});

test('lifetimes: the current locator expires like any other while another ACTIVE one is left', () => {
  const listing = [{ ...WIFI, spi: SPI, preferred: true, lifetimeS: 10 }, { ...ETH, spi: SPI, preferred: false, lifetimeS: 0 }];
  const unchecked = new PeerLocatorTable(0, BASE, SPI);
  unchecked.applyLocatorSet(0, listing, BASE);
  assert.deepEqual(unchecked.expire(10_000), { expired: 0, kept: 1, changed: false }, 'an unverified alternative does not count');
  const t = new PeerLocatorTable(0, BASE, SPI);
  t.applyLocatorSet(0, listing, BASE);
  t.markVerified(1, ETH);
  assert.deepEqual(t.expire(10_000), { expired: 1, kept: 0, changed: true });
  assert.equal(stateOf(t, WIFI), 'DEPRECATED');
  assert.deepEqual(t.choose(), { locator: ETH, verified: true });
  t.expire(10_000 + EXPIRED_LOCATOR_HOLD_MS);
  assert.equal(stateOf(t, WIFI), 'DEPRECATED', 'the current locator is never forgotten');
});

test('lifetime 0 means none: the base exchange address, observed sources and 0-lifetime listings never expire', () => {
  const t = new PeerLocatorTable(0, BASE, SPI);
  t.observe(ETH, SPI);
  t.applyLocatorSet(0, [{ ...CELL, spi: SPI, preferred: false, lifetimeS: 0 }], BASE);
  assert.equal(t.nextDeadline(), undefined);
  assert.deepEqual(t.expire(1e12), { expired: 0, kept: 0, changed: false });
  assert.equal(stateOf(t, BASE), 'ACTIVE');
});

test('a NOTIFY\'s listing is information: new addresses added UNVERIFIED, nothing known changed, nothing deprecated', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(CELL, true)], CELL); // wifi DEPRECATED, cell preferred
  const out = t.applyInformational([listed(WIFI, true), listed(ETH, true), listed(CELL)]);
  assert.deepEqual(out.toVerify, [ETH, CELL], 'the new one, and the one still UNVERIFIED');
  assert.equal(stateOf(t, WIFI), 'DEPRECATED', 'not revived');
  assert.equal(t.get(ETH)?.preferred, false, 'its P bit not taken');
  assert.equal(t.get(ETH)?.expiresAt, undefined, 'no lifetime from a NOTIFY');
  assert.equal(t.get(CELL)?.preferred, true, 'a known locator unchanged');
  assert.equal(t.applyInformational([listed(ETH)]).changed, false, 'a repeat changes nothing');
});

test('an address only seen takes the SPI of the SA pair its interface named; a listed address keeps the SPI the peer listed', () => {
  const t = new PeerLocatorTable(0, WIFI, SPI);
  t.applyLocatorSet(0, [listed(WIFI, true), listed(CELL, false, 0x2000)], WIFI);
  assert.equal(t.observe(ETH, SPI), true);
  assert.equal(t.bindObserved(ETH, 0x2000), true);
  assert.equal(t.get(ETH)?.spi, 0x2000);
  assert.equal(t.get(ETH)?.state, 'UNVERIFIED', 'naming the SA pair verifies nothing');
  assert.equal(t.bindObserved(ETH, 0x2000), false, 'no change the second time');
  assert.equal(t.bindObserved(CELL, SPI), false, 'the peer\'s own listing outweighs');
  assert.equal(t.get(CELL)?.spi, 0x2000);
  assert.equal(t.bindObserved({ address: '192.0.2.99', port: 10500 }, 0x2000), false, 'an address never seen is not added');
  assert.equal(t.get({ address: '192.0.2.99', port: 10500 }), undefined);
});
