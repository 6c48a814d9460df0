// Our own locators as the engine sees them: every state transition of seed 003 §5.1's address
// machine (AVAILABLE, OPERATIONAL), the hold that absorbs an address coming back, flap damping,
// preference ranking and policy changes — all on a virtual clock.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  LocalAddresses,
  type AddressRecord,
  type InterfaceSnapshot,
  type LinkRecord,
  type LocalAddressPolicy,
  type MonitoredLocator,
  type LocatorCauseType,
  type LocatorChange,
  type RouteRecord,
} from '../../src-main/mobility/local-addresses.js';

// ---- a small model of one host's interfaces, turned into snapshots ----

interface Iface {
  link: LinkRecord;
  addresses: AddressRecord[];
  routes: RouteRecord[];
}

class Host {
  private readonly ifaces = new Map<string, Iface>();
  private nextIndex = 2;

  add(ifname: string, address: string | null, options: { linkKind?: string; linkType?: string; devtype?: string; defaultRoute?: boolean } = {}): this {
    const ifindex = this.nextIndex++;
    const link: LinkRecord = {
      ifindex,
      ifname,
      adminUp: true,
      carrier: true,
      ...(options.linkKind ? { linkKind: options.linkKind } : {}),
      linkType: options.linkType ?? 'ether',
      ...(options.devtype ? { devtype: options.devtype } : {}),
    };
    this.ifaces.set(ifname, { link, addresses: [], routes: [] });
    if (address !== null) this.addAddress(ifname, address);
    if (options.defaultRoute !== false && address !== null) this.addRoute(ifname, 'default');
    return this;
  }

  addAddress(ifname: string, address: string, extra: Partial<AddressRecord> = {}): this {
    const iface = this.iface(ifname);
    const v6 = address.includes(':');
    iface.addresses.push({ ifindex: iface.link.ifindex, address, prefixLength: v6 ? 64 : 24, kernelScope: 'global', ...extra });
    // The kernel adds the on-link prefix route with the address.
    iface.routes.push({ ifindex: iface.link.ifindex, family: v6 ? 6 : 4, destination: v6 ? `${address}/64` : `${address}/24`, table: 'main', type: 'unicast' });
    return this;
  }

  removeAddress(ifname: string, address: string): this {
    const iface = this.iface(ifname);
    iface.addresses = iface.addresses.filter((record) => record.address !== address);
    iface.routes = iface.routes.filter((route) => !route.destination.startsWith(`${address}/`));
    return this;
  }

  updateAddress(ifname: string, address: string, extra: Partial<AddressRecord>): this {
    const iface = this.iface(ifname);
    iface.addresses = iface.addresses.map((record) => (record.address === address ? { ...record, ...extra } : record));
    return this;
  }

  addRoute(ifname: string, destination: string, family: 4 | 6 = 4, extra: Partial<RouteRecord> = {}): this {
    const iface = this.iface(ifname);
    iface.routes.push({ ifindex: iface.link.ifindex, family, destination, table: 'main', type: 'unicast', ...extra });
    return this;
  }

  removeRoutes(ifname: string, destination?: string): this {
    const iface = this.iface(ifname);
    iface.routes = iface.routes.filter((route) => destination !== undefined && route.destination !== destination);
    return this;
  }

  setLink(ifname: string, change: Partial<LinkRecord>): this {
    const iface = this.iface(ifname);
    iface.link = { ...iface.link, ...change };
    return this;
  }

  remove(ifname: string): this {
    this.ifaces.delete(ifname);
    return this;
  }

  snapshot(): InterfaceSnapshot {
    const all = [...this.ifaces.values()];
    return {
      links: all.map((iface) => iface.link),
      addresses: all.flatMap((iface) => iface.addresses),
      routes: all.flatMap((iface) => iface.routes),
    };
  }

  private iface(ifname: string): Iface {
    const iface = this.ifaces.get(ifname);
    if (!iface) throw new Error(`no ${ifname}`);
    return iface;
  }
}

function feed(machine: LocalAddresses, host: Host, now: number, trigger: 'initial' | 'kernel' = 'kernel'): LocatorChange | undefined {
  return machine.handleEvent({ type: 'snapshot', snapshot: host.snapshot(), trigger }, now);
}

function started(host: Host, policy: Partial<LocalAddressPolicy> = {}): LocalAddresses {
  const machine = new LocalAddresses(policy);
  feed(machine, host, 0, 'initial');
  return machine;
}

