// Telling the peer where we are, in fault-tolerance mode (one SA, every locator in one UPDATE;
// seed 000 §4, RFC 8046 §5, RFC 8047 §6): LOCATOR_SET with SEQ/ACK and retransmission, address
// verification before a new address carries data, credit while it does not, the peer's preferred
// locator, and nothing moving on unauthenticated input. Deterministic: virtual clock, seeded loss.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUpdate } from '../../src-main/hip/messages.js';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { decodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp } from '../../src-main/hip/wire/address.js';
import { seedFromEnv } from '../support/sim-network.js';
import { identity, seededCrypto } from '../support/hip-hosts.js';
import {
  A_CELL, A_WIFI, B_ALT, B_MAIN, cell, connected, locatorState, mobileWorld, remoteOf, same, setPath, updatesSent, wifi,
} from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x0b11_e001);
console.log(`sim-mobility-readdress seed ${SEED} (set SIM_SEED to replay)`);

test('a second address is announced in one UPDATE on the SA in use, verified by the peer, and changes nothing else', () => {
  const { net, a, b } = connected(mobileWorld(SEED));
  const spiA = a.host.associations()[0]!.inboundSpi!;
  const start = net.now;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, start + 2_000), 'B never verified the cell address');

  const announcement = updatesSent(net).find((x) => x.u.locators !== undefined)!;
  assert.ok(same(announcement.from, A_WIFI) && same(announcement.to, B_MAIN), 'sent from the preferred locator to the peer in use');
  assert.ok(announcement.u.seq !== undefined, 'a LOCATOR_SET rides on a SEQ');
  assert.deepEqual([announcement.u.espInfo?.oldSpi, announcement.u.espInfo?.newSpi], [spiA, spiA], 'gratuitous ESP_INFO: OLD SPI = NEW SPI');
  assert.deepEqual(
    announcement.u.locators!.map((l) => [l.address, l.port, l.spi, l.preferred]),
    [[A_WIFI.address, 10500, spiA, true], [A_CELL.address, 10500, spiA, false]],
    'every locator, bound to the one SA, the preferred one marked',
  );
  const ack = updatesSent(net).find((x) => x.u.ack.includes(announcement.u.seq!))!;
  assert.ok(same(ack.to, A_WIFI), 'the ACK goes back where the UPDATE came from');

  // The check went to the new address, and came back from it under the association's keys.
  const check = updatesSent(net).find((x) => x.u.echoRequest !== undefined && same(x.to, A_CELL))!;
  assert.ok(check !== undefined && check.u.seq !== undefined, 'B sent an address check to the cell address');
  assert.deepEqual(b.eventsOf('locator-verified')[0]!.locator, A_CELL);
  assert.equal(net.now - start, 30, 'announce, check, answer: three one-way trips');
  assert.equal(locatorState(b, a, A_CELL), 'ACTIVE');
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE');
  assert.equal(b.eventsOf('address-changed').length, 0, 'the preferred address did not change, so neither does B\'s traffic');
  assert.ok(same(remoteOf(b, a), A_WIFI), 'B keeps sending to wifi');
  const view = b.eventsOf('peer-locators').at(-1)!;
  const byAddress = (x: readonly unknown[], y: readonly unknown[]): number => String(x[0]).localeCompare(String(y[0]));
  assert.deepEqual(view.locators.map((l) => [l.address, l.state, l.preferred, l.spi]).sort(byAddress), [
    [A_CELL.address, 'ACTIVE', false, spiA], [A_WIFI.address, 'ACTIVE', true, spiA],
  ].sort(byAddress));
  assert.deepEqual(a.host.counters.dropped, {});
  assert.deepEqual(b.host.counters.dropped, {});
});

test('make before break: with the new address already verified, dropping wifi moves the peer at once, verified', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 1));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, net.now + 2_000), 'cell verified');
  net.runFor(100);
  const start = net.now;
  setPath(net, A_WIFI, B_MAIN); // wifi dies
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  assert.ok(net.runUntil(() => b.eventsOf('address-changed').length === 1, start + 2_000), 'B never moved');
  const moved = b.eventsOf('address-changed')[0]!;
  assert.deepEqual(moved.from, A_WIFI);
  assert.deepEqual(moved.to, A_CELL);
  assert.equal(moved.verified, true, 'no credit limit: the address was verified before the break');
  assert.equal(moved.cause, 'peer-preferred');
  assert.equal(net.now - start, 10, 'one one-way trip after the address change');
  assert.equal(locatorState(b, a, A_WIFI), 'DEPRECATED', 'the withdrawn address is deprecated');
  assert.ok(same(a.host.associations()[0]!.local, A_CELL), 'A\'s own control traffic leaves from cell');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_WIFI, 100), false, 'nothing more goes to a deprecated address');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 1_000_000), true);
});

