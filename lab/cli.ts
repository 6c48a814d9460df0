// The lab from the command line (root):
//   node --import tsx lab/cli.ts demo           two hosts, a base exchange, ping, iperf3
//   node --import tsx lab/cli.ts nat [--hold]   the NAT lab: who is mapped to what, what gets in
//   node --import tsx lab/cli.ts cleanup [--all]  remove what dead runs left (--all: every lab)
// `npm run lab` runs the demo: what a newcomer watches to see hipvpn work; `npm run lab -- nat`
// shows the NATs that NAT traversal is tested against.

import { parseArgs } from 'node:util';
import { iperf } from './iperf.js';
import { startRelayedPair, waitRegistered } from './relay-scenario.js';
import { ping } from './traffic.js';
import { buildNatLab, unsolicitedDrops, type NatRouter } from './nat.js';
import { probe, startReflector } from './udp-probe.js';
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

async function natDemo(hold: boolean): Promise<void> {
  heading('Building the NAT lab: a public internet, a relay, two homes and a carrier NAT');
  const net = await buildNatLab({ log: (line) => say(`lab: ${line}`) });
  try {
    const relay = net.relay.address('eth0');
    const describe = (name: string, nat: NatRouter): string => `${name.padEnd(6)} ${nat.kind.padEnd(15)} public ${nat.publicAddress}`;
    heading('Who is where');
    say(`relay   public ${relay}        server public ${net.server.address('eth0')}`);
    say(`alice   wifi0 ${net.alice.address('wifi0')} behind ${describe('homea', net.aliceHome)}`);
    say(`alice   cell0 ${net.alice.address('cell0')} behind ${describe('cgnat', net.carrier)}`);
    say(`bob     eth0  ${net.bob.address('eth0')} behind ${describe('homeb', net.bobHome)}`);

    heading('What each NAT maps a socket to (reflectors on the relay at ports 3478 and 3479)');
    await startReflector(net.relay, relay, 3478);
    await startReflector(net.relay, relay, 3479);
    const targets = [`${relay}:3478`, `${relay}:3479`];
    for (const [host, ifname] of [[net.alice, 'wifi0'], [net.alice, 'cell0'], [net.bob, 'eth0']] as const) {
      const bind = `${host.address(ifname)}:40000`;
      const result = await probe(host, bind, targets);
      say(`${host.name} ${ifname} ${bind} is seen as ${result.seenAs.join(' and ') || 'nothing: no answer'}`);
    }

    heading('What gets in unasked: the server writes to the mapping alice has towards the relay');
    const mapped = `${net.aliceHome.publicAddress}:40000`;
    await probe(net.server, `${net.server.address('eth0')}:5000`, [mapped], 100);
    say(`homea dropped ${await unsolicitedDrops(net.aliceHome.router)} unsolicited packet(s) at its WAN side`);

    heading('hipvpn through the relay: alice and bob know each other by HIT alone');
    const pair = await startRelayedPair(net);
    await waitRegistered([pair.aliceVpn, pair.bobVpn]);
    await pair.aliceVpn.waitForEstablished('bob');
    const echo = await ping(net.alice, pair.bobId.hit, 3);
    say(`alice pings bob's HIT ${pair.bobId.hit}: ${echo.ok ? 'every echo answered' : 'FAILED'}`);
    process.stdout.write(`${(await pair.aliceVpn.cli(['status'])).stdout.trimEnd()}\n`);
    process.stdout.write(`${(await pair.relay.node.cli(['relay', 'status'])).stdout.trimEnd()}\n`);

    if (hold) {
      heading('Holding the lab: Ctrl-C tears it down');
      for (const host of net.lab.hosts) say(`${host.name.padEnd(8)} ip netns exec ${host.netns} bash`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    heading('Tearing the lab down');
    await net.lab.teardown();
    say('done: no namespaces, processes or files left');
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { all: { type: 'boolean', default: false }, hold: { type: 'boolean', default: false } },
  });
  if (process.getuid?.() !== 0) {
    console.error('the lab needs root (network namespaces, TUN devices): run it with sudo');
    process.exit(1);
  }
  switch (positionals[0] ?? 'demo') {
    case 'demo':
      await demo();
      return;
    case 'nat':
      await natDemo(values.hold);
      return;
    case 'cleanup': {
      const removed = cleanupLeftovers({ everything: values.all });
      console.log(removed.length ? `removed:\n  ${removed.join('\n  ')}` : 'nothing to clean up');
      return;
    }
    default:
      console.error('usage: node --import tsx lab/cli.ts [demo] | nat [--hold] | cleanup [--all]');
      process.exit(2);
  }
}

main().catch((error: unknown) => {
  console.error(`lab: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
