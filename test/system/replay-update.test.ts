// An attacker who recorded an UPDATE that B sent to A replays it to A (issue 8). Two daemons
// talk over the loopback of one lab namespace (`--tun none`); B's UPDATE is taken from a capture
// of the wire, then sent again from another address and port, slowly and at full speed, and
// from B's own address and port (forged with a raw socket). What must hold is what A's user and
// B would notice: the association and its pair stay as they were, the replays are counted, and
// nothing goes back to the replayer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureUdp, updatesWithSeq } from '../../lab/capture-udp.js';
import { Flood, writePacketFile } from '../../lab/flood.js';
import { HipvpnNode, sleep } from '../../lab/hipvpn.js';
import { Lab } from '../../lab/lab.js';
import { ipv4UdpPacket } from '../../src-main/platform/pcap.js';
import type { DaemonStatus, PeerStatus } from '../../src-shared/control-api.js';
import type { Host } from '../../lab/host.js';

const A_PORT = 10500;
const B_PORT = 10501;
const LOOPBACK = '127.0.0.1';
const REPLAYER = '127.0.0.9';
const SLOW_REPLAYS = 20;
const FAST_REPLAYS = 20_000;
// Longer than one idle keepalive (20 s) and the longest silence failure detection allows after
// it, so an association a replay had disturbed would be probed, and fail, within the hold.
const HOLD_MS = Number(process.env.REPLAY_HOLD_MS ?? 30_000);
const DUPLICATE = 'hip-update-duplicate';

/** Kernel drops so far on the UDP socket bound to `port` in `host` (/proc/net/udp, last column). */
async function socketDrops(host: Host, port: number): Promise<number> {
  const table = (await host.exec('cat', ['/proc/net/udp'])).stdout;
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(local)) drops += Number(fields[fields.length - 1]);
  }
  return drops;
}

function duplicates(status: DaemonStatus): number {
  return status.counters.dropped[DUPLICATE] ?? 0;
}

/** What identifies the association to its user: state, primary pair, SPIs, every pair's remote. */
function association(peer: PeerStatus | undefined): { state: string; remote: string; spis: string; remotes: string[] } {
  const primary = peer?.pairs?.find((pair) => pair.primary);
  return {
    state: peer?.state ?? 'absent',
    remote: peer?.remote ? `${peer.remote.address}:${peer.remote.port}` : 'none',
    spis: `${primary?.spiIn ?? '?'}/${primary?.spiOut ?? '?'}`,
    remotes: (peer?.pairs ?? []).map((pair) => `${pair.remote.address}:${pair.remote.port}`).sort(),
  };
}

