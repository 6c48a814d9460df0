// The HIP control relay as its clients and their peers see it: what is forwarded where, that the
// client can verify RELAY_HMAC with its key (and not with another), that RELAY_FROM names the
// original source, that a flooding client is limited without starving another, and that bad
// input is dropped and counted without a throw.

import test from 'node:test';
import assert from 'node:assert/strict';
import { ControlRelay, type RelayKey } from '../../src-main/relay/control-relay.js';
import { RegistrationTable } from '../../src-main/relay/registrations.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { decodePacket, encodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { coveredBytes } from '../../src-main/hip/wire/covered.js';
import { PacketType, ParamType, RegistrationType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp, ipToBytes16, textToHit } from '../../src-main/hip/wire/address.js';
import type { DecodedPacket, Param } from '../../src-main/hip/wire/params.js';

const ALICE = '2001:20::a'; // client of the relay, behind a NAT
const BOB = '2001:20::b'; // another client
const PEER = '2001:20::99'; // not a client: reaches Alice through the relay
const ALICE_NAT = { address: '198.51.100.7', port: 40123 };
const BOB_NAT = { address: '198.51.100.8', port: 50000 };
const PEER_FROM = { address: '203.0.113.5', port: 10500 };
const RELAY_ADDR = '192.0.2.1';

const keys = new Map<string, RelayKey>([
  [`${ALICE}|to-client`, { hash: 'sha256', key: new Uint8Array(32).fill(1) }],
  [`${ALICE}|from-client`, { hash: 'sha256', key: new Uint8Array(32).fill(2) }],
  [`${BOB}|to-client`, { hash: 'sha256', key: new Uint8Array(32).fill(3) }],
  [`${BOB}|from-client`, { hash: 'sha256', key: new Uint8Array(32).fill(4) }],
]);

function setup(bucket?: { capacity: number; perSecond: number }, acceptUnsignedFromRegisteredAddress = false) {
  const registrations = new RegistrationTable({ minLifetime: 96, maxLifetime: 168, offered: [1, 2, 3], acceptAny: true });
  for (const [hit, from] of [[ALICE, ALICE_NAT], [BOB, BOB_NAT]] as const) {
    registrations.handleRequest(hit, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP] }, from, 0);
  }
  const relay = new ControlRelay({
    registrations, crypto: nodeCrypto, ownAddresses: [RELAY_ADDR], bucket, acceptUnsignedFromRegisteredAddress,
    keyFor: (hit, direction) => keys.get(`${hit}|${direction}`),
  });
  return { registrations, relay };
}

function i1(sender: string, receiver: string, extra: Param[] = []): Uint8Array {
  return encodePacket({
    packetType: PacketType.I1, controls: 0, senderHit: textToHit(sender)!, receiverHit: textToHit(receiver)!,
    params: [{ kind: 'DH_GROUP_LIST', groups: [9, 8, 7] }, ...extra],
  });
}

function decoded(bytes: Uint8Array): DecodedPacket {
  const d = decodePacket(bytes, { udp: true });
  assert.ok(d.ok, d.ok ? '' : `${d.reason} ${d.detail}`);
  assert.deepEqual(d.packet.deviations, []);
  return d.packet;
}

/** What the client does with a relayed packet: RELAY_HMAC is last and verifies with its key. */
function verifies(bytes: Uint8Array, key: RelayKey): boolean {
  const pkt = decoded(bytes);
  const at = pkt.spans.findIndex((s) => s.type === ParamType.RELAY_HMAC);
  if (at !== pkt.spans.length - 1) return false;
  const want = nodeCrypto.hmac(key.hash, key.key, coveredBytes(pkt, at));
  return Buffer.from(want).equals(Buffer.from(getParam(pkt, 'RELAY_HMAC')!.hmac));
}

/** What Alice sends back through the relay: RELAY_TO, then RELAY_HMAC with her key. */
function fromAlice(receiver: string, to: { address: string; port: number }, key: RelayKey | null | undefined = keys.get(`${ALICE}|from-client`)): Uint8Array {
  return fromClient(ALICE, receiver, to, key);
}

