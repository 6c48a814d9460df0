// What per-flow steering costs the native fast path: its packet threads on a real TUN in a
// private network namespace, a sender flooding UDP into the TUN towards the peer's HIT, and the
// TX thread sealing and sending to a loopback socket nobody reads. Modes, run interleaved:
//   none       no flow routes
//   100-miss   100 UDP routes whose port ranges miss the traffic: every packet scans all 100
//              and takes the peer's path (the worst case for unmatched traffic)
//   100-last   the same, the last one matching: every packet is steered by route 100
// Each run reports packets sealed per second and the TX thread's CPU time per packet (from
// /proc/self/task/<tid>/schedstat, so it holds even when the sender is the bottleneck); the
// last lines give the median of each against `none`, and the lookup's share of the TX thread's
// per-packet time. The lookup alone (bench/flow-lookup.c, built with cc against the addon's
// fastpath_flow.c) is timed first: on a shared machine the throughput runs are noisy, its
// ns/packet much less so. Needs root.
// Run: npm run bench:fastpath-flows
//
// Knobs: FLOWS_BENCH_ROUNDS (default 7), FLOWS_BENCH_MS (measuring time per run, default 1000),
// FLOWS_BENCH_BYTES (UDP payload, default 1200), FLOWS_BENCH_ROUTES (default 100).

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromAddr16, toAddr16 } from '../src-main/base/addr16.js';
import { EspSuite } from '../src-main/esp/suites.js';
import { NativeFastPath, type NativeFlowRoute } from '../src-main/dataplane/fastpath.js';
import { IPPROTO_UDP } from '../src-main/dataplane/packet.js';
import { loadNativeIo } from '../src-main/platform/native.js';
import { OWN_HIT, OWN_LSI, PEER_HIT, gcmKeys, saInstall } from '../lab/dataplane-fastpath.js';

const ROUNDS = Number(process.env['FLOWS_BENCH_ROUNDS'] ?? 7);
const RUN_MS = Number(process.env['FLOWS_BENCH_MS'] ?? 1000);
const BYTES = Number(process.env['FLOWS_BENCH_BYTES'] ?? 1200);
const ROUTES = Number(process.env['FLOWS_BENCH_ROUTES'] ?? 100);
const DST_PORT = 5201;
const CELL_OUT = 0x5005;
const BATCH = 64;
const LOOPBACK = toAddr16('127.0.0.1')!;

type Mode = 'none' | `${number}-miss` | `${number}-last`;
const MODES: Mode[] = ['none', `${ROUTES}-miss`, `${ROUTES}-last`];

interface Run { pps: number; nsPerPacket: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time the named thread of this process has run, in ns. */
function threadCpuNs(name: string): number {
  for (const tid of readdirSync('/proc/self/task')) {
    let comm: string;
    try {
      comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === name) return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  }
  throw new Error(`no thread named ${name}: is the addon built from this tree (npm run build:native)?`);
}

/** Routes whose remote ports miss DST_PORT, each a different range; with `lastHits` the last one takes it. */
function routes(n: number, lastHits: boolean, cellPort: number): NativeFlowRoute[] {
  return Array.from({ length: n }, (_, i) => {
    const from = 10000 + i * 10;
    const hit = lastHits && i === n - 1;
    return {
      fid: i + 1, protocol: IPPROTO_UDP, needsPorts: true, localFrom: 0, localTo: 65535,
      remoteFrom: hit ? DST_PORT : from, remoteTo: hit ? DST_PORT : from + 5,
      remoteAddr16: LOOPBACK, port: cellPort, socketIndex: 1, outboundSpi: CELL_OUT,
    };
  });
}

/**
 * The lookup alone (bench/flow-lookup.c linked with native/src/fastpath_flow.c), in ns per
 * packet for each mode: the median of ROUNDS runs. Null when no C compiler or node headers.
 */
function lookupCost(): Map<Mode, number> | null {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const exe = join(tmpdir(), `hipvpn-flow-lookup-${process.pid}`);
  const nodeInclude = join(dirname(process.execPath), '..', 'include', 'node');
  const cc = spawnSync('cc', [
    '-O2', '-std=gnu11', '-D_GNU_SOURCE', `-I${join(root, 'native/src')}`, `-I${nodeInclude}`,
    '-o', exe, join(root, 'bench/flow-lookup.c'), join(root, 'native/src/fastpath_flow.c'),
  ], { encoding: 'utf8' });
  if (cc.status !== 0) {
    console.log(`lookup alone: not measured (cc failed: ${(cc.stderr || cc.error?.message || '').split('\n')[0]})`);
    return null;
  }
  const ns = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of MODES) {
        const args = mode === 'none' ? ['0'] : [String(ROUTES), ...(mode.endsWith('-last') ? ['last'] : [])];
        const [perPacket] = execFileSync(exe, args, { encoding: 'utf8' }).trim().split(' ');
        ns.get(mode)!.push(Number(perPacket));
      }
    }
  } finally {
    rmSync(exe, { force: true });
  }
  return new Map(MODES.map((m) => [m, median(ns.get(m)!)]));
}

