// Simultaneous multihoming (RFC 8047 §4.1) through the real data plane: both daemons run with
// `--multihoming simultaneous` on the two-uplink lab, so each of the laptop's uplinks gets an SA
// pair of its own. What a user or the peer would notice: status names the mode and a different
// SPI on each uplink's pair, traffic crosses on either uplink without a single packet refused as
// a replay or forgery, and losing Wi-Fi under a TCP transfer moves it to cell0 intact. Needs root.
//
//   node --import tsx --test test/system/multihoming-simultaneous.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { measureHandover } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

type Pairs = NonNullable<NonNullable<Awaited<ReturnType<MobilityTunnel['mobileVpn']['peer']>>>['pairs']>;

let mobility: MobilityLab;
let tunnel: MobilityTunnel;

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility, { multihoming: 'simultaneous' });
});

after(async () => {
  await mobility?.teardown();
});

async function waitForPairs(ok: (pairs: Pairs) => boolean, what: string): Promise<Pairs> {
  const deadline = performance.now() + 15_000;
  let last: Pairs | undefined;
  while (performance.now() < deadline) {
    last = (await tunnel.mobileVpn.peer('server'))?.pairs;
    if (last && ok(last)) return last;
    await sleep(100);
  }
  assert.fail(`${what}; pairs: ${JSON.stringify(last)}`);
}

/** ESP refusals a second SA would cause if either side mixed the SAs up. */
async function espRefusals(node: MobilityTunnel['mobileVpn']): Promise<Record<string, number>> {
  const dropped = (await node.status()).counters.dropped;
  return Object.fromEntries(Object.entries(dropped).filter(([k, v]) => /esp-(replay|too-old|auth-failed|unknown-spi|bad)/.test(k) && v > 0));
}

async function pingThroughTunnel(count: number): Promise<string> {
  const r = await mobility.mobile.exec('ping', ['-q', '-n', '-c', String(count), '-i', '0.02', '-W', '1', tunnel.serverAddress], { allowFailure: true, timeoutMs: 15_000 });
  return r.stdout;
}

test('status names the mode, and each uplink\'s pair has SPIs of its own', async () => {
  const peer = await tunnel.mobileVpn.peer('server');
  assert.equal(peer?.multihoming, 'simultaneous', `the mobile's status: ${JSON.stringify(peer)}`);
  const pairs = await waitForPairs(
    (p) => p.length === 2 && p.every((x) => x.spiOut !== undefined && x.spiIn !== undefined) && p[0]!.spiOut !== p[1]!.spiOut && p[0]!.spiIn !== p[1]!.spiIn,
    'an SA pair per uplink (distinct inbound and outbound SPIs on wifi0 and cell0)',
  );
  assert.deepEqual(new Set(pairs.map((p) => p.interface)), new Set(['wifi0', 'cell0']));
  assert.equal((await tunnel.serverVpn.peer('mobile'))?.multihoming, 'simultaneous', 'the server runs the same mode');
});

test('traffic crosses on wifi0, then on cell0 after a failover, with the SPI of that uplink and nothing refused', async () => {
  const wifiStdout = await pingThroughTunnel(20);
  assert.match(wifiStdout, / 0% packet loss/, `pings over wifi0:\n${wifiStdout}`);
  const wifiSpi = (await waitForPairs((p) => p.some((x) => x.primary && x.interface === 'wifi0'), 'wifi0 primary')).find((x) => x.primary)!.spiOut;

  const cell = mobility.cell.address;
  const r = await tunnel.mobileVpn.cli(['failover', 'server', '--to', `${cell},${mobility.serverAddress}`]);
  assert.equal(r.code, 0, `failover: ${r.stderr}`);
  const cellSpi = (await waitForPairs((p) => p.some((x) => x.primary && x.interface === 'cell0'), 'cell0 primary after the failover')).find((x) => x.primary)!.spiOut;
  assert.notEqual(cellSpi, wifiSpi, `cell0 carries its own SA, not wifi0's (SPI ${wifiSpi})`);

  const before = await mobility.cell.counters();
  const cellStdout = await pingThroughTunnel(20);
  const afterwards = await mobility.cell.counters();
  assert.match(cellStdout, / 0% packet loss/, `pings over cell0:\n${cellStdout}`);
  // Octets: UDP GSO may carry two datagrams as one veth packet; each request is at least 84 octets.
  assert.ok(afterwards.txBytes - before.txBytes >= 20 * 84, `only ${afterwards.txBytes - before.txBytes} octets left through cell0 for 20 pings`);
  assert.deepEqual(await espRefusals(tunnel.serverVpn), {}, 'the server refused none of the mobile\'s ESP');
  assert.deepEqual(await espRefusals(tunnel.mobileVpn), {}, 'the mobile refused none of the server\'s ESP');

  // Back to the preferred uplink, so the next test starts from wifi0.
  const back = await tunnel.mobileVpn.cli(['failover', 'server', '--to', `${mobility.wifi.address},${mobility.serverAddress}`]);
  assert.equal(back.code, 0, `failover back: ${back.stderr}`);
  await waitForPairs((p) => p.some((x) => x.primary && x.interface === 'wifi0'), 'wifi0 primary again');
});

test('wifi0 goes down under a TCP transfer: it moves to cell0\'s SA and survives', async () => {
  const result = await measureHandover(tunnel, async (mark) => {
    await mobility.takeDownWifi();
    mark('wifi0 down');
  }, { recoverWithinMs: 15_000 });
  assert.ok(result.recovered, `traffic did not resume; lost ${result.lost}`);
  assert.equal(result.tcpSurvived, true, `the TCP transfer broke: ${JSON.stringify(result.tcp)}`);
  const resumed = result.resumeAfter('wifi0 down');
  assert.ok(resumed !== null && resumed < 1_000, `traffic resumed ${resumed?.toFixed(0)} ms after wifi0 went down (limit 1000 ms)`);
  const primary = (await waitForPairs((p) => p.some((x) => x.primary && x.interface === 'cell0'), 'cell0 primary')).find((x) => x.primary)!;
  assert.ok(primary.spiOut !== undefined, 'the cell0 pair names its SA');
  assert.deepEqual(await espRefusals(tunnel.serverVpn), {}, 'no ESP refused at the server across the move');
});
