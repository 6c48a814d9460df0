// The handover measurement itself, checked against cases whose answer is known: the stream
// analysis on made-up arrivals, and the whole harness over plain routing (where the kernel moves
// the mobile's packets to cell0 the moment its route appears, so the gap is the outage the test
// made) and over wireguard-go. If these pass, a number handover.test.ts or bench:handover reports
// is the network's doing, not the harness's. The lab parts need root.
//
//   node --import tsx --test test/system/handover-measurement.test.ts

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { measureHandover } from '../../lab/handover.js';
import { MARK, NO_UPLINK_MS, SCENARIOS } from '../../lab/handover-scenarios.js';
import type { Host } from '../../lab/host.js';
import { CELL_METRIC, RENUMBERED_WIFI_ADDRESS, WIFI_METRIC } from '../../lab/mobility.js';
import { MobilityLab, plainRouting, startMobilityWireguard } from '../../lab/scenarios.js';
import { StreamReceiver, decodeStreamPacket, encodeStreamPacket } from '../../lab/stream-analysis.js';

describe('stream analysis', () => {
  test('counts losses, duplicates and reordering, and finds the gap and where it was', () => {
    const receiver = new StreamReceiver(30);
    // 10 ms apart; 3 and 4 lost; 6 arrives after 7; 8 twice; a 500 ms hole after 8.
    const arrivals: Array<[number, number]> = [[0, 0], [1, 10], [2, 20], [5, 50], [7, 70], [6, 75], [8, 80], [8, 81], [9, 580], [10, 590]];
    for (const [seq, at] of arrivals) receiver.onPacket(seq, 1_000 + seq * 10, 10_000 + at);
    const report = receiver.report();
    assert.equal(report.received, 9, 'distinct packets');
    assert.equal(report.missing, 2, 'seq 3 and 4 never came');
    assert.equal(report.duplicates, 1, 'seq 8 came twice');
    assert.equal(report.reordered, 1, 'seq 6 came after 7');
    // A duplicate delivers nothing new, so it does not end a gap: the hole runs from 8's first copy.
    assert.equal(report.largestGap?.ms, 500, 'the hole after seq 8');
    assert.equal(report.largestGap?.lastSeqBefore, 8, 'gap starts after 8');
    assert.equal(report.largestGap?.firstSeqAfter, 9, 'gap ends with 9');
    assert.deepEqual(report.gaps.map((gap) => gap.ms), [500], 'only gaps above the 30 ms threshold are listed');
  });

  test('a mark counts what was sent from then on and the gaps that end after it', () => {
    const receiver = new StreamReceiver(30);
    receiver.onPacket(0, 0, 1);
    receiver.onPacket(1, 10, 11);
    receiver.onPacket(2, 20, 300); // a gap that spans the mark at 100
    receiver.mark(100);
    receiver.onPacket(3, 100, 301);
    receiver.onPacket(5, 120, 321);
    const marked = receiver.report().sinceMark;
    assert.equal(marked?.received, 2, 'only packets sent at or after the mark');
    assert.equal(marked?.largestGap?.ms, 20, 'the gap before the mark ended before it was set');
  });

  test('a mark that reaches the receiver late still counts what was sent from its instant on', () => {
    const receiver = new StreamReceiver(30);
    receiver.onPacket(0, 90, 91);
    receiver.onPacket(1, 100, 101); // sent at the mark's instant, arrived before the mark command
    receiver.onPacket(2, 110, 111);
    receiver.mark(100);
    receiver.onPacket(3, 120, 121);
    assert.equal(receiver.report().sinceMark?.received, 3, 'packets 1–3 were sent at or after the mark: none may count as lost');
  });

  test('stream packets round-trip; strangers are ignored, not thrown at', () => {
    const packet = encodeStreamPacket(77, 1_234.5, 200);
    assert.equal(packet.length, 200, 'padded to the asked size');
    assert.deepEqual(decodeStreamPacket(packet), { seq: 77, sentAtMs: 1_234.5 });
    assert.equal(decodeStreamPacket(Buffer.from('hello, not a stream packet')), null, 'wrong magic');
    assert.equal(decodeStreamPacket(packet.subarray(0, 10)), null, 'truncated');
  });
});

async function pings(from: Host, target: string, extra: readonly string[] = []): Promise<boolean> {
  const result = await from.exec('ping', ['-n', '-c', '2', '-i', '0.05', '-W', '1', ...extra, target], { allowFailure: true });
  return result.code === 0;
}