test('break before make: the new address carries data within credit at once and without limit one round trip later', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 2));
  setPath(net, A_WIFI, B_MAIN);
  a.act((h) => h.setLocalLocators(net.now, []));
  net.runFor(2_000);
  assert.equal(updatesSent(net).filter((x) => x.u.locators !== undefined).length, 0, 'with no address there is nothing to announce');
  // ESP B received from A earlier earns credit for the unverified window (RFC 8046 §5.6).
  b.act((h) => h.espAuthenticated(net.now, a.host.hit, { bytes: 3_000, from: A_WIFI }));
  const start = net.now;
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  assert.ok(net.runUntil(() => b.eventsOf('address-changed').length === 1, start + 1_000), 'B never moved');
  const moved = b.eventsOf('address-changed')[0]!;
  assert.deepEqual(moved.to, A_CELL);
  assert.equal(moved.verified, false, 'unverified: data allowed only within credit');
  assert.equal(net.now - start, 10);
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 2_000), true, 'within credit');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 2_000), false, 'credit spent: 3000 bytes received buy 3000 bytes sent');
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, start + 1_000), 'never verified');
  assert.equal(net.now - start, 30, 'verified one round trip after the announcement arrived');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 1_000_000), true, 'verified: no limit');
  assert.equal(b.eventsOf('address-changed').length, 1, 'verification does not move traffic again');
});

test('a lost announcement is re-sent, a lost ACK answered again verbatim, and a duplicate processed once', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 3));
  let droppedAnnouncement = false;
  let droppedAck = false;
  net.filter = ({ bytes }) => {
    const kind = decodeUpdateKind(bytes);
    if (kind === 'locators' && !droppedAnnouncement) { droppedAnnouncement = true; return undefined; }
    if (kind === 'ack-of-locators' && !droppedAck) { droppedAck = true; return undefined; }
    return bytes;
  };
  const start = net.now;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, start + 10_000), 'never verified after loss');
  net.runFor(5_000);
  const announcements = updatesSent(net).filter((x) => x.u.locators !== undefined);
  assert.equal(announcements.length, 3, 'original, re-send after the loss, re-send after the lost ACK');
  assert.ok(announcements.every((x) => x.u.seq === announcements[0]!.u.seq), 'the same SEQ every time');
  assert.deepEqual(announcements.map((x) => x.sentAt - start), [0, 1_000, 3_000], 'doubling back-off');
  const acks = updatesSent(net).filter((x) => x.u.ack.includes(announcements[0]!.u.seq!) && same(x.from, B_MAIN));
  assert.equal(acks.length, 2);
  assert.equal(Buffer.compare(acks[0]!.bytes, acks[1]!.bytes), 0, 'the ACK is re-sent as the same octets');
  // The network duplicates the announcement much later: answered again, processed no more.
  net.filter = undefined;
  const eventsBefore = b.events.length;
  net.inject(A_WIFI, B_MAIN, announcements[0]!.bytes);
  net.runFor(100);
  assert.equal(b.events.length, eventsBefore, 'a duplicate changes nothing');
  assert.equal(updatesSent(net).filter((x) => x.u.ack.includes(announcements[0]!.u.seq!) && same(x.from, B_MAIN)).length, 3);
  assert.equal(b.eventsOf('locator-verified').length, 1, 'the listing was processed once');
  assert.equal(a.host.associations()[0]!.state, 'ESTABLISHED');
  assert.deepEqual(b.host.counters.dropped, { 'update-duplicate': 2 }, 'the re-send after the lost ACK and the late duplicate, each answered, neither processed');
});

function decodeUpdateKind(bytes: Uint8Array): 'locators' | 'ack-of-locators' | undefined {
  const d = decodePacket(bytes);
  if (!d.ok || d.packet.packetType !== PacketType.UPDATE) return undefined;
  if (getParam(d.packet, 'LOCATOR_SET') !== undefined) return 'locators';
  if (getParam(d.packet, 'ACK') !== undefined && getParam(d.packet, 'ECHO_RESPONSE_SIGNED') === undefined) return 'ack-of-locators';
  return undefined;
}

test('the peer\'s new preferred locator is used only once verified while the current one is still ACTIVE', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 4));
  // The check of the cell address is delayed: A's traffic stays on wifi until it completes.
  net.setLink(B_MAIN, A_CELL, { delayMs: 500, jitterMs: 0, loss: 0, duplicate: 0 });
  a.act((h) => h.setLocalLocators(net.now, [wifi(false), cell(true)]));
  net.runFor(100);
  assert.equal(locatorState(b, a, A_CELL), 'UNVERIFIED');
  assert.ok(same(remoteOf(b, a), A_WIFI), 'B keeps using the ACTIVE wifi address while cell is checked');
  assert.equal(b.eventsOf('address-changed').length, 0);
  assert.ok(net.runUntil(() => b.eventsOf('address-changed').length === 1, net.now + 2_000), 'never moved to the preferred locator');
  const moved = b.eventsOf('address-changed')[0]!;
  assert.deepEqual([moved.to, moved.verified, moved.cause], [A_CELL, true, 'peer-preferred']);
  assert.equal(locatorState(b, a, A_WIFI), 'ACTIVE', 'still listed, so still usable');
});