function fromClient(sender: string, receiver: string, to: { address: string; port: number }, key: RelayKey | null | undefined): Uint8Array {
  const base = {
    packetType: PacketType.R1, controls: 0, senderHit: textToHit(sender)!, receiverHit: textToHit(receiver)!,
  };
  const params: Param[] = [
    { kind: 'DH_GROUP_LIST', groups: [9] },
    { kind: 'RELAY_TO', port: to.port, protocol: 17, address: ipToBytes16(to.address)! },
  ];
  if (key === null) return encodePacket({ ...base, params });
  assert.ok(key);
  const unsigned = decoded(encodePacket({ ...base, params }));
  const hmac = nodeCrypto.hmac(key.hash, key.key, coveredBytes(unsigned, unsigned.spans.length));
  return encodePacket({ ...base, params: [...params, { kind: 'RELAY_HMAC', hmac }] });
}

test("a packet for a client goes to the client's registered address with RELAY_FROM naming the original source", () => {
  const { relay } = setup();
  // a parameter typed above RELAY_FROM (non-critical, unknown to the relay) shows where RELAY_FROM goes
  const later: Param = { kind: 'UNKNOWN', type: 64100, critical: false, value: Uint8Array.of(1, 2, 3) };
  const sent = i1(PEER, ALICE, [later]);
  const out = relay.handle(sent, PEER_FROM, 1000);
  assert.equal(out.action, 'forward');
  if (out.action !== 'forward') return;
  assert.deepEqual(out.to, ALICE_NAT);
  const pkt = decoded(out.datagram);
  const relayFrom = getParam(pkt, 'RELAY_FROM');
  assert.ok(relayFrom);
  assert.equal(bytes16ToIp(relayFrom.address), PEER_FROM.address);
  assert.equal(relayFrom.port, PEER_FROM.port);
  assert.deepEqual(pkt.spans.map((s) => s.type), [ParamType.DH_GROUP_LIST, ParamType.RELAY_FROM, 64100, ParamType.RELAY_HMAC]);
  const original = decoded(sent);
  const octets = (p: DecodedPacket, type: number) => {
    const span = p.spans.find((s) => s.type === type)!;
    return p.raw.subarray(span.start, span.end);
  };
  assert.deepEqual(pkt.raw.subarray(6, 40), original.raw.subarray(6, 40), 'controls and HITs unchanged');
  for (const type of [ParamType.DH_GROUP_LIST, 64100]) assert.deepEqual(octets(pkt, type), octets(original, type), "the sender's parameters pass unchanged");
});

test("the relayed packet verifies with the client's key and fails with any other", () => {
  const { relay } = setup();
  const out = relay.handle(i1(PEER, ALICE), PEER_FROM, 1000);
  assert.equal(out.action, 'forward');
  if (out.action !== 'forward') return;
  assert.ok(verifies(out.datagram, keys.get(`${ALICE}|to-client`)!));
  assert.ok(!verifies(out.datagram, keys.get(`${BOB}|to-client`)!));
  const tampered = Uint8Array.from(out.datagram);
  const relayFrom = decoded(out.datagram).spans.find((s) => s.type === ParamType.RELAY_FROM)!;
  const lastOctet = relayFrom.start + 4 + 4 + 15; // TLV header, port, protocol, reserved, then the address
  tampered[lastOctet] = tampered[lastOctet]! ^ 1;
  assert.ok(!verifies(tampered, keys.get(`${ALICE}|to-client`)!), 'a changed RELAY_FROM no longer verifies');
});

test("a client's reply with RELAY_TO goes to that address without the relay's RELAY_HMAC", () => {
  const { relay } = setup();
  relay.handle(i1(PEER, ALICE), PEER_FROM, 1000);
  const out = relay.handle(fromAlice(PEER, PEER_FROM), ALICE_NAT, 1100);
  assert.equal(out.action, 'forward');
  if (out.action !== 'forward') return;
  assert.deepEqual(out.to, PEER_FROM);
  const pkt = decoded(out.datagram);
  assert.equal(getParam(pkt, 'RELAY_HMAC'), undefined);
  assert.ok(getParam(pkt, 'RELAY_TO'));
});

