// One relay host as its clients see it, on a virtual clock: real HipHost clients run their base
// exchange with the RelayServer and register (REG_RESPONSE, REG_FROM, RELAYED_ADDRESS in R2); a
// client not on the relay's list gets REG_FAILED and nothing reaches it; a relayed control
// packet carries a RELAY_HMAC the client verifies with its own association key; ESP reaches a
// client only on the SPI it permitted by UPDATE; registrations and permissions survive a restart.
// Every datagram carries RFC 9028's framing (the zero marker before HIP).

import test from 'node:test';
import assert from 'node:assert/strict';
import { RelayServer } from '../../src-main/relay/relay-server.js';
import { DEFAULT_REGISTRAR_POLICY, RegFailureType, type RegistrarPolicy } from '../../src-main/relay/registrations.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { decodePacket, encodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { coveredBytes } from '../../src-main/hip/wire/covered.js';
import { PacketType, ParamType, RegistrationType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp, hitToText, ipToBytes16 } from '../../src-main/hip/wire/address.js';
import type { HostConfig, Transmit } from '../../src-main/hip/host.js';
import type { Param } from '../../src-main/hip/wire/params.js';
import { SimNetwork, type SimEndpoint, type SimNode } from '../support/sim-network.js';
import { TestHost, identity, seededCrypto } from '../support/hip-hosts.js';

const RELAY_EP = { address: '192.0.2.1', port: 10500 };
const ALICE_EP = { address: '198.51.100.7', port: 40123 };
const BOB_EP = { address: '203.0.113.8', port: 50000 };
const STRANGER_EP = { address: '203.0.113.66', port: 10500 };
const WANTED = [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP];
const SEED = 0x5eed_0b11;

const frame = (b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(b.length + 4);
  out.set(b, 4);
  return out;
};
const isHip = (b: Uint8Array): boolean => b.length >= 4 && (b[0]! | b[1]! | b[2]! | b[3]!) === 0;

/** A client HipHost on the framed wire: HIP behind the zero marker, ESP kept as it arrives. */
class FramedClient implements SimNode {
  readonly inner: TestHost;
  readonly hipIn: { bytes: Uint8Array; from: SimEndpoint }[] = [];
  readonly espIn: { bytes: Uint8Array; from: SimEndpoint }[] = [];
  readonly outbox: Transmit[] = [];
  constructor(config: Partial<HostConfig> & Pick<HostConfig, 'identity'>, now: number, readonly endpoint: SimEndpoint) {
    this.inner = new TestHost({ crypto: seededCrypto(SEED ^ endpoint.port), ...config }, now, endpoint);
  }
  handlePacket(now: number, bytes: Uint8Array, from: SimEndpoint, to: SimEndpoint): void {
    if (!isHip(bytes)) { this.espIn.push({ bytes, from }); return; }
    this.hipIn.push({ bytes: bytes.subarray(4), from });
    this.inner.handlePacket(now, bytes.subarray(4), from, to);
  }
  handleTimeout(now: number): void { this.inner.handleTimeout(now); }
  nextTimeout(): number | undefined { return this.inner.nextTimeout(); }
  pollTransmit(): Transmit | undefined {
    const t = this.inner.pollTransmit();
    return t ? { ...t, bytes: frame(t.bytes) } : this.outbox.shift();
  }
  get hit(): Uint8Array { return this.inner.host.hit; }
  answers() { return this.inner.eventsOf('registration').map((e) => e.answer); }
}

class RelayNode implements SimNode {
  constructor(public relay: RelayServer) {}
  handlePacket(now: number, bytes: Uint8Array, from: SimEndpoint, to: SimEndpoint): void { this.relay.handleDatagram(now, bytes, from, to); }
  handleTimeout(now: number): void { this.relay.handleTimeout(now); }
  nextTimeout(): number | undefined { return this.relay.nextTimeout(); }
  pollTransmit(): Transmit | undefined { return this.relay.pollTransmit(); }
}

function policy(allowed: () => string[]): RegistrarPolicy {
  return { ...DEFAULT_REGISTRAR_POLICY, acceptAny: false, isAllowed: (hit) => allowed().includes(hit) };
}