function find(locators: readonly MonitoredLocator[], address: string): MonitoredLocator | undefined {
  return locators.find((locator) => locator.address === address);
}

function mustFind(locators: readonly MonitoredLocator[], address: string): MonitoredLocator {
  const locator = find(locators, address);
  assert.ok(locator, `${address} missing from ${locators.map((l) => l.address).join(', ') || 'an empty list'}`);
  return locator;
}

function causeTypes(change: LocatorChange | undefined, address: string): LocatorCauseType[] {
  assert.ok(change, `expected a change involving ${address}`);
  return change.causes.filter((cause) => cause.address === address).map((cause) => cause.type);
}

function addresses(locators: readonly MonitoredLocator[]): string[] {
  return locators.map((locator) => locator.address);
}

/** Drives the machine's timers up to `until`, collecting every change. */
function runTimers(machine: LocalAddresses, until: number): LocatorChange[] {
  const changes: LocatorChange[] = [];
  for (let next = machine.nextTimeout(); next !== undefined && next <= until; next = machine.nextTimeout()) {
    const change = machine.handleTimeout(next);
    if (change) changes.push(change);
  }
  return changes;
}

// ---- AVAILABLE ----

describe('available addresses', () => {
  test('the first read reports every usable address at once, operational and ranked ethernet > wifi > cellular', () => {
    const host = new Host().add('wwan0', '100.64.1.2', { linkType: 'none' }).add('wlan0', '192.168.1.20').add('eth0', '198.51.100.7');
    const machine = new LocalAddresses();
    const change = machine.handleEvent({ type: 'snapshot', snapshot: host.snapshot(), trigger: 'initial' }, 0);
    assert.ok(change, 'the first read is a change');
    assert.equal(change.trigger, 'initial');
    assert.deepEqual(addresses(change.locators), ['198.51.100.7', '192.168.1.20', '100.64.1.2'], 'ranked by kind');
    assert.deepEqual(change.locators.map((l) => [l.kind, l.preferenceRank, l.operational]), [
      ['ethernet', 0, true],
      ['wifi', 1, true],
      ['cellular', 2, true],
    ]);
    assert.deepEqual(causeTypes(change, '100.64.1.2'), ['appeared']);
  });

  test('a new address is reported at the instant it is seen, not after any debounce', () => {
    const host = new Host().add('wlan0', '192.168.1.20');
    const machine = started(host);
    host.addAddress('wlan0', '192.168.1.21');
    const change = feed(machine, host, 5_000);
    assert.ok(change, 'an added address is a change');
    assert.equal(change.at, 5_000, 'reported at the time of the event');
    assert.deepEqual(causeTypes(change, '192.168.1.21'), ['appeared']);
    assert.equal(mustFind(change.locators, '192.168.1.21').operational, true, 'usable at once');
  });

  test('an IPv6 address is not ours while duplicate address detection runs, and is reported the moment it ends', () => {
    const host = new Host().add('eth0', '198.51.100.7');
    const machine = started(host);
    host.addAddress('eth0', '2001:db8::7', { tentative: true }).addRoute('eth0', 'default', 6);
    assert.equal(feed(machine, host, 100), undefined, 'a tentative address changes nothing');
    host.updateAddress('eth0', '2001:db8::7', { tentative: false });
    const change = feed(machine, host, 1_100);
    assert.deepEqual(causeTypes(change, '2001:db8::7'), ['appeared']);
    assert.equal(mustFind(machine.locators(), '2001:db8::7').family, 6);
  });

  test('an optimistic address (RFC 4429) is usable while DAD runs', () => {
    const host = new Host().add('eth0', '198.51.100.7');
    host.addAddress('eth0', '2001:db8::8', { tentative: true, optimistic: true }).addRoute('eth0', 'default', 6);
    assert.equal(mustFind(started(host).locators(), '2001:db8::8').operational, true);
  });

  test('an address whose duplicate address detection failed is never offered', () => {
    const host = new Host().add('eth0', '198.51.100.7');
    host.addAddress('eth0', '2001:db8::7', { dadFailed: true });
    const machine = started(host);
    assert.equal(find(machine.locators(), '2001:db8::7'), undefined, 'dadfailed address listed');
  });

  test('only legal scopes are offered: no loopback, multicast, broadcast, site-local or link-local', () => {
    const host = new Host().add('eth0', '198.51.100.7');
    host.addAddress('eth0', '127.0.0.2');
    host.addAddress('eth0', '10.1.2.255'); // the broadcast address of 10.1.2.0/24
    host.addAddress('eth0', '169.254.3.4');
    host.addAddress('eth0', 'fe80::1');
    host.addAddress('eth0', 'fec0::1');
    host.addAddress('eth0', 'ff02::1');
    host.addAddress('eth0', '10.1.3.4');
    host.addAddress('eth0', '100.64.0.9');
    host.addAddress('eth0', 'fd00::9');
    host.addAddress('eth0', '198.51.100.8', { kernelScope: 'host' });
    const machine = started(host);
    assert.deepEqual(addresses(machine.locators()).sort(), ['10.1.3.4', '100.64.0.9', '198.51.100.7', 'fd00::9'].sort());
  });

  test('link-local addresses are offered only when policy allows, marked for same-link peers only', () => {
    const host = new Host().add('eth0', '198.51.100.7').addAddress('eth0', 'fe80::1').addAddress('eth0', '169.254.3.4');
    const machine = started(host, { allowLinkLocal: true });
    assert.equal(mustFind(machine.locators(), 'fe80::1').scope, 'link');
    assert.equal(mustFind(machine.locators(), '169.254.3.4').scope, 'link');
    assert.equal(mustFind(machine.locators(), '198.51.100.7').scope, 'global');
    assert.ok(mustFind(machine.locators(), 'fe80::1').preferenceRank > mustFind(machine.locators(), '198.51.100.7').preferenceRank, 'global before link-local');
  });

  test('our own TUN and other tunnels never carry locators, whatever their addresses', () => {
    const host = new Host()
      .add('eth0', '198.51.100.7')
      .add('hip0', '203.0.113.1', { linkKind: 'tun', linkType: 'none' })
      .add('vpn7', '203.0.113.2', { linkKind: 'tun', linkType: 'none' })
      .add('wg0', '203.0.113.3', { linkKind: 'wireguard', linkType: 'none' })
      .add('tap1', '203.0.113.4')
      .add('docker0', '172.17.0.1', { linkKind: 'bridge' })
      .add('lo', '127.0.0.1', { linkType: 'loopback' });
    const machine = started(host);
    assert.deepEqual(addresses(machine.locators()), ['198.51.100.7']);
  });

  test('veth interfaces are excluded only when configured so', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('veth3f2a', '10.200.0.1', { linkKind: 'veth' });
    assert.equal(mustFind(started(host).locators(), '10.200.0.1').kind, 'virtual');
    assert.equal(find(started(host, { exclude: ['veth*'] }).locators(), '10.200.0.1'), undefined, 'excluded veth listed');
  });

  test('interfaces are classified by name first, then by driver facts', () => {
    const host = new Host()
      .add('wwan0', '100.64.0.1', { linkType: 'none' })
      .add('ppp0', '100.64.0.2', { linkType: 'ppp' })
      .add('usb0', '100.64.0.3')
      .add('rmnet_data0', '100.64.0.4', { linkType: 'none' })
      .add('cell0', '100.64.0.5', { linkKind: 'veth' })
      .add('wlp2s0', '192.0.2.1')
      .add('wifi0', '192.0.2.2', { linkKind: 'veth' })
      .add('enp3s0', '198.51.100.1')
      .add('modem', '100.64.0.6', { devtype: 'wwan', linkType: 'none' })
      .add('radio', '192.0.2.3', { devtype: 'wlan' })
      .add('br0', '198.51.100.2', { linkKind: 'bridge', devtype: 'bridge' })
      .add('uplink', '198.51.100.3');
    const kinds = Object.fromEntries(started(host).locators().map((l) => [l.ifname, l.kind]));
    assert.deepEqual(kinds, {
      wwan0: 'cellular', ppp0: 'cellular', usb0: 'cellular', rmnet_data0: 'cellular', cell0: 'cellular', modem: 'cellular',
      wlp2s0: 'wifi', wifi0: 'wifi', radio: 'wifi',
      enp3s0: 'ethernet', uplink: 'ethernet',
      br0: 'virtual',
    });
  });

  test('user kind overrides win over names', () => {
    const host = new Host().add('eth1', '100.64.0.1');
    assert.equal(mustFind(started(host, { kinds: { 'eth1': 'cellular' } }).locators(), '100.64.0.1').kind, 'cellular');
  });

  test('systeminformation metadata reclassifies an interface whose name says nothing', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('air', '192.0.2.9', { linkType: 'ether' });
    const machine = started(host);
    assert.equal(mustFind(machine.locators(), '192.0.2.9').kind, 'ethernet');
    const change = machine.handleEvent({ type: 'metadata', interfaces: [{ ifname: 'air', wireless: true }, { ifname: 'eth0', wireless: true }] }, 300);
    assert.ok(change, 'reclassification is a change');
    assert.equal(change.trigger, 'metadata');
    assert.deepEqual(causeTypes(change, '192.0.2.9'), ['reclassified']);
    assert.equal(mustFind(change.locators, '192.0.2.9').kind, 'wifi');
    assert.equal(mustFind(change.locators, '198.51.100.7').kind, 'ethernet', 'a telling name beats metadata');
  });
});