test("RELAY_TO is refused with a bad RELAY_HMAC, towards an address that never reached the client, or towards the relay", () => {
  const { relay } = setup();
  relay.handle(i1(PEER, ALICE), PEER_FROM, 1000);
  const wrongKey = relay.handle(fromAlice(PEER, PEER_FROM, keys.get(`${BOB}|from-client`)), ALICE_NAT, 1100);
  assert.deepEqual(wrongKey.action === 'drop' && wrongKey.reason, 'bad-relay-hmac');
  const stranger = relay.handle(fromAlice(PEER, { address: '203.0.113.77', port: 9 }), ALICE_NAT, 1100);
  assert.deepEqual(stranger.action === 'drop' && stranger.reason, 'bad-relay-to');
  const self = relay.handle(fromAlice(PEER, { address: RELAY_ADDR, port: 10500 }), ALICE_NAT, 1100);
  assert.deepEqual(self.action === 'drop' && self.reason, 'bad-relay-to');
  const toBob = relay.handle(fromAlice(BOB, BOB_NAT), ALICE_NAT, 1100);
  assert.equal(toBob.action, 'forward', "another client's registered address is always a permitted RELAY_TO");
  assert.equal(relay.drops['bad-relay-hmac'], 1);
  assert.equal(relay.drops['bad-relay-to'], 2);
});

test('loopback RELAY_TO only for a relay on loopback itself, and never its own socket', () => {
  const LOCAL_RELAY = { address: '127.0.0.1', port: 10500 };
  const local = { alice: { address: '127.0.0.1', port: 10501 }, bob: { address: '127.0.0.1', port: 10502 } };
  const build = (ownEndpoints: { address: string; port: number }[]) => {
    const registrations = new RegistrationTable({ minLifetime: 96, maxLifetime: 168, offered: [1, 2, 3], acceptAny: true });
    registrations.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP] }, local.alice, 0);
    registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RegistrationType.RELAY_UDP_HIP] }, local.bob, 0);
    return new ControlRelay({ registrations, crypto: nodeCrypto, ownEndpoints, keyFor: (hit, direction) => keys.get(`${hit}|${direction}`) });
  };
  const onLoopback = build([LOCAL_RELAY]);
  assert.equal(onLoopback.handle(fromAlice(BOB, local.bob), local.alice, 100).action, 'forward', 'a client on the same host');
  const self = onLoopback.handle(fromAlice(BOB, LOCAL_RELAY), local.alice, 100);
  assert.equal(self.action === 'drop' && self.reason, 'bad-relay-to');
  const onPublic = build([{ address: RELAY_ADDR, port: 10500 }]);
  const loop = onPublic.handle(fromAlice(BOB, local.bob), local.alice, 100);
  assert.equal(loop.action === 'drop' && loop.reason, 'bad-relay-to', 'a public relay never sends to its own loopback');
});

test('unknown receivers, lapsed registrations and forged relay parameters are dropped and counted', () => {
  const { relay, registrations } = setup();
  const unknown = relay.handle(i1(PEER, '2001:20::77'), PEER_FROM, 1000);
  assert.deepEqual(unknown.action === 'drop' && unknown.reason, 'unknown-receiver');
  const forged = relay.handle(i1(PEER, ALICE, [{ kind: 'RELAY_FROM', port: 1, protocol: 17, address: ipToBytes16('10.0.0.1')! }]), PEER_FROM, 1000);
  assert.deepEqual(forged.action === 'drop' && forged.reason, 'malformed');
  const lapsed = relay.handle(i1(PEER, ALICE), PEER_FROM, 16_000);
  assert.deepEqual(lapsed.action === 'drop' && lapsed.reason, 'expired');
  registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 0, regTypes: [RegistrationType.RELAY_UDP_HIP] }, BOB_NAT, 2000);
  registrations.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RegistrationType.RENDEZVOUS] }, BOB_NAT, 2000);
  const notRelay = relay.handle(i1(PEER, BOB), PEER_FROM, 2000);
  assert.deepEqual(notRelay.action === 'drop' && notRelay.reason, 'unregistered');
  assert.deepEqual(
    { unknown: relay.drops['unknown-receiver'], malformed: relay.drops.malformed, expired: relay.drops.expired, unregistered: relay.drops.unregistered },
    { unknown: 1, malformed: 1, expired: 1, unregistered: 1 },
  );
});

test("one client's flood is limited while another client's packets still pass", () => {
  const { relay } = setup({ capacity: 10, perSecond: 5 });
  const aliceFlood = fromAlice(BOB, BOB_NAT);
  const bobReply = fromClient(BOB, ALICE, ALICE_NAT, keys.get(`${BOB}|from-client`));
  let aliceForwarded = 0;
  for (let n = 0; n < 1000; n++) {
    if (relay.handle(aliceFlood, ALICE_NAT, 1000 + n).action === 'forward') aliceForwarded++;
    if (n % 100 === 0) assert.equal(relay.handle(bobReply, BOB_NAT, 1000 + n).action, 'forward', "Bob's packets pass during Alice's flood");
  }
  assert.ok(aliceForwarded >= 10 && aliceForwarded <= 16, `${aliceForwarded} of Alice's 1000 in one second passed`);
  assert.equal(relay.drops['rate-limited'], 1000 - aliceForwarded);
  assert.equal(relay.rateLimitedByClient.get(ALICE), 1000 - aliceForwarded);
  assert.equal(relay.rateLimitedByClient.get(BOB), undefined);
  assert.equal(relay.handle(aliceFlood, ALICE_NAT, 4000).action, 'forward', "Alice's budget refills");
});

