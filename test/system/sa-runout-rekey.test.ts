// A further SA's sequence space running out (RFC 4303 §3.3.3: 2^32 packets, never cycled) is
// met by a rekey of that SA pair alone (RFC 8047: an SA pair per interface; RFC 7402 §6.9),
// through the real TUN and the native fast path. Both daemons run `--multihoming simultaneous`
// on the two-uplink lab, so the laptop's cell0 has an SA pair of its own; a 100 packets/s UDP
// stream each way is moved onto cell0's pair. The mobile's test hook (HIPVPN_TEST_SEQ_LEFT,
// SIGUSR2; src-main/daemon/test-hooks.ts) then moves cell0's outbound SA 200 packets before
// 2^32. What a user or the peer would notice: status shows new SPIs on cell0's pair only (the
// base pair, wifi0's, keeps its own), no packet of either stream is lost, and none was refused
// for want of sequence numbers or keys. Needs root.
//
//   node --import tsx --test test/system/sa-runout-rekey.test.ts

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeMeasurement, measureHandover } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';

const SEQ_LEFT = 200;

type Node = MobilityTunnel['mobileVpn'];
type Pair = NonNullable<NonNullable<Awaited<ReturnType<Node['peer']>>>['pairs']>[number];

let mobility: MobilityLab;
let tunnel: MobilityTunnel;
const mobileLog: string[] = [];

before(async () => {
  mobility = await MobilityLab.create({ cell0: 'up' });
  tunnel = await startMobilityHipvpn(mobility, {
    multihoming: 'simultaneous',
    env: { HIPVPN_TEST_SEQ_LEFT: String(SEQ_LEFT) },
    onDaemonLine: (host, line) => {
      if (host === mobility.mobile.name) mobileLog.push(line);
    },
  });
});

after(async () => {
  await mobility?.teardown();
});

async function pairsOf(node: Node, peer: string): Promise<Pair[]> {
  return (await node.peer(peer))?.pairs ?? [];
}

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = await get();
  while (!ok(last) && performance.now() < deadline) {
    await sleep(100);
    last = await get();
  }
  assert.ok(ok(last), `${what}; last seen: ${JSON.stringify(last)}`);
  return last;
}

/** ESP refused or not sealed at this daemon: sequence numbers run out, unknown SPIs, replays, forgeries. */
async function espTrouble(node: Node): Promise<Record<string, number>> {
  const dropped = (await node.status()).counters.dropped;
  return Object.fromEntries(Object.entries(dropped).filter(([k, v]) => /seq|esp-(replay|too-old|auth-failed|unknown-spi|bad|retired)/.test(k) && v > 0));
}

const spis = (p: Pair | undefined): string => `in ${p?.spiIn} out ${p?.spiOut}`;

