// What users type about relays: `--relay HIT@ADDR[:PORT]` (serve and peer add), the `relays`
// setting as the control API takes it, the UI's relay form, invites that carry a relay, and how
// status words a relay and a relayed peer. Good input is made canonical; bad input is refused
// with what to type instead.
//
//   node --import tsx --test test/unit/relay-input.test.ts

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, settingsPatch, type DaemonStatus } from '../../src-shared/control-api.js';
import { checkPeerForm, checkRelayForm, peerFormOf } from '../../src-shared/forms.js';
import { parseRelayText, relayText } from '../../src-shared/relay-text.js';
import { formatRelays, formatStatus } from '../../src-shared/status-format.js';
import { attemptText, pathDirectionsText, peerRow } from '../../src-shared/view-models.js';
import { relaysForRun } from '../../src-main/daemon/relays.js';
import { normalizePeer } from '../../src-main/daemon/peer-input.js';
import { InviteBook } from '../../src-main/daemon/invite-book.js';
import { decodeInvite } from '../../src-main/daemon/invite-text.js';

const RELAY = '2001:2a:1111:2222:3333:4444:5555:6666';
const OTHER = '2001:2b::7';
const PEER = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';

test('--relay takes IPv4 and IPv6, with and without a port (10500 by default), and makes the HIT canonical', () => {
  assert.deepEqual(parseRelayText(`${RELAY}@203.0.113.7`), { ok: true, value: { hit: RELAY, address: '203.0.113.7', port: 10500 } });
  assert.deepEqual(parseRelayText(`${RELAY}@203.0.113.7:4500`), { ok: true, value: { hit: RELAY, address: '203.0.113.7', port: 4500 } });
  assert.deepEqual(parseRelayText(`${RELAY}@2001:db8::7`), { ok: true, value: { hit: RELAY, address: '2001:db8::7', port: 10500 } });
  assert.deepEqual(parseRelayText(`${RELAY}@[2001:db8::7]:4500`), { ok: true, value: { hit: RELAY, address: '2001:db8::7', port: 4500 } });
  assert.deepEqual(parseRelayText(' 2001:002A:1111:2222:3333:4444:5555:6666@[2001:db8::7] '), { ok: true, value: { hit: RELAY, address: '2001:db8::7', port: 10500 } });
  for (const r of [{ hit: RELAY, address: '203.0.113.7', port: 10500 }, { hit: RELAY, address: '2001:db8::7', port: 4500 }]) {
    assert.deepEqual(parseRelayText(relayText(r)), { ok: true, value: r }, 'relayText reads back');
  }
});