function world(opts: { allowBob?: boolean } = {}) {
  const net = new SimNetwork(SEED);
  const request = () => ({ kind: 'REG_REQUEST' as const, lifetime: 120, regTypes: WANTED });
  const alice = new FramedClient({ identity: identity('ecdsa-p256', 0), registrationRequestFor: request }, net.now, ALICE_EP);
  const bob = new FramedClient({ identity: identity('ecdsa-p256', 1), registrationRequestFor: request }, net.now, BOB_EP);
  const allowed = () => [hitToText(alice.hit), ...(opts.allowBob === false ? [] : [hitToText(bob.hit)])];
  const relay = new RelayServer({ identity: identity('ecdsa-p256', 2), crypto: seededCrypto(SEED), policy: policy(allowed), locals: [RELAY_EP] }, net.now);
  const node = new RelayNode(relay);
  net.addNode('relay', RELAY_EP, node);
  net.addNode('alice', ALICE_EP, alice);
  net.addNode('bob', BOB_EP, bob);
  return { net, alice, bob, relay, node, allowed, policy: policy(allowed) };
}

function register(net: SimNetwork, client: FramedClient, relay: RelayServer): void {
  client.inner.act((h) => h.connect(net.now, relay.host.hit, RELAY_EP, client.endpoint));
  assert.ok(net.runUntil(() => client.answers().length > 0, net.now + 5_000), 'the relay answered the registration');
}

function esp(spi: number, length = 64): Uint8Array {
  const b = new Uint8Array(length).fill(0x5a);
  new DataView(b.buffer).setUint32(0, spi);
  new DataView(b.buffer).setUint32(4, 1);
  return b;
}

test('a listed client registers in its base exchange: REG_RESPONSE, REG_FROM and RELAYED_ADDRESS in R2; status lists it', () => {
  const { net, alice, relay } = world();
  register(net, alice, relay);
  const [answer] = alice.answers();
  assert.deepEqual(answer!.response?.regTypes, WANTED);
  assert.deepEqual(answer!.failed, []);
  assert.deepEqual(answer!.reflexive, ALICE_EP, 'REG_FROM: where the relay sees Alice');
  assert.deepEqual(answer!.relayed, RELAY_EP, 'RELAYED_ADDRESS: the relay address she registered to');
  assert.equal(relay.takeChanged(), true, 'the daemon is told to persist');
  assert.equal(relay.takeChanged(), false);
  const s = relay.status(net.now);
  assert.equal(s.clients.length, 1);
  const c = s.clients[0]!;
  assert.equal(c.hit, hitToText(alice.hit));
  assert.deepEqual(c.registrations.map((r) => r.name), ['RELAY_UDP_HIP', 'RELAY_UDP_ESP']);
  assert.deepEqual(c.reflexive, ALICE_EP);
  assert.deepEqual(c.relayedAddress, RELAY_EP);
  assert.ok(c.association === 'R2-SENT' || c.association === 'ESTABLISHED', c.association);
  assert.ok(c.registrations.every((r) => r.expiresInS > 100 && r.expiresInS <= r.lifetimeS));
});

test('a client not on the list: REG_FAILED, and nothing is forwarded to it, HIP or ESP', () => {
  const { net, bob, alice, relay } = world({ allowBob: false });
  register(net, bob, relay);
  const [answer] = bob.answers();
  assert.equal(answer!.response, undefined);
  assert.deepEqual(answer!.failed.map((f) => f.failureType), [RegFailureType.ADDITIONAL_CREDENTIALS]);
  assert.equal(relay.status(net.now).clients.length, 0);
  assert.equal(relay.takeChanged(), false, 'a refusal changes nothing to persist');
  // Alice tries to reach Bob through the relay: an I1 to his HIT, and ESP.
  const before = bob.hipIn.length;
  alice.inner.act((h) => h.connect(net.now, bob.hit, RELAY_EP, ALICE_EP));
  alice.outbox.push({ bytes: esp(0x4242), to: RELAY_EP });
  net.runFor(500);
  assert.equal(bob.hipIn.length, before, 'no HIP packet reached Bob');
  assert.equal(bob.espIn.length, 0);
  const counters = relay.status(net.now).counters;
  assert.ok(counters.control['unknown-receiver']! >= 1);
  assert.equal(counters.data['esp-unknown-spi'], 1);
  assert.equal(counters.forwarded.hipToClient, 0);
});

