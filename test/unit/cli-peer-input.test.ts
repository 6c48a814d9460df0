// What users type about peers (HITs, locators, names) and the peers.json that keeps them:
// good input is normalised, bad input is refused with a message that says what to type.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalHit, findPeer, parseLocator, parsePeerName, parsePeerRef, withPeer } from '../../src-main/daemon/peer-input.js';
import { loadPeers, savePeers } from '../../src-main/daemon/peer-store.js';

const HIT = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';

test('locators: IPv4 and IPv6, with and without a port (10500 by default)', () => {
  assert.deepEqual(parseLocator('192.0.2.1'), { ok: true, value: { address: '192.0.2.1', port: 10500 } });
  assert.deepEqual(parseLocator('192.0.2.1:4500'), { ok: true, value: { address: '192.0.2.1', port: 4500 } });
  assert.deepEqual(parseLocator('2001:db8::1'), { ok: true, value: { address: '2001:db8::1', port: 10500 } });
  assert.deepEqual(parseLocator('[2001:db8::1]:4500'), { ok: true, value: { address: '2001:db8::1', port: 4500 } });
  for (const bad of ['1.2.3', 'example.com', '192.0.2.1:0', '192.0.2.1:70000', '192.0.2.1:', '[2001:db8::1]:x', '', 'fe80::1%eth0']) {
    const r = parseLocator(bad);
    assert.ok(!r.ok && r.error.startsWith(`bad locator ${JSON.stringify(bad)}`), `${bad} must be refused`);
  }
});

test('HITs: any IPv6 spelling is accepted and made canonical; non-ORCHID addresses are refused', () => {
  assert.deepEqual(canonicalHit('2001:0022:9184:D55F:7016:8DEB:7EB1:BF70'), { ok: true, value: HIT });
  const notV6 = canonicalHit('bob');
  assert.ok(!notV6.ok && notV6.error.startsWith('malformed HIT "bob"'), 'not IPv6 at all');
  const notOrchid = canonicalHit('2001:db8::1');
  assert.ok(!notOrchid.ok && notOrchid.error === '2001:db8::1 is not a HIT: HIPv2 HITs start with 2001:2 (ORCHIDv2, 2001:20::/28)', 'documentation prefix');
});

test('a PEER is a name or a HIT: text with ":" is held to the HIT rules, anything else to the name rules', () => {
  assert.deepEqual(parsePeerRef('bob'), { ok: true, value: { kind: 'name', name: 'bob' } });
  assert.deepEqual(parsePeerRef('2001:0022:9184:D55F:7016:8DEB:7EB1:BF70'), { ok: true, value: { kind: 'hit', hit: HIT } });
  // The same refusal `peer add --hit` gives, not "unknown peer".
  assert.deepEqual(parsePeerRef('2001:zz::1'), canonicalHit('2001:zz::1'));
  assert.deepEqual(parsePeerRef('2001:db8::1'), canonicalHit('2001:db8::1'));
  assert.deepEqual(parsePeerRef('b b'), parsePeerName('b b'));
  assert.deepEqual(parsePeerName('b b'), { ok: false, error: 'bad peer name "b b": use up to 63 letters, digits, ".", "_" or "-", starting with a letter or digit' });
  assert.equal(parsePeerName('x'.repeat(64)).ok, false, 'at most 63 characters');
});

test('the peer list: names replace, a HIT is never listed twice, lookup by name or HIT', () => {
  const bob = { name: 'bob', hit: HIT, locators: [] };
  const one = withPeer([], bob);
  assert.ok(one.ok && !one.value.replaced, 'first add');
  const moved = withPeer(one.value.peers, { ...bob, locators: [{ address: '192.0.2.1', port: 10500 }] });
  assert.ok(moved.ok && moved.value.replaced && moved.value.peers.length === 1, 'same name replaces');
  const clash = withPeer(moved.value.peers, { name: 'robert', hit: HIT, locators: [] });
  assert.ok(!clash.ok && /already peer bob/.test(clash.error), 'same HIT under another name');
  assert.equal(findPeer(moved.value.peers, 'bob')?.name, 'bob');
  assert.equal(findPeer(moved.value.peers, '2001:22:9184:D55F:7016:8deb:7eb1:BF70')?.name, 'bob');
  assert.equal(findPeer(moved.value.peers, 'carol'), undefined);
});

test('peers.json is written whole with mode 0600, and a hand edit with a wrong field is refused by name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-peers-'));
  try {
    const path = join(dir, 'peers.json');
    assert.deepEqual(await loadPeers(path), [], 'no file: no peers');
    const peers = [{ name: 'bob', hit: HIT, locators: [{ address: '192.0.2.1', port: 10500 }] }];
    await savePeers(path, peers);
    assert.deepEqual(await loadPeers(path), peers);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as { version: unknown }).version, 1);

    await writeFile(path, JSON.stringify({ version: 1, peers: [{ name: 'bob', hit: HIT, locator: [] }] }));
    await assert.rejects(loadPeers(path), { message: `${path}: peers[0].locator: unknown field (expected name, hit, locators, relay)` });
    await writeFile(path, JSON.stringify({ version: 1, peers: [{ name: 'bob', hit: '2001:db8::1', locators: [] }] }));
    await assert.rejects(loadPeers(path), /peer bob: 2001:db8::1 is not a HIT/);
    await writeFile(path, '{"version":1,');
    await assert.rejects(loadPeers(path), /is not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
