// What `ip -json` prints (samples captured from iproute2 6.1) becomes the records the local
// address machine reads; malformed input is a typed error or a skipped entry, never a throw.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddresses, parseLinks, parseRoutes, parseSnapshot } from '../../src-main/platform/interface-snapshot.js';

const LINKS = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], operstate: 'UNKNOWN', link_type: 'loopback' },
  { ifindex: 2, link: 'wifi0', ifname: 'x0', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN'], operstate: 'LOWERLAYERDOWN', link_type: 'ether', linkinfo: { info_kind: 'veth' } },
  { ifindex: 3, link: 'x0', ifname: 'wifi0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], operstate: 'UP', link_type: 'ether', linkinfo: { info_kind: 'veth' } },
  { ifindex: 4, ifname: 'tun9', flags: ['POINTOPOINT', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP'], operstate: 'UNKNOWN', link_type: 'none', linkinfo: { info_kind: 'tun', info_data: { type: 'tun' } } },
  { ifindex: 5, ifname: 'eth1', flags: ['BROADCAST', 'MULTICAST'], operstate: 'DOWN', link_type: 'ether' },
  { ifindex: 6, ifname: 'wlan0', flags: ['BROADCAST', 'UP', 'LOWER_UP'], operstate: 'DORMANT', link_type: 'ether' },
]);

const ADDRESSES = JSON.stringify([
  {
    ifindex: 3,
    ifname: 'wifi0',
    addr_info: [
      { family: 'inet', local: '10.9.0.2', prefixlen: 24, scope: 'global', label: 'wifi0', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
      { family: 'inet6', local: 'fd00::2', prefixlen: 64, scope: 'global', tentative: true, valid_life_time: 4294967295, preferred_life_time: 4294967295 },
      { family: 'inet6', local: 'fd00::3', prefixlen: 64, scope: 'global', dadfailed: true, tentative: true },
      { family: 'inet6', local: 'fd00::4', prefixlen: 64, scope: 'global', optimistic: true, tentative: true },
      { family: 'inet6', local: '2001:db8::5', prefixlen: 64, scope: 'global', dynamic: true, valid_life_time: 3000, preferred_life_time: 0 },
      { family: 'inet6', local: 'fe80::5899:36ff:fe02:42b0', prefixlen: 64, scope: 'link' },
      { family: 'inet', local: '10.9.0.3', prefixlen: 33 },
      { family: 'packet', local: 'xx', prefixlen: 1 },
    ],
  },
  { ifindex: 'seven', addr_info: [] },
]);

test('links: admin state, carrier from flags and operstate, link kind and type', () => {
  const parsed = parseLinks(LINKS);
  assert.ok(parsed.ok, 'links parse');
  const byName = Object.fromEntries(parsed.value.map((link) => [link.ifname, link]));
  assert.deepEqual(byName['wifi0'], { ifindex: 3, ifname: 'wifi0', adminUp: true, carrier: true, linkKind: 'veth', linkType: 'ether' });
  assert.equal(byName['x0']?.carrier, false, 'NO-CARRIER / LOWERLAYERDOWN is no carrier');
  assert.equal(byName['x0']?.adminUp, true);
  assert.equal(byName['tun9']?.carrier, true, 'UNKNOWN with LOWER_UP (tun, ppp) carries traffic');
  assert.equal(byName['tun9']?.linkKind, 'tun');
  assert.equal(byName['eth1']?.adminUp, false);
  assert.equal(byName['wlan0']?.carrier, false, 'DORMANT (802.1X not done) carries nothing');
  assert.equal(byName['lo']?.linkType, 'loopback');
});

test('addresses: flags become DAD and deprecation states; bad entries are skipped', () => {
  const parsed = parseAddresses(ADDRESSES);
  assert.ok(parsed.ok, 'addresses parse');
  assert.deepEqual(
    parsed.value.map((a) => [a.address, a.prefixLength, a.kernelScope, a.tentative, a.optimistic, a.dadFailed, a.deprecated]),
    [
      ['10.9.0.2', 24, 'global', false, false, false, false],
      ['fd00::2', 64, 'global', true, false, false, false],
      ['fd00::3', 64, 'global', true, false, true, false],
      ['fd00::4', 64, 'global', true, true, false, false],
      ['2001:db8::5', 64, 'global', false, false, false, true],
      ['fe80::5899:36ff:fe02:42b0', 64, 'link', false, false, false, false],
    ],
  );
  assert.ok(parsed.value.every((a) => a.ifindex === 3), 'the link index is carried to each address');
});

test('routes: device names become indexes, multipath routes count for each device, table and type kept', () => {
  const names = new Map([['wifi0', 3], ['cell0', 7]]);
  const text = JSON.stringify([
    { dst: 'default', gateway: '10.9.0.1', dev: 'wifi0', flags: [] },
    { type: 'local', dst: '10.9.0.2', dev: 'wifi0', table: 'local', protocol: 'kernel', scope: 'host' },
    { dst: 'default', table: 100, nexthops: [{ gateway: '10.9.0.1', dev: 'wifi0' }, { gateway: '10.8.0.1', dev: 'cell0' }] },
    { type: 'unreachable', dst: '192.0.2.0/24', flags: [] },
    { dst: '198.51.100.0/24', dev: 'gone0' },
  ]);
  const parsed = parseRoutes(text, (name) => names.get(name), 6);
  assert.ok(parsed.ok, 'routes parse');
  assert.deepEqual(
    parsed.value.map((r) => [r.ifindex, r.family, r.destination, r.table, r.type]),
    [
      [3, 6, 'default', 'main', 'unicast'],
      [3, 6, '10.9.0.2', 'local', 'local'],
      [3, 6, 'default', '100', 'unicast'],
      [7, 6, 'default', '100', 'unicast'],
    ],
  );
});

test('a whole dump combines into one snapshot', () => {
  const parsed = parseSnapshot({
    links: LINKS,
    addresses: ADDRESSES,
    routes: JSON.stringify([
      { dst: 'default', gateway: '10.9.0.1', dev: 'wifi0' },
      { dst: 'fd00::/64', dev: 'wifi0', metric: 256, pref: 'medium' },
      // Device-only default routes (ppp, wwan) of both families: only "pref" tells them apart.
      { dst: 'default', dev: 'wifi0', type: 'unicast' },
      { dst: 'default', dev: 'wifi0', metric: 1024, pref: 'medium' },
      { dst: 'default', gateway: 'fe80::1', dev: 'wifi0' },
    ]),
  });
  assert.ok(parsed.ok, 'snapshot parses');
  assert.equal(parsed.value.links.length, 6);
  assert.deepEqual(parsed.value.routes.map((r) => [r.family, r.destination, r.ifindex]), [
    [4, 'default', 3],
    [6, 'fd00::/64', 3],
    [4, 'default', 3],
    [6, 'default', 3],
    [6, 'default', 3],
  ]);
  assert.equal(parseSnapshot({ links: LINKS, addresses: '', routes: '' }).ok, true, 'empty outputs are empty lists');
});

test('malformed documents are typed errors', () => {
  const notJson = parseLinks('[{"ifindex":1,');
  assert.equal(notJson.ok, false);
  assert.match(notJson.ok ? '' : notJson.error, /link dump is not JSON/);
  const notArray = parseAddresses('{"ifindex":1}');
  assert.equal(notArray.ok, false);
  assert.match(notArray.ok ? '' : notArray.error, /not a JSON array/);
  assert.equal(parseSnapshot({ links: LINKS, addresses: ADDRESSES, routes: 'oops' }).ok, false, 'a bad route dump fails the snapshot');
});

test('no input makes a parser throw', () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pieces = ['[', ']', '{', '}', '"ifindex"', ':', '3', ',', '"addr_info"', '"dev"', '"dst"', 'null', '"nexthops"', '"flags"', '"local"', '-1', '1e400', 'true'];
  const names = (name: string) => (name.length < 3 ? 1 : undefined);
  for (let i = 0; i < 3_000; i++) {
    const text = Array.from({ length: 1 + Math.floor(random() * 24) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
    assert.doesNotThrow(() => {
      parseLinks(text);
      parseAddresses(text);
      parseRoutes(text, names);
    }, `threw on ${text}`);
  }
  // Structurally valid JSON of the wrong shapes.
  for (const text of ['[1,"a",null,[]]', '[{"ifindex":2,"addr_info":[null,1,{"family":"inet"}]}]', '[{"dst":"default","nexthops":[null,{"dev":5}]}]']) {
    assert.doesNotThrow(() => {
      parseLinks(text);
      parseAddresses(text);
      parseRoutes(text, names);
    }, `threw on ${text}`);
  }
});
