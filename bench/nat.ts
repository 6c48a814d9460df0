// Through a relay in the NAT lab (lab/nat.ts): alice and bob behind home NATs that drop what
// nobody behind them asked for, each knowing the other by HIT alone, both registered with
// `hipvpn relay serve` on the public relay host. In one run:
//
// 1. Start-up: from both client daemons started (the relay already up) to the first echo reply
//    by HIT through the relay. Each round uses fresh identities, so the relay, the NATs and both
//    daemons start cold; the median of the rounds is printed with the relay RTT (ping from alice
//    to the relay's public address) against the goal: at most 1 s plus one relay RTT. "Started"
//    is when both daemons answer on their control sockets (what `hipvpn status` needs); the time
//    from spawning them, which adds Node's own start, is printed beside it.
// 2. Relayed TCP throughput (iperf3 alice -> bob by HIT) as a ratio of direct TCP in the same lab,
//    goal at least 0.5. The direct anchor is alice -> the public `server` host by HIT, through
//    the same alice daemon: the same sender, the same home NAT and uplink, the same kind of
//    receiving daemon; what differs is only the relay's forwarding (and bob's NAT, which a
//    relayed pair always has). bob made reachable (a port forward) would anchor on a setup no
//    user has.
// 3. The relay's CPU while relaying (its process, lab/cpu.ts), per Mbit/s carried.
// 4. Upgrade to direct: in a second lab with both homes port-preserving, from the first echo
//    reply by HIT (through the relay) until both daemons' status says `direct`, fresh identities
//    each round; the median against the goal of 2 s.
//
// 5. Handovers behind NATs: the laptop's Wi-Fi behind a port-preserving home NAT, its cellular
//    behind a symmetric carrier NAT, the server reachable (NAT_HANDOVER_SERVER: port-forwarded,
//    the default, or direct), no relay. Make-before-break and break-before-make under a
//    100 packets/s stream each way, hipvpn and wireguard-go (roaming, keepalive 1 s: it needs
//    the server reachable, which this setup gives it) taking turns; per system the median gap
//    and the packets lost, and the ratio of the median gaps per scenario.
// 6. The same handovers with a relay and no port forward (bob behind a port-preserving NAT of his
//    own, both registered): direct on Wi-Fi, relayed on cellular. hipvpn alone: wireguard-go
//    has no way to reach a peer that nobody can reach.
//
// One summary line per measure; the last line is the ratio the issue sets a goal for. Needs root.
// Run: npm run bench:nat
//
// Knobs: NAT_ROUNDS (start-up rounds, default 5), NAT_SECONDS (iperf3 measuring time, default 5),
// NAT_ALICE_HOME / NAT_BOB_HOME (port-preserving or symmetric; defaults port-preserving and
// symmetric), NAT_HANDOVER_ROUNDS (rounds of each handover per system, default 3; 0 skips them),
// NAT_ONLY=handovers (sections 5 and 6 alone).

import { CpuMeter } from '../lab/cpu.js';
import { HipvpnNode, sleep } from '../lab/hipvpn.js';
import { iperf, type IperfResult } from '../lab/iperf.js';
import { medianGap, medianOrNull, resumeMark, runHandoverRounds } from '../lab/handover-rounds.js';
import { SCENARIOS, type ScenarioId } from '../lab/handover-scenarios.js';
import { MobilityLab } from '../lab/mobility.js';
import { buildNatLab, type NatKind, type NatLab } from '../lab/nat.js';
import { prepareRelayClients, RelayDaemon, relayedOnWifi, waitRegistered, type RelayedPair } from '../lab/relay-scenario.js';
import { measureHandover, type HandoverMeasurement } from '../lab/handover.js';

