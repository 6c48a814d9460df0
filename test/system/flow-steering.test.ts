// Per-flow steering through the real data plane (seed 002), with the default (native fast path)
// ESP: on the two-uplink lab the mobile binds flows to its uplinks and the kernel's per-interface
// byte counters are the witness, both ways: a flow's bytes leave on its uplink, and the server's
// return traffic for it (which the server steers from our E-LOCATOR) arrives there; unbound
// traffic keeps to the primary uplink (wifi0). Bindings swap at run time; a 100 packets/s flow
// moves from wifi0 to cell0 without losing a packet; with cell0 down it falls back to wifi0 and
// says why, and it returns when cell0 does. One lab for the whole file. Needs root.
//
//   node --import tsx --test test/system/flow-steering.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ControlEvent, FlowStatus } from '../../src-shared/control-api.js';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { type ApiClient } from '../../src-shared/api-client.js';
import { stateDir } from '../../src-main/daemon/state-dir.js';
import { DEFAULT_DETECTION } from '../../src-main/mobility/failure-detection.js';
import { describeMeasurement, measureHandover, STREAM_PORT } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import { iperf, type IperfResult } from '../../lab/iperf.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

/** Two bound flows and one unbound, each an iperf3 UDP test both ways at its own rate. */
const A = { fid: 1, port: 5201, mbit: 8 };
const B = { fid: 2, port: 5202, mbit: 4 };
const UNBOUND = { port: 5203, mbit: 2 };
/**
 * The 100 packets/s stream each way (lab/handover.ts): flow 3 is the mobile's to the server's
 * STREAM_PORT, flow 4 the server's to the mobile's (local port STREAM_PORT here).
 */
const STREAM = { fid: 3 };
const STREAM_BACK = { fid: 4 };
const SIZE = 1000;

let mobility: MobilityLab;
let tunnel: MobilityTunnel;
let control: ApiClient;
/** The server's handovers (control events), for the failure messages: a move of its data path would steer unbound traffic too. */
let serverEvents: ApiClient;
const serverHandovers: string[] = [];

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility);
  const dir = tunnel.mobileVpn.stateDir;
  control = await connectControl(stateDir(dir).socket, dir);
  const serverDir = tunnel.serverVpn.stateDir;
  serverEvents = await connectControl(stateDir(serverDir).socket, serverDir);
  serverEvents.onEvent((e: ControlEvent) => {
    if (e.type === 'handover') serverHandovers.push(`${e.handover.cause}/${e.handover.detail ?? ''} to ${e.handover.to.remote.address}`);
  });
  await serverEvents.call('subscribe', {});
});

after(async () => {
  control?.close();
  serverEvents?.close();
  await mobility?.teardown();
});

async function flow(fid: number): Promise<FlowStatus | undefined> {
  return (await control.call('status', {})).flows?.find((f) => f.binding.fid === fid);
}

async function waitForFlow(fid: number, ok: (f: FlowStatus) => boolean, what: string, timeoutMs = 15_000): Promise<FlowStatus> {
  const deadline = performance.now() + timeoutMs;
  let last: FlowStatus | undefined;
  while (performance.now() < deadline) {
    last = await flow(fid);
    if (last && ok(last)) return last;
    await sleep(50);
  }
  assert.fail(`${what}; flow ${fid}: ${JSON.stringify(last)}`);
}

const addressOf = (ifname: 'wifi0' | 'cell0'): string => (ifname === 'wifi0' ? mobility.wifi.address : mobility.cell.address);

/** Bind a UDP flow to `ifname`: by default the one to the server's `port`, with `ours` the one to our `port`. */
async function setFlow(fid: number, port: number, ifname: 'wifi0' | 'cell0', side: 'theirs' | 'ours' = 'theirs'): Promise<void> {
  const ports = { from: port, to: port };
  const selector = side === 'theirs' ? { protocol: 'udp' as const, remotePorts: ports } : { protocol: 'udp' as const, localPorts: ports };
  await control.call('flow.set', { fid, peer: 'server', selector, interface: ifname });
}

/** Wait until the flow is on `ifname` and the server has the binding (bound = acknowledged). */
function boundTo(fid: number, ifname: 'wifi0' | 'cell0'): Promise<FlowStatus> {
  return waitForFlow(fid, (f) => f.state === 'bound' && f.local?.address === addressOf(ifname), `flow ${fid} bound to ${ifname}`);
}

async function bind(fid: number, port: number, ifname: 'wifi0' | 'cell0', side: 'theirs' | 'ours' = 'theirs'): Promise<void> {
  await setFlow(fid, port, ifname, side);
  await boundTo(fid, ifname);
}

interface Bytes { wifiTx: number; cellTx: number; wifiRx: number; cellRx: number }

