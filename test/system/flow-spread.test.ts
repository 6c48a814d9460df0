// Load sharing per flow (issue 13, seed 002 §3.3.3) through the real data plane (the default
// native fast path): both daemons in simultaneous multihoming ("load sharing") on the two-uplink
// lab, both uplinks limited with tc tbf to the same rate both ways, no flow bindings at all. The
// mobile's kernel byte counters per uplink are the witness: one TCP flow stays whole on the one
// uplink the spread's hash names for it, and four TCP flows (two of which the hash puts on each
// uplink) use both uplinks at once, for more than one uplink's rate. Needs root.
//
//   node --import tsx --test test/system/flow-spread.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chooseMember, flowHash, spreadMemberKey, spreadSalt } from '../../src-main/core/flow-spread.js';
import { textToHit } from '../../src-main/hip/wire/address.js';
import { sleep } from '../../lab/hipvpn.js';
import { iperf, type IperfResult } from '../../lab/iperf.js';
import type { LinkEnd } from '../../lab/link.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

const MBIT = 20;
const SECONDS = 4;
const PORT = 5201;
const IPPROTO_TCP = 6;

let mobility: MobilityLab;
let tunnel: MobilityTunnel;
let limited: LinkEnd[] = [];
/** Where the mobile's spread puts a TCP flow from this (client) port to PORT: 'wifi0' or 'cell0'. */
let uplinkOf: (clientPort: number) => string;

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility, { multihoming: 'simultaneous' });
  const [mobileId, serverId] = await Promise.all([tunnel.mobileVpn.identity(), tunnel.serverVpn.identity()]);
  const salt = spreadSalt(textToHit(mobileId.hit)!, textToHit(serverId.hit)!);
  const keys = [spreadMemberKey('wifi0', salt), spreadMemberKey('cell0', salt)];
  uplinkOf = (clientPort) => ['wifi0', 'cell0'][chooseMember(flowHash(IPPROTO_TCP, clientPort, PORT), keys)]!;
  // Both uplinks share the load once each has its own SA pair, checked and verified.
  const deadline = performance.now() + 20_000;
  let pairs: unknown;
  for (;;) {
    const p = (await tunnel.mobileVpn.peer('server'))?.pairs ?? [];
    pairs = p;
    if (p.filter((x) => x.spread === true).map((x) => x.interface).sort((a, b) => String(a).localeCompare(String(b))).join() === 'cell0,wifi0') break;
    if (performance.now() > deadline) assert.fail(`both uplinks' pairs in the spread; pairs: ${JSON.stringify(pairs)}`);
    await sleep(100);
  }
  limited = [mobility.wifi, mobility.cell, mobility.wifi.peer, mobility.cell.peer];
  await Promise.all(limited.map((end) => end.rateLimit({ mbit: MBIT })));
});

after(async () => {
  await Promise.all(limited.map((end) => end.clearRateLimit()));
  await mobility?.teardown();
});

/** The mobile's tx bytes per uplink while `run` runs. */
async function txDuring<T>(run: () => Promise<T>): Promise<{ wifi: number; cell: number; result: T }> {
  const [w0, c0] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  const result = await run();
  const [w1, c1] = await Promise.all([mobility.wifi.counters(), mobility.cell.counters()]);
  return { wifi: w1.txBytes - w0.txBytes, cell: c1.txBytes - c0.txBytes, result };
}

/** The first client port from `from` whose `count` consecutive ports the hash puts `perUplink` on each uplink. */
function portsSplitting(from: number, count: number, perUplink: number): number {
  for (let p = from; p < from + 1000; p++) {
    const on = Array.from({ length: count }, (_, i) => uplinkOf(p + i));
    if (on.filter((u) => u === 'wifi0').length === perUplink) return p;
  }
  throw new Error('no such ports');
}

let single: IperfResult;

test('one TCP flow stays whole on the uplink the hash names for it', async () => {
  const clientPort = 41000;
  const expected = uplinkOf(clientPort);
  const r = await txDuring(() => iperf(mobility.mobile, mobility.server, tunnel.serverAddress, { seconds: SECONDS, omitSeconds: 1, port: PORT, clientPort }));
  single = r.result;
  const [own, other] = expected === 'wifi0' ? [r.wifi, r.cell] : [r.cell, r.wifi];
  console.log(`# one flow (client port ${clientPort}, hash: ${expected}): ${single.mbps.toFixed(1)} Mbit/s; ${expected} sent ${own} B, the other uplink ${other} B`);
  assert.ok(single.mbps > 0.5 * MBIT, `one flow reached ${single.mbps.toFixed(1)} Mbit/s of ${MBIT}`);
  assert.ok(own >= 0.98 * (own + other), `${expected} carried ${own} B of ${own + other}: the flow split or took the other uplink`);
  assert.ok(own >= single.bytes, `${expected} sent ${own} B for ${single.bytes} B delivered`);
});

test('four TCP flows, two hashed to each uplink, use both uplinks at once for over 1.5 times one uplink', async () => {
  const clientPort = portsSplitting(42000, 4, 2);
  const r = await txDuring(() => iperf(mobility.mobile, mobility.server, tunnel.serverAddress, { seconds: SECONDS, omitSeconds: 1, port: PORT, clientPort, parallel: 4 }));
  const total = r.wifi + r.cell;
  const ratio = r.result.mbps / single.mbps;
  console.log(
    `# four flows (client ports ${clientPort}..${clientPort + 3}): ${r.result.mbps.toFixed(1)} Mbit/s, ${ratio.toFixed(2)} x one flow; ` +
      `wifi0 sent ${r.wifi} B (${((r.wifi / total) * 100).toFixed(1)} %), cell0 ${r.cell} B (${((r.cell / total) * 100).toFixed(1)} %)`,
  );
  assert.ok(r.wifi >= 0.25 * total && r.cell >= 0.25 * total, `each uplink carries at least 25 %: wifi0 ${r.wifi} B, cell0 ${r.cell} B`);
  assert.ok(ratio >= 1.5, `four flows reached ${r.result.mbps.toFixed(1)} Mbit/s, ${ratio.toFixed(2)} x one uplink's ${single.mbps.toFixed(1)}`);
  const peer = await tunnel.mobileVpn.peer('server');
  assert.deepEqual(peer?.pairs?.filter((p) => p.spread === true).map((p) => p.interface).sort((a, b) => String(a).localeCompare(String(b))), ['cell0', 'wifi0'], 'status marks both pairs as sharing the load');
});