// ---- losing and regaining addresses: the hold ----

describe('addresses that disappear', () => {
  test('a removed address stops being operational at once and leaves the list after holdMs', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host, { holdMs: 2_000 });
    host.removeAddress('wlan0', '192.168.1.20');
    const lost = feed(machine, host, 1_000);
    assert.deepEqual(causeTypes(lost, '192.168.1.20'), ['lost']);
    const held = mustFind(machine.locators(), '192.168.1.20');
    assert.equal(held.operational, false, 'nothing may be sent from a vanished address');
    assert.equal(held.available, false);
    assert.equal(machine.nextTimeout(), 3_000, 'held for holdMs');
    assert.equal(machine.handleTimeout(2_999), undefined, 'not before holdMs');
    const withdrawn = machine.handleTimeout(3_000);
    assert.deepEqual(causeTypes(withdrawn, '192.168.1.20'), ['withdrawn']);
    assert.equal(find(machine.locators(), '192.168.1.20'), undefined, 'still listed after the hold');
    assert.equal(machine.nextTimeout(), undefined, 'no timer left');
  });

  test('an address that disappears and returns within the hold never leaves the list', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host, { holdMs: 2_000 });
    const changes: LocatorChange[] = [];
    host.removeAddress('wlan0', '192.168.1.20');
    changes.push(feed(machine, host, 1_000)!);
    host.addAddress('wlan0', '192.168.1.20');
    const back = feed(machine, host, 1_400);
    changes.push(back!);
    changes.push(...runTimers(machine, 10_000));
    assert.deepEqual(causeTypes(back, '192.168.1.20'), ['returned']);
    for (const change of changes) {
      assert.ok(find(change.locators, '192.168.1.20'), `the address left the list (${change.causes.map((c) => c.type).join(', ')})`);
    }
    assert.equal(mustFind(machine.locators(), '192.168.1.20').operational, true, 'operational again at once');
    assert.ok(!changes.some((change) => change.causes.some((cause) => cause.type === 'withdrawn')), 'withdrawn although it came back');
  });

  test('other events during the hold neither shorten nor extend it', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host, { holdMs: 2_000 });
    host.removeAddress('wlan0', '192.168.1.20');
    feed(machine, host, 1_000);
    host.addAddress('eth0', '198.51.100.8');
    const other = feed(machine, host, 1_500);
    assert.ok(other && find(other.locators, '192.168.1.20'), 'an unrelated event dropped the held address');
    assert.equal(machine.nextTimeout(), 3_000, 'hold still ends holdMs after the loss');
  });

  test('an address that goes tentative again (DAD re-run) is held, not dropped', () => {
    const host = new Host().add('eth0', '2001:db8::7');
    const machine = started(host);
    host.updateAddress('eth0', '2001:db8::7', { tentative: true });
    const change = feed(machine, host, 10);
    assert.deepEqual(change?.causes.map((cause) => [cause.type, cause.detail]), [['lost', 'duplicate address detection running']]);
    host.updateAddress('eth0', '2001:db8::7', { tentative: false });
    assert.deepEqual(causeTypes(feed(machine, host, 1_010), '2001:db8::7'), ['returned']);
  });

  test('an interface that vanishes (modem unplugged) takes its addresses with it, after the hold', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wwan0', '100.64.1.2');
    const machine = started(host, { holdMs: 500 });
    host.remove('wwan0');
    const change = feed(machine, host, 100);
    assert.deepEqual(change?.causes.map((cause) => [cause.type, cause.detail]), [['lost', 'interface removed']]);
    runTimers(machine, 1_000);
    assert.deepEqual(addresses(machine.locators()), ['198.51.100.7']);
  });

  test('renumbering on the same interface: the new address is used at once, the old one withdrawn after the hold', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host, { holdMs: 2_000 });
    host.addAddress('wlan0', '192.168.7.30').removeAddress('wlan0', '192.168.1.20');
    const change = feed(machine, host, 500);
    assert.ok(change, 'renumbering is a change');
    assert.deepEqual(causeTypes(change, '192.168.7.30'), ['appeared']);
    assert.deepEqual(causeTypes(change, '192.168.1.20'), ['lost']);
    const fresh = mustFind(change.locators, '192.168.7.30');
    const old = mustFind(change.locators, '192.168.1.20');
    assert.equal(fresh.operational, true);
    assert.ok(fresh.preferenceRank < old.preferenceRank, 'the new address ranks before the vanished one');
    assert.deepEqual(causeTypes(runTimers(machine, 5_000)[0], '192.168.1.20'), ['withdrawn']);
  });
});