/** The source address `to` sees on one UDP datagram from `from`. */
async function sourceSeenBy(to: Host, from: Host, target: string): Promise<string> {
  const listener = to.spawn(process.execPath, [
    '-e',
    "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>{console.log('from '+r.address);process.exit(0)});s.bind(7999,()=>console.log('ready'))",
  ]);
  try {
    await listener.waitForLine(/^ready/, 10_000);
    await from.exec(process.execPath, ['-e', `require('dgram').createSocket('udp4').send('x',7999,'${target}',()=>process.exit(0))`]);
    return (await listener.waitForLine(/^from /, 5_000)).slice('from '.length);
  } finally {
    await listener.stop(500);
  }
}

describe('mobility lab: the events do what they claim', () => {
  let mobility: MobilityLab;

  before(async () => {
    mobility = await MobilityLab.create({ cell0: 'up', server: 'behind-multihomed-nat' });
  });
  after(async () => {
    await mobility?.teardown();
  });

  test('routes are a laptop\'s: default via wifi0 first, cell0 second', async () => {
    const routes = (await mobility.mobile.ip(['route', 'show', 'default'])).stdout;
    assert.match(routes, new RegExp(`default via \\S+ dev wifi0 metric ${WIFI_METRIC}`), routes);
    assert.match(routes, new RegExp(`default via \\S+ dev cell0 metric ${CELL_METRIC}`), routes);
    assert.ok(await pings(mobility.mobile, mobility.serverAddress), 'the server site is reachable');
  });

  test("cell0's address sent out of wifi0 is dropped (BCP 38); bound to cell0 it gets through", async () => {
    assert.equal(await pings(mobility.mobile, mobility.serverAddress, ['-I', mobility.cell.address]), false, 'spoofed source got through');
    assert.ok(await pings(mobility.mobile, mobility.serverAddress, ['-I', 'cell0']), 'bound to cell0 it must work');
  });

  test("a silent far-side cut leaves wifi0 looking fine: up, addressed, routed, its router answering", async () => {
    await mobility.cutWifiFarSide();
    try {
      assert.equal(await pings(mobility.mobile, mobility.serverAddress), false, 'traffic still crosses the cut');
      assert.ok(await pings(mobility.mobile, mobility.wifi.peer.address), 'the first hop must still answer');
      const wifi = (await mobility.mobile.ip(['-br', 'addr', 'show', 'dev', 'wifi0'])).stdout;
      assert.match(wifi, new RegExp(`UP\\s+${mobility.wifi.address.replace(/\./g, '\\.')}/24`), wifi);
      assert.match((await mobility.mobile.ip(['route', 'show', 'default'])).stdout, /dev wifi0/, 'wifi0 keeps its route');
    } finally {
      await mobility.reset();
    }
  });

  test('a one-way drop lets the mobile\'s packets out and none back', async () => {
    await mobility.dropWifiDownstream();
    try {
      const lan = mobility.site!.iface('isp1');
      const before = await lan.counters();
      assert.equal(await pings(mobility.mobile, mobility.serverAddress), false, 'replies must not come back');
      const after = await lan.counters();
      assert.ok(after.rxPackets - before.rxPackets >= 2, 'the echo requests must still reach the site');
    } finally {
      await mobility.reset();
    }
  });

  test('renumbering changes the address and keeps the uplink working', async () => {
    await mobility.renumberWifi();
    try {
      assert.equal(mobility.wifi.address, RENUMBERED_WIFI_ADDRESS);
      assert.equal(await sourceSeenBy(mobility.core, mobility.mobile, mobility.core.iface('wifinet').address), RENUMBERED_WIFI_ADDRESS, 'the new address is the source');
    } finally {
      await mobility.reset();
    }
  });

  test("when the site loses ISP 1, the server's packets come from its ISP 2 address", async () => {
    const site = mobility.site!;
    assert.equal(await sourceSeenBy(mobility.mobile, mobility.server, mobility.wifi.address), site.address('isp1'), 'before: ISP 1');
    await mobility.failSiteIsp1();
    try {
      assert.equal(await sourceSeenBy(mobility.mobile, mobility.server, mobility.wifi.address), site.address('isp2'), 'after: ISP 2');
    } finally {
      await mobility.reset();
    }
  });
});