test('a packet for a client is relayed with RELAY_FROM and a RELAY_HMAC the client verifies with its association key', () => {
  const { net, alice, bob, relay } = world();
  register(net, alice, relay);
  const before = alice.hipIn.length;
  // Bob, not registered yet, sends an I1 to Alice's HIT at the relay.
  bob.inner.act((h) => h.connect(net.now, alice.hit, RELAY_EP, BOB_EP));
  net.runUntil(() => alice.hipIn.length > before, net.now + 1_000);
  const relayed = alice.hipIn.slice(before).find((p) => p.from.address === RELAY_EP.address);
  assert.ok(relayed, 'the I1 came to Alice from the relay');
  const d = decodePacket(relayed.bytes, { udp: true });
  assert.ok(d.ok);
  assert.equal(d.packet.packetType, PacketType.I1);
  const from = getParam(d.packet, 'RELAY_FROM')!;
  assert.deepEqual({ address: bytes16ToIp(from.address), port: from.port }, BOB_EP);
  const keys = alice.inner.host.integrityKeys(relay.host.hit)!;
  const at = d.packet.spans.findIndex((s) => s.type === ParamType.RELAY_HMAC);
  assert.equal(at, d.packet.spans.length - 1);
  assert.deepEqual(nodeCrypto.hmac(keys.hash, keys.inbound, coveredBytes(d.packet, at)), getParam(d.packet, 'RELAY_HMAC')!.hmac);

  // Alice answers through the relay with RELAY_TO and her RELAY_HMAC: it reaches Bob without it.
  const base = { packetType: PacketType.R1, controls: 0, senderHit: alice.hit, receiverHit: bob.hit };
  const params = [
    { kind: 'DH_GROUP_LIST', groups: [9] },
    { kind: 'RELAY_TO', port: BOB_EP.port, protocol: 17, address: ipToBytes16(BOB_EP.address)! },
  ] as const satisfies Param[];
  const unsigned = decodePacket(encodePacket({ ...base, params: [...params] }), { udp: true });
  assert.ok(unsigned.ok);
  const hmac = nodeCrypto.hmac(keys.hash, keys.outbound, coveredBytes(unsigned.packet, unsigned.packet.spans.length));
  const signed = encodePacket({ ...base, params: [...params, { kind: 'RELAY_HMAC', hmac }] });
  const bobBefore = bob.hipIn.length;
  alice.outbox.push({ bytes: frame(signed), to: RELAY_EP });
  net.runUntil(() => bob.hipIn.length > bobBefore, net.now + 1_000);
  const atBob = bob.hipIn.slice(bobBefore).map((p) => decodePacket(p.bytes, { udp: true })).find((p) => p.ok && p.packet.packetType === PacketType.R1 && getParam(p.packet, 'RELAY_TO'));
  assert.ok(atBob?.ok && getParam(atBob.packet, 'RELAY_HMAC') === undefined, 'the relay forwarded it without its RELAY_HMAC');
  assert.equal(relay.status(net.now).counters.forwarded.hipFromClient, 1);
});

test('ESP reaches a client only on the SPI it permitted by UPDATE, from the permitted peer, from the relay address', () => {
  const { net, alice, relay } = world();
  register(net, alice, relay);
  relay.takeChanged();
  alice.inner.act((h) => {
    const r = h.register(net.now, relay.host.hit, undefined, [
      { kind: 'PEER_PERMISSION', port: BOB_EP.port, protocol: 50, address: ipToBytes16(BOB_EP.address)!, peerHit: identity('ecdsa-p256', 1).hit, connectedSpi: 0x1001 },
    ]);
    assert.ok(r.ok, JSON.stringify(r));
  });
  net.runFor(300);
  assert.equal(relay.status(net.now).clients[0]!.permissions, 1);
  assert.equal(relay.takeChanged(), true, 'permissions are persisted too');

  const bobNode = { ...BOB_EP, port: 61000 }; // Bob's symmetric NAT: another port of his address
  net.inject(bobNode, RELAY_EP, esp(0x1001));
  net.inject(STRANGER_EP, RELAY_EP, esp(0x1001));
  net.inject(bobNode, RELAY_EP, esp(0x2002));
  net.runFor(100);
  assert.equal(alice.espIn.length, 1);
  assert.deepEqual(alice.espIn[0]!.from, RELAY_EP);
  assert.deepEqual(alice.espIn[0]!.bytes, esp(0x1001));
  const c = relay.status(net.now).counters;
  assert.equal(c.data['esp-no-permission'], 1);
  assert.equal(c.data['esp-unknown-spi'], 1);
  assert.equal(c.forwarded.espPackets, 1);
});