test('link-local, multicast, broadcast and unspecified addresses are never announced', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 5));
  a.act((h) => h.setLocalLocators(net.now, [
    wifi(true),
    { address: 'fe80::1', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: '169.254.10.20', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: '224.0.0.251', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: 'ff02::1', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: '255.255.255.255', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: '0.0.0.0', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
    { address: '2001:db8::7', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: false },
  ]));
  net.runFor(1_000);
  const listed = updatesSent(net).find((x) => x.u.locators !== undefined)!.u.locators!.map((l) => l.address);
  assert.deepEqual(listed, [A_WIFI.address, '2001:db8::7']);
  assert.equal(b.dropped('locator-refused'), 0);
});

test('forged and replayed LOCATOR_SETs never move a locator, and are counted', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 7));
  const s = a.host.associations()[0]!;
  // An attacker with its own key claims A moved to its address.
  const attacker = identity('ecdsa-p256', 9);
  const forged = buildUpdate({ crypto: seededCrypto(SEED), identity: attacker }, 'sha384', new Uint8Array(48).fill(7), a.host.hit, b.host.hit, {
    seq: 77, espInfo: { keymatIndex: 0, oldSpi: s.inboundSpi!, newSpi: s.inboundSpi! },
    locatorSet: buildLocatorSet([{ locator: { address: '192.0.2.66', port: 10500 }, spi: s.inboundSpi!, preferred: true }]),
  });
  net.inject({ address: '192.0.2.66', port: 10500 }, B_MAIN, forged);
  net.runFor(100);
  assert.equal(b.dropped('bad-mac'), 1, 'forgery refused by HIP_MAC');
  assert.equal(b.eventsOf('peer-locators').length, 0);
  assert.equal(b.eventsOf('address-changed').length, 0);
  assert.ok(same(remoteOf(b, a), A_WIFI));

  // A genuine announcement, then a newer one; replaying the first must not undo the second.
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  net.runFor(500);
  setPath(net, A_WIFI, B_MAIN);
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  assert.ok(net.runUntil(() => b.eventsOf('address-changed').length === 1, net.now + 2_000), 'moved to cell');
  const first = updatesSent(net).find((x) => x.u.locators?.length === 2)!;
  net.inject(A_WIFI, B_MAIN, first.bytes);
  net.runFor(100);
  assert.ok(same(remoteOf(b, a), A_CELL), 'a replayed older listing does not bring wifi back');
  assert.equal(locatorState(b, a, A_WIFI), 'DEPRECATED');
});

test('LOCATOR_SET travels in R1 and I2: each side learns and checks the other\'s further addresses', () => {
  const w = mobileWorld(SEED + 8);
  const { net, a, b } = w;
  b.act((h) => h.setLocalLocators(net.now, [
    { ...B_MAIN, ifname: 'eth0', kind: 'ethernet', preferred: true },
    { ...B_ALT, ifname: 'eth1', kind: 'ethernet', preferred: false },
  ]));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  connected(w);
  const kinds = net.trace.map((t) => decodePacket(t.bytes)).flatMap((d) => (d.ok ? [d.packet] : []));
  const r1 = kinds.find((p) => p.packetType === PacketType.R1)!;
  const i2 = kinds.find((p) => p.packetType === PacketType.I2)!;
  const r1Listed = getParam(r1, 'LOCATOR_SET')!.locators.map((l) => bytes16ToIp(l.address));
  assert.deepEqual(r1Listed, [B_MAIN.address, B_ALT.address], 'R1 lists B\'s locators under its signature');
  const i2Locators = getParam(i2, 'LOCATOR_SET')!.locators;
  assert.deepEqual(i2Locators.map((l) => [bytes16ToIp(l.address), l.preferred]), [[A_WIFI.address, true], [A_CELL.address, false]],
    'I2 lists A\'s locators, the I2 source preferred');
  net.runFor(1_000);
  assert.equal(locatorState(a, b, B_ALT), 'ACTIVE', 'A checked B\'s alternate address after the exchange');
  assert.equal(locatorState(b, a, A_CELL), 'ACTIVE', 'B checked A\'s cell address after the exchange');
  assert.ok(same(remoteOf(a, b), B_MAIN) && same(remoteOf(b, a), A_WIFI), 'the exchange\'s addresses stay in use');
  assert.deepEqual(a.host.counters.dropped, {});
  assert.deepEqual(b.host.counters.dropped, {});
});