describe('handover measurement over plain routing (ground truth)', () => {
  let mobility: MobilityLab;

  before(async () => {
    mobility = await MobilityLab.create({ cell0: 'no-address' });
  });
  after(async () => {
    await mobility?.teardown();
  });

  test('nothing happening measures as nothing lost, no gap, TCP intact', async () => {
    const result = await measureHandover(plainRouting(mobility), async () => {}, { afterMs: 500 });
    assert.ok(result.recovered, 'an idle step must count as recovered at once');
    assert.equal(result.lost, 0, `packets lost with nothing happening: ${JSON.stringify(result.directions.map((d) => d.lost))}`);
    assert.ok((result.gapMs ?? Infinity) < 250, `gap ${result.gapMs} ms with nothing happening`);
    assert.equal(result.tcpSurvived, true, `TCP over a steady path: ${JSON.stringify(result.tcp)}`);
  });

  test('break-before-make: the gap is the outage the test made, and losses match it', async () => {
    const result = await measureHandover(plainRouting(mobility), SCENARIOS['break-before-make'].step(mobility), { recoverWithinMs: 5_000 });
    try {
      const outage = result.marks[MARK.cellUp]! - result.marks[MARK.wifiDown]!;
      assert.ok(outage >= NO_UPLINK_MS, `the step's outage was ${outage} ms`);
      assert.ok(result.gapMs !== null, 'plain routing moves to cell0 as soon as its route exists');
      // The gap starts up to one send period before wifi0 went and ends when cell0's route
      // carries the first packet, i.e. within a send period or two (and scheduling) after.
      assert.ok(result.gapMs >= outage - 15 && result.gapMs <= outage + 150, `gap ${result.gapMs.toFixed(0)} ms for an outage of ${outage.toFixed(0)} ms`);
      const resumed = result.resumeAfter(MARK.cellUp);
      assert.ok(resumed !== null && resumed < 100, `resumed ${resumed} ms after cell0's address appeared`);
      // 100 packets/s: about one packet lost per 10 ms of gap.
      const [up] = result.directions;
      const expectedLost = (result.gapMs / 10);
      assert.ok(up && Math.abs(up.lost - expectedLost) <= 5, `lost ${up?.lost} packets in a ${result.gapMs.toFixed(0)} ms gap`);
      // The TCP connection is bound to wifi0's address, which cell0's network refuses (BCP 38).
      assert.equal(result.tcpSurvived, false, 'a plain TCP connection cannot follow an address change');
    } finally {
      await mobility.reset();
    }
  });

  test("silent failure: plain routing never notices, and that is reported as 'not recovered'", async () => {
    await mobility.bringUpCell();
    try {
      const result = await measureHandover(plainRouting(mobility), SCENARIOS['silent-failure'].step(mobility), { recoverWithinMs: 3_000, tcp: false });
      assert.equal(result.recovered, false, 'the stream cannot cross a dead path');
      assert.equal(result.gapMs, null, 'not recovered has no gap');
      assert.equal(result.resumeAfter(MARK.farSideCut), null, 'nor a resume time');
      assert.ok(result.lost >= 250, `3 s at 100 packets/s lost only ${result.lost}`);
    } finally {
      await mobility.reset();
    }
  });
});

describe('handover measurement over wireguard-go (a tunnel that roams)', () => {
  let mobility: MobilityLab;

  before(async () => {
    mobility = await MobilityLab.create({ cell0: 'no-address' });
  });
  after(async () => {
    await mobility?.teardown();
  });

  test('break-before-make: both directions resume right after cell0 appears and TCP survives', async () => {
    const wireguard = await startMobilityWireguard(mobility);
    try {
      const result = await measureHandover(wireguard, SCENARIOS['break-before-make'].step(mobility), { recoverWithinMs: 10_000 });
      assert.ok(result.recovered, 'wireguard-go follows the mobile to cell0');
      assert.equal(result.directions.length, 2, 'both directions measured');
      const resumed = result.resumeAfter(MARK.cellUp);
      assert.ok(resumed !== null && resumed < 500, `resumed ${resumed} ms after cell0's address appeared`);
      assert.ok(result.gapMs !== null && result.gapMs >= NO_UPLINK_MS, `gap ${result.gapMs} ms cannot be shorter than the outage`);
      assert.equal(result.tcpSurvived, true, `TCP through wireguard-go: ${JSON.stringify(result.tcp)}`);
    } finally {
      await wireguard.wireguard.stop();
    }
  });
});
