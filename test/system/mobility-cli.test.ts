// What a user sees of mobility: `hipvpn status` lists every locator pair of the laptop's tunnel
// (wifi0 and cell0 to the server) with its state, RTT, last heard and which one is primary, and
// `hipvpn failover` moves the traffic on demand, with clear errors for a pair or peer that does
// not exist. Needs root (namespace lab).
//
//   node --import tsx --test test/system/mobility-cli.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

let mobility: MobilityLab;
let tunnel: MobilityTunnel;

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility);
});

after(async () => {
  await mobility?.teardown();
});

/** Polls the mobile's view of the server until `ok`, or fails with the last status seen. */
async function waitForPairs(ok: (pairs: NonNullable<Awaited<ReturnType<MobilityTunnel['mobileVpn']['peer']>>>['pairs']) => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  let last: unknown;
  while (performance.now() < deadline) {
    const peer = await tunnel.mobileVpn.peer('server');
    last = peer?.pairs;
    if (peer?.pairs && ok(peer.pairs)) return;
    await sleep(100);
  }
  assert.fail(`${what}; pairs: ${JSON.stringify(last)}`);
}

test('status lists both uplinks\' pairs, tested, with wifi0 primary and the multihoming mode', async () => {
  const wifi = mobility.wifi.address;
  const cell = mobility.cell.address;
  await waitForPairs(
    (pairs) => pairs!.length === 2 && pairs!.every((p) => p.state === 'operational' && p.rttMs !== undefined),
    'both pairs tested',
  );
  const peer = (await tunnel.mobileVpn.peer('server'))!;
  assert.equal(peer.multihoming, 'fault-tolerance');
  const primary = peer.pairs!.filter((p) => p.primary);
  assert.equal(primary.length, 1, 'exactly one primary pair');
  assert.equal(primary[0]!.local.address, wifi, 'Wi-Fi is preferred over cellular');
  assert.deepEqual(new Set(peer.pairs!.map((p) => `${p.interface}/${p.kind}`)), new Set(['wifi0/wifi', 'cell0/cellular']));

  const text = await tunnel.mobileVpn.cli(['status']);
  assert.match(text.stdout, /server: fault-tolerance, 2 pairs/, `status text:\n${text.stdout}`);
  assert.match(text.stdout, new RegExp(`\\*<? +${wifi.replace(/\./g, '\\.')}:10500 -> \\S+ +wifi0/wifi +operational +peer ACTIVE +rtt [\\d.]+ms`), `status text:\n${text.stdout}`);
  assert.match(text.stdout, new RegExp(` +${cell.replace(/\./g, '\\.')}:10500 -> \\S+ +cell0/cellular +operational`), `status text:\n${text.stdout}`);
});

test('hipvpn failover --to moves the traffic to cell0 and pings still get through', async () => {
  const cell = mobility.cell.address;
  const server = mobility.serverAddress;
  const r = await tunnel.mobileVpn.cli(['failover', 'server', '--to', `${cell},${server}`]);
  assert.equal(r.code, 0, `failover: ${r.stderr}`);
  assert.match(r.stdout, new RegExp(`server: \\S+ -> \\S+ => ${cell.replace(/\./g, '\\.')}:10500 -> `), r.stdout);
  await waitForPairs((pairs) => pairs!.find((p) => p.primary)?.local.address === cell, 'cell0 primary after the failover');
  const before = await mobility.cell.counters();
  const pings = await mobility.mobile.exec('ping', ['-q', '-n', '-c', '20', '-i', '0.02', '-W', '1', tunnel.serverAddress], { allowFailure: true, timeoutMs: 10_000 });
  const after = await mobility.cell.counters();
  assert.match(pings.stdout, / 0% packet loss/, `pings through the tunnel after the failover:\n${pings.stdout}`);
  // Octets: UDP GSO may carry two datagrams as one veth packet; each request is at least 84 octets.
  assert.ok(after.txBytes - before.txBytes >= 20 * 84, `only ${after.txBytes - before.txBytes} octets left through cell0 for 20 pings`);
});

test('failover to a pair or peer that does not exist says so and changes nothing', async () => {
  const wrongPair = await tunnel.mobileVpn.cli(['failover', 'server', '--to', `${mobility.cell.address},192.0.2.99`], { allowFailure: true });
  assert.notEqual(wrongPair.code, 0, 'an unknown pair is refused');
  assert.match(wrongPair.stderr, /192\.0\.2\.99 is not a locator pair of .*\(pairs: /, wrongPair.stderr);
  const wrongPeer = await tunnel.mobileVpn.cli(['failover', 'nobody'], { allowFailure: true });
  assert.notEqual(wrongPeer.code, 0, 'an unknown peer is refused');
  assert.match(wrongPeer.stderr, /unknown peer "nobody"/, wrongPeer.stderr);
  const badSyntax = await tunnel.mobileVpn.cli(['failover', 'server', '--to', 'cell0'], { allowFailure: true });
  assert.equal(badSyntax.code, 2, 'bad --to is a usage error');
  assert.match(badSyntax.stderr, /must be LOCAL,REMOTE/, badSyntax.stderr);
});