function main(): void {
  const lookup = lookupCost();
  if (lookup) {
    console.log(`lookup alone (classify + scan, thread CPU time): ${MODES.map((m) => `${m} ${lookup.get(m)!.toFixed(1)} ns/packet`).join(', ')}`);
  }
  const io = loadNativeIo();
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const tun = io.tunOpen('', false);
  io.linkConfigure(tun.name, true, 1400);
  execFileSync('ip', ['-6', 'addr', 'add', `${fromAddr16(OWN_HIT)}/28`, 'dev', tun.name, 'nodad']);
  // Two sending sockets (path, cell) and two sinks nobody reads: their full buffers drop quietly.
  const open = (family: 4 | 6, addr: Uint8Array): { handle: ReturnType<typeof io.udpOpen>['handle']; port: number } =>
    io.udpOpen(addr, family, 0, '', 4 << 20, 4 << 20, false, 0);
  const pathSock = open(4, LOOPBACK);
  const cellSock = open(4, LOOPBACK);
  const pathSink = open(4, LOOPBACK);
  const cellSink = open(4, LOOPBACK);
  const fast = NativeFastPath.create(io, {
    tunFd: io.fdOf(tun.handle), socketFds: [io.fdOf(pathSock.handle), io.fdOf(cellSock.handle)],
    ownHit: OWN_HIT, ownLsi: OWN_LSI, slotSize: 2048, onWake: () => undefined,
  });
  const install = saInstall(EspSuite.AES_GCM_16);
  install.remote = { address: '127.0.0.1', port: pathSink.port };
  install.remoteAddr16 = LOOPBACK;
  if (!fast.install(install, 0)) throw new Error('the fast path refused the SA');
  if (!fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: EspSuite.AES_GCM_16, keys: gcmKeys(21) }, undefined)) throw new Error('no further SA');

  // The sender: the app's UDP on our HIT towards the peer's, 64 datagrams a call.
  const sender = open(6, OWN_HIT);
  const buf = new Uint8Array(BATCH * BYTES);
  const offsets = Uint32Array.from({ length: BATCH }, (_, i) => i * BYTES);
  const lengths = new Uint32Array(BATCH).fill(BYTES);
  const addrs = new Uint8Array(BATCH * 16);
  for (let i = 0; i < BATCH; i++) addrs.set(PEER_HIT, i * 16);
  const ports = new Uint16Array(BATCH).fill(DST_PORT);
  let gso = true;
  const flood = (ms: number): void => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const r = io.udpSend(sender.handle, buf, offsets, lengths, addrs, ports, BATCH, gso, 1);
      gso = r.gso !== 0;
    }
  };

  const measure = (mode: Mode): Run => {
    if (mode === 'none') fast.setFlowRoutes(PEER_HIT, []);
    else fast.setFlowRoutes(PEER_HIT, routes(ROUTES, mode.endsWith('-last'), cellSink.port));
    flood(150);
    const s0 = fast.stats();
    const c0 = threadCpuNs('hipvpn-fp-tx');
    const t0 = performance.now();
    flood(RUN_MS);
    const t1 = performance.now();
    const c1 = threadCpuNs('hipvpn-fp-tx');
    const s1 = fast.stats();
    const sent = s1.udpPacketsOut - s0.udpPacketsOut;
    const steered = s1.flows.reduce((a, f) => a + f.packetsOut, 0) - s0.flows.reduce((a, f) => a + f.packetsOut, 0);
    if (mode.endsWith('-last') && steered < sent * 0.99) throw new Error(`${mode}: only ${steered} of ${sent} steered`);
    if (!mode.endsWith('-last') && steered !== 0) throw new Error(`${mode}: ${steered} steered`);
    return { pps: (sent * 1000) / (t1 - t0), nsPerPacket: (c1 - c0) / Math.max(1, sent) };
  };

  console.log(`fastpath-flows: ${ROUNDS} rounds of ${MODES.join(', ')} (interleaved), ${RUN_MS} ms each, ${BYTES}-octet UDP payloads`);
  const runs = new Map<Mode, Run[]>(MODES.map((m) => [m, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no mode always runs first (or right after a warm-up).
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
      const line: string[] = [];
      for (const mode of order) {
        const r = measure(mode);
        runs.get(mode)!.push(r);
        line.push(`${mode} ${(r.pps / 1000).toFixed(0)} kpps ${r.nsPerPacket.toFixed(0)} ns/pkt`);
      }
      console.log(`round ${round + 1}: ${line.join(' | ')}`);
    }
  } finally {
    fast.stop();
    for (const s of [sender, pathSock, cellSock, pathSink, cellSink]) io.close(s.handle);
    io.close(tun.handle);
  }
  const base = runs.get('none')!;
  const basePps = median(base.map((r) => r.pps));
  const baseNs = median(base.map((r) => r.nsPerPacket));
  console.log(`none: median ${(basePps / 1000).toFixed(0)} kpps, TX thread ${baseNs.toFixed(0)} ns/packet`);
  for (const mode of MODES.slice(1)) {
    const rs = runs.get(mode)!;
    // Per round against the same round's `none`, then the median of those ratios.
    const ppsRatio = median(rs.map((r, i) => r.pps / base[i]!.pps));
    const nsRatio = median(rs.map((r, i) => r.nsPerPacket / base[i]!.nsPerPacket));
    const share = lookup ? ` lookup ${(lookup.get(mode)! - lookup.get('none')!).toFixed(1)} ns = ${(((lookup.get(mode)! - lookup.get('none')!) / baseNs) * 100).toFixed(2)} % of the TX thread's ${baseNs.toFixed(0)} ns/packet` : '';
    console.log(
      `${mode}: median ${(median(rs.map((r) => r.pps)) / 1000).toFixed(0)} kpps, ` +
        `throughput ratio to none ${ppsRatio.toFixed(3)}, TX CPU per packet ratio ${nsRatio.toFixed(3)};${share}`,
    );
  }
}

if (process.env['HIPVPN_FP_NETNS'] === '1') {
  main();
} else {
  // The TUN and its route belong in a namespace of their own, away from the host's.
  const r = spawnSync('unshare', ['-n', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, HIPVPN_FP_NETNS: '1' }, stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