test('when the peer withdraws the address in use and lists none ACTIVE, traffic follows its preferred one under credit', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 9));
  b.act((h) => h.espAuthenticated(net.now, a.host.hit, { bytes: 500, from: A_WIFI }));
  net.setLink(B_MAIN, A_CELL, { delayMs: 300, jitterMs: 0, loss: 0, duplicate: 0 }); // B's check of cell is slow
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  net.runFor(50);
  assert.equal(locatorState(b, a, A_WIFI), 'DEPRECATED');
  assert.equal(locatorState(b, a, A_CELL), 'UNVERIFIED');
  const moved = b.eventsOf('address-changed')[0]!;
  assert.deepEqual([moved.to, moved.verified, moved.cause], [A_CELL, false, 'peer-preferred']);
  // Credit: the 500 bytes of ESP plus the authenticated UPDATE that carried the listing.
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 10_000), false, 'more than the credit');
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 500), true);
  assert.equal(b.host.authorizeSend(net.now, a.host.hit, A_CELL, 500), false, 'the credit is spent');
});

test('after a rekey the peer\'s locators follow the new SPI, and the next listing names it', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 10));
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, net.now + 2_000), 'cell verified');
  a.act((h) => h.rekey(net.now, b.host.hit));
  assert.ok(net.runUntil(() => a.eventsOf('rekeyed').length === 1 && b.eventsOf('rekeyed').length === 1, net.now + 3_000), 'rekeyed');
  const newSpi = a.eventsOf('rekeyed')[0]!.sa.inboundSpi;
  const bView = b.host.associations()[0]!.peerLocators;
  assert.deepEqual(bView.map((l) => l.spi), [newSpi, newSpi], 'both of A\'s locators now reference the rekeyed SA');
  a.act((h) => h.setLocalLocators(net.now, [cell(true)]));
  net.runFor(500);
  const last = updatesSent(net).filter((x) => x.u.locators !== undefined).at(-1)!;
  assert.deepEqual(last.u.locators!.map((l) => l.spi), [newSpi]);
  assert.deepEqual([last.u.espInfo?.oldSpi, last.u.espInfo?.newSpi], [newSpi, newSpi]);
  assert.deepEqual(b.host.counters.dropped, {});
});

test('on a lossy, duplicating, reordering network a run of address changes converges to the last one', () => {
  for (let run = 0; run < 5; run++) {
    const seed = SEED + 100 + run;
    const { net, a, b } = connected(mobileWorld(seed));
    net.setDefaultLink({ delayMs: 10, jitterMs: 15, loss: 0.2, duplicate: 0.2 });
    const steps = [[wifi(true), cell(false)], [cell(true)], [wifi(false), cell(true)], [wifi(true)]];
    for (const locators of steps) {
      a.act((h) => h.setLocalLocators(net.now, locators));
      net.runFor(300);
    }
    net.runFor(60_000);
    const view = b.host.associations()[0]!;
    const states = Object.fromEntries(view.peerLocators.map((l) => [l.address, l.state]));
    assert.deepEqual(states, { [A_WIFI.address]: 'ACTIVE', [A_CELL.address]: 'DEPRECATED' }, `seed ${seed}: B's view of A`);
    assert.ok(same(view.remote, A_WIFI), `seed ${seed}: B sends to the last preferred address`);
    assert.equal(view.state, 'ESTABLISHED', `seed ${seed}`);
    assert.equal(a.state(b), 'ESTABLISHED', `seed ${seed}`);
    // The network duplicates packets: a second copy of an UPDATE or of an ACK is not processed again.
    const duplicates = new Set(['echo-mismatch', 'update-duplicate', 'update-stale-ack']);
    const unexpected = Object.keys(b.host.counters.dropped).filter((r) => !duplicates.has(r));
    assert.deepEqual(unexpected, [], `seed ${seed}: only duplicated packets may be refused`);
  }
});

test('an announcement that exhausts its retries is started again under a new SEQ until the peer hears it', () => {
  const { net, a, b } = connected(mobileWorld(SEED + 11));
  setPath(net, A_WIFI, B_MAIN);
  a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
  net.runFor(30_000); // 1 + 5 re-sends over 1+2+4+8+8+8 s, all lost
  setPath(net, A_WIFI, B_MAIN, { delayMs: 10, jitterMs: 0, loss: 0, duplicate: 0 });
  assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, net.now + 30_000), 'never heard');
  const seqs = new Set(updatesSent(net).filter((x) => x.u.locators !== undefined).map((x) => x.u.seq));
  assert.equal(seqs.size, 2, 'a second SEQ after the first gave up');
  assert.equal(a.state(b), 'ESTABLISHED');
});
