// The control API schema the desktop app added (mobility, flows, settings, the tunnel switch):
// every method refuses malformed arguments by name, today's daemon status (no mobility fields)
// still validates, and a status with pairs/uplinks/flows from a mobility engine validates too.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONTROL_METHODS, DEFAULT_SETTINGS, checkParams, checkResult, controlEvent, decodeRequestValue,
  type ControlMethod, type DaemonStatus, type HandoverRecord,
} from '../../src-shared/control-api.js';

const HIT = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';
const A = { address: '10.1.0.1', port: 10500 };
const B = { address: '10.1.0.2', port: 10500 };

/** One valid params object per method, so each malformed variant differs in one way only. */
const VALID: { [M in ControlMethod]: unknown } = {
  status: {},
  'peer.add': { name: 'bob', hit: HIT, locators: [B] },
  'peer.remove': { name: 'bob' },
  'peer.list': {},
  'invite.create': { name: 'bob', expiresSeconds: 3600 },
  'invite.accept': { text: 'hipvpn-invite:AQ' },
  'invite.status': {},
  ping: { peer: 'bob' },
  subscribe: {},
  'tunnel.set': { up: true },
  'pair.use': { peer: 'bob', local: A, remote: B },
  failover: { peer: 'bob' },
  'handover.list': { afterSeq: 3 },
  'flow.set': { fid: 7, peer: 'bob', selector: { protocol: 'tcp', remotePorts: { from: 443, to: 443 } }, interface: 'wlan0' },
  'flow.remove': { fid: 7 },
  'interfaces.recheck': {},
  'settings.get': {},
  'settings.set': { keepaliveIntervalS: 20 },
  'relay.status': {},
};