// ---- OPERATIONAL ----

describe('operational addresses', () => {
  test('interface down, then up: not operational at once, operational again at once', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host);
    host.setLink('wlan0', { adminUp: false, carrier: false });
    const down = feed(machine, host, 100);
    assert.deepEqual(down?.causes.map((cause) => [cause.type, cause.detail]), [['not-operational', 'interface down']]);
    assert.equal(mustFind(machine.locators(), '192.168.1.20').available, true, 'the address is still assigned');
    host.setLink('wlan0', { adminUp: true, carrier: true });
    const up = feed(machine, host, 400);
    assert.deepEqual(causeTypes(up, '192.168.1.20'), ['operational']);
    assert.equal(mustFind(machine.locators(), '192.168.1.20').operational, true);
  });

  test('carrier loss (Wi-Fi disassociated, cable out) makes the address not operational', () => {
    const host = new Host().add('wlan0', '192.168.1.20');
    const machine = started(host);
    host.setLink('wlan0', { carrier: false });
    assert.deepEqual(feed(machine, host, 100)?.causes.map((cause) => cause.detail), ['no carrier']);
  });

  test('losing the default route is reported; losing every route makes the address not operational', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host);
    assert.equal(mustFind(machine.locators(), '192.168.1.20').defaultRoute, true);
    host.removeRoutes('wlan0', 'default');
    const noDefault = feed(machine, host, 100);
    assert.deepEqual(noDefault?.causes.map((cause) => [cause.type, cause.detail]), [['default-route', 'lost']]);
    assert.equal(mustFind(machine.locators(), '192.168.1.20').operational, true, 'on-link peers are still reachable');
    host.removeRoutes('wlan0');
    const noRoute = feed(machine, host, 200);
    assert.deepEqual(noRoute?.causes.map((cause) => [cause.type, cause.detail]), [['not-operational', 'no route']]);
  });

  test("routes of the other family, the local table and IPv6 link-local prefixes do not make an address operational", () => {
    const host = new Host().add('eth0', '2001:db8::7', { defaultRoute: false });
    host.removeRoutes('eth0');
    host.addRoute('eth0', 'fe80::/64', 6).addRoute('eth0', 'default', 4).addRoute('eth0', '2001:db8::7', 6, { table: 'local', type: 'local' });
    assert.equal(mustFind(started(host).locators(), '2001:db8::7').operational, false);
    host.addRoute('eth0', 'default', 6, { table: '100' });
    assert.equal(mustFind(started(host).locators(), '2001:db8::7').operational, true, 'a policy-routing table counts');
  });

  test('a locator that keeps flapping is held back while a steady one exists, and reused once it calms down', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const damping = { penaltyPerLoss: 1, suppressAt: 2.5, reuseAt: 1, halfLifeMs: 4_000 };
    const machine = started(host, { damping });
    const flap = (at: number, up: boolean) => {
      host.setLink('wlan0', { carrier: up });
      return feed(machine, host, at);
    };
    // The first loss and return are clean changes, reported at once.
    assert.deepEqual(causeTypes(flap(100, false), '192.168.1.20'), ['not-operational']);
    assert.deepEqual(causeTypes(flap(200, true), '192.168.1.20'), ['operational']);
    flap(300, false);
    assert.equal(mustFind(flap(400, true)!.locators, '192.168.1.20').operational, true, 'two losses: still trusted');
    flap(500, false); // third loss within half a second: penalty about 2.9
    assert.equal(flap(600, true), undefined, 'a suppressed return is not churn');
    assert.equal(mustFind(machine.locators(), '192.168.1.20').operational, false, 'suppressed while eth0 is steady');
    const reuseAt = machine.nextTimeout();
    assert.ok(reuseAt !== undefined && reuseAt > 5_000 && reuseAt < 7_000, `reuse about 6 s after the last loss, got ${reuseAt}`);
    const reused = machine.handleTimeout(reuseAt);
    assert.deepEqual(causeTypes(reused, '192.168.1.20'), ['operational']);
  });

  test('with the default policy, sub-second flaps are suppressed but a link lost every 1.5 s never is', () => {
    const cycle = (periodMs: number, cycles: number): boolean[] => {
      const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
      const machine = started(host);
      const usable: boolean[] = [];
      for (let i = 1; i <= cycles; i++) {
        host.setLink('wlan0', { carrier: false });
        feed(machine, host, i * periodMs);
        host.setLink('wlan0', { carrier: true });
        feed(machine, host, i * periodMs + periodMs / 2);
        usable.push(mustFind(machine.locators(), '192.168.1.20').operational);
      }
      return usable;
    };
    assert.deepEqual(cycle(1_500, 20), new Array(20).fill(true), 'a handover test cycling wifi every 1.5 s was held back');
    assert.deepEqual(cycle(200, 4), [true, true, false, false], 'flapping every 200 ms suppressed from the third loss');
  });

  test('a flapping only uplink is still used whenever it works', () => {
    const host = new Host().add('wlan0', '192.168.1.20');
    const machine = started(host);
    for (let i = 0; i < 5; i++) {
      host.setLink('wlan0', { carrier: false });
      feed(machine, host, 100 + i * 200);
      host.setLink('wlan0', { carrier: true });
      const change = feed(machine, host, 200 + i * 200);
      assert.equal(mustFind(change!.locators, '192.168.1.20').operational, true, `flap ${i + 1}: the only uplink was held back`);
    }
  });

  test('the same state read twice is not a change', () => {
    const host = new Host().add('eth0', '198.51.100.7');
    const machine = started(host);
    assert.equal(feed(machine, host, 100), undefined);
    assert.equal(machine.handleEvent({ type: 'snapshot', snapshot: host.snapshot(), trigger: 'resume' }, 200), undefined);
  });

  test('deprecated addresses rank after preferred ones on the same interface', () => {
    const host = new Host().add('eth0', '2001:db8::1').addAddress('eth0', '2001:db8::2');
    const machine = started(host);
    host.updateAddress('eth0', '2001:db8::1', { deprecated: true });
    const change = feed(machine, host, 100);
    assert.deepEqual(causeTypes(change, '2001:db8::1'), ['deprecated']);
    assert.deepEqual(addresses(machine.locators()), ['2001:db8::2', '2001:db8::1']);
    assert.equal(mustFind(machine.locators(), '2001:db8::1').operational, true, 'still usable');
  });
});

