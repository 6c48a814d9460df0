// Registration (RFC 8003) between a client HipHost and a registrar HipHost backed by the relay's
// RegistrationTable, on the simulated network: REG_INFO in R1, REG_REQUEST in I2, the answer in
// R2 with REG_FROM; renewal and cancellation by UPDATE; a client the relay does not know gets
// REG_FAILED; and what each side holds afterwards. Seeded and printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { NatTraversalMode, PacketType, ParamType, RegistrationType } from '../../src-main/hip/wire/constants.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { RegistrarHooks } from '../../src-main/hip/registration.js';
import { RegistrationTable, RegFailureType, DEFAULT_REGISTRAR_POLICY } from '../../src-main/relay/registrations.js';
import { seedFromEnv } from '../support/sim-network.js';
import { EP_A, EP_B, established, makePair, type TestHost } from '../support/hip-hosts.js';

const SEED = seedFromEnv('SIM_SEED', 0x5eed_0011);
console.log(`sim-registration seed ${SEED} (set SIM_SEED to replay)`);

const WANTED = [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP];

function registrar(table: RegistrationTable): RegistrarHooks {
  return {
    offer: () => table.offer(),
    handleRequest: (hit, request, from, _to, now) => table.handleRequest(hit, request, from, now).params,
  };
}

function world(allowed: boolean, clientModes: readonly number[] = [NatTraversalMode.ICE_HIP_UDP, NatTraversalMode.UDP_ENCAPSULATION]) {
  let clientHit = '';
  const table = new RegistrationTable({ ...DEFAULT_REGISTRAR_POLICY, acceptAny: false, isAllowed: (hit) => allowed && hit === clientHit });
  const { net, a: client, b: relay } = makePair({
    seed: SEED,
    a: { registrationRequestFor: () => ({ kind: 'REG_REQUEST', lifetime: 120, regTypes: WANTED }), natTraversalModes: clientModes },
    b: { registrar: registrar(table) },
  });
  clientHit = hitToText(client.host.hit);
  const seen: number[][] = [];
  net.filter = ({ bytes }) => {
    const d = decodePacket(bytes, { udp: true });
    if (d.ok) seen.push([d.packet.packetType, ...d.packet.spans.map((s) => s.type)]);
    return bytes;
  };
  return { net, client, relay, table, seen };
}

function answers(h: TestHost) {
  return h.eventsOf('registration').map((e) => e.answer);
}

test('REG_INFO in R1, REG_REQUEST in I2, REG_RESPONSE and REG_FROM in R2: the client learns where the relay sees it', () => {
  const { net, client, relay, table } = world(true);
  const r1s: Uint8Array[] = [];
  const inner = net.filter!;
  net.filter = (e) => {
    const d = decodePacket(e.bytes, { udp: true });
    if (d.ok && d.packet.packetType === PacketType.R1) r1s.push(e.bytes);
    return inner(e);
  };
  client.act((h) => h.connect(net.now, relay.host.hit, EP_B, EP_A));
  net.runUntil(() => established(client) && established(relay), 5_000);
  const r1 = decodePacket(r1s[0]!, { udp: true });
  assert.ok(r1.ok && getParam(r1.packet, 'REG_INFO')?.regTypes.includes(RegistrationType.RELAY_UDP_HIP), 'R1 offers relaying');
  const [answer] = answers(client);
  assert.ok(answer, 'the client heard the answer');
  assert.deepEqual(answer.response?.regTypes, WANTED);
  assert.equal(answer.response?.lifetime, 120);
  assert.deepEqual(answer.failed, []);
  assert.deepEqual(answer.reflexive, EP_A, 'REG_FROM names the address and port the relay saw');
  const held = table.lookup(client.host.hit, RegistrationType.RELAY_UDP_HIP, net.now);
  assert.equal(held.status, 'registered');
});