const ROUNDS = Math.max(1, Number(process.env.NAT_ROUNDS ?? 5));
const SECONDS = Number(process.env.NAT_SECONDS ?? 5);
const ALICE_HOME = (process.env.NAT_ALICE_HOME ?? 'port-preserving') as NatKind;
const BOB_HOME = (process.env.NAT_BOB_HOME ?? 'symmetric') as NatKind;
/** One echo request every 10 ms: the first reply is seen within 10 ms of the path being there. */
const PING_INTERVAL_S = '0.01';
const HANDOVER_ROUNDS = Math.max(0, Number(process.env.NAT_HANDOVER_ROUNDS ?? 3));
const HANDOVER_SERVER = process.env.NAT_HANDOVER_SERVER ?? 'port-forwarded';
const HANDOVER_SCENARIOS: readonly ScenarioId[] = ['make-before-break', 'break-before-make'];
const HANDOVER_RECOVER_MS = 30_000;
const FIRST_REPLY_TIMEOUT_MS = 20_000;

interface StartupRound {
  /** From both daemons answering on their control sockets to the first echo reply. */
  readonly fromReadyMs: number;
  /** From spawning both daemons to the first echo reply. */
  readonly fromSpawnMs: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Average RTT of `ping` from alice to the relay's public address, in ms. */
async function relayRttMs(net: NatLab, relayAddress: string): Promise<number> {
  const result = await net.alice.exec('ping', ['-n', '-c', '10', '-i', '0.05', '-W', '1', relayAddress], { timeoutMs: 10_000 });
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(result.stdout);
  if (!rtt) throw new Error(`no RTT in ping's output:\n${result.stdout}`);
  return Number(rtt[1]);
}

/** One cold start: fresh identities, both daemons started together, pings by HIT until a reply. */
async function startupRound(net: NatLab, relay: RelayDaemon, round: number): Promise<StartupRound> {
  const clients = await prepareRelayClients(net, relay, { stateName: `hipvpn-startup-${round}` });
  const { aliceVpn, bobVpn, bobId } = clients.pair;
  try {
    const spawnedAt = Date.now();
    await Promise.all([clients.serveBob(), clients.serveAlice()]);
    const readyAt = Date.now();
    const stream = net.alice.spawn('ping', ['-n', '-D', '-i', PING_INTERVAL_S, '-W', '1', bobId.hit], { label: 'alice:ping' });
    try {
      const reply = await stream.waitForLine(/^\[\d+\.\d+\] \d+ bytes from/, FIRST_REPLY_TIMEOUT_MS);
      const repliedAt = Number(/^\[(\d+\.\d+)\]/.exec(reply)![1]) * 1000;
      return { fromReadyMs: repliedAt - readyAt, fromSpawnMs: repliedAt - spawnedAt };
    } finally {
      await stream.stop(1_000);
    }
  } finally {
    await Promise.all([aliceVpn.stop(), bobVpn.stop()]);
  }
}

/** Milliseconds from the first echo reply (through the relay) until both sides say `direct`. */
async function upgradeRound(net: NatLab, relay: RelayDaemon, round: number): Promise<number> {
  const clients = await prepareRelayClients(net, relay, { stateName: `hipvpn-direct-${round}` });
  const { aliceVpn, bobVpn, bobId } = clients.pair;
  try {
    await clients.serveBob();
    await clients.serveAlice();
    await waitRegistered([aliceVpn, bobVpn]);
    const stream = net.alice.spawn('ping', ['-n', '-D', '-i', PING_INTERVAL_S, '-W', '1', bobId.hit], { label: 'alice:ping' });
    try {
      const reply = await stream.waitForLine(/^\[\d+\.\d+\] \d+ bytes from/, FIRST_REPLY_TIMEOUT_MS);
      const repliedAt = Number(/^\[(\d+\.\d+)\]/.exec(reply)![1]) * 1000;
      for (;;) {
        const [toBob, toAlice] = await Promise.all([aliceVpn.peer('bob'), bobVpn.peer('alice')]);
        if (toBob?.via === 'direct' && toAlice?.via === 'direct') return Date.now() - repliedAt;
        if (Date.now() - repliedAt > 10_000) throw new Error(`no direct path 10 s after the first reply: alice ${toBob?.via}, bob ${toAlice?.via}`);
        await sleep(10);
      }
    } finally {
      await stream.stop(1_000);
    }
  } finally {
    await Promise.all([aliceVpn.stop(), bobVpn.stop()]);
  }
}

/** Section 4: its own lab, both homes port-preserving, so that a direct pair can work. */
async function measureUpgrade(): Promise<number[]> {
  const net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'port-preserving' });
  try {
    const relay = new RelayDaemon(net.relay, net.relay.address('eth0'));
    await relay.serve();
    const times: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      times.push(await upgradeRound(net, relay, round));
      console.log(`  round ${round}: direct ${times.at(-1)!.toFixed(0)} ms after the first reply`);
    }
    await relay.stop();
    return times;
  } finally {
    await net.lab.teardown();
  }
}

