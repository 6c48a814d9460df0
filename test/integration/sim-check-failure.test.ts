// When checks fail and when a path is lost, between two hosts behind NATs that reach each other
// through a relay (seed 000 §3.3, §5.1.2, §5.2; RFC 9028 §5.10), on the simulated network:
// - every check toward the other's direct candidates fails (both NATs symmetric): each host tells
//   the other so with a signed CONNECTIVITY_CHECKS_FAILED NOTIFY through the relay, and each then
//   stops checking those pairs while the relay carries the traffic; an unsigned or forged notice
//   changes nothing and is counted as dropped;
// - a NAT forgets its mappings while traffic flows (conntrack -F, a reboot) and maps the host
//   afresh on another port: both ends register with the relay again, the one that moved learns
//   its new server-reflexive address and offers it through the relay, and the direct path comes
//   back on the new port.
// Seeded (SIM_SEED replays a run); each run prints its seed and what it measured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, Transmit } from '../../src-main/hip/host.js';
import { buildNotify } from '../../src-main/hip/messages.js';
import { decodeChecksFailedNotice, encodeChecksFailedNotice } from '../../src-main/hip/checks-failed-notice.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import { encodePacket, decodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { NotifyType, PacketType } from '../../src-main/hip/wire/constants.js';
import type { SimHost, SimWorld } from '../support/sim-hosts.js';
import { PORT } from '../support/sim-hosts.js';
import type { NatKind } from '../support/sim-nat.js';
import { identity, seededCrypto } from '../support/hip-hosts.js';
import { PRIVATE, RELAY_ADDRESS, RELAY_EP, SEED_VAR, connectThroughRelay, relayWorld, runUntil, stateWith } from '../support/sim-relay.js';

const NAT_A = '203.0.113.1';
const NAT_B = '203.0.113.2';

interface Sent { at: number; to: Endpoint; packetType: number; locatorSet: boolean }

/** Every HIP datagram `h` sends from now on, as it leaves the core (relayed ones still wrapped for the relay). */
function recordSends(h: SimHost, world: SimWorld, drop: (t: Transmit) => boolean = () => false): Sent[] {
  const sent: Sent[] = [];
  const poll = h.core.pollTransmit.bind(h.core);
  h.core.pollTransmit = () => {
    for (let t = poll(); t !== undefined; t = poll()) {
      const decoded = decodePacket(t.bytes, { udp: true });
      const packetType = t.bytes[2]! & 0x7f;
      sent.push({ at: world.now, to: { ...t.to }, packetType, locatorSet: decoded.ok && getParam(decoded.packet, 'LOCATOR_SET') !== undefined });
      if (!drop(t)) return t;
    }
    return undefined;
  };
  return sent;
}

/** Both registered, then A reaches B by HIT through the relay. */
function relayedPair(kindA: NatKind, kindB: NatKind, seed: number, setup: (w: ReturnType<typeof relayWorld>) => void = () => {}) {
  const w = relayWorld(kindA, kindB, seed);
  setup(w);
  const { world, a, b } = w;
  connectThroughRelay(world, a, b);
  return { ...w, establishedAt: world.now };
}

const checksFailedNotices = (h: SimHost, authenticated: boolean) =>
  h.events.filter((e) => e.type === 'notify' && e.notifyType === NotifyType.CONNECTIVITY_CHECKS_FAILED && e.authenticated === authenticated);

const directPairs = (h: SimHost) => h.core.pathsView(h.world.now, h.peer!.core.hit)!.pairs.filter((p) => p.candidate !== 'relayed');

