// The lab itself: hosts reach each other, the link knobs do what they claim, and nothing is
// left behind — also after a run that was killed. Needs root (network namespaces).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { LabProcess } from '../../lab/process.js';
import { iperf } from '../../lab/iperf.js';
import { Lab } from '../../lab/lab.js';
import type { Host } from '../../lab/host.js';
import { namespacesOf } from '../../lab/registry.js';

/** Share of echo requests that got no reply, from ping's summary line. */
async function pingLoss(from: Host, target: string, count: number, intervalSeconds: number): Promise<number> {
  const result = await from.exec('ping', ['-q', '-n', '-c', String(count), '-i', String(intervalSeconds), '-W', '1', target], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const match = /(\d+(?:\.\d+)?)% packet loss/.exec(result.stdout);
  assert.ok(match, `ping printed no loss summary: ${result.stdout}${result.stderr}`);
  return Number(match[1]);
}

async function reachable(from: Host, target: string): Promise<boolean> {
  const result = await from.exec('ping', ['-n', '-c', '1', '-W', '1', target], { allowFailure: true });
  return result.code === 0;
}

/** A restored link may first need neighbour discovery to recover from the failures of the cut. */
async function reachableWithin(from: Host, target: string, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  do {
    if (await reachable(from, target)) return true;
  } while (performance.now() < deadline);
  return false;
}

describe('lab: a host behind a router reaches another', () => {
  let lab: Lab;
  let mobile: Host;
  let server: Host;
  let router: Host;

  before(async () => {
    lab = await Lab.create();
    router = await lab.addRouter('router');
    mobile = await lab.addHost('mobile');
    server = await lab.addHost('server');
    await lab.connect(mobile, router, { name: 'wifi0' });
    await lab.connect(mobile, router, { name: 'cell0', defaultRoute: true, metric: 200 });
    await lab.connect(server, router, { name: 'eth0' });
  });
  after(async () => {
    await lab.teardown();
  });

  test('pings cross the router in both directions', async () => {
    assert.equal(await pingLoss(mobile, server.address('eth0'), 3, 0.05), 0, 'mobile -> server lost pings');
    assert.equal(await pingLoss(server, mobile.address('wifi0'), 3, 0.05), 0, 'server -> mobile lost pings');
    assert.equal(await pingLoss(server, mobile.address('cell0'), 3, 0.05), 0, 'server -> mobile cell0 lost pings');
  });

  test('tbf on the uplink holds a TCP flow near the asked rate', async () => {
    const wifi = mobile.iface('wifi0');
    await wifi.rateLimit({ mbit: 20 });
    try {
      const limited = await iperf(mobile, server, server.address('eth0'), { seconds: 3, omitSeconds: 1 });
      assert.ok(limited.mbps > 12 && limited.mbps < 22, `20 Mbit/s tbf gave ${limited.mbps.toFixed(1)} Mbit/s`);
    } finally {
      await wifi.clearRateLimit();
    }
    const free = await iperf(mobile, server, server.address('eth0'), { seconds: 2 });
    assert.ok(free.mbps > 100, `without tbf the veth gave only ${free.mbps.toFixed(1)} Mbit/s`);
  });

  test('nftables random drop loses about the asked share of packets', async () => {
    const wifi = mobile.iface('wifi0');
    await wifi.setLoss(30, 'egress');
    try {
      // 400 samples: the binomial standard deviation is 2.3 points, so ±10 is > 4 sigma.
      const loss = await pingLoss(mobile, server.address('eth0'), 400, 0.005);
      assert.ok(loss > 20 && loss < 40, `asked for 30% loss, ping saw ${loss}%`);
    } finally {
      await wifi.setLoss(0);
    }
    assert.equal(await pingLoss(mobile, server.address('eth0'), 20, 0.005), 0, 'loss rule still active after removal');
  });

  for (const mode of ['down', 'address', 'silent'] as const) {
    test(`cutting wifi0 (${mode}) stops traffic, restoring it brings traffic and routes back`, async () => {
      const wifi = mobile.iface('wifi0');
      const target = server.address('eth0');
      assert.ok(await reachable(mobile, target), 'server unreachable before the cut');
      await wifi.cutLink(mode);
      try {
        if (mode === 'silent') {
          assert.equal(await reachable(mobile, target), false, 'a silent cut still let pings through');
          const state = await mobile.ip(['-br', 'addr', 'show', 'dev', 'wifi0']);
          assert.match(state.stdout, /UP.*10\.1\.0\.2\/24/, 'a silent cut must not be visible on the host');
        } else {
          // The default route moves to cell0 (higher metric); wifi0's own address is gone or down.
          const wifiAddress = wifi.address;
          assert.equal(await reachable(server, wifiAddress), false, `${mode} cut: wifi0 address still answers`);
        }
      } finally {
        await wifi.restore();
      }
      assert.ok(await reachableWithin(server, wifi.address, 3_000), `wifi0 unreachable 3 s after restoring a ${mode} cut`);
      const route = await mobile.ip(['route', 'show', 'default']);
      assert.match(route.stdout, /default via 10\.1\.0\.1 dev wifi0/, `default route via wifi0 missing after restore:\n${route.stdout}`);
    });
  }

  test('masquerade on the router rewrites the source the server sees', async () => {
    const routerEth = router.iface('eth0');
    await router.masquerade('eth0');
    const listener = server.spawn('iperf3', ['-s', '-1', '--forceflush', '-p', '5999']);
    try {
      await listener.waitForLine(/Server listening/, 5_000);
      await mobile.exec('iperf3', ['-c', server.address('eth0'), '-p', '5999', '-n', '64K']);
      const accepted = await listener.waitForLine(/Accepted connection from/, 5_000);
      assert.match(accepted, new RegExp(`from ${routerEth.address.replace(/\./g, '\\.')},`), `server saw: ${accepted}`);
    } finally {
      await listener.stop();
      await router.removeMasquerade('eth0');
    }
  });
});

describe('lab teardown', () => {
  test('teardown stops processes and removes namespaces and scratch files', async () => {
    const lab = await Lab.create();
    const host = await lab.addHost('solo');
    const sleeper = host.spawn('sleep', ['600']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(sleeper.running, 'sleep did not start');
    assert.deepEqual(lab.remainingNamespaces(), [`${lab.id}-solo`]);
    await lab.teardown();
    assert.equal(sleeper.running, false, 'process still running after teardown');
    assert.deepEqual(namespacesOf(lab.id), [], 'namespaces left after teardown');
    assert.equal(existsSync(lab.scratchDir), false, 'scratch folder left after teardown');
  });

  test('a run killed with SIGKILL is cleaned up by the next lab', async () => {
    const script = [
      "import { Lab } from './lab/lab.ts';",
      'const lab = await Lab.create();',
      "const host = await lab.addHost('orphan');",
      "host.spawn('sleep', ['600']);",
      "console.log('ready ' + lab.id);",
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = new LabProcess(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
    });
    const ready = await child.waitForLine(/^ready /, 20_000);
    const orphanLab = ready.slice('ready '.length);
    child.signal('SIGKILL');
    await child.exited;
    assert.equal(namespacesOf(orphanLab).length, 1, 'the killed run should have left its namespace');

    const lab = await Lab.create();
    await lab.teardown();
    assert.deepEqual(namespacesOf(orphanLab), [], 'leftover namespace of the killed run was not removed');
  });
});