interface Throughput {
  readonly direct: IperfResult;
  readonly relayed: IperfResult;
  /** The relay process's CPU over the relayed run, in percent of one core. */
  readonly relayCpuPercent: number;
}

/** alice with bob (by HIT, through the relay) and the public server (by HIT, at its address). */
async function measureThroughput(net: NatLab, relay: RelayDaemon): Promise<Throughput> {
  const serverVpn = new HipvpnNode(net.server);
  const serverId = await serverVpn.identity();
  const clients = await prepareRelayClients(net, relay, {
    stateName: 'hipvpn-throughput',
    alicePeers: [{ name: 'server', hit: serverId.hit, locators: [`${net.server.address('eth0')}:${serverVpn.port}`] }],
  });
  const pair: RelayedPair = clients.pair;
  try {
    await serverVpn.serve({ acceptAny: true });
    await clients.serveBob();
    await clients.serveAlice();
    await waitRegistered([pair.aliceVpn, pair.bobVpn]);
    // The first packets start each base exchange; the measurement starts once both carry data.
    await net.alice.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', pair.bobId.hit], { allowFailure: true, timeoutMs: 10_000 });
    await net.alice.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', serverId.hit], { allowFailure: true, timeoutMs: 10_000 });
    await pair.aliceVpn.waitForEstablished('bob', 10_000);
    await pair.aliceVpn.waitForEstablished('server', 10_000);
    const [toBob, toServer] = [await pair.aliceVpn.peer('bob'), await pair.aliceVpn.peer('server')];
    if (toBob?.via !== 'relay') throw new Error(`alice reaches bob ${toBob?.via ?? 'not at all'}, not through the relay`);
    if (toServer?.via !== 'direct') throw new Error(`alice reaches the server ${toServer?.via ?? 'not at all'}, not directly`);

    const direct = await iperf(net.alice, net.server, serverId.hit, { seconds: SECONDS, omitSeconds: 1 });
    const relayPid = relay.process?.pid;
    if (relayPid === undefined) throw new Error('the relay has no process');
    const meter = new CpuMeter([relayPid]);
    const relayed = await iperf(net.alice, net.bob, pair.bobId.hit, { seconds: SECONDS, omitSeconds: 1 });
    const relayCpuPercent = meter.stop().processPercent;
    return { direct, relayed, relayCpuPercent };
  } finally {
    await Promise.all([pair.aliceVpn.stop(), pair.bobVpn.stop(), serverVpn.stop()]);
  }
}