test(`cell0's outbound SA ${SEQ_LEFT} packets before 2^32: only cell0's pair is rekeyed, and neither stream loses a packet`, async () => {
  const cell = mobility.cell.address;
  const wifi = mobility.wifi.address;
  const pairs = await waitFor('an SA pair per uplink at the mobile', () => pairsOf(tunnel.mobileVpn, 'server'),
    (p) => {
      const own = (i: string): Pair | undefined => p.find((x) => x.interface === i && x.spiOut !== undefined && x.spiIn !== undefined);
      // cell0's pair rides the base SA until its own SA pair (RFC 8047) is set up.
      return own('wifi0') !== undefined && own('cell0') !== undefined && own('wifi0')!.spiOut !== own('cell0')!.spiOut;
    });
  const cellBefore = pairs.find((p) => p.interface === 'cell0')!;
  const wifiBefore = pairs.find((p) => p.interface === 'wifi0')!;
  assert.notEqual(cellBefore.spiOut, wifiBefore.spiOut, 'cell0 has an outbound SA of its own');

  // Both directions onto cell0's pair.
  const toCell = await tunnel.mobileVpn.cli(['failover', 'server', '--to', `${cell},${cellBefore.remote.address}`]);
  assert.equal(toCell.code, 0, `mobile failover: ${toCell.stderr}`);
  const serverCell = (await waitFor('the server knows the mobile\'s cell0 address', () => pairsOf(tunnel.serverVpn, 'mobile'),
    (p) => p.some((x) => x.remote.address === cell && x.state === 'operational'))).find((x) => x.remote.address === cell)!;
  const back = await tunnel.serverVpn.cli(['failover', 'mobile', '--to', `${serverCell.local.address},${cell}`]);
  assert.equal(back.code, 0, `server failover: ${back.stderr}`);
  await waitFor('cell0 primary at the mobile', () => pairsOf(tunnel.mobileVpn, 'server'), (p) => p.some((x) => x.primary && x.interface === 'cell0'));
  await waitFor('the mobile\'s cell0 primary at the server', () => pairsOf(tunnel.serverVpn, 'mobile'), (p) => p.some((x) => x.primary && x.remote.address === cell));
  const serverBase = (await pairsOf(tunnel.serverVpn, 'mobile')).find((x) => x.remote.address === wifi);

  const cellCounters = await mobility.cell.counters();
  const result = await measureHandover(tunnel, async (mark) => {
    assert.ok(tunnel.mobileVpn.daemon?.signal !== undefined);
    tunnel.mobileVpn.daemon.signal('SIGUSR2');
    mark('run-out forced');
    await waitFor('cell0\'s pair gets new SPIs at the mobile', () => pairsOf(tunnel.mobileVpn, 'server'),
      (p) => p.some((x) => x.interface === 'cell0' && x.spiOut !== cellBefore.spiOut && x.spiIn !== cellBefore.spiIn), 5_000);
  }, { tcp: false, recoverWithinMs: 5_000, afterMs: 3_000 });
  const cellAfterCounters = await mobility.cell.counters();
  const after = await pairsOf(tunnel.mobileVpn, 'server');
  const cellAfter = after.find((p) => p.interface === 'cell0');
  const wifiAfter = after.find((p) => p.interface === 'wifi0');
  const serverAfter = await pairsOf(tunnel.serverVpn, 'mobile');
  const hookLines = mobileLog.filter((l) => l.includes('test hook'));
  console.log(`cell0 ${spis(cellBefore)} -> ${spis(cellAfter)}; wifi0 ${spis(wifiBefore)} -> ${spis(wifiAfter)}; ${describeMeasurement(result)};`,
    `through cell0 during the run: ${cellAfterCounters.txPackets - cellCounters.txPackets} out, ${cellAfterCounters.rxPackets - cellCounters.rxPackets} in; hook: ${JSON.stringify(hookLines)}`);

  assert.ok(hookLines.some((l) => l.includes(`outbound SA ${cellBefore.spiOut} `) && l.includes(`sequence number ${2 ** 32 - SEQ_LEFT}`)),
    `the hook moved cell0's outbound SA: ${JSON.stringify(hookLines)}`);
  assert.ok(cellAfter !== undefined && cellAfter.spiOut !== cellBefore.spiOut && cellAfter.spiIn !== cellBefore.spiIn, 'cell0\'s pair has new SPIs both ways');
  assert.deepEqual([wifiAfter?.spiIn, wifiAfter?.spiOut], [wifiBefore.spiIn, wifiBefore.spiOut], 'the base pair (wifi0) keeps its SPIs');
  assert.ok(serverAfter.some((p) => p.spiIn === cellAfter.spiOut && p.spiOut === cellAfter.spiIn), 'the server mirrors cell0\'s new pair');
  const serverBaseAfter = serverAfter.find((x) => x.remote.address === wifi);
  assert.deepEqual([serverBaseAfter?.spiIn, serverBaseAfter?.spiOut], [serverBase?.spiIn, serverBase?.spiOut], 'the server\'s base pair is unchanged');
  const handovers = mobileLog.filter((l) => / handover /.test(l));
  const settled = await waitFor('cell0 stays primary at the mobile', () => pairsOf(tunnel.mobileVpn, 'server'),
    (p) => p.some((x) => x.primary && x.interface === 'cell0'), 2_000).catch(() => after);
  assert.ok(settled.some((p) => p.primary && p.interface === 'cell0'),
    `the traffic stays on cell0; pairs: ${settled.map((p) => `${p.interface}${p.primary ? ' (primary)' : ''} ${p.state}`).join(', ')}; handovers: ${JSON.stringify(handovers)}`);
  for (const d of result.directions) {
    assert.ok(d.sent >= 300, `${d.direction}: ${d.sent} packets sent across the run-out`);
    assert.equal(d.lost, 0, `${d.direction}: lost ${d.lost} of ${d.sent}`);
  }
  assert.deepEqual(await espTrouble(tunnel.mobileVpn), {}, 'the mobile sealed every packet (none past the end of its sequence space) and refused none');
  assert.deepEqual(await espTrouble(tunnel.serverVpn), {}, 'the server refused none of the mobile\'s ESP');
});
