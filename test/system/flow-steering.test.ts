// Per-flow steering through the real data plane (seed 002), ESP in the JS core: on the
// two-uplink lab, the mobile binds one UDP flow to cell0 (not its primary uplink). The kernel's
// per-interface byte counters are the witness: that flow's bytes leave on cell0, other traffic
// to the same peer on wifi0, and status says the flow is bound and enforced, with its counters.
// With cell0 down the flow falls back to wifi0 and says why; it returns when cell0 does.
// Needs root.
//
//   node --import tsx --test test/system/flow-steering.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FlowStatus } from '../../src-shared/control-api.js';
import { ControlClient } from '../../src-main/daemon/control-client.js';
import { stateDir } from '../../src-main/daemon/state-dir.js';
import { sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

const FLOW_PORT = 5201;
const OTHER_PORT = 5301;
const DATAGRAMS = 1000;
const SIZE = 1000;

let mobility: MobilityLab;
let tunnel: MobilityTunnel;
let control: ControlClient;

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility, { env: { HIPVPN_LIBCRYPTO: 'none' } });
  const dir = tunnel.mobileVpn.stateDir;
  control = await ControlClient.connect(stateDir(dir).socket, dir);
});

after(async () => {
  control?.close();
  await mobility?.teardown();
});

async function flow(): Promise<FlowStatus | undefined> {
  return (await control.request('status', {})).flows?.find((f) => f.binding.fid === 1);
}

async function waitForFlow(ok: (f: FlowStatus) => boolean, what: string, timeoutMs = 15_000): Promise<FlowStatus> {
  const deadline = performance.now() + timeoutMs;
  let last: FlowStatus | undefined;
  while (performance.now() < deadline) {
    last = await flow();
    if (last && ok(last)) return last;
    await sleep(100);
  }
  assert.fail(`${what}; flow 1: ${JSON.stringify(last)}`);
}

/** UDP datagrams from the mobile to the server's LSI, from local port 40000, paced to ~2000/s (the JS data plane on a shared CI core). */
async function send(port: number): Promise<void> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const body = Buffer.alloc(${SIZE}, 7);
    s.bind(40000, () => {
      let n = 0;
      const tick = () => {
        for (let i = 0; i < 10 && n < ${DATAGRAMS}; i++, n++) s.send(body, ${port}, '${tunnel.serverAddress}');
        if (n < ${DATAGRAMS}) setTimeout(tick, 5); else setTimeout(() => s.close(), 200);
      };
      tick();
    });`;
  await mobility.mobile.exec(process.execPath, ['-e', script], { timeoutMs: 20_000 });
}

/** Bytes leaving the mobile on each uplink while `run` runs. */
async function txDuring(run: () => Promise<void>): Promise<{ wifi: number; cell: number }> {
  const [w0, c0] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  await run();
  const [w1, c1] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  return { wifi: w1.txBytes - w0.txBytes, cell: c1.txBytes - c0.txBytes };
}

const sentBytes = DATAGRAMS * SIZE;

test('a flow bound to cell0 leaves on cell0, other traffic to the peer on wifi0; status says bound and enforced, with its counters', async () => {
  const primary = (await tunnel.mobileVpn.peer('server'))?.pairs?.find((p) => p.primary);
  assert.equal(primary?.interface, 'wifi0', 'wifi0 carries the primary pair');
  await control.request('flow.set', { fid: 1, peer: 'server', selector: { protocol: 'udp', remotePorts: { from: FLOW_PORT, to: FLOW_PORT } }, interface: 'cell0' });
  const bound = await waitForFlow((f) => f.state === 'bound', 'flow 1 bound to cell0');
  assert.equal(bound.local?.address, mobility.cell.address, 'status names the cell0 pair');

  const flowTx = await txDuring(() => send(FLOW_PORT));
  const flowShare = flowTx.cell / (flowTx.cell + flowTx.wifi);
  console.log(`# flow 1 (udp to ${FLOW_PORT}, ${sentBytes} B sent): cell0 ${flowTx.cell} B, wifi0 ${flowTx.wifi} B, ${(flowShare * 100).toFixed(1)} % on cell0`);
  assert.ok(flowTx.cell >= sentBytes * 0.95, `cell0 carried ${flowTx.cell} B of the flow's ${sentBytes}`);
  assert.ok(flowShare >= 0.95, `${(flowShare * 100).toFixed(1)} % of the flow's bytes left on cell0`);

  const otherTx = await txDuring(() => send(OTHER_PORT));
  const otherShare = otherTx.wifi / (otherTx.cell + otherTx.wifi);
  console.log(`# unbound (udp to ${OTHER_PORT}): wifi0 ${otherTx.wifi} B, cell0 ${otherTx.cell} B, ${(otherShare * 100).toFixed(1)} % on wifi0`);
  assert.ok(otherTx.wifi >= sentBytes * 0.95, `wifi0 carried ${otherTx.wifi} B of the unbound ${sentBytes}`);
  assert.ok(otherShare >= 0.95, `${(otherShare * 100).toFixed(1)} % of the unbound bytes left on wifi0`);

  const counted = await waitForFlow((f) => f.packetsOut >= DATAGRAMS * 0.95, 'the flow\'s packets counted');
  assert.equal(counted.enforced, true, 'packets of the flow were seen leaving on its pair');
  assert.ok(counted.packetsOut <= DATAGRAMS, `only the flow's packets are counted: ${counted.packetsOut}`);
  assert.ok(counted.bytesOut >= counted.packetsOut * (SIZE + 28), `bytesOut counts the inner packets: ${counted.bytesOut}`);
});

test('cell0 down: the flow falls back to wifi0 and says why; it returns to cell0 when cell0 does', async () => {
  await mobility.cell.cutLink('down');
  const fallback = await waitForFlow((f) => f.state === 'fallback', 'flow 1 falls back with cell0 down');
  assert.equal(fallback.reason, 'cell0 is down');
  assert.equal(fallback.enforced, false);
  const down = await txDuring(() => send(FLOW_PORT));
  assert.ok(down.wifi >= sentBytes * 0.95, `with cell0 down wifi0 carried ${down.wifi} B of the flow's ${sentBytes}`);

  await mobility.cell.restore();
  await waitForFlow((f) => f.state === 'bound' && f.local?.address === mobility.cell.address, 'flow 1 back on cell0', 20_000);
  const back = await txDuring(() => send(FLOW_PORT));
  console.log(`# after cell0 returned: cell0 ${back.cell} B, wifi0 ${back.wifi} B`);
  assert.ok(back.cell >= sentBytes * 0.95, `cell0 carried ${back.cell} B of the flow's ${sentBytes} again`);
  await waitForFlow((f) => f.enforced, 'enforced again on cell0');
});
