// The lab from the command line (root):
//   node --import tsx lab/cli.ts demo           two hosts, a base exchange, ping, iperf3
//   node --import tsx lab/cli.ts cleanup [--all]  remove what dead runs left (--all: every lab)
// `npm run lab` runs the demo: what a newcomer watches to see hipvpn work.

import { parseArgs } from 'node:util';
import { iperf } from './iperf.js';
import { cleanupLeftovers } from './registry.js';
import { startTunnel, twoHosts } from './scenarios.js';

const started = performance.now();

function say(text: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(2).padStart(6);
  process.stdout.write(`${seconds}s  ${text}\n`);
}

function heading(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function demo(): Promise<void> {
  heading('Building the lab: two hosts in network namespaces, one veth link (eth0)');
  const { lab, alice, bob } = await twoHosts({ log: (line) => say(`lab: ${line}`) });
  try {
    heading('Starting hipvpn on both hosts (identity, peer add, serve)');
    const tunnel = await startTunnel(alice, bob, {
      skipEstablish: true,
      onDaemonLine: (host, line) => say(`${host.padEnd(5)} | ${line.replace(/^\S+Z /, '')}`),
    });
    say(`alice HIT ${tunnel.aliceId.hit}  LSI ${tunnel.aliceId.lsi}`);
    say(`bob   HIT ${tunnel.bobId.hit}  LSI ${tunnel.bobId.lsi}`);

    heading('Base exchange (alice knows where bob is; bob waits to be contacted)');
    const bexStarted = performance.now();
    const atAlice = await tunnel.aliceVpn.waitForEstablished('bob');
    const atBob = await tunnel.bobVpn.waitForEstablished('alice');
    say(`association up after ${(performance.now() - bexStarted).toFixed(0)} ms: alice ${atAlice.state}, bob ${atBob.state}`);

    const bobStatus = await tunnel.aliceVpn.peer('bob');
    const bobLsi = bobStatus?.lsi;
    if (!bobLsi) throw new Error('alice has no LSI for bob');

    heading(`Ping through the tunnel: alice -> bob by LSI (${bobLsi}) and by HIT`);
    for (const target of [bobLsi, tunnel.bobId.hit]) {
      const ping = alice.spawn('ping', ['-n', '-c', '3', '-i', '0.3', '-W', '2', target], {
        onLine: (line) => line && say(`alice | ${line}`),
      });
      await ping.exited;
    }

    heading('HIP-level probe: hipvpn ping bob');
    const probe = await tunnel.aliceVpn.cli(['ping', 'bob', '--count', '3'], { allowFailure: true });
    for (const line of (probe.stdout + probe.stderr).trim().split('\n')) if (line) say(`alice | ${line}`);

    heading('iperf3 through the tunnel: 3 s of TCP, alice -> bob');
    const tcp = await iperf(alice, bob, bobLsi, { seconds: 3 });
    say(`TCP ${tcp.mbps.toFixed(1)} Mbit/s through hipvpn (retransmits ${tcp.retransmits ?? 0})`);

    heading('hipvpn status on alice');
    const status = await tunnel.aliceVpn.cli(['status']);
    process.stdout.write(`${status.stdout.trimEnd()}\n`);
  } finally {
    heading('Tearing the lab down');
    await lab.teardown();
    say('done: no namespaces, processes or files left');
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { all: { type: 'boolean', default: false } } });
  if (process.getuid?.() !== 0) {
    console.error('the lab needs root (network namespaces, TUN devices): run it with sudo');
    process.exit(1);
  }
  switch (positionals[0]) {
    case 'demo':
      await demo();
      return;
    case 'cleanup': {
      const removed = cleanupLeftovers({ everything: values.all });
      console.log(removed.length ? `removed:\n  ${removed.join('\n  ')}` : 'nothing to clean up');
      return;
    }
    default:
      console.error('usage: node --import tsx lab/cli.ts demo | cleanup [--all]');
      process.exit(2);
  }
}

main().catch((error: unknown) => {
  console.error(`lab: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