test('a bad --relay names what is wrong and shows the form to type', () => {
  const cases: Array<[string, RegExp]> = [
    ['203.0.113.7', /no "@" between the relay's HIT and its address/],
    [`${RELAY}`, /no "@"/],
    ['2001:db8::1@203.0.113.7', /"2001:db8::1" is not a HIT \(2001:2x:…; the relay's `hipvpn identity --hit` prints it\)/],
    ['relay@203.0.113.7', /"relay" is not a HIT/],
    [`${RELAY}@relay.example.com`, /its address "relay\.example\.com": not an IP address;/],
    [`${RELAY}@203.0.113.7:0`, /port "0" is not 1\.\.65535/],
    [`${RELAY}@203.0.113.7:70000`, /port "70000" is not 1\.\.65535/],
    [`${RELAY}@[2001:db8::7]:x`, /port "x" is not 1\.\.65535/],
    [`${RELAY}@`, /not an IP address/],
  ];
  for (const [text, why] of cases) {
    const r = parseRelayText(text);
    assert.ok(!r.ok, `${text} must be refused`);
    assert.match(r.error, why, text);
    assert.match(r.error, /expected HIT@ADDR\[:PORT\] \(IPv6 as HIT@\[ADDR\]:PORT\), port 10500 when left out$/, text);
  }
});

test('the relays setting is checked like every other: HIT, address, port, duplicates, names, count', () => {
  assert.ok(settingsPatch.check({ relays: [{ name: 'home', hit: RELAY, address: '203.0.113.7', port: 10500 }, { hit: OTHER, address: '2001:db8::7', port: 4500 }] }).ok);
  assert.ok(settingsPatch.check({ relays: [] }).ok, 'no relays at all');
  const refusals: Array<[unknown, RegExp]> = [
    [[{ hit: '2001:db8::1', address: '203.0.113.7', port: 10500 }], /relays\[0\]: "2001:db8::1" is not a HIT \(2001:2x:…\); the relay's `hipvpn identity --hit` prints it/],
    [[{ hit: RELAY, address: 'relay.example.com', port: 10500 }], /relays\[0\]: "relay\.example\.com" is not an IP address; give the relay's public IPv4 or IPv6 address/],
    [[{ hit: RELAY, address: '203.0.113.7', port: 0 }], /relays\[0\]\.port: expected an integer 1\.\.65535, got 0/],
    [[{ hit: RELAY, address: '203.0.113.7' }], /relays\[0\]\.port: missing/],
    [[{ hit: RELAY, address: '203.0.113.7', port: 10500, colour: 'red' }], /relays\[0\]\.colour: unknown field/],
    [[{ hit: RELAY, address: '203.0.113.7', port: 10500, name: 'a b' }], /relays\[0\]\.name: expected a peer name/],
    [[{ hit: RELAY, address: '203.0.113.7', port: 10500 }, { hit: '2001:2A:1111:2222:3333:4444:5555:6666', address: '198.51.100.1', port: 10500 }],
      /relays: relay HIT "2001:2a:1111:2222:3333:4444:5555:6666" is listed twice; give each relay once/],
    [[{ name: 'r', hit: RELAY, address: '203.0.113.7', port: 10500 }, { name: 'r', hit: OTHER, address: '198.51.100.1', port: 10500 }], /relay name "r" is listed twice; give each relay its own name/],
    [Array.from({ length: 9 }, (_, i) => ({ hit: `2001:2a::${i + 1}`, address: '203.0.113.7', port: 10500 + i })), /relays/],
  ];
  for (const [relays, why] of refusals) {
    const r = settingsPatch.check({ relays }, 'params');
    assert.ok(!r.ok, JSON.stringify(relays));
    assert.match(r.error, why);
  }
  assert.deepEqual(DEFAULT_SETTINGS.relays, [], 'no relay unless the user names one');
});

test('the run uses the setting\'s relays, then --relay, then the peers\' own, each HIT once', () => {
  const setting = [{ name: 'home', hit: RELAY, address: '203.0.113.7', port: 10500 }];
  const cli = [{ hit: '2001:2A:1111:2222:3333:4444:5555:6666', address: '198.51.100.9', port: 10500 }, { hit: OTHER, address: '198.51.100.1', port: 10501 }];
  const peers = [{ name: 'bob', hit: PEER, locators: [], relay: { hit: '2001:2c::1', address: '192.0.2.1', port: 10500 } }];
  assert.deepEqual(relaysForRun(setting, cli, peers), [
    { name: 'home', hit: RELAY, address: '203.0.113.7', port: 10500 },
    { hit: OTHER, address: '198.51.100.1', port: 10501 },
    { hit: '2001:2c::1', address: '192.0.2.1', port: 10500 },
  ]);
});

test('a peer may name its relay; the relay cannot be the peer itself', () => {
  const bob = normalizePeer({ name: 'bob', hit: PEER, locators: [], relay: { hit: '2001:2A::0001', address: '192.0.2.1', port: 10500 } });
  assert.deepEqual(bob, { ok: true, value: { name: 'bob', hit: PEER, locators: [], relay: { hit: '2001:2a::1', address: '192.0.2.1', port: 10500 } } });
  const self = normalizePeer({ name: 'bob', hit: PEER, locators: [], relay: { hit: PEER, address: '192.0.2.1', port: 10500 } });
  assert.ok(!self.ok && /its relay is the peer itself/.test(self.error));
});

test('the UI adds a peer by HIT alone, or with its relay, and adds relays to the setting', () => {
  const byHit = checkPeerForm({ name: 'bob', hit: PEER, locators: '', relay: '' });
  assert.deepEqual(byHit, { ok: true, value: { name: 'bob', hit: PEER, locators: [] } });
  const withRelay = checkPeerForm({ name: 'bob', hit: PEER, locators: '', relay: `${RELAY}@[2001:db8::7]:4500` });
  assert.ok(withRelay.ok);
  assert.deepEqual(withRelay.value.relay, { hit: RELAY, address: '2001:db8::7', port: 4500 });
  assert.deepEqual(checkPeerForm(peerFormOf(withRelay.value)), withRelay, 'editing keeps the relay');
  const badRelay = checkPeerForm({ name: 'bob', hit: PEER, locators: '', relay: '203.0.113.7' });
  assert.ok(!badRelay.ok && /no "@"/.test(badRelay.errors.relay ?? ''));

  const existing = [{ name: 'home', hit: RELAY, address: '203.0.113.7', port: 10500 }];
  assert.deepEqual(checkRelayForm({ relay: `${OTHER}@198.51.100.1`, name: 'office' }, existing), { ok: true, value: { name: 'office', hit: OTHER, address: '198.51.100.1', port: 10500 } });
  const again = checkRelayForm({ relay: `2001:2A:1111:2222:3333:4444:5555:6666@198.51.100.1`, name: 'home' }, existing);
  assert.ok(!again.ok);
  assert.match(again.errors.relay ?? '', /listed already/);
  assert.match(again.errors.name ?? '', /Another relay is called home/);
});

test('status says "relayed through NAME" and lists each relay with its registration and reflexive address', () => {
  const s: DaemonStatus = {
    version: 1, identity: { hit: PEER, lsi: '1.0.0.1' }, listening: [{ address: '10.0.0.2', port: 10500 }], tun: null, acceptAny: false, uptimeMs: 1,
    peers: [{
      name: 'carol', hit: '2001:2d::9', lsi: '1.0.0.9', state: 'ESTABLISHED', configuredLocators: [], via: 'relay', relay: 'home',
      counters: { espPacketsIn: 0, espPacketsOut: 0, espBytesIn: 0, espBytesOut: 0 },
      local: { address: '10.0.0.2', port: 10500 }, remote: { address: '203.0.113.7', port: 10500 },
    }],
    counters: { hipIn: 0, hipOut: 0, espIn: 0, espOut: 0, dropped: {}, droppedTotal: 0 },
    relays: [
      { name: 'home', hit: RELAY, address: '203.0.113.7', port: 10500, registered: true, reflexive: { address: '198.51.100.4', port: 61000 }, relayed: { address: '203.0.113.7', port: 10500 }, lifetimeS: 512, expiresInS: 300, failed: [] },
      { name: OTHER, hit: OTHER, address: '2001:db8::7', port: 10500, registered: false, reflexive: null, relayed: null, lifetimeS: null, expiresInS: null, failed: [{ failureType: 0, regTypes: [2, 3] }] },
    ],
  };
  assert.match(formatStatus(s), /carol .*ESTABLISHED\s+relayed through home/);
  const relays = formatRelays(s);
  assert.match(relays, /^Relays\n/);
  assert.match(relays, /home \(2001:2a:1111:2222:3333:4444:5555:6666\)\s+203\.0\.113\.7:10500\s+registered \(expires in 5m00s unless renewed\); sees us at 198\.51\.100\.4:61000/);
  assert.match(relays, /2001:2b::7\s+\[2001:db8::7\]:10500\s+not registered \(refused types 2,3\); has not told us where it sees us/);
  assert.equal(formatRelays({ ...s, relays: [] }), '', 'no section without relays');
});

test('an invite carries our relay by HIT and address, and accepting it makes that the peer\'s relay', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-relay-invite-'));
  try {
    const book = await InviteBook.open(dir);
    const relay = { hit: RELAY, address: '203.0.113.7', port: 10500 };
    const { text } = await book.create({ hit: PEER, name: 'alice', inviteeName: 'bob', locators: [], relay });
    const decoded = decodeInvite(text);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value.relay, relay);
    assert.deepEqual(await book.accept(text), { name: 'alice', hit: PEER, locators: [], relay });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the UI says how a relayed peer is reached, and which relay did not answer', () => {
  const carol: DaemonStatus['peers'][number] = {
    name: 'carol', hit: '2001:2d::9', lsi: '1.0.0.9', state: 'I1-SENT', configuredLocators: [], via: 'relay', relay: RELAY,
    counters: { espPacketsIn: 0, espPacketsOut: 0, espBytesIn: 0, espBytesOut: 0 },
    attempt: { remote: { address: '203.0.113.7', port: 10500 }, sinceMs: 12_000, answered: false },
  };
  assert.equal(peerRow(carol).pair, 'relayed through 2001:2a:…:6666');
  assert.equal(pathDirectionsText({ ...carol, state: 'ESTABLISHED', relay: 'home' }), 'relayed through home');
  assert.match(attemptText(carol) ?? '', /^No answer from carol \(through relay 2001:2a:…:6666\) for 12 s: check that the peer is registered with that relay, and that hipvpn runs there/);
  assert.equal(peerRow({ ...carol, via: 'direct', relay: undefined }).pair, 'waits for the peer');
});
