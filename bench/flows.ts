// Flow mobility end to end (issue 13, seed 002): on the two-uplink mobility lab, hipvpn between
// the laptop and the server with per-flow bindings set over the control API (`flow.set`), iperf3
// TCP from the laptop to the server's LSI. Two measurements, each against an anchor taken in
// the same run:
//
// 1. Bandwidth aggregation. Both uplinks (wifi0, cell0) limited with tc tbf to the same rate,
//    both ways (the laptop's egress and its access router's egress towards it). Two TCP flows,
//    to two server ports, bound one to each uplink and run at once; their sum against one uplink
//    alone (the wifi0 flow run by itself). The kernel's per-interface counters on the laptop are
//    the witness that each flow left on its own uplink and that its ACKs came back on it.
// 2. Lookup cost. No rate limit; TCP through the tunnel with no bindings, with 100 bindings none
//    of which match the measured flow (every packet scans them all, on both hosts: the server
//    steers its return traffic by the bindings we announced), and with 100 of which the 100th
//    matches, bound to wifi0 (the primary's interface, so the path is the same and only the
//    lookup differs). Interleaved rounds, the order rotating; the median of per-round ratios.
//
// The load average is printed before and after: the lab machine is shared, and a busy CPU
// shows in the lookup-cost ratios more than the lookup does. Needs root.
// Run: npm run bench:flows
//
// Knobs: FLOWS_MBIT (tbf rate of each uplink, default 50), FLOWS_SECONDS (iperf3 measuring time,
// default 8), FLOWS_ROUNDS (lookup-cost rounds, default 5), FLOWS_BINDINGS (default 100),
// FLOWS_ONLY (comma list of aggregation,lookup), FLOWS_ENV (extra daemon env, e.g.
// HIPVPN_LIBCRYPTO=none for ESP in the JS core).

import { availableParallelism, loadavg } from 'node:os';
import type { FlowBinding, FlowStatus } from '../src-shared/control-api.js';
import { connectControl } from '../src-main/daemon/control-client.js';
import { type ApiClient } from '../src-shared/api-client.js';
import { stateDir } from '../src-main/daemon/state-dir.js';
import { sleep } from '../lab/hipvpn.js';
import { iperf, type IperfResult } from '../lab/iperf.js';
import type { InterfaceCounters, LinkEnd } from '../lab/link.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../lab/scenarios.js';