/** The mobile's bytes per uplink and direction while `run` runs. */
async function bytesDuring<T>(run: () => Promise<T>): Promise<[Bytes, T]> {
  const [w0, c0] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  const result = await run();
  const [w1, c1] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  return [{ wifiTx: w1.txBytes - w0.txBytes, cellTx: c1.txBytes - c0.txBytes, wifiRx: w1.rxBytes - w0.rxBytes, cellRx: c1.rxBytes - c0.rxBytes }, result];
}

/**
 * The three iperf3 tests at once, both ways. Every datagram has the same size, so each flow's
 * share of the wire bytes in a direction is its share of the bytes iperf3 sent that way; the
 * rates (8, 4, 2 Mbit/s) are chosen so that no flow's bytes can pass for another's or a sum.
 */
async function runAll(): Promise<{ bytes: Bytes; a: IperfResult; b: IperfResult; unbound: IperfResult }> {
  const run = (f: { port: number; mbit: number }): Promise<IperfResult> =>
    iperf(mobility.mobile, mobility.server, tunnel.serverAddress, { seconds: 2, udpMbit: f.mbit, udpLength: SIZE, port: f.port, bidir: true });
  const [bytes, [a, b, unbound]] = await bytesDuring(() => Promise.all([run(A), run(B), run(UNBOUND)]));
  return { bytes, a, b, unbound };
}

/**
 * Each uplink carries what it should, in one direction: its flows' share of that direction's
 * wire bytes to within 5 % of the smallest flow (so no flow has more than 5 % of its bytes on
 * the other uplink), and the bound flow at least 95 % of its own.
 */
function assertSplit(what: string, onCell: number, onWifi: number, cellFlow: number, wifiFlows: readonly number[]): void {
  const sent = cellFlow + wifiFlows.reduce((s, n) => s + n, 0);
  const perByte = (onCell + onWifi) / sent;
  const cellExpected = cellFlow * perByte;
  const slack = 0.05 * Math.min(cellFlow, ...wifiFlows) * perByte;
  const share = onCell / cellExpected;
  console.log(`# ${what}: cell0 ${onCell} B (${(share * 100).toFixed(1)} % of its flow's wire bytes), wifi0 ${onWifi} B (${((onWifi / (sent * perByte - cellExpected)) * 100).toFixed(1)} % of its flows')`);
  assert.ok(onCell >= 0.95 * cellExpected, `${what}: cell0 carried ${onCell} B, under 95 % of its flow's ${cellExpected.toFixed(0)}`);
  assert.ok(onCell <= cellExpected + slack, `${what}: cell0 carried ${onCell} B, more than its flow's ${cellExpected.toFixed(0)} + ${slack.toFixed(0)}: another flow leaked onto it; the server's handovers: ${serverHandovers.join(', ') || 'none'}`);
}

test('two flows on their own uplinks, both ways, swapped at run time; unbound traffic on wifi0', async () => {
  const primary = (await tunnel.mobileVpn.peer('server'))?.pairs?.find((p) => p.primary);
  assert.equal(primary?.interface, 'wifi0', 'wifi0 carries the primary pair');
  await bind(A.fid, A.port, 'cell0');
  await bind(B.fid, B.port, 'wifi0');
  const atServer = (await tunnel.serverVpn.peer('mobile'))?.peerFlows;
  assert.deepEqual(atServer?.map((f) => [f.fid, f.selector.localPorts?.from, f.locator.address]).sort((x, y) => Number(x[0]) - Number(y[0])), [[A.fid, A.port, mobility.cell.address], [B.fid, B.port, mobility.wifi.address]],
    `the server's status shows where the mobile wants each flow back: ${JSON.stringify(atServer)}`);

  const first = await runAll();
  const sent = (r: IperfResult): number => r.sentBytes ?? 0;
  const back = (r: IperfResult): number => r.reverse?.sentBytes ?? 0;
  assertSplit('A on cell0, B and unbound on wifi0, out', first.bytes.cellTx, first.bytes.wifiTx, sent(first.a), [sent(first.b), sent(first.unbound)]);
  assertSplit('A on cell0, B and unbound on wifi0, return', first.bytes.cellRx, first.bytes.wifiRx, back(first.a), [back(first.b), back(first.unbound)]);

  await bind(A.fid, A.port, 'wifi0');
  await bind(B.fid, B.port, 'cell0');
  const swapped = await runAll();
  assertSplit('swapped: B on cell0, A and unbound on wifi0, out', swapped.bytes.cellTx, swapped.bytes.wifiTx, sent(swapped.b), [sent(swapped.a), sent(swapped.unbound)]);
  assertSplit('swapped: B on cell0, A and unbound on wifi0, return', swapped.bytes.cellRx, swapped.bytes.wifiRx, back(swapped.b), [back(swapped.a), back(swapped.unbound)]);

  const a = await waitForFlow(A.fid, (f) => f.enforced, 'flow A enforced on wifi0');
  const b = await waitForFlow(B.fid, (f) => f.enforced && f.packetsIn > 0, 'flow B enforced on cell0, return packets counted');
  console.log(`# status: A ${a.packetsOut} out / ${a.packetsIn} in, B ${b.packetsOut} out / ${b.packetsIn} in`);
  // iperf3's few small set-up datagrams ride the flow too.
  assert.ok(b.bytesOut >= 0.99 * b.packetsOut * (SIZE + 28), `bytesOut counts the inner packets: ${b.bytesOut} for ${b.packetsOut}`);
});