test('checks that all fail are reported through the relay, signed, and neither side spends more checks on those pairs', () => {
  const { world, a, b, establishedAt } = relayedPair('symmetric', 'symmetric', 0xcf_0001);
  const sentA = recordSends(a, world);
  const sentB = recordSends(b, world);
  const told = runUntil(world, () => a.core.checkFailureCounters.received > 0 && b.core.checkFailureCounters.received > 0, 15_000);
  const toldAt = world.now;
  const heldA = directPairs(a).filter((p) => p.checksHeld).length;
  const heldB = directPairs(b).filter((p) => p.checksHeld).length;
  // What the background checks would have sent to the other's NAT in the next minute.
  world.runFor(60_000);
  const directAfter = (sent: Sent[], nat: string) => sent.filter((s) => s.at > toldAt && s.to.address === nat).length;
  const directBefore = (sent: Sent[], nat: string) => sent.filter((s) => s.at <= toldAt && s.to.address === nat).length;
  console.log(`symmetric / symmetric seed ${world.seed} (set ${SEED_VAR} to replay): both told ${toldAt - establishedAt} ms after the exchange;`,
    `checks to the other's NAT before: A ${directBefore(sentA, NAT_B)}, B ${directBefore(sentB, NAT_A)}; in the 60 s after: A ${directAfter(sentA, NAT_B)}, B ${directAfter(sentB, NAT_A)};`,
    `pairs held A ${heldA}, B ${heldB}; notices sent A ${a.core.checkFailureCounters.sent}, B ${b.core.checkFailureCounters.sent}`);
  console.log(sentA.filter((s) => s.at > toldAt && s.to.address === NAT_B).map((s) => `${s.at - toldAt}:${s.packetType}`).join(' '));
  assert.ok(told, `seed ${world.seed}: each side hears the other's CONNECTIVITY_CHECKS_FAILED within 15 s`);
  // Through the relay: no direct packet gets across two symmetric NATs, and the NOTIFY was sent to it.
  for (const sent of [sentA, sentB]) {
    const notices = sent.filter((s) => s.packetType === PacketType.NOTIFY);
    assert.equal(notices.length, 1, `one notice per offer (${notices.length})`);
    assert.deepEqual(notices[0]!.to, RELAY_EP, 'the notice goes through the relay');
  }
  assert.equal(checksFailedNotices(a, true).length, 1, 'A\'s event log shows B\'s signed notice');
  assert.equal(checksFailedNotices(b, true).length, 1, 'B\'s event log shows A\'s signed notice');
  assert.ok(directBefore(sentA, NAT_B) > 0 && directBefore(sentB, NAT_A) > 0, 'both checked the direct pairs first');
  assert.ok(heldA > 0 && heldA === directPairs(a).length, `A's status marks every direct pair held (${heldA} of ${directPairs(a).length})`);
  assert.ok(heldB > 0 && heldB === directPairs(b).length, `B's status marks every direct pair held (${heldB} of ${directPairs(b).length})`);
  assert.equal(directAfter(sentA, NAT_B), 0, 'A spends no more checks on B\'s direct candidates');
  assert.equal(directAfter(sentB, NAT_A), 0, 'B spends no more checks on A\'s direct candidates');
  // The relay keeps carrying the peer.
  assert.equal(a.core.via(b.core.hit).via, 'relay');
  assert.equal(b.core.via(a.core.hit).via, 'relay');
  assert.equal(stateWith(a, b), 'ESTABLISHED');
  assert.equal(stateWith(b, a), 'ESTABLISHED');
});

test('an unsigned or forged CONNECTIVITY_CHECKS_FAILED changes nothing and is counted as dropped', () => {
  const { world, a, b } = relayedPair('symmetric', 'symmetric', 0xcf_0101);
  // A's genuine notice never leaves A: what B hears of A is only what the attacker sends.
  recordSends(a, world, (t) => (t.bytes[2]! & 0x7f) === PacketType.NOTIFY);
  const sentB = recordSends(b, world);
  assert.ok(runUntil(world, () => b.core.checkFailureCounters.sent > 0, 15_000), `seed ${world.seed}: B's own checks fail and it says so`);
  world.runFor(1_000);
  const attacker: Endpoint = { address: '198.51.100.66', port: PORT };
  const bAt: Endpoint = { address: PRIVATE, port: PORT };
  const unsigned = encodePacket({
    packetType: PacketType.NOTIFY, controls: 0, senderHit: a.core.hit, receiverHit: b.core.hit,
    params: [{ kind: 'NOTIFICATION', notifyType: NotifyType.CONNECTIVITY_CHECKS_FAILED, data: new Uint8Array(0) }],
  });
  const forger = { crypto: seededCrypto(world.seed ^ 0xbad), identity: identity('ecdsa-p256', 7) };
  const forged = buildNotify(forger, a.core.hit, b.core.hit, NotifyType.CONNECTIVITY_CHECKS_FAILED, new Uint8Array(0));
  const dropsBefore = { ...b.core.counters.dropped };
  const injectedAt = world.now;
  b.core.handleDatagram(world.now, unsigned, attacker, bAt);
  b.core.handleDatagram(world.now, forged, attacker, bAt);
  world.drain();
  world.runFor(60_000);
  const dropped = (reason: string) => (b.core.counters.dropped[reason] ?? 0) - (dropsBefore[reason] ?? 0);
  const checksAfter = sentB.filter((s) => s.at > injectedAt && s.to.address === NAT_A).length;
  console.log(`seed ${world.seed} (set ${SEED_VAR} to replay): dropped unsigned ${dropped('checks-failed-notify-unsigned')}, forged ${dropped('bad-signature')};`,
    `B's checks to A's NAT in the 60 s after: ${checksAfter}; held pairs ${directPairs(b).filter((p) => p.checksHeld).length}`);
  assert.equal(dropped('checks-failed-notify-unsigned'), 1, 'the unsigned notice is counted as dropped');
  assert.equal(dropped('bad-signature'), 1, 'the forged notice is counted as dropped');
  assert.equal(b.core.checkFailureCounters.received, 0, 'neither was taken as the peer\'s');
  assert.equal(checksFailedNotices(b, true).length, 0, 'no authenticated notice in B\'s event log');
  assert.equal(checksFailedNotices(b, false).length, 1, 'the unsigned one is logged as unauthenticated');
  assert.equal(directPairs(b).filter((p) => p.checksHeld).length, 0, 'no pair of B\'s is held');
  assert.ok(checksAfter > 0, `B keeps checking A's direct candidates (${checksAfter} in 60 s)`);
  assert.equal(b.core.via(a.core.hit).via, 'relay');
});