test('every method accepts its valid params and refuses non-objects and unknown fields', () => {
  for (const method of Object.keys(CONTROL_METHODS) as ControlMethod[]) {
    assert.ok(checkParams(method, VALID[method]).ok, `${method}: the valid sample passes`);
    for (const bad of [42, 'x', null, [], true]) {
      const r = checkParams(method, bad);
      assert.ok(!r.ok && r.error.startsWith('params: expected an object'), `${method} refuses ${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
    }
    const extra = checkParams(method, { ...(VALID[method] as object), bogus: 1 });
    assert.ok(!extra.ok && /params\.bogus: unknown field/.test(extra.error), `${method} refuses an unknown field`);
  }
});

test('required fields are required, and wrong types are named with their path', () => {
  const cases: Array<[ControlMethod, unknown, RegExp]> = [
    ['tunnel.set', {}, /^params\.up: missing/],
    ['tunnel.set', { up: 'yes' }, /^params\.up: expected true or false/],
    ['pair.use', { peer: 'bob', local: A }, /^params\.remote: missing/],
    ['pair.use', { peer: 'bob', local: { address: '10.1.0.1', port: 70000 }, remote: B }, /^params\.local\.port: expected an integer 0\.\.65535/],
    ['failover', { peer: '' }, /^params\.peer: expected a peer name or HIT/],
    ['handover.list', { afterSeq: -1 }, /^params\.afterSeq: expected an integer/],
    ['flow.set', { ...(VALID['flow.set'] as object), fid: 0 }, /^params\.fid: expected an integer 1\.\.65535/],
    ['flow.set', { ...(VALID['flow.set'] as object), selector: { protocol: 'sctp' } }, /^params\.selector\.protocol: expected one of/],
    ['flow.set', { ...(VALID['flow.set'] as object), selector: { protocol: 'tcp', remotePorts: { from: 9000, to: 80 } } }, /^params\.selector\.remotePorts: port range ends \(80\) before it starts \(9000\)/],
    ['flow.set', { ...(VALID['flow.set'] as object), interface: 'not an ifname!' }, /^params\.interface: expected an interface name/],
    ['flow.remove', {}, /^params\.fid: missing/],
    ['settings.set', {}, /^params: names no setting to change/],
    ['settings.set', { keepaliveIntervalS: 0 }, /^params\.keepaliveIntervalS: expected an integer 1\.\.300, got 0/],
    ['settings.set', { keepaliveIntervalS: 2.5 }, /^params\.keepaliveIntervalS: expected an integer/],
    ['settings.set', { failureDetection: 'paranoid' }, /^params\.failureDetection: expected one of "relaxed", "normal", "aggressive"/],
    ['settings.set', { interfacePreference: ['wifi', 'wifi'] }, /^params\.interfacePreference: interface kind "wifi" is listed twice/],
    ['settings.set', { interfaceOrder: ['eth0', 'wlan0', 'eth0'] }, /^params\.interfaceOrder: interface "eth0" is listed twice/],
    ['settings.set', { notifications: 1 }, /^params\.notifications: expected true or false/],
    ['settings.set', { meteredInterfaces: ['wwan0', 'wwan0'] }, /^params\.meteredInterfaces: interface "wwan0" is listed twice/],
    ['settings.set', { meteredInterfaces: ['not an ifname!'] }, /^params\.meteredInterfaces\[0\]: expected an interface name/],
    ['flow.set', { ...(VALID['flow.set'] as object), policy: 'always' }, /^params\.policy: expected one of "prefer", "only"/],
  ];
  for (const [method, params, want] of cases) {
    const r = checkParams(method, params);
    assert.ok(!r.ok, `${method} ${JSON.stringify(params)} must be refused`);
    assert.match(r.error, want, `${method} ${JSON.stringify(params)}`);
  }
});

test('requests arriving as values (IPC, WebSocket) decode like lines do', () => {
  const ok = decodeRequestValue({ id: 4, method: 'tunnel.set', params: { up: false } });
  assert.ok(ok.ok && ok.request.method === 'tunnel.set' && ok.request.params.up === false, 'a good request');
  const unknown = decodeRequestValue({ id: 5, method: 'reboot' });
  assert.ok(!unknown.ok && unknown.error.code === 'unknown-method' && unknown.id === 5, 'unknown method, id echoed');
  const bad = decodeRequestValue({ id: 6, method: 'settings.set', params: { keepaliveIntervalS: 9999 } });
  assert.ok(!bad.ok && bad.error.code === 'invalid-params', 'bad params');
  assert.ok(!decodeRequestValue('{"id":1}').ok, 'a string is not a request value');
});

const TODAY: DaemonStatus = {
  version: 1, identity: { hit: HIT, lsi: '1.0.0.1' }, listening: [A], tun: 'hip0', acceptAny: false, uptimeMs: 10,
  peers: [{ name: 'bob', hit: '2001:20::1', lsi: '1.0.0.2', state: 'ESTABLISHED', configuredLocators: [B], counters: { espPacketsIn: 1, espPacketsOut: 1 }, local: A, remote: B }],
  counters: { hipIn: 1, hipOut: 1, espIn: 1, espOut: 1, dropped: {}, droppedTotal: 0 },
};

test('a status without mobility fields validates; one with pairs, uplinks and flows does too', () => {
  assert.ok(checkResult('status', TODAY).ok, 'today\'s daemon status');
  const mobile = structuredClone(TODAY);
  mobile.peers[0]!.pairs = [
    { local: A, remote: B, interface: 'wlan0', kind: 'wifi', remoteState: 'ACTIVE', state: 'operational', primary: true, spiIn: 0x1234, spiOut: 0xffffffff, rttMs: 3.2, lastHeardMs: 100, bytesIn: 10, bytesOut: 20 },
    { local: { address: '10.2.0.1', port: 10500 }, remote: B, interface: 'wwan0', kind: 'cellular', remoteState: 'UNVERIFIED', state: 'testing', primary: false },
  ];
  mobile.interfaces = [{ name: 'wlan0', kind: 'wifi', up: true, addresses: [{ address: '10.1.0.1', prefixLength: 24, state: 'ACTIVE' }], preference: 0 }];
  mobile.flows = [{ binding: VALID['flow.set'] as never, state: 'bound', enforced: false, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0, local: A, remote: B }];
  mobile.tunnelUp = true;
  const r = checkResult('status', mobile);
  assert.ok(r.ok, `mobility status: ${r.ok ? '' : r.error}`);
  const badPair = structuredClone(mobile);
  (badPair.peers[0]!.pairs![0] as { state: string }).state = 'great';
  const refused = checkResult('status', badPair);
  assert.ok(!refused.ok && /result\.peers\[0\]\.pairs\[0\]\.state: expected one of "operational", "testing", "failed"/.test(refused.error), 'a pair state outside the schema');
});

test('handover, settings and daemon events validate; the default settings are valid settings', () => {
  const h: HandoverRecord = {
    seq: 1, at: Date.now(), peer: 'bob', hit: HIT, cause: 'interface-down', gapMs: 140,
    from: { local: A, remote: B, interface: 'wlan0', kind: 'wifi' }, to: { local: { address: '10.2.0.1', port: 10500 }, remote: B, interface: 'wwan0', kind: 'cellular' },
  };
  assert.ok(controlEvent.check({ type: 'handover', handover: h }).ok, 'handover event');
  assert.ok(!controlEvent.check({ type: 'handover', handover: { ...h, cause: 'magic' } }).ok, 'unknown cause refused');
  assert.ok(controlEvent.check({ type: 'settings', settings: DEFAULT_SETTINGS }).ok, 'settings event with the defaults');
  assert.ok(controlEvent.check({ type: 'daemon', running: false }).ok, 'daemon event');
  assert.ok(checkResult('settings.get', DEFAULT_SETTINGS).ok, 'defaults are a valid settings.get result');
});

test('a binding\'s policy and a metered uplink validate, in params, settings and status', () => {
  assert.ok(checkParams('flow.set', { ...(VALID['flow.set'] as object), policy: 'only' }).ok);
  assert.ok(checkParams('settings.set', { meteredInterfaces: ['wwan0'] }).ok);
  assert.deepEqual(DEFAULT_SETTINGS.meteredInterfaces, []);
  const status = structuredClone(TODAY);
  status.interfaces = [{ name: 'wwan0', kind: 'cellular', up: true, addresses: [], preference: 1, metered: true }];
  status.flows = [{ binding: { ...(VALID['flow.set'] as never as object), interface: 'wwan0', policy: 'only' } as never, state: 'pending', reason: 'held for wwan0 (only on wwan0): wwan0 is down', enforced: false, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 }];
  const r = checkResult('status', status);
  assert.ok(r.ok, r.ok ? '' : r.error);
});