// ---- preference and policy ----

describe('preference and policy', () => {
  test('the user can order kinds; unlisted kinds keep the default order after them', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20').add('wwan0', '100.64.1.2');
    const machine = started(host, { preference: ['cellular'] });
    assert.deepEqual(machine.locators().map((l) => l.kind), ['cellular', 'ethernet', 'wifi']);
  });

  test('changing the preference re-ranks at once with a preference cause', () => {
    const host = new Host().add('wlan0', '192.168.1.20').add('wwan0', '100.64.1.2');
    const machine = started(host);
    const change = machine.handleEvent({ type: 'policy', policy: { preference: ['cellular', 'wifi'] } }, 50);
    assert.ok(change, 're-ranking is a change');
    assert.equal(change.trigger, 'policy');
    assert.deepEqual(change.causes.map((cause) => cause.type), ['preference']);
    assert.deepEqual(change.locators.map((l) => [l.ifname, l.preferenceRank]), [['wwan0', 0], ['wlan0', 1]]);
  });

  test('a not-operational locator ranks after every operational one, whatever its kind', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wwan0', '100.64.1.2');
    const machine = started(host);
    host.setLink('eth0', { carrier: false });
    feed(machine, host, 10);
    assert.deepEqual(machine.locators().map((l) => [l.ifname, l.operational]), [['wwan0', true], ['eth0', false]]);
  });

  test('excluding an interface by policy drops its locators at once, without a hold', () => {
    const host = new Host().add('eth0', '198.51.100.7').add('wlan0', '192.168.1.20');
    const machine = started(host);
    const change = machine.handleEvent({ type: 'policy', policy: { exclude: ['wlan*'] } }, 10);
    assert.deepEqual(change?.causes.map((cause) => [cause.type, cause.detail]), [['excluded', 'excluded by policy (wlan*)']]);
    assert.deepEqual(addresses(machine.locators()), ['198.51.100.7']);
    assert.equal(machine.nextTimeout(), undefined, 'no hold timer for an excluded address');
  });
});