test('registrations and permissions survive a restart; lapsed ones do not', () => {
  const { net, alice, relay, node, policy: p } = world();
  register(net, alice, relay);
  alice.inner.act((h) => void h.register(net.now, relay.host.hit, undefined, [
    { kind: 'PEER_PERMISSION', port: BOB_EP.port, protocol: 50, address: ipToBytes16(BOB_EP.address)!, peerHit: identity('ecdsa-p256', 1).hit, connectedSpi: 0x1001 },
  ]));
  net.runFor(300);
  const saved = JSON.parse(JSON.stringify(relay.registrationsJSON())) as unknown;

  const restarted = new RelayServer({ identity: identity('ecdsa-p256', 2), crypto: nodeCrypto, policy: p, locals: [RELAY_EP], saved }, net.now);
  node.relay = restarted;
  const s = restarted.status(net.now);
  assert.equal(s.clients.length, 1);
  assert.deepEqual(s.clients[0]!.reflexive, ALICE_EP);
  assert.deepEqual(s.clients[0]!.relayedAddress, RELAY_EP);
  assert.equal(s.clients[0]!.permissions, 1);
  net.inject(BOB_EP, RELAY_EP, esp(0x1001));
  net.runFor(50);
  assert.equal(alice.espIn.length, 1, 'relayed ESP flows again with no step by the client');

  const late = new RelayServer({ identity: identity('ecdsa-p256', 2), crypto: nodeCrypto, policy: p, locals: [RELAY_EP], saved }, net.now + 200_000);
  assert.equal(late.status(net.now + 200_000).clients.length, 0, 'a lapsed registration is not restored');
  const loaded = late.pollEvent();
  assert.equal(loaded?.type, 'loaded');
});

test('bad input never throws: runts, garbage after the marker, truncated HIP', () => {
  const { net, relay } = world();
  for (const bytes of [new Uint8Array(0), new Uint8Array([0, 0]), new Uint8Array([0, 0, 0, 0, 1, 2, 3]), frame(new Uint8Array(60).fill(0xff)), new Uint8Array(3).fill(9)]) {
    relay.handleDatagram(net.now, bytes, STRANGER_EP, RELAY_EP);
  }
  const c = relay.status(net.now).counters;
  assert.equal(c.runts, 3);
  assert.ok(Object.values(c.host).reduce((a, b) => a + b, 0) + (c.control.malformed ?? 0) >= 2);
});

test('the relay keeps associations only with its clients: a refused host\'s is closed within the sweep, a client\'s stays', () => {
  const { net, alice, bob, relay } = world({ allowBob: false });
  register(net, alice, relay);
  register(net, bob, relay);
  net.runFor(11_000);
  const states = new Map(relay.host.associations().map((a) => [a.peerHitText, a.state]));
  assert.ok(states.get(hitToText(alice.hit)) === 'R2-SENT' || states.get(hitToText(alice.hit)) === 'ESTABLISHED', `Alice: ${states.get(hitToText(alice.hit))}`);
  assert.ok(!['R2-SENT', 'ESTABLISHED'].includes(states.get(hitToText(bob.hit)) ?? 'gone'), `Bob: ${states.get(hitToText(bob.hit))}`);
  assert.ok(bob.inner.eventsOf('closed').length > 0, 'Bob heard the CLOSE');
  assert.equal(alice.inner.eventsOf('closed').length, 0);
});