/** Every NOTIFY `h` takes in from now on, as it arrives (bytes and addresses, for replaying). */
function recordNotifiesIn(h: SimHost): Array<{ bytes: Uint8Array; from: Endpoint; to: Endpoint }> {
  const got: Array<{ bytes: Uint8Array; from: Endpoint; to: Endpoint }> = [];
  const handle = h.core.handleDatagram.bind(h.core);
  h.core.handleDatagram = (now, bytes, from, to) => {
    const decoded = decodePacket(bytes, { udp: true });
    if (decoded.ok && decoded.packet.packetType === PacketType.NOTIFY) got.push({ bytes: Uint8Array.from(bytes), from: { ...from }, to: { ...to } });
    handle(now, bytes, from, to);
  };
  return got;
}

/** The slot of the simulated host's identity (sim-hosts gives each host identity('ecdsa-p256', slot)). */
function signerOf(h: SimHost, world: SimWorld) {
  for (let slot = 0; slot < 8; slot++) {
    const id = identity('ecdsa-p256', slot);
    if (hitToText(id.hit) === hitToText(h.core.hit)) return { crypto: seededCrypto(world.seed ^ 0x5157), identity: id };
  }
  throw new Error('no identity slot matches');
}

test('a recorded CONNECTIVITY_CHECKS_FAILED replayed after a new offer, or one naming a wrong SPI, changes nothing and is counted', () => {
  const { world, a, b } = relayedPair('symmetric', 'symmetric', 0xcf_0301);
  const inB = recordNotifiesIn(b);
  assert.ok(runUntil(world, () => b.core.checkFailureCounters.received > 0, 15_000), `seed ${world.seed}: B hears A's genuine notice`);
  const genuine = inB.find((n) => {
    const d = decodePacket(n.bytes, { udp: true });
    return d.ok && getParam(d.packet, 'NOTIFICATION')?.notifyType === NotifyType.CONNECTIVITY_CHECKS_FAILED;
  })!;
  assert.ok(genuine !== undefined, 'the notice was recorded where it reached B');
  const decoded = decodePacket(genuine.bytes, { udp: true });
  const named = decodeChecksFailedNotice(decoded.ok ? getParam(decoded.packet, 'NOTIFICATION')!.data : new Uint8Array(0))!;
  assert.ok(named !== undefined, 'the notice names an SPI and an offer');
  const dropsBefore = { ...b.core.counters.dropped };
  const dropped = (reason: string) => (b.core.counters.dropped[reason] ?? 0) - (dropsBefore[reason] ?? 0);
  const receivedBefore = b.core.checkFailureCounters.received;

  // Signed by A's own key, so only the SPI it names is wrong.
  const wrongSpi = buildNotify(signerOf(a, world), a.core.hit, b.core.hit, NotifyType.CONNECTIVITY_CHECKS_FAILED,
    encodeChecksFailedNotice({ spi: (named.spi ^ 0x5a5a) >>> 0, offerSeq: named.offerSeq }));
  b.core.handleDatagram(world.now, wrongSpi, genuine.from, genuine.to);
  // The same notice again, for the offer it was already acted on.
  b.core.handleDatagram(world.now, genuine.bytes, genuine.from, genuine.to);
  world.drain();

  // A new offer: B's address changes behind its NAT, its candidates go out under a new SEQ, and
  // both sides check afresh. The recorded notice then arrives again.
  b.renumber('eth0', '192.168.1.11');
  world.runFor(200);
  const heldBefore = directPairs(b).filter((p) => p.checksHeld).length;
  b.core.handleDatagram(world.now, genuine.bytes, genuine.from, genuine.to);
  world.drain();
  const heldAfter = directPairs(b).filter((p) => p.checksHeld).length;
  console.log(`seed ${world.seed} (set ${SEED_VAR} to replay): notice named SPI 0x${named.spi.toString(16)} offer ${named.offerSeq};`,
    `dropped wrong SPI ${dropped('checks-failed-notify-unknown-spi')}, repeated ${dropped('checks-failed-notify-repeated')}, stale offer ${dropped('checks-failed-notify-stale-offer')};`,
    `B's pairs held before the replay ${heldBefore}, after ${heldAfter} of ${directPairs(b).length}; notices taken ${b.core.checkFailureCounters.received - receivedBefore}`);
  assert.equal(dropped('bad-signature'), 0, 'every injected notice was signed by A');
  assert.equal(dropped('checks-failed-notify-unknown-spi'), 1, 'the notice naming a wrong SPI is counted as dropped');
  assert.equal(dropped('checks-failed-notify-repeated'), 1, 'the same notice again for the same offer is counted as dropped');
  assert.equal(dropped('checks-failed-notify-stale-offer'), 1, 'the notice replayed after the new offer is counted as dropped');
  assert.equal(b.core.checkFailureCounters.received, receivedBefore, 'none was taken as the peer\'s');
  assert.equal(heldBefore, 0, 'the new offer released B\'s pairs');
  assert.equal(heldAfter, 0, 'the replay held none of B\'s pairs');
});