test('a 100 packets/s flow each way moves from wifi0 to cell0 at run time without losing a packet', async () => {
  await bind(STREAM.fid, STREAM_PORT, 'wifi0');
  await bind(STREAM_BACK.fid, STREAM_PORT, 'wifi0', 'ours');
  let after: Bytes | undefined;
  const result = await measureHandover(tunnel, async (mark) => {
    await setFlow(STREAM.fid, STREAM_PORT, 'cell0');
    await setFlow(STREAM_BACK.fid, STREAM_PORT, 'cell0', 'ours');
    mark('moved');
    await Promise.all([boundTo(STREAM.fid, 'cell0'), boundTo(STREAM_BACK.fid, 'cell0')]);
    [after] = await bytesDuring(() => sleep(1_000));
  }, { rate: 100, tcp: false, warmupMs: 1_000, afterMs: 500 });
  const moved = describeMeasurement(result);
  console.log(`# move: ${moved}; in the second after: cell0 ${after?.cellTx} B out, ${after?.cellRx} B in; wifi0 ${after?.wifiTx} B out, ${after?.wifiRx} B in`);
  assert.ok(result.recovered, moved);
  assert.equal(result.lost, 0, moved);
  // 100 datagrams of 200 B (lab/handover.ts) each way in that second; 90 of them is the floor.
  assert.ok((after?.cellTx ?? 0) >= 90 * 200, `cell0 carried ${after?.cellTx} B of the stream out in the second after the move`);
  assert.ok((after?.cellRx ?? 0) >= 90 * 200, `cell0 carried ${after?.cellRx} B of the stream back in the second after the move`);
});

/** The stream's flow (UDP to the server's STREAM_PORT) at 8 Mbit/s both ways for a second, with the mobile's bytes per uplink. */
async function streamBothWays(): Promise<[Bytes, IperfResult]> {
  return bytesDuring(() => iperf(mobility.mobile, mobility.server, tunnel.serverAddress, { seconds: 1, udpMbit: 8, udpLength: SIZE, port: STREAM_PORT, bidir: true }));
}

test('cell0 down: the flow falls back to wifi0 within the failure-detection time and says why; it returns to cell0 when cell0 does', async () => {
  const downAt = performance.now();
  await mobility.cell.cutLink('down');
  const fallback = await waitForFlow(STREAM.fid, (f) => f.state === 'fallback', 'the stream falls back with cell0 down');
  const fallbackMs = performance.now() - downAt;
  console.log(`# fallback ${fallbackMs.toFixed(0)} ms after cell0 went down`);
  assert.equal(fallback.reason, 'cell0 is down');
  assert.equal(fallback.enforced, false);
  assert.ok(fallbackMs <= DEFAULT_DETECTION.silenceMaxMs + 500, `fallback took ${fallbackMs.toFixed(0)} ms`);
  const [down, duringFallback] = await streamBothWays();
  console.log(`# during fallback: out wifi0 ${down.wifiTx} B, cell0 ${down.cellTx} B; back wifi0 ${down.wifiRx} B, cell0 ${down.cellRx} B; ${duringFallback.sentBytes} B sent each way`);
  const each = duringFallback.sentBytes ?? 0;
  assert.ok(down.wifiTx >= each * 0.95, `with cell0 down wifi0 carried ${down.wifiTx} B of the flow's ${each} out`);
  assert.ok(down.wifiRx >= (duringFallback.reverse?.sentBytes ?? 0) * 0.95, `and ${down.wifiRx} B of its ${duringFallback.reverse?.sentBytes} back`);

  await mobility.cell.restore();
  await waitForFlow(STREAM.fid, (f) => f.state === 'bound' && f.local?.address === mobility.cell.address, 'the stream back on cell0', 20_000);
  const [back, afterReturn] = await streamBothWays();
  console.log(`# after cell0 returned: out cell0 ${back.cellTx} B, wifi0 ${back.wifiTx} B; back cell0 ${back.cellRx} B, wifi0 ${back.wifiRx} B`);
  assert.ok(back.cellTx >= (afterReturn.sentBytes ?? 0) * 0.95, `cell0 carried ${back.cellTx} B of the flow's ${afterReturn.sentBytes} out again`);
  assert.ok(back.cellRx >= (afterReturn.reverse?.sentBytes ?? 0) * 0.95, `and ${back.cellRx} B of its ${afterReturn.reverse?.sentBytes} back`);
  await waitForFlow(STREAM.fid, (f) => f.enforced, 'enforced again on cell0');
});