test('renewal and cancellation by UPDATE: the answer rides on the ACK, the table follows', () => {
  const { net, client, relay, table } = world(true);
  client.act((h) => h.connect(net.now, relay.host.hit, EP_B, EP_A));
  net.runUntil(() => established(client) && established(relay), 5_000);
  net.runFor(1_000);
  const before = table.lookup(client.host.hit, RegistrationType.RELAY_UDP_ESP, net.now);
  assert.equal(before.status, 'registered');
  const renewAt = net.now;
  let result: { ok: boolean } = { ok: false };
  client.act((h) => { result = h.register(net.now, relay.host.hit, { kind: 'REG_REQUEST', lifetime: 128, regTypes: WANTED }); });
  assert.ok(result.ok);
  net.runUntil(() => answers(client).length >= 2, net.now + 3_000);
  const renewed = answers(client)[1]!;
  assert.equal(renewed.response?.lifetime, 128);
  assert.deepEqual(renewed.reflexive, EP_A);
  const after = table.lookup(client.host.hit, RegistrationType.RELAY_UDP_ESP, net.now);
  assert.ok(after.status === 'registered' && after.registration.grantedAt >= renewAt, 'renewed from the UPDATE');

  client.act((h) => h.register(net.now, relay.host.hit, { kind: 'REG_REQUEST', lifetime: 0, regTypes: WANTED }));
  net.runUntil(() => answers(client).length >= 3, net.now + 3_000);
  assert.equal(answers(client)[2]!.response?.lifetime, 0, 'cancellation confirmed with lifetime 0');
  assert.equal(table.lookup(client.host.hit, RegistrationType.RELAY_UDP_HIP, net.now).status, 'unregistered');
});

test('a client the relay does not know: REG_FAILED (credentials), nothing registered', () => {
  const { net, client, relay, table } = world(false);
  client.act((h) => h.connect(net.now, relay.host.hit, EP_B, EP_A));
  net.runUntil(() => established(client) && established(relay), 5_000);
  const [answer] = answers(client);
  assert.ok(answer);
  assert.equal(answer.response, undefined);
  assert.deepEqual(answer.failed.map((f) => f.failureType), [RegFailureType.ADDITIONAL_CREDENTIALS]);
  assert.equal(table.live(net.now).length, 0);
});

test('a peer that is no registrar: no REG_INFO in its R1, so no REG_REQUEST in our I2 and no answer', () => {
  const { net, a, b } = makePair({ seed: SEED, a: { registrationRequestFor: () => ({ kind: 'REG_REQUEST', lifetime: 120, regTypes: WANTED }) } });
  const i2s: Uint8Array[] = [];
  net.filter = ({ bytes }) => {
    const d = decodePacket(bytes, { udp: true });
    if (d.ok && d.packet.packetType === PacketType.I2) i2s.push(bytes);
    return bytes;
  };
  a.act((h) => h.connect(net.now, b.host.hit, EP_B, EP_A));
  net.runUntil(() => established(a) && established(b), 5_000);
  const i2 = decodePacket(i2s[0]!, { udp: true });
  assert.ok(i2.ok && getParam(i2.packet, 'REG_REQUEST') === undefined);
  assert.equal(answers(a).length, 0);
});

test('NAT_TRAVERSAL_MODE: offered in R1, the first the initiator runs chosen in I2; none towards a relay, whose R1 offers none', () => {
  const { net, a, b } = makePair({
    seed: SEED,
    a: { natTraversalModes: [NatTraversalMode.UDP_ENCAPSULATION] },
    b: { natTraversalModes: [NatTraversalMode.ICE_HIP_UDP, NatTraversalMode.UDP_ENCAPSULATION] },
  });
  a.act((h) => h.connect(net.now, b.host.hit, EP_B, EP_A));
  net.runUntil(() => established(a) && established(b), 5_000);
  assert.equal(a.host.associations()[0]!.natMode, NatTraversalMode.UDP_ENCAPSULATION);
  assert.equal(b.host.associations()[0]!.natMode, NatTraversalMode.UDP_ENCAPSULATION);

  const { net: net2, client, relay, seen } = world(true);
  client.act((h) => h.connect(net2.now, relay.host.hit, EP_B, EP_A));
  net2.runUntil(() => established(client) && established(relay), 5_000);
  const i2 = seen.find((p) => p[0] === PacketType.I2)!;
  const r1 = seen.find((p) => p[0] === PacketType.R1)!;
  assert.ok(!r1.includes(ParamType.NAT_TRAVERSAL_MODE) && !i2.includes(ParamType.NAT_TRAVERSAL_MODE), 'no mode with the relay');
  assert.equal(client.host.associations()[0]!.natMode, undefined);
});