const MBIT = Number(process.env['FLOWS_MBIT'] ?? 50);
const SECONDS = Number(process.env['FLOWS_SECONDS'] ?? 8);
const ROUNDS = Math.max(1, Number(process.env['FLOWS_ROUNDS'] ?? 5));
const BINDINGS = Math.max(1, Number(process.env['FLOWS_BINDINGS'] ?? 100));
const ONLY = new Set((process.env['FLOWS_ONLY'] ?? 'aggregation,lookup').split(','));
const DAEMON_ENV = Object.fromEntries(
  (process.env['FLOWS_ENV'] ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

const WIFI_PORT = 5201;
const CELL_PORT = 5202;
const AGGREGATION_TARGET = 1.8;
const LOOKUP_TOLERANCE = 0.05;
/** Quiet time between runs whose interface counters are compared. */
const SETTLE_MS = 2_000;
/** First port of the bindings that must not match the measured flow. */
const MISS_PORT_BASE = 6001;

type Mode = 'none' | 'miss' | 'last';

/** The ratio lines, printed last (after the load average) so every run ends the same way. */
const summary: string[] = [];

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function tcpTo(port: number): FlowBinding['selector'] {
  return { protocol: 'tcp', remotePorts: { from: port, to: port } };
}

class Flows {
  private constructor(
    private readonly control: ApiClient,
    private readonly peer: string,
  ) {}

  static async open(tunnel: MobilityTunnel): Promise<Flows> {
    const dir = tunnel.mobileVpn.stateDir;
    return new Flows(await connectControl(stateDir(dir).socket, dir), 'server');
  }

  async set(fid: number, selector: FlowBinding['selector'], iface: string): Promise<void> {
    await this.control.call('flow.set', { fid, peer: this.peer, selector, interface: iface });
  }

  async status(): Promise<readonly FlowStatus[]> {
    return (await this.control.call('status', {})).flows ?? [];
  }

  async removeAll(): Promise<void> {
    for (const f of await this.status()) await this.control.call('flow.remove', { fid: f.binding.fid });
  }

  /** Waits until every binding is bound to its interface (the peer acknowledged the E-LOCATOR). */
  async waitBound(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let flows: readonly FlowStatus[] = [];
    while (performance.now() < deadline) {
      flows = await this.status();
      if (flows.length === count && flows.every((f) => f.state === 'bound')) return;
      await sleep(100);
    }
    const notBound = flows.filter((f) => f.state !== 'bound').slice(0, 3);
    throw new Error(`${flows.length}/${count} bindings, not all bound: ${JSON.stringify(notBound)}`);
  }

  close(): void {
    this.control.close();
  }
}

interface Traffic {
  readonly tx: number;
  readonly rx: number;
  readonly rxPackets: number;
}

function delta(before: InterfaceCounters, after: InterfaceCounters): Traffic {
  return { tx: after.txBytes - before.txBytes, rx: after.rxBytes - before.rxBytes, rxPackets: after.rxPackets - before.rxPackets };
}

/** What each uplink carried while `run` ran. */
async function countersDuring<T>(uplinks: readonly LinkEnd[], run: () => Promise<T>): Promise<{ result: T; traffic: Traffic[] }> {
  const before = await Promise.all(uplinks.map((u) => u.counters()));
  const result = await run();
  const after = await Promise.all(uplinks.map((u) => u.counters()));
  return { result, traffic: uplinks.map((_, i) => delta(before[i]!, after[i]!)) };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

async function aggregation(mobility: MobilityLab, tunnel: MobilityTunnel, flows: Flows): Promise<boolean> {
  const { mobile, server } = mobility;
  const uplinks = [mobility.wifi, mobility.cell];
  const limited = [...uplinks, ...uplinks.map((u) => u.peer)];
  await Promise.all(limited.map((end) => end.rateLimit({ mbit: MBIT })));
  try {
    await flows.set(1, tcpTo(WIFI_PORT), 'wifi0');
    await flows.set(2, tcpTo(CELL_PORT), 'cell0');
    await flows.waitBound(2);
    const run = (port: number): Promise<IperfResult> => iperf(mobile, server, tunnel.serverAddress, { seconds: SECONDS, omitSeconds: 1, port });

    const alone = await run(WIFI_PORT);
    console.log(`one uplink alone (flow 1 on wifi0, tbf ${MBIT} Mbit/s): ${alone.mbps.toFixed(1)} Mbit/s (retransmits ${alone.retransmits})`);

    // Flow 2 alone: what comes back to the laptop (its ACKs) shows where the peer steers it.
    // The run before it must be quiet first, or its last ACKs count against cell0.
    await sleep(SETTLE_MS);
    const cellAlone = await countersDuring(uplinks, () => run(CELL_PORT));
    const [wifiBack, cellBack] = cellAlone.traffic as [Traffic, Traffic];
    const cellReturnShare = cellBack.rxPackets / (cellBack.rxPackets + wifiBack.rxPackets);
    console.log(
      `flow 2 alone on cell0: ${cellAlone.result.mbps.toFixed(1)} Mbit/s; sent on cell0 ${mb(cellBack.tx)}, on wifi0 ${mb(wifiBack.tx)}; ` +
        `its return traffic: ${cellBack.rxPackets} packets on cell0, ${wifiBack.rxPackets} on wifi0 (${(cellReturnShare * 100).toFixed(1)} % on cell0)`,
    );

    await sleep(SETTLE_MS);
    const both = await countersDuring(uplinks, () => Promise.all([run(WIFI_PORT), run(CELL_PORT)]));
    const [wifiFlow, cellFlow] = both.result;
    const [wifi, cell] = both.traffic as [Traffic, Traffic];
    const sum = wifiFlow.mbps + cellFlow.mbps;
    console.log(
      `both at once: flow 1 (tcp ${WIFI_PORT} -> wifi0) ${wifiFlow.mbps.toFixed(1)} Mbit/s (retransmits ${wifiFlow.retransmits}), ` +
        `flow 2 (tcp ${CELL_PORT} -> cell0) ${cellFlow.mbps.toFixed(1)} Mbit/s (retransmits ${cellFlow.retransmits}), sum ${sum.toFixed(1)} Mbit/s`,
    );
    console.log(
      `kernel counters on the laptop: wifi0 sent ${mb(wifi.tx)} (flow 1 delivered ${mb(wifiFlow.bytes)}), received ${wifi.rxPackets} packets; ` +
        `cell0 sent ${mb(cell.tx)} (flow 2 delivered ${mb(cellFlow.bytes)}), received ${cell.rxPackets} packets`,
    );
    // Each flow's bytes (plus ESP, UDP and IP overhead and the slow start iperf3 leaves out)
    // must have left on its own uplink: if both had taken one uplink, the other's counter
    // would hold next to nothing. The ACKs coming back are the peer's steering.
    const ownUplink = wifi.tx >= 0.95 * wifiFlow.bytes && cell.tx >= 0.95 * cellFlow.bytes;
    const ackShare = cell.rxPackets / (wifi.rxPackets + cell.rxPackets);
    const flowShare = cellFlow.bytes / (wifiFlow.bytes + cellFlow.bytes);
    console.log(
      `each flow on its own uplink: ${ownUplink ? 'yes' : 'NO'}; return traffic on cell0 ${(ackShare * 100).toFixed(1)} % of packets ` +
        `(flow 2 is ${(flowShare * 100).toFixed(1)} % of the bytes)`,
    );
    const ratio = sum / alone.mbps;
    summary.push(`aggregation ratio both uplinks/one uplink: ${ratio.toFixed(2)} (target >= ${AGGREGATION_TARGET})`);
    return ownUplink && cellReturnShare >= 0.95 && ratio >= AGGREGATION_TARGET;
  } finally {
    await flows.removeAll();
    await Promise.all(limited.map((end) => end.clearRateLimit()));
  }
}

async function setMode(flows: Flows, mode: Mode): Promise<void> {
  await flows.removeAll();
  if (mode === 'none') return flows.waitBound(0);
  // Distinct selectors (the daemon refuses a second FID for the same traffic), none matching
  // the measured flow, except the last one in 'last'.
  for (let fid = 1; fid < BINDINGS; fid++) await flows.set(fid, tcpTo(MISS_PORT_BASE + fid), fid % 2 ? 'cell0' : 'wifi0');
  await flows.set(BINDINGS, tcpTo(mode === 'last' ? WIFI_PORT : MISS_PORT_BASE + BINDINGS), 'wifi0');
  await flows.waitBound(BINDINGS);
  if (!toldAnnounced) {
    toldAnnounced = true;
    const unannounced = (await flows.status()).filter((f) => f.reason !== undefined).length;
    console.log(`of ${BINDINGS} bindings the peer was told of ${BINDINGS - unannounced} (one HIP packet's room); it steers only those, the laptop all`);
  }
}

let toldAnnounced = false;

async function lookupCost(mobility: MobilityLab, tunnel: MobilityTunnel, flows: Flows): Promise<boolean> {
  const modes: Mode[] = ['none', 'miss', 'last'];
  const runs = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  const ratios = { miss: [] as number[], last: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
    const got = new Map<Mode, number>();
    for (const mode of order) {
      await setMode(flows, mode);
      const r = await iperf(mobility.mobile, mobility.server, tunnel.serverAddress, { seconds: SECONDS, omitSeconds: 1, port: WIFI_PORT });
      got.set(mode, r.mbps);
      runs.get(mode)!.push(r.mbps);
    }
    const none = got.get('none')!;
    ratios.miss.push(got.get('miss')! / none);
    ratios.last.push(got.get('last')! / none);
    console.log(
      `round ${round + 1} (${order.join(', ')}): none ${none.toFixed(0)}, ${BINDINGS} missing ${got.get('miss')!.toFixed(0)}, ` +
        `${BINDINGS} the last matching ${got.get('last')!.toFixed(0)} Mbit/s; load ${load()}`,
    );
  }
  await flows.removeAll();
  for (const mode of modes) console.log(`median ${mode}: ${median(runs.get(mode)!).toFixed(1)} Mbit/s`);
  const miss = median(ratios.miss);
  const last = median(ratios.last);
  summary.push(`lookup ratio ${BINDINGS} bindings, the last matching (on wifi0)/none: ${last.toFixed(3)}`);
  summary.push(`lookup ratio ${BINDINGS} bindings missing/none: ${miss.toFixed(3)} (target within ${LOOKUP_TOLERANCE * 100} %)`);
  return Math.abs(1 - miss) <= LOOKUP_TOLERANCE && Math.abs(1 - last) <= LOOKUP_TOLERANCE;
}

async function main(): Promise<number> {
  console.log(
    `flows: iperf3 TCP laptop -> server through hipvpn, ${SECONDS} s per run; aggregation at tbf ${MBIT} Mbit/s per uplink; ` +
      `lookup cost with ${BINDINGS} bindings, ${ROUNDS} interleaved rounds; load ${load()} on ${availableParallelism()} cores`,
  );
  const mobility = await MobilityLab.create({ cell0: 'up' });
  let ok = true;
  try {
    const tunnel = await startMobilityHipvpn(mobility, { env: DAEMON_ENV });
    const flows = await Flows.open(tunnel);
    try {
      if (ONLY.has('aggregation')) ok = (await aggregation(mobility, tunnel, flows)) && ok;
      if (ONLY.has('lookup')) ok = (await lookupCost(mobility, tunnel, flows)) && ok;
    } finally {
      flows.close();
    }
  } finally {
    await mobility.teardown();
  }
  console.log(`load after: ${load()}`);
  for (const line of summary) console.log(line);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:flows: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
