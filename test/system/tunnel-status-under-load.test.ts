// With the tunnel saturated by iperf3, the daemon still answers status quickly: the data plane
// must not starve the control plane. Needs root.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../../lab/hipvpn.js';
import { tunnelPair, type TunnelPair } from '../../lab/scenarios.js';

const STATUS_LIMIT_MS = 200;
/** Longer than any node start-up under load, shorter than a daemon that stopped answering. */
const CLI_STALL_MS = 2_000;
const LOAD_SECONDS = 8;

describe('hipvpn status under iperf3 load', () => {
  let pair: TunnelPair;

  before(async () => {
    pair = await tunnelPair();
  });
  after(async () => {
    await pair?.lab.teardown();
  });

  test(`status answers within ${STATUS_LIMIT_MS} ms while iperf3 fills the tunnel`, async () => {
    const bob = await pair.aliceVpn.peer('bob');
    assert.ok(bob?.lsi, 'alice has no LSI for bob');
    const server = pair.bob.spawn('iperf3', ['-s', '-1', '--forceflush', '-p', '5301']);
    await server.waitForLine(/Server listening/, 10_000);
    const client = pair.alice.exec('iperf3', ['-c', bob.lsi, '-p', '5301', '-t', String(LOAD_SECONDS), '-J'], {
      allowFailure: true,
      timeoutMs: (LOAD_SECONDS + 20) * 1000,
    });

    // Let the flow ramp up, then ask both daemons repeatedly while it runs.
    await sleep(1_500);
    const samples: number[] = [];
    const espOutSamples: number[] = [];
    const until = performance.now() + (LOAD_SECONDS - 3) * 1000;
    while (performance.now() < until) {
      for (const node of [pair.aliceVpn, pair.bobVpn]) {
        const started = performance.now();
        const status = await node.status(2_000);
        samples.push(performance.now() - started);
        if (node === pair.aliceVpn) espOutSamples.push(status.peers.find((p) => p.name === 'bob')?.counters.espPacketsOut ?? 0);
      }
      await sleep(200);
    }
    // The command itself, as a user types it: process start-up included.
    const cliSamples: number[] = [];
    let cli = await pair.aliceVpn.cli(['status']);
    for (let n = 0; n < 5; n++) {
      const started = performance.now();
      cli = await pair.aliceVpn.cli(['status']);
      cliSamples.push(performance.now() - started);
    }
    const load = await client;
    await server.stop(1_000);

    const worst = Math.max(...samples);
    const report = JSON.parse(load.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
    const mbps = (report.end?.sum_received?.bits_per_second ?? 0) / 1e6;
    console.log(
      `status under load: ${samples.length} requests, worst ${worst.toFixed(1)} ms, median ${median(samples).toFixed(1)} ms; ` +
        `iperf3 ${mbps.toFixed(0)} Mbit/s; \`hipvpn status\` ${cliSamples.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
    assert.ok(mbps > 5, `iperf3 load did not run through the tunnel (${mbps.toFixed(1)} Mbit/s)\n${load.stderr}`);
    assert.ok(espOutSamples.at(-1)! > espOutSamples[0]!, 'ESP packet counter did not grow during the load');
    assert.ok(samples.length >= 10, `only ${samples.length} status samples`);
    assert.ok(worst < STATUS_LIMIT_MS, `slowest status answer ${worst.toFixed(1)} ms under load (limit ${STATUS_LIMIT_MS} ms)`);
    assert.match(cli.stdout, /bob/, `hipvpn status does not list bob:\n${cli.stdout}`);
    // The daemon's share is the socket round trip bounded above; the rest of a command is node's
    // own start-up, which iperf3 filling both cores slows to 200–400 ms here: that is the
    // machine's, not ours, and is printed rather than judged. What must hold is that the command
    // completes, well inside the time a stalled daemon would take.
    assert.ok(Math.max(...cliSamples) < CLI_STALL_MS, `\`hipvpn status\` took ${cliSamples.map((x) => x.toFixed(0)).join(', ')} ms under load: the daemon stalls it`);
  });
});

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
