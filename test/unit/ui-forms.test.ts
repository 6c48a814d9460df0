// What a person types into the UI's forms: each mistake is caught before anything is sent, with
// a message beside the field it is about; good input becomes exactly what the schema accepts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkFlowForm, checkPeerForm, checkSettingsForm, hitProblem, parseLocatorText, peerFormOf, settingsFormOf } from '../../src-shared/forms.js';
import { isOrchidV2, parseIPv4, parseIPv6 } from '../../src-shared/ip-text.js';
import { DEFAULT_SETTINGS, flowBinding, peerConfig } from '../../src-shared/control-api.js';

const HIT = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';

test('IP text parses as inet_pton does, without node:net', () => {
  assert.deepEqual(parseIPv4('10.1.0.2'), [10, 1, 0, 2]);
  for (const bad of ['10.1.0', '10.1.0.256', '010.1.0.1', '1.2.3.4.5', '', 'a.b.c.d']) assert.equal(parseIPv4(bad), null, `refuses ${bad}`);
  assert.deepEqual([...parseIPv6('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...parseIPv6('::ffff:1.2.3.4')!].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.ok(parseIPv6('::'), '::');
  assert.ok(parseIPv6('1:2:3:4:5:6:7:8'), 'eight groups');
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', '2001:db8::zz', '12345::', '1:2:3:4:5:6:7', 'fe80::1%eth0', ':1', '1.2.3.4']) assert.equal(parseIPv6(bad), null, `refuses ${bad}`);
  assert.ok(isOrchidV2(parseIPv6(HIT)!), 'a HIPv2 HIT');
  assert.ok(!isOrchidV2(parseIPv6('2001:10::1')!), 'ORCHIDv1 is not a HIPv2 HIT');
});

test('HIT and locator messages say what is wrong and what would be right', () => {
  assert.equal(hitProblem(HIT), null);
  assert.match(hitProblem('')!, /Enter the peer's HIT/);
  assert.match(hitProblem('2001:db8::zz')!, /is not a HIT: expected IPv6 text/);
  assert.match(hitProblem('2001:db8::1')!, /not a HIPv2 HIT: HITs start with 2001:2/);
  assert.deepEqual(parseLocatorText('10.1.0.2'), { ok: true, value: { address: '10.1.0.2', port: 10500 } });
  assert.deepEqual(parseLocatorText('10.1.0.2:4000'), { ok: true, value: { address: '10.1.0.2', port: 4000 } });
  assert.deepEqual(parseLocatorText('[2001:db8::1]:4000'), { ok: true, value: { address: '2001:db8::1', port: 4000 } });
  assert.deepEqual(parseLocatorText('2001:db8::1'), { ok: true, value: { address: '2001:db8::1', port: 10500 } });
  const badPort = parseLocatorText('10.1.0.2:0');
  assert.ok(!badPort.ok && /port "0" is not 1\.\.65535/.test(badPort.error), 'port 0');
  const host = parseLocatorText('example.com');
  assert.ok(!host.ok && /not an IP address/.test(host.error), 'names are not locators');
});

test('the peer form reports every field at once and produces a schema-valid peer', () => {
  const bad = checkPeerForm({ name: 'a b', hit: 'nope', locators: '10.1.0.2, 300.1.1.1', relay: '' });
  assert.ok(!bad.ok, 'refused');
  assert.deepEqual(Object.keys(bad.errors).sort(), ['hit', 'locators', 'name']);
  assert.match(bad.errors.locators!, /"300\.1\.1\.1": not an IP address/);
  const good = checkPeerForm({ name: ' bob ', hit: ` ${HIT} `, locators: '10.1.0.2\n[2001:db8::2]:4000', relay: '' });
  assert.ok(good.ok, 'accepted');
  assert.deepEqual(good.value, { name: 'bob', hit: HIT, locators: [{ address: '10.1.0.2', port: 10500 }, { address: '2001:db8::2', port: 4000 }] });
  assert.ok(peerConfig.check(good.value).ok, 'what the form makes, the schema accepts');
  const back = checkPeerForm(peerFormOf(good.value));
  assert.ok(back.ok && JSON.stringify(back.value) === JSON.stringify(good.value), 'editing a peer round-trips');
});

test('the flow form checks FID, peer, protocol and ports', () => {
  const bad = checkFlowForm({ fid: '0', peer: '', protocol: 'sctp', remotePorts: '90-80', interface: '' });
  assert.ok(!bad.ok, 'refused');
  assert.deepEqual(Object.keys(bad.errors).sort(), ['fid', 'peer', 'protocol', 'remotePorts']);
  const good = checkFlowForm({ fid: '12', peer: 'bob', protocol: 'udp', remotePorts: '5000-5010', interface: 'wwan0' });
  assert.ok(good.ok, 'accepted');
  assert.deepEqual(good.value, { fid: 12, peer: 'bob', selector: { protocol: 'udp', remotePorts: { from: 5000, to: 5010 } }, interface: 'wwan0' });
  assert.ok(flowBinding.check(good.value).ok, 'schema-valid');
  const any = checkFlowForm({ fid: '1', peer: 'bob', protocol: 'any', remotePorts: '', interface: '' });
  assert.ok(any.ok && any.value.interface === null && any.value.selector.remotePorts === undefined, 'no ports, follow the primary');
});

test('the flow form takes our side\'s ports and a typed interface name (the CLI fills both)', () => {
  const bad = checkFlowForm({ fid: '3', peer: 'bob', protocol: 'udp', remotePorts: '', localPorts: '0-10', interface: 'wlan/0' });
  assert.ok(!bad.ok, 'refused');
  assert.deepEqual(Object.keys(bad.errors).sort(), ['interface', 'localPorts']);
  assert.match(bad.errors.interface!, /^Use an interface name \(up to 15 letters.*\), or leave it empty for the primary pair\.$/);
  const good = checkFlowForm({ fid: '3', peer: 'bob', protocol: 'udp', remotePorts: '5060', localPorts: '5004 - 5005', interface: 'wlan0' });
  assert.ok(good.ok, 'accepted');
  assert.deepEqual(good.value.selector, { protocol: 'udp', localPorts: { from: 5004, to: 5005 }, remotePorts: { from: 5060, to: 5060 } });
  assert.ok(flowBinding.check(good.value).ok, 'schema-valid');
});

test('the settings form refuses a bad keepalive and keeps the rest as typed', () => {
  const form = settingsFormOf(DEFAULT_SETTINGS);
  for (const bad of ['0', '301', '1.5', '', 'ten']) {
    const r = checkSettingsForm({ ...form, keepaliveIntervalS: bad });
    assert.ok(!r.ok && /1\.\.300/.test(r.errors.keepaliveIntervalS ?? ''), `keepalive ${JSON.stringify(bad)} refused`);
  }
  const mode = checkSettingsForm({ ...form, multihomingMode: 'bonding' });
  assert.ok(!mode.ok && /multihomingMode: expected one of/.test(mode.errors.multihomingMode ?? ''), 'unknown mode refused on its field');
  const ok = checkSettingsForm({ ...form, keepaliveIntervalS: '30', notifications: false });
  assert.ok(ok.ok && ok.value.keepaliveIntervalS === 30 && ok.value.notifications === false, 'good values pass as numbers and booleans');
});

test('the flow form\'s policy: prefer or only, "only" needs an interface; empty adds none', () => {
  const base = { fid: '4', peer: 'bob', protocol: 'udp', remotePorts: '', interface: 'wlan0' };
  const only = checkFlowForm({ ...base, policy: 'only' });
  assert.deepEqual(only.ok && only.value, { fid: 4, peer: 'bob', selector: { protocol: 'udp' }, interface: 'wlan0', policy: 'only' });
  const none = checkFlowForm({ ...base, policy: '' });
  assert.deepEqual(none.ok && Object.keys(none.value).includes('policy'), false);
  const word = checkFlowForm({ ...base, policy: 'always' });
  assert.match(word.ok ? '' : word.errors.policy ?? '', /^Choose a policy: prefer .* or only /);
  const noIface = checkFlowForm({ ...base, interface: '', policy: 'only' });
  assert.equal(noIface.ok ? '' : noIface.errors.policy, 'Policy "only" keeps the flow on its interface: choose one.');
});