async function main(): Promise<number> {
  if (process.env.NAT_ONLY === 'handovers') return (await measureHandoversBehindNats()) && (await measureRelayHandovers()) ? 0 : 1;
  console.log(
    `nat: alice behind a ${ALICE_HOME} NAT, bob behind a ${BOB_HOME} NAT, by HIT through hipvpn relay serve; ` +
      `${ROUNDS} start-up rounds, iperf3 TCP ${SECONDS} s`,
  );
  const net = await buildNatLab({ aliceHome: ALICE_HOME, bobHome: BOB_HOME });
  try {
    const relay = new RelayDaemon(net.relay, net.relay.address('eth0'));
    await relay.serve();
    const rtt = await relayRttMs(net, relay.address);

    const rounds: StartupRound[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const result = await startupRound(net, relay, round);
      rounds.push(result);
      console.log(`  round ${round}: first reply ${result.fromReadyMs.toFixed(0)} ms after both daemons answered (${result.fromSpawnMs.toFixed(0)} ms after spawning them)`);
      await sleep(200);
    }
    const startup = median(rounds.map((r) => r.fromReadyMs));
    const goal = 1000 + rtt;
    console.log(
      `start-up to first reply through the relay: median ${startup.toFixed(0)} ms of ${ROUNDS} ` +
        `(from spawn ${median(rounds.map((r) => r.fromSpawnMs)).toFixed(0)} ms); relay RTT ${rtt.toFixed(3)} ms; ` +
        `goal <= 1 s + 1 RTT = ${goal.toFixed(0)} ms: ${startup <= goal ? 'met' : 'NOT met'}`,
    );

    const t = await measureThroughput(net, relay);
    const ratio = t.relayed.mbps / t.direct.mbps;
    console.log(
      `TCP alice -> bob relayed ${t.relayed.mbps.toFixed(1)} Mbit/s (retransmits ${t.relayed.retransmits ?? 0}); ` +
        `alice -> server direct ${t.direct.mbps.toFixed(1)} Mbit/s (retransmits ${t.direct.retransmits ?? 0}); goal ratio >= 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'}`,
    );
    console.log(
      `relay CPU while relaying: ${t.relayCpuPercent.toFixed(0)}% of a core at ${t.relayed.mbps.toFixed(1)} Mbit/s = ` +
        `${(t.relayCpuPercent / t.relayed.mbps).toFixed(3)}% of a core per Mbit/s`,
    );
    await relay.stop();
    await net.lab.teardown();

    const upgrades = await measureUpgrade();
    const upgrade = median(upgrades);
    console.log(`first reply to direct (both homes port-preserving): median ${upgrade.toFixed(0)} ms of ${upgrades.length}; goal <= 2000 ms: ${upgrade <= 2000 ? 'met' : 'NOT met'}`);
    const handoversOk = HANDOVER_ROUNDS === 0 || ((await measureHandoversBehindNats()) && (await measureRelayHandovers()));
    console.log(`nat throughput ratio relayed/direct: ${ratio.toFixed(2)}`);
    return handoversOk ? 0 : 1;
  } finally {
    await net.lab.teardown();
  }
}

/**
 * Section 5: make-before-break and break-before-make with the laptop behind NATs, hipvpn against
 * wireguard-go; a row per round, then per scenario and system the median gap and the packets
 * lost in every round. False when a round failed.
 */
async function measureHandoversBehindNats(): Promise<boolean> {
  console.log(
    `handovers behind NATs: wifi0 behind a port-preserving home NAT, cell0 behind a symmetric carrier NAT, ` +
      `server ${HANDOVER_SERVER}; 100 packets/s each way; ${HANDOVER_ROUNDS} rounds per system`,
  );
  const server = HANDOVER_SERVER === 'direct' ? 'direct' : 'port-forwarded';
  const mobility = await MobilityLab.create({ cell0: 'down', mobileBehindNats: true, server });
  let rounds: Awaited<ReturnType<typeof runHandoverRounds>>;
  try {
    rounds = await runHandoverRounds(mobility, {
      scenarios: HANDOVER_SCENARIOS,
      systems: ['wireguard-go', 'hipvpn'],
      roundsOf: () => HANDOVER_ROUNDS,
      recoverMs: HANDOVER_RECOVER_MS,
      tcp: false,
      rowPrefix: '  ',
    });
  } finally {
    await mobility.teardown();
  }
  const gaps = new Map<string, number | null>();
  for (const id of HANDOVER_SCENARIOS) {
    for (const system of ['hipvpn', 'wireguard-go']) {
      const results = rounds.results.get(`${id}/${system}`) ?? [];
      const gap = medianGap(results);
      gaps.set(`${id}/${system}`, gap);
      const lost = results.map((r) => (r === null ? '-' : String(r.lost))).join(', ');
      const lostMedian = medianOrNull(results.map((r) => r?.lost ?? null));
      const mark = resumeMark(SCENARIOS[id]);
      const resumed = medianOrNull(results.map((r) => r?.resumeAfter(mark) ?? null));
      console.log(
        `handover behind NATs, ${id}, ${system}: median gap ${gap === null ? 'n/a' : `${gap.toFixed(0)} ms`}, ` +
          `traffic back ${resumed === null ? 'n/a' : `${resumed.toFixed(0)} ms`} after ${mark}, median lost ${lostMedian ?? 'n/a'} (lost per round: ${lost})`,
      );
    }
  }
  for (const id of HANDOVER_SCENARIOS) {
    const hip = gaps.get(`${id}/hipvpn`);
    const wg = gaps.get(`${id}/wireguard-go`);
    console.log(`handover behind NATs, gap ratio hipvpn/wireguard-go (${id}): ${hip != null && wg != null && wg > 0 ? (hip / wg).toFixed(2) : 'n/a'}`);
  }
  return !rounds.failed;
}