test('an outside source flooding a client spends only its own share: another source still gets through', () => {
  const { relay } = setup(undefined);
  let flooderForwarded = 0;
  for (let n = 0; n < 500; n++) {
    if (relay.handle(i1(PEER, ALICE), PEER_FROM, 1000 + n).action === 'forward') flooderForwarded++;
  }
  assert.ok(flooderForwarded >= 20 && flooderForwarded <= 26, `${flooderForwarded} of the flooder's 500 in half a second passed`);
  const other = relay.handle(i1('2001:20::98', ALICE), { address: '203.0.113.6', port: 10500 }, 1500);
  assert.equal(other.action, 'forward', 'a second source still reaches Alice');
});

test('malformed datagrams are dropped and counted, never thrown', () => {
  const { relay } = setup();
  const good = i1(PEER, ALICE);
  const inputs: Uint8Array[] = [new Uint8Array(0), new Uint8Array(39), good.subarray(0, good.length - 1), Uint8Array.from(good, (v, i) => (i === 1 ? 200 : v))];
  let seed = 7;
  for (let n = 0; n < 500; n++) {
    const b = Uint8Array.from(good);
    for (let k = 0; k < 3; k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[seed % b.length] = seed >>> 24;
    }
    inputs.push(b);
  }
  for (const input of inputs) {
    const out = relay.handle(input, { address: 'not an address', port: -1 }, 1000);
    assert.equal(out.action, 'drop');
  }
  const full = i1(PEER, ALICE, [{ kind: 'UNKNOWN', type: 64100, critical: false, value: new Uint8Array(2048 - 40 - 8 - 4) }]);
  assert.equal(full.length, 2048);
  const tooLong = relay.handle(full, PEER_FROM, 1000);
  assert.deepEqual(tooLong.action === 'drop' && tooLong.reason, 'malformed', 'a packet with no room for RELAY_FROM and RELAY_HMAC');
  inputs.push(full);
  const counted = Object.values(relay.drops).reduce((a, b) => a + b, 0);
  assert.equal(counted, inputs.length);
  assert.ok(relay.drops.malformed >= 4);
});

test('an unsigned RELAY_TO packet passes only when allowed and only from the registered address', () => {
  const strict = setup().relay;
  strict.handle(i1(PEER, ALICE), PEER_FROM, 1000);
  const refused = strict.handle(fromAlice(PEER, PEER_FROM, null), ALICE_NAT, 1100);
  assert.deepEqual(refused.action === 'drop' && refused.reason, 'bad-relay-hmac');

  const lenient = setup(undefined, true).relay;
  lenient.handle(i1(PEER, ALICE), PEER_FROM, 1000);
  const fromElsewhere = lenient.handle(fromAlice(PEER, PEER_FROM, null), { address: '198.51.100.66', port: ALICE_NAT.port }, 1100);
  assert.deepEqual(fromElsewhere.action === 'drop' && fromElsewhere.reason, 'bad-relay-hmac');
  const mapped = { address: `::ffff:${ALICE_NAT.address}`, port: ALICE_NAT.port };
  const out = lenient.handle(fromAlice(PEER, PEER_FROM, null), mapped, 1100);
  assert.equal(out.action, 'forward');
  assert.deepEqual(out.action === 'forward' && out.to, PEER_FROM);
});

test('permits and rate-limit state are forgotten once they lapse', () => {
  const { relay } = setup();
  for (let n = 0; n < 100; n++) {
    assert.equal(relay.handle(i1(PEER, ALICE), { address: `203.0.113.${n + 1}`, port: 10500 }, 1000 + n * 100).action, 'forward');
  }
  assert.deepEqual(relay.tableSizes(), { buckets: 1, sources: 100, permits: 64 }, 'permits per client are capped');
  relay.prune(1000 + 99 * 100 + 120_000);
  assert.deepEqual(relay.tableSizes(), { buckets: 0, sources: 0, permits: 0 });
});