test('a NAT that forgets its mappings and maps the host on another port: traffic resumes within 1 s, after a new offer through the relay', () => {
  for (const seed of [0xcf_0201, 0xcf_0202, 0xcf_0203]) {
    // Neither NAT keeps the host's port (as many CGNATs and NAT boxes do): a new mapping lands elsewhere.
    const { world, a, b } = relayedPair('port-restricted-cone', 'port-restricted-cone', seed, (w) => {
      for (const nat of w.world.nats) nat.behaviour.ports = { min: 20_000, max: 60_000 };
    });
    assert.ok(runUntil(world, () => a.remoteOf(b)?.address === NAT_B && b.remoteOf(a)?.address === NAT_A, 3_000), `seed ${world.seed}: direct`);
    const natB = world.nats.find((n) => n.publicAddress === NAT_B)!;
    const oldPort = a.remoteOf(b)!.port;
    a.setStreaming(true);
    b.setStreaming(true);
    world.runFor(2_000);
    const sentB = recordSends(b, world);
    natB.forgetMappings();
    const cutAt = world.now;
    const back = runUntil(world, () => {
      const lastA = [...a.stream.arrivals.values()].some((x) => x.at > cutAt);
      const lastB = [...b.stream.arrivals.values()].some((x) => x.at > cutAt);
      return lastA && lastB;
    }, 10_000);
    world.runFor(3_000);
    const gapAB = a.stream.longestGap(cutAt - 100, cutAt + 3_000);
    const gapBA = b.stream.longestGap(cutAt - 100, cutAt + 3_000);
    const lostAB = a.stream.lost(cutAt - 100, world.now - 200);
    const lostBA = b.stream.lost(cutAt - 100, world.now - 200);
    const newPort = a.remoteOf(b)!.port;
    const offers = b.events.filter((e) => e.type === 'offer' && e.at >= cutAt);
    const offerSent = sentB.find((s) => s.packetType === PacketType.UPDATE && s.locatorSet && s.to.address === RELAY_ADDRESS);
    const knowsB = a.core.association(b.core.hit)!.peerLocators.filter((l) => l.state === 'ACTIVE').map((l) => `${l.candidate}:${l.address}:${l.port}`);
    console.log(`seed ${world.seed} (set ${SEED_VAR} to replay): NAT-B forgot its mappings; new offer through the relay ${offerSent ? `${offerSent.at - cutAt} ms` : 'never'} after;`,
      `longest gap A→B ${gapAB} ms, B→A ${gapBA} ms; lost A→B ${lostAB}, B→A ${lostBA} (100 packets/s each way);`,
      `A sends to NAT-B port ${oldPort} → ${newPort}; A knows B at ${knowsB.join(' ')}`);
    assert.ok(back, `seed ${world.seed}: traffic resumes both ways`);
    assert.ok(gapAB <= 1_000 && gapBA <= 1_000, `seed ${world.seed}: traffic back within 1 s (gaps ${gapAB} ms, ${gapBA} ms)`);
    assert.ok(offers.length > 0 && offerSent !== undefined, `seed ${world.seed}: B sent a new offer (LOCATOR_SET) to the relay`);
    assert.ok(offerSent.at - cutAt < gapBA + 100, 'the offer went out before traffic came back');
    assert.notEqual(newPort, oldPort, 'A follows B to its new mapping');
    assert.equal(a.remoteOf(b)?.address, NAT_B, 'direct again');
    assert.ok(knowsB.includes(`srflx:${NAT_B}:${newPort}`), 'A verified B\'s new server-reflexive candidate');
    assert.equal(stateWith(a, b), 'ESTABLISHED');
  }
});