/**
 * Section 6: make-before-break and break-before-make between alice's home NAT (direct to bob) and
 * her carrier NAT (through the relay), hipvpn alone; a row per round, then the medians. False
 * when a round failed.
 */
async function measureRelayHandovers(): Promise<boolean> {
  console.log(`handovers through a relay: wifi0 behind a port-preserving home NAT (direct to bob), cell0 behind a symmetric carrier NAT (relayed); bob behind a port-preserving NAT; ${HANDOVER_ROUNDS} rounds each way`);
  const net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'port-preserving', carrier: 'symmetric' });
  const rows = new Map<string, Array<{ gapMs: number | null; lost: number; resumedMs: number | null }>>();
  let ok = true;
  try {
    const { path, via } = await relayedOnWifi(net);
    const wifi = net.alice.iface('wifi0');
    const cell = net.alice.iface('cell0');
    for (const scenario of HANDOVER_SCENARIOS) {
      for (let round = 1; round <= HANDOVER_ROUNDS; round++) {
        for (const [from, to] of [[wifi, cell], [cell, wifi]] as const) {
          const key = `${scenario}, ${from.ifname} -> ${to.ifname}`;
          let result: HandoverMeasurement;
          try {
            result = await measureHandover(path, async (mark) => {
              if (scenario === 'make-before-break') {
                await to.restore();
                mark(`${to.ifname} up`);
                await sleep(2_000);
                await from.cutLink('down');
                mark(`${from.ifname} down`);
              } else {
                await from.cutLink('down');
                mark(`${from.ifname} down`);
                await sleep(2_000);
                await to.restore();
                mark(`${to.ifname} up`);
              }
            }, { recoverWithinMs: HANDOVER_RECOVER_MS, tcp: false });
          } catch (error) {
            ok = false;
            console.log(`  ${key} round ${round}/${HANDOVER_ROUNDS} failed: ${(error as Error).message.split('\n')[0]}`);
            continue;
          }
          const mark = scenario === 'make-before-break' ? `${from.ifname} down` : `${to.ifname} up`;
          const resumedMs = result.resumeAfter(mark);
          if (!rows.has(key)) rows.set(key, []);
          rows.get(key)!.push({ gapMs: result.gapMs, lost: result.lost, resumedMs });
          console.log(
            `  ${key} round ${round}/${HANDOVER_ROUNDS}: ${result.gapMs === null ? 'not recovered' : `gap ${result.gapMs.toFixed(0)} ms`}, ` +
              `lost ${result.lost}, traffic back ${resumedMs === null ? '-' : resumedMs.toFixed(0)} ms after ${mark}; now ${await via()}`,
          );
        }
      }
    }
  } finally {
    await net.lab.teardown();
  }
  for (const [key, results] of rows) {
    const gap = medianOrNull(results.map((r) => r.gapMs));
    const back = medianOrNull(results.map((r) => r.resumedMs));
    console.log(
      `handover through a relay, ${key}, hipvpn: median gap ${gap === null ? 'n/a' : `${gap.toFixed(0)} ms`}, ` +
        `traffic back ${back === null ? 'n/a' : `${back.toFixed(0)} ms`} after the event, lost per round: ${results.map((r) => r.lost).join(', ')}`,
    );
  }
  return ok;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:nat: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
