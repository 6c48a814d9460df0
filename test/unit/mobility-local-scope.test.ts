// Which of our addresses may be offered to a peer (seed 003 §3.1), and how an interface's kind is
// decided from names and driver facts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { locatorScope } from '../../src-main/mobility/local-address-scope.js';
import { classifyInterface, completePreference, matchesPattern, type InterfaceClassPolicy } from '../../src-main/mobility/local-interface-kind.js';

const NO_POLICY: InterfaceClassPolicy = { exclude: [], ownTunnels: ['hip0'], kinds: {} };

test('global, unique-local, RFC 1918 and shared (CGN) addresses are global-scope locators', () => {
  for (const address of ['198.51.100.7', '10.1.2.3', '172.16.0.1', '192.168.1.20', '100.64.0.1', '2001:db8::1', 'fd12:3456::1']) {
    assert.deepEqual(locatorScope(address, address.includes(':') ? 64 : 24, 'global'), { legal: true, scope: 'global' }, address);
  }
});

test('link-local addresses are link-scope locators', () => {
  assert.deepEqual(locatorScope('fe80::1', 64, 'link'), { legal: true, scope: 'link' });
  assert.deepEqual(locatorScope('169.254.10.20', 16, 'link'), { legal: true, scope: 'link' });
  assert.deepEqual(locatorScope('10.7.0.1', 24, 'link'), { legal: true, scope: 'link' }, 'configured with scope link');
});

test('loopback, multicast, broadcast, unspecified, site-local, mapped and host-scope addresses are never locators', () => {
  const cases: Array<[string, number, string | undefined, RegExp]> = [
    ['127.0.0.1', 8, 'host', /host-scope/],
    ['127.0.0.2', 8, 'global', /loopback/],
    ['::1', 128, undefined, /loopback/],
    ['224.0.0.251', 32, undefined, /multicast/],
    ['ff02::1', 128, undefined, /multicast/],
    ['255.255.255.255', 32, undefined, /reserved or broadcast/],
    ['10.1.2.255', 24, 'global', /subnet broadcast/],
    ['0.0.0.0', 0, undefined, /this-network/],
    ['::', 128, undefined, /unspecified/],
    ['fec0::1', 64, 'site', /site-local/],
    ['::ffff:10.1.2.3', 128, undefined, /IPv4-mapped/],
    ['not-an-ip', 24, undefined, /not an IP/],
  ];
  for (const [address, prefix, scope, reason] of cases) {
    const verdict = locatorScope(address, prefix, scope);
    assert.equal(verdict.legal, false, `${address} accepted`);
    assert.match(verdict.legal ? '' : verdict.reason, reason, address);
  }
  // /31 and /32 have no broadcast address (RFC 3021): every address is a host.
  assert.equal(locatorScope('10.1.2.255', 31, 'global').legal, true, '/31');
  assert.equal(locatorScope('10.1.2.255', 32, 'global').legal, true, '/32');
});

test('tunnels and our own TUN are excluded by name, by link kind and by policy', () => {
  const excluded = (facts: Parameters<typeof classifyInterface>[0], policy = NO_POLICY) => !classifyInterface(facts, policy).usable;
  assert.ok(excluded({ ifname: 'hip0', linkKind: 'tun' }), 'our own TUN');
  assert.ok(excluded({ ifname: 'office', linkKind: 'tun' }, { ...NO_POLICY, ownTunnels: ['office'] }), 'our own TUN under another name');
  assert.ok(excluded({ ifname: 'corp', linkKind: 'wireguard' }), 'a WireGuard device with any name');
  assert.ok(excluded({ ifname: 'corp', linkKind: 'gre' }), 'a GRE tunnel with any name');
  for (const ifname of ['tun0', 'tap3', 'wg0', 'tailscale0', 'docker0', 'br-1234abcd', 'virbr0', 'lo']) {
    assert.ok(excluded({ ifname }), ifname);
  }
  assert.ok(!excluded({ ifname: 'veth1a2b', linkKind: 'veth' }), 'veth is usable by default');
  assert.ok(excluded({ ifname: 'veth1a2b', linkKind: 'veth' }, { ...NO_POLICY, exclude: ['veth*'] }), 'veth excluded when configured');
  const verdict = classifyInterface({ ifname: 'wg0' }, NO_POLICY);
  assert.match(verdict.usable ? '' : verdict.reason, /tunnel or container interface \(wg\*\)/);
});

test('policy patterns are exact names or a prefix with one trailing star', () => {
  assert.equal(matchesPattern('veth12', 'veth*'), true);
  assert.equal(matchesPattern('veth12', 'veth'), false);
  assert.equal(matchesPattern('eth1', 'eth1'), true);
  assert.equal(matchesPattern('eth10', 'eth1'), false);
});

test('a partial preference is completed in the default order', () => {
  assert.deepEqual(completePreference(['cellular']), ['cellular', 'ethernet', 'wifi', 'virtual']);
  assert.deepEqual(completePreference(['wifi', 'wifi', 'ethernet']), ['wifi', 'ethernet', 'cellular', 'virtual']);
});