test('a replayed UPDATE leaves the association alone, is counted, and earns the replayer nothing', { timeout: 150_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: a lab namespace, dumpcap and a raw socket');
  const lab = await Lab.create();
  try {
    const host = await lab.addHost('loop');
    const a = new HipvpnNode(host, A_PORT, 'a');
    const b = new HipvpnNode(host, B_PORT, 'b');
    const [aId, bId] = await Promise.all([a.identity(), b.identity()]);
    await Promise.all([a.addPeer('b', bId.hit, [`${LOOPBACK}:${B_PORT}`]), b.addPeer('a', aId.hit, [`${LOOPBACK}:${A_PORT}`])]);
    await a.serve({ tun: null, listen: [LOOPBACK] });
    await b.serve({ tun: null, listen: [LOOPBACK] });
    await Promise.all([a.waitForEstablished('b'), b.waitForEstablished('a')]);

    // B's echo requests are UPDATEs with a SEQ; A processes and acknowledges each.
    const fromB = await captureUdp(host, 'lo', `udp and src port ${B_PORT} and dst port ${A_PORT}`, async () => {
      await b.cli(['ping', 'a', '--count', '2']);
    });
    const recorded = updatesWithSeq(fromB)[0];
    assert.ok(recorded, `the capture holds an UPDATE with SEQ from B (${fromB.length} datagrams from B)`);
    await sleep(500);

    const before = await a.status();
    const seenByA = association(before.peers.find((p) => p.name === 'b'));
    const seenByB = association((await b.status()).peers.find((p) => p.name === 'a'));
    assert.equal(seenByA.state, 'ESTABLISHED');
    assert.equal(seenByA.remote, `${LOOPBACK}:${B_PORT}`);
    t.diagnostic(`A sees B: ${JSON.stringify(seenByA)}; B sees A: ${JSON.stringify(seenByB)}`);

    // From another address and port: 20 at 20/s, then 20,000 at full speed. The socket stays
    // open through the hold below, so anything A sends it later is counted too.
    const replayFile = `${host.scratchDir}/update.bin`;
    writePacketFile(replayFile, [recorded.payload]);
    const dropsBefore = await socketDrops(host, A_PORT);
    const replayer = await Flood.start(host, {
      packetFile: replayFile,
      mode: { bind: `${REPLAYER}:0`, to: `${LOOPBACK}:${A_PORT}` },
      bursts: [{ count: SLOW_REPLAYS, rate: 20 }, { count: FAST_REPLAYS, rate: 0 }],
      gapMs: 2_000,
      lingerMs: HOLD_MS + 6_000,
    });
    const slow = await replayer.burst(1, 10_000);
    await sleep(1_000);
    const afterSlow = await a.status();
    const slowDrops = (await socketDrops(host, A_PORT)) - dropsBefore;
    t.diagnostic(`slow: sent ${slow.sent}, socket drops ${slowDrops}, ${DUPLICATE} +${duplicates(afterSlow) - duplicates(before)}`);
    assert.equal(slow.sent, SLOW_REPLAYS);
    assert.ok(duplicates(afterSlow) - duplicates(before) >= slow.sent - slowDrops, `each slow replay counted as ${DUPLICATE}: ${JSON.stringify(afterSlow.counters.dropped)}`);

    const fast = await replayer.burst(2, 30_000);
    await sleep(2_000);
    const afterFast = await a.status();
    const fastDrops = (await socketDrops(host, A_PORT)) - dropsBefore - slowDrops;
    const fastCounted = duplicates(afterFast) - duplicates(afterSlow);
    t.diagnostic(`fast: sent ${fast.sent} in ${fast.seconds.toFixed(2)} s, socket drops ${fastDrops}, ${DUPLICATE} +${fastCounted}, hipOut +${afterFast.counters.hipOut - afterSlow.counters.hipOut}`);
    assert.equal(fast.sent, FAST_REPLAYS);
    assert.ok(fastCounted >= fast.sent - fastDrops, `every replay the kernel delivered (${fast.sent - fastDrops}) counted as ${DUPLICATE}, got ${fastCounted}`);

    // From B's own address and port (forged): A may answer there, at most about once a second.
    const forged = `${host.scratchDir}/update-forged.bin`;
    writePacketFile(forged, [ipv4UdpPacket(LOOPBACK, LOOPBACK, B_PORT, A_PORT, recorded.payload)]);
    const spoofStart = await a.status();
    const spoofDropsBefore = await socketDrops(host, A_PORT);
    const spoofer = await Flood.start(host, { packetFile: forged, mode: { raw: true }, bursts: [{ count: FAST_REPLAYS, rate: 0 }] });
    const spoof = await spoofer.burst(1, 30_000);
    await sleep(2_000);
    const afterSpoof = await a.status();
    const spoofDrops = (await socketDrops(host, A_PORT)) - spoofDropsBefore;
    const answers = afterSpoof.counters.hipOut - spoofStart.counters.hipOut;
    const spoofCounted = duplicates(afterSpoof) - duplicates(spoofStart);
    const spoofSeconds = spoof.seconds + 2 + 1;
    t.diagnostic(`from B's port: sent ${spoof.sent} in ${spoof.seconds.toFixed(2)} s, socket drops ${spoofDrops}, ${DUPLICATE} +${spoofCounted}, A's hipOut +${answers}`);
    assert.equal(spoof.sent, FAST_REPLAYS);
    assert.ok(spoofCounted >= spoof.sent - spoofDrops, `every forged replay delivered (${spoof.sent - spoofDrops}) counted as ${DUPLICATE}, got ${spoofCounted}`);
    // About one answer a second (two allowed); A's own keepalive traffic in those seconds is
    // part of the count, hence the slack of 5.
    assert.ok(answers <= 2 * Math.ceil(spoofSeconds) + 5, `A sent ${answers} HIP packets in ${spoofSeconds.toFixed(1)} s of ${spoof.sent} replays from B's port`);

    // The hold: no probe of the replayer, no failure detection, no new base exchange.
    const holdEnd = performance.now() + HOLD_MS;
    let checks = 0;
    while (performance.now() < holdEnd) {
      const nowA = association((await a.status()).peers.find((p) => p.name === 'b'));
      const nowB = association((await b.status()).peers.find((p) => p.name === 'a'));
      assert.deepEqual(nowA, seenByA, `after ${checks * 2} s of the hold A's view of B changed`);
      assert.deepEqual(nowB, seenByB, `after ${checks * 2} s of the hold B's view of A changed`);
      checks++;
      await sleep(2_000);
    }
    const report = await replayer.done(HOLD_MS + 30_000);
    t.diagnostic(`replayer: sent ${report.sent}, received ${report.received} datagrams (${report.receivedBytes} octets) from A`);
    assert.equal(report.received, 0, 'A sent nothing to the replayer');
  } finally {
    await lab.teardown();
  }
});
