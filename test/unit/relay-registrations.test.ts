// The registrar as a client sees it: what REG_INFO offers, what a REG_REQUEST gets back
// (granted lifetime, REG_FROM, REG_FAILED with its failure type), expiry and cancellation, and
// registrations that come back after a restart through the plain-object form.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  RegFailureType, RegistrationTable, lifetimeSeconds, type RegistrarPolicy,
} from '../../src-main/relay/registrations.js';
import { RegistrationType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp } from '../../src-main/hip/wire/address.js';
import type { Param } from '../../src-main/hip/wire/params.js';

const { RELAY_UDP_HIP, RELAY_UDP_ESP, CANDIDATE_DISCOVERY } = RegistrationType;
const ALICE = '2001:20::a11c:e';
const BOB = '2001:20::b0b';
const FROM = { address: '198.51.100.7', port: 40123 };
const policy: RegistrarPolicy = { minLifetime: 96, maxLifetime: 168, offered: [RELAY_UDP_HIP, RELAY_UDP_ESP], acceptAny: true };

const find = <K extends Param['kind']>(params: Param[], kind: K) => params.filter((p) => p.kind === kind) as Extract<Param, { kind: K }>[];

test('REG_INFO offers the lifetimes and types of the policy', () => {
  const info = new RegistrationTable(policy).offer();
  assert.deepEqual(info, { kind: 'REG_INFO', minLifetime: 96, maxLifetime: 168, regTypes: [RELAY_UDP_HIP, RELAY_UDP_ESP] });
});

test('a requested lifetime is clamped to [min, max] and REG_FROM tells the client its reflexive address', () => {
  const table = new RegistrationTable(policy);
  const long = table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 255, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  assert.deepEqual(find(long.params, 'REG_RESPONSE'), [{ kind: 'REG_RESPONSE', lifetime: 168, regTypes: [RELAY_UDP_HIP] }]);
  const [regFrom] = find(long.params, 'REG_FROM');
  assert.ok(regFrom);
  assert.equal(bytes16ToIp(regFrom.address), FROM.address);
  assert.equal(regFrom.port, FROM.port);
  const short = table.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 1, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  assert.equal(find(short.params, 'REG_RESPONSE')[0]?.lifetime, 96);
  assert.deepEqual(long.params.map((p) => p.kind), ['REG_RESPONSE', 'REG_FROM'], 'ascending type order');
});

test('a registration expires after its granted lifetime on the clock passed in', () => {
  const table = new RegistrationTable(policy);
  table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RELAY_UDP_HIP] }, FROM, 1000);
  assert.equal(lifetimeSeconds(96), 16);
  assert.equal(table.lookup(ALICE, RELAY_UDP_HIP, 1000 + 15_999).status, 'registered');
  assert.equal(table.lookup(ALICE, RELAY_UDP_HIP, 1000 + 16_000).status, 'expired');
  assert.equal(table.prune(1000 + 16_000), 1);
  assert.equal(table.lookup(ALICE, RELAY_UDP_HIP, 1000 + 16_000).status, 'unregistered');
});

test('a lifetime of zero cancels and is confirmed with a zero lifetime', () => {
  const table = new RegistrationTable(policy);
  table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP, RELAY_UDP_ESP] }, FROM, 0);
  const out = table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 0, regTypes: [RELAY_UDP_HIP] }, FROM, 10);
  assert.deepEqual(out.params, [{ kind: 'REG_RESPONSE', lifetime: 0, regTypes: [RELAY_UDP_HIP] }]);
  assert.equal(table.lookup(ALICE, RELAY_UDP_HIP, 10).status, 'unregistered');
  assert.equal(table.lookup(ALICE, RELAY_UDP_ESP, 10).status, 'registered', 'only the named type is cancelled');
});

test('without accept-any an unknown client gets REG_FAILED "additional credentials" and nothing is registered', () => {
  const table = new RegistrationTable({ ...policy, acceptAny: false, isAllowed: (hit) => hit === BOB });
  const out = table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  assert.deepEqual(out.params, [{ kind: 'REG_FAILED', failureType: RegFailureType.ADDITIONAL_CREDENTIALS, regTypes: [RELAY_UDP_HIP] }]);
  assert.equal(table.lookup(ALICE, RELAY_UDP_HIP, 0).status, 'unregistered');
  const bob = table.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  assert.deepEqual(bob.granted, [RELAY_UDP_HIP], 'a listed client registers');
});

test('a type not offered gets REG_FAILED "type unavailable" beside the granted ones', () => {
  const table = new RegistrationTable(policy);
  const out = table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP, CANDIDATE_DISCOVERY] }, FROM, 0);
  assert.deepEqual(find(out.params, 'REG_FAILED'), [{ kind: 'REG_FAILED', failureType: RegFailureType.TYPE_UNAVAILABLE, regTypes: [CANDIDATE_DISCOVERY] }]);
  assert.deepEqual(out.granted, [RELAY_UDP_HIP]);
});

test('a full table refuses a new client with "insufficient resources" and keeps renewing the old ones', () => {
  const table = new RegistrationTable({ ...policy, maxClients: 1 });
  table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  const bob = table.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  assert.equal(find(bob.params, 'REG_FAILED')[0]?.failureType, RegFailureType.INSUFFICIENT_RESOURCES);
  const renew = table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 120, regTypes: [RELAY_UDP_HIP] }, FROM, 5);
  assert.deepEqual(renew.granted, [RELAY_UDP_HIP]);
});

test('registrations survive a restart through JSON; bad entries are dropped with a reason', () => {
  const table = new RegistrationTable(policy);
  table.handleRequest(ALICE, { kind: 'REG_REQUEST', lifetime: 168, regTypes: [RELAY_UDP_HIP] }, FROM, 0);
  table.handleRequest(BOB, { kind: 'REG_REQUEST', lifetime: 96, regTypes: [RELAY_UDP_HIP] }, { address: '2001:db8::9', port: 7 }, 0);
  const saved = JSON.parse(JSON.stringify(table.toJSON())) as { registrations: unknown[] };
  saved.registrations.push(
    { hit: 'not-a-hit', regType: RELAY_UDP_HIP, lifetime: 120, grantedAt: 0, expiresAt: 1e12, reflexive: FROM },
    { hit: '2001:20::c', regType: 99, lifetime: 120, grantedAt: 0, expiresAt: 1e12, reflexive: FROM },
    { hit: '2001:20::d', regType: RELAY_UDP_HIP, lifetime: 120, grantedAt: 0, expiresAt: 1e12, reflexive: { address: 'x', port: 1 } },
    null,
  );
  const { table: back, dropped } = RegistrationTable.fromJSON(saved, policy, 10_000);
  const alice = back.lookup(ALICE, RELAY_UDP_HIP, 10_000);
  assert.equal(alice.status, 'registered');
  assert.deepEqual(alice.status === 'registered' && alice.registration.reflexive, FROM);
  assert.equal(back.lookup(BOB, RELAY_UDP_HIP, 17_000).status, 'expired', "Bob's 16 s ran out across the restart");
  assert.deepEqual(dropped.map((d) => d.index), [2, 3, 4, 5]);
  assert.ok(dropped.every((d) => d.reason.length > 0));
  const late = RegistrationTable.fromJSON(saved, policy, 20_000);
  assert.ok(late.dropped.some((d) => d.index === 1 && d.reason === 'expired'), 'a lapsed entry is dropped on load');
  assert.equal(RegistrationTable.fromJSON('garbage', policy, 0).dropped[0]?.index, -1);
  const strict = RegistrationTable.fromJSON(saved, { ...policy, acceptAny: false, isAllowed: (h) => h === BOB }, 10_000);
  assert.equal(strict.table.lookup(ALICE, RELAY_UDP_HIP, 10_000).status, 'unregistered', 'a client no longer allowed is not restored');
});
