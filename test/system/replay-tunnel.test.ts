// Hardening issue 8, "only fresh, authenticated packets act", with real TUNs in network
// namespaces, the native ESP fast path on (and, for ESP, once more with the JS core opening it):
// an attacker on its own link behind the core router records what crossed the server's link
// (the base exchange, the mobile's ESP) and sends it to the server again from its own address
// and port. Whatever it replays, also while the server's pair to the mobile is in doubt (when
// the data plane follows authenticated ESP from a new source at once), the server's traffic to
// the mobile does not move, nothing goes to the attacker (the server's kernel counters and the
// attacker's sockets), the association stays the same (pair, SPIs, no new base exchange), pings
// through the tunnel lose nothing to the replays, and every replay is dropped and counted under
// its reason. Fresh ESP of the mobile's that an on-path attacker forwards from its own address
// while the server doubts its pair does move the server's traffic there (the mobile might have
// moved), but only as far as RFC 8046 credit goes: the server sends the unverified address no
// more than the mobile sent it. Needs root.
//
//   node --import tsx --test test/system/replay-tunnel.test.ts

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import type { DaemonStatus, PeerStatus } from '../../src-shared/control-api.js';
import { AddressWatch } from '../../lab/address-watch.js';
import { Capture, espSpi, hipPacketType, type CapturedDatagram } from '../../lab/capture.js';
import type { HipvpnNode } from '../../lab/hipvpn.js';
import type { Host } from '../../lab/host.js';
import { Replayer } from '../../lab/replayer.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';
import { sleep } from '../support/wait.js';

const HIP_PORT = 10500;
const ATTACKER_PORT = 40404;
/** The attacker's own link to the core router: neither the mobile's address nor its port. */
const ATTACKER_SUBNET = '172.31.66.0/24';
/** ESP datagrams replayed at a time: the newest recorded, inside the anti-replay window. */
const ESP_REPLAYS = 10;
/** A failed anti-replay check, as the data plane (fast path or JS core) counts it in status. */
const ESP_REPLAY_DROPS = ['dp-esp-replay', 'dp-esp-too-old'];
/** Pings through the tunnel alongside the replays: 2 s at 50/s. */
const PINGS = { count: 100, intervalMs: 20 };

/**
 * The mobility lab with the mobile on wifi0 alone (the server's pair to it has nowhere to go
 * but where the mobile is), an attacker host on the core with its replayers, and a tunnel whose
 * base exchange and first pings the server's link recorded.
 */
class ReplayLab {
  /** Datagrams the attacker sent to the server so far. */
  private replayed = 0;
  /** The attacker's replayers, by source port. */
  private readonly replayers = new Map<number, Replayer>();

  private constructor(
    readonly mobility: MobilityLab,
    readonly tunnel: MobilityTunnel,
    readonly attacker: Host,
    /** The server's kernel counters of what it sent to and got from the attacker's address. */
    readonly watch: AddressWatch,
    /** The mobile's datagrams to the server, recorded on the server's link from the start. */
    readonly fromMobile: CapturedDatagram[],
    /** The server's kernel counters of what it exchanged with the mobile's wifi address since then. */
    readonly mobileWatch: AddressWatch,
  ) {}

  /** `env` goes to both daemons (HIPVPN_LIBCRYPTO=none: ESP in the JS core). */
  static async create(initiator: 'mobile' | 'server', env: NodeJS.ProcessEnv = {}): Promise<ReplayLab> {
    const mobility = await MobilityLab.create({ cell0: 'absent' });
    try {
      const attacker = await mobility.lab.addHost('attacker');
      await mobility.lab.connect(attacker, mobility.core, { name: 'eth0', peerName: 'attnet', subnet: ATTACKER_SUBNET });
      const capture = await Capture.start(mobility.server, 'eth0', `udp port ${HIP_PORT}`);
      const tunnel = await startMobilityHipvpn(mobility, { initiator, env });
      const warmup = await ping(mobility.mobile, tunnel.serverAddress, { count: 20, intervalMs: 20 });
      assert.equal(warmup.received, 20, `the tunnel carries pings before anything is replayed: ${warmup.summary}`);
      const recorded = await capture.stop();
      const fromMobile = recorded.filter((d) => d.src === mobility.wifi.address && d.dst === mobility.serverAddress);
      const watch = await AddressWatch.start(mobility.server, attacker.address());
      const mobileWatch = await AddressWatch.start(mobility.server, mobility.wifi.address, 'lab_mobile_watch');
      return new ReplayLab(mobility, tunnel, attacker, watch, fromMobile, mobileWatch);
    } catch (error) {
      await mobility.teardown();
      throw error;
    }
  }

  get serverVpn(): HipvpnNode {
    return this.tunnel.serverVpn;
  }

  /** The recorded HIP packet of this type from the mobile (I2, R2). */
  recordedHip(type: number): CapturedDatagram {
    const found = this.fromMobile.find((d) => hipPacketType(d.payload) === type);
    assert.ok(found, `no HIP packet of type ${type} from the mobile recorded (${this.fromMobile.length} datagrams)`);
    return found;
  }

  /** The newest `n` recorded ESP datagrams of the mobile's. */
  recordedEsp(n: number): CapturedDatagram[] {
    const esp = this.fromMobile.filter((d) => espSpi(d.payload) !== null).slice(-n);
    assert.equal(esp.length, n, `${esp.length} ESP datagrams of the mobile's recorded, ${n} wanted`);
    return esp;
  }

  /**
   * Sends recorded datagrams to the server's HIP port from the attacker's address and `port`.
   * Each test replays from a port of its own: a source the server met in an earlier test
   * (deprecated after a failed check, or already reported by the data plane) must not hide
   * what this one would do.
   */
  async replay(port: number, datagrams: readonly CapturedDatagram[]): Promise<void> {
    let replayer = this.replayers.get(port);
    if (replayer === undefined) {
      replayer = await Replayer.start(this.attacker, port);
      this.replayers.set(port, replayer);
    }
    for (const d of datagrams) {
      await replayer.send(this.mobility.serverAddress, HIP_PORT, d.payload);
      this.replayed++;
    }
  }

  /** The server's status, its peer "mobile", and the association changes its log shows. */
  async snapshot(): Promise<ServerSnapshot> {
    const status = await this.serverVpn.status();
    const peer = status.peers.find((p) => p.name === 'mobile');
    assert.ok(peer, 'the server lists no peer "mobile"');
    // The daemon logs every association state change and base exchange ("established ...").
    const changes = this.serverVpn.daemon?.lines.filter((l) => /^\S+ (association|established) /.test(l)) ?? [];
    return { status, peer, changes };
  }

  /** Polls the server's status (up to 5 s) until its primary pair's state passes `check`. */
  async waitForPrimary(check: (state: Pair['state'] | undefined) => boolean): Promise<PeerStatus> {
    const started = performance.now();
    let peer = (await this.snapshot()).peer;
    while (!check(primary(peer)?.state) && performance.now() - started < 5_000) {
      await sleep(20);
      peer = (await this.snapshot()).peer;
    }
    return peer;
  }

  /**
   * What a peer and the user would notice: nothing went to the attacker (by the server's kernel
   * and at the attacker's socket) though every replay reached the server, and the server's
   * association is the one it was, its traffic still going to the mobile.
   */
  async assertNothingMoved(before: ServerSnapshot): Promise<void> {
    const traffic = await this.watch.read();
    const after = await this.snapshot();
    assert.equal(traffic.receivedPackets, this.replayed, `the server's kernel saw ${traffic.receivedPackets} of the attacker's ${this.replayed} replays`);
    const answers = [...this.replayers.values()].flatMap((r) => r.received.map((a) => ({ ...a, to: r.port })));
    assert.deepEqual(answers, [], `the server sent to the attacker's replayers: ${JSON.stringify(answers)}; its association now: ${describePeer(after.peer)}`);
    assert.deepEqual({ packets: traffic.sentPackets, bytes: traffic.sentBytes }, { packets: 0, bytes: 0 }, 'the server sent to the attacker\'s address');
    assert.deepEqual([...this.replayers.values()].flatMap((r) => r.errors), [], 'the replayers\' sockets reported errors');
    assert.deepEqual(after.changes, before.changes, 'the server\'s association changed state or a new base exchange ran');
    assertSameAssociation(before.peer, after.peer, this.attacker.address());
  }
}

interface ServerSnapshot {
  readonly status: DaemonStatus;
  readonly peer: PeerStatus;
  /** The daemon's log lines of association state changes and base exchanges so far. */
  readonly changes: string[];
}

interface PingResult {
  readonly transmitted: number;
  readonly received: number;
  readonly summary: string;
}

async function ping(from: Host, target: string, options: { count: number; intervalMs: number; size?: number }): Promise<PingResult> {
  const args = ['-n', '-q', '-c', String(options.count), '-i', String(options.intervalMs / 1000), '-W', '1', ...(options.size ? ['-s', String(options.size)] : []), target];
  const result = await from.exec('ping', args, { allowFailure: true, timeoutMs: 30_000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(result.stdout);
  assert.ok(m, `ping printed no summary:\n${result.stdout}${result.stderr}`);
  return { transmitted: Number(m[1]), received: Number(m[2]), summary: result.stdout.trim().split('\n').slice(-2).join('; ') };
}

/**
 * Whether the native fast path runs in a daemon, as seen from outside: the data plane warns
 * when it cannot run it, and the addon loads libcrypto only for it (gcm.c; node itself carries
 * OpenSSL statically, so any libcrypto mapping is the addon's).
 */
function fastPathSigns(node: HipvpnNode): { unavailableWarning: boolean; libcryptoLoaded: boolean } {
  const maps = readFileSync(`/proc/${node.daemon?.pid}/maps`, 'utf8');
  return { unavailableWarning: /fast path unavailable|pure-node/.test(node.daemon?.output() ?? ''), libcryptoLoaded: /libcrypto\.so/.test(maps) };
}

function assertFastPathActive(node: HipvpnNode): void {
  assert.deepEqual(fastPathSigns(node), { unavailableWarning: false, libcryptoLoaded: true }, `${node.host.name} runs without the native fast path:\n${node.daemon?.tail()}`);
}

function dropped(status: DaemonStatus, reasons: readonly string[]): number {
  return reasons.reduce((n, r) => n + (status.counters.dropped[r] ?? 0), 0);
}

/** Drops the server counted under `reasons` once at least `more` were added (or 3 s passed). */
async function dropsAdded(node: HipvpnNode, before: DaemonStatus, reasons: readonly string[], more: number): Promise<number> {
  const from = dropped(before, reasons);
  let added = 0;
  // The data plane reports its counters to the engine periodically.
  for (const deadline = performance.now() + 3_000; performance.now() < deadline; await sleep(50)) {
    added = dropped(await node.status(), reasons) - from;
    if (added >= more) break;
  }
  return added;
}

type Pair = NonNullable<PeerStatus['pairs']>[number];

function primary(peer: PeerStatus | undefined): Pair | undefined {
  return peer?.pairs?.find((p) => p.primary);
}

function describePeer(peer: PeerStatus | undefined): string {
  const pairs = peer?.pairs?.map((p) => ({ remote: p.remote, state: p.state, primary: p.primary, spiIn: p.spiIn, spiOut: p.spiOut }));
  return JSON.stringify({ state: peer?.state, remote: peer?.remote, pairs });
}

/** The server's association with the mobile is the one it was: same pair, same SPIs, no other address. */
function assertSameAssociation(before: PeerStatus, after: PeerStatus, attacker: string): void {
  const moved = `${describePeer(before)} -> ${describePeer(after)}`;
  assert.equal(after.state, 'ESTABLISHED', `the server's association: ${moved}`);
  assert.deepEqual(after.remote, before.remote, `the server's traffic to the mobile moved: ${moved}`);
  assert.ok(!after.pairs?.some((p) => p.remote.address === attacker), `the server lists a pair with the attacker's address: ${moved}`);
  const [b, a] = [primary(before), primary(after)];
  assert.ok(a !== undefined && b !== undefined, `no primary pair: ${moved}`);
  // A new base exchange or a rekey would have new SPIs.
  assert.deepEqual({ remote: a.remote, spiIn: a.spiIn, spiOut: a.spiOut }, { remote: b.remote, spiIn: b.spiIn, spiOut: b.spiOut }, `the primary pair or its SPIs changed: ${moved}`);
}

/** Replays from `port` alongside 2 s of pings mobile -> server through the tunnel; every ping must come back. */
async function replayUnderPings(lab: ReplayLab, port: number, datagrams: readonly CapturedDatagram[]): Promise<void> {
  const pings = ping(lab.mobility.mobile, lab.tunnel.serverAddress, PINGS);
  await sleep(300);
  await lab.replay(port, datagrams);
  const result = await pings;
  assert.equal(result.received, result.transmitted, `pings through the tunnel were lost while replays arrived: ${result.summary}`);
}

async function replayedEspDropped(lab: ReplayLab): Promise<void> {
  const before = await lab.snapshot();
  const esp = lab.recordedEsp(ESP_REPLAYS);
  await replayUnderPings(lab, ATTACKER_PORT, esp);
  const added = await dropsAdded(lab.serverVpn, before.status, ESP_REPLAY_DROPS, esp.length);
  assert.ok(added >= esp.length, `${added} replay drops counted (${ESP_REPLAY_DROPS.join(', ')}) for ${esp.length} replayed ESP datagrams`);
  await lab.assertNothingMoved(before);
}

/**
 * The mobile's path goes silent while the server pings it: pair selection doubts the pair, and
 * the data plane would now follow fresh authenticated ESP from a new source at once. The
 * replays come in then, from a source the server has never heard of.
 */
async function replayedEspInDoubtDropped(lab: ReplayLab): Promise<void> {
  const before = await lab.snapshot();
  const esp = lab.recordedEsp(ESP_REPLAYS);
  const farSide = lab.mobility.wifiRouter.iface('up0');
  await lab.mobility.cutWifiFarSide();
  const outagePings = ping(lab.mobility.server, lab.tunnel.mobileAddress!, { count: 75, intervalMs: 20 });
  try {
    const doubted = await lab.waitForPrimary((state) => state !== 'operational');
    assert.notEqual(primary(doubted)?.state, 'operational', `the server never doubted its pair: ${describePeer(doubted)}`);
    await lab.replay(ATTACKER_PORT + 1, esp);
    const added = await dropsAdded(lab.serverVpn, before.status, ESP_REPLAY_DROPS, esp.length);
    assert.ok(added >= esp.length, `${added} replay drops counted for ${esp.length} replayed ESP datagrams while in doubt`);
    // Checked while the mobile is still cut off, so the doubt (and a follow) would still stand.
    const during = (await lab.snapshot()).peer;
    assert.notEqual(primary(during)?.state, 'operational', `the doubt ended before the check: ${describePeer(during)}`);
    await lab.assertNothingMoved(before);
  } finally {
    await farSide.restore();
    await outagePings;
  }
  // The server's traffic reaches the mobile where it always was: nothing lost once the path is back.
  const back = await ping(lab.mobility.server, lab.tunnel.mobileAddress!, { count: 50, intervalMs: 20 });
  assert.equal(back.received, back.transmitted, `server -> mobile pings after the path came back: ${back.summary}`);
  await lab.assertNothingMoved(before);
  // Give pair selection its moment to see the pair work again before the next test. Not
  // asserted: how soon status stops calling a working pair failed is not about replays (it has
  // been seen to take over 5 s, with pings through it answered).
  await lab.waitForPrimary((state) => state === 'operational');
}

/** The lab a suite's tests share: built before the first, torn down after the last. */
function suiteLab(initiator: 'mobile' | 'server', env: NodeJS.ProcessEnv = {}): () => ReplayLab {
  let lab: ReplayLab | undefined;
  before(async () => {
    lab = await ReplayLab.create(initiator, env);
  });
  after(async () => {
    await lab?.mobility.teardown();
  });
  return () => {
    assert.ok(lab, 'the lab was not built');
    return lab;
  };
}

describe('replays to a server the mobile started the base exchange with (native fast path)', () => {
  const lab = suiteLab('mobile');

  test('the native fast path carries the tunnel on both hosts', () => {
    assertFastPathActive(lab().serverVpn);
    assertFastPathActive(lab().tunnel.mobileVpn);
  });

  test('recorded ESP of the mobile\'s, replayed from another address: dropped as replays, nothing moves', async () => {
    await replayedEspDropped(lab());
  });

  test('the same while the server doubts its pair to the mobile (when it follows fresh ESP from a new source at once)', async () => {
    await replayedEspInDoubtDropped(lab());
  });

  test('the mobile\'s I2 from the base exchange, replayed: dropped as hip-i2-replay, nothing sent to the replayer', async () => {
    const before = await lab().snapshot();
    await replayUnderPings(lab(), ATTACKER_PORT + 2, [lab().recordedHip(PacketType.I2)]);
    const added = await dropsAdded(lab().serverVpn, before.status, ['hip-i2-replay'], 1);
    assert.equal(added, 1, `hip-i2-replay counted ${added} times for one replayed I2`);
    await lab().assertNothingMoved(before);
  });
});

describe('replayed ESP with the JS core opening it (HIPVPN_LIBCRYPTO=none)', () => {
  const lab = suiteLab('mobile', { HIPVPN_LIBCRYPTO: 'none' });

  test('the server opens ESP in JS: no fast path by either sign', () => {
    assert.deepEqual(fastPathSigns(lab().serverVpn), { unavailableWarning: true, libcryptoLoaded: false });
  });

  test('recorded ESP replayed from another address: dropped as replays, nothing moves', async () => {
    await replayedEspDropped(lab());
  });

  test('the same while the server doubts its pair to the mobile', async () => {
    await replayedEspInDoubtDropped(lab());
  });
});

describe('replays to a server that started the base exchange (native fast path)', () => {
  const lab = suiteLab('server');

  test('the mobile\'s R2 from the base exchange, replayed: dropped (R2 outside I2-SENT), nothing moves', async () => {
    assertFastPathActive(lab().serverVpn);
    const before = await lab().snapshot();
    await replayUnderPings(lab(), ATTACKER_PORT, [lab().recordedHip(PacketType.R2)]);
    const added = await dropsAdded(lab().serverVpn, before.status, ['hip-r2-out-of-state'], 1);
    assert.equal(added, 1, `hip-r2-out-of-state counted ${added} times for one replayed R2`);
    await lab().assertNothingMoved(before);
  });
});

/**
 * The mobile's path goes silent while the server sends it 1,200-byte pings; the mobile's own
 * pings, recorded on its access link before the dead uplink, reach the server only through
 * the attacker, who sends them from its own address: fresh and authenticated, so the server,
 * doubting its pair, follows them there at once. What the server then sends the attacker is
 * paid from the credit the mobile's traffic earned: never more than the mobile sent it.
 */
describe('fresh ESP forwarded from another address while the server doubts its pair (native fast path)', () => {
  const lab = suiteLab('mobile');

  test('the server sends that unverified address no more than the mobile sent it (RFC 8046 credit), then finds the mobile again', async () => {
    const l = lab();
    assertFastPathActive(l.serverVpn);
    const before = await l.snapshot();
    await l.mobility.cutWifiFarSide();
    const farSide = l.mobility.wifiRouter.iface('up0');
    const toAttacker = await Capture.start(l.mobility.server, 'eth0', `udp and dst host ${l.attacker.address()}`);
    const outagePings = ping(l.mobility.server, l.tunnel.mobileAddress!, { count: 150, intervalMs: 20, size: 1200 });
    let forwarded: CapturedDatagram[];
    let sentToAttacker: CapturedDatagram[];
    try {
      const doubted = await l.waitForPrimary((state) => state !== 'operational');
      assert.notEqual(primary(doubted)?.state, 'operational', `the server never doubted its pair: ${describePeer(doubted)}`);
      // The mobile's fresh ESP, taken off its access link: it never reached the server.
      const accessLink = await Capture.start(l.mobility.wifiRouter, 'mobile0', `udp and src host ${l.mobility.wifi.address}`);
      await ping(l.mobility.mobile, l.tunnel.serverAddress, { count: 10, intervalMs: 20 });
      forwarded = (await accessLink.stop()).filter((d) => espSpi(d.payload) !== null);
      // The mobile hears nothing from the server either, so its own failure detection may move
      // the last of its pings to cell0; what stays on wifi0 is what the attacker can forward.
      assert.ok(forwarded.length >= 5, `${forwarded.length} ESP datagrams of the mobile's recorded on its access link`);
      await l.replay(ATTACKER_PORT + 3, forwarded);
      await outagePings;
    } finally {
      sentToAttacker = (await toAttacker.stop()).filter((d) => espSpi(d.payload) !== null);
      await farSide.restore();
    }
    // Everything the server ever got from the mobile (the recording up to the watch, the watch's
    // IP bytes since) and from the attacker: the most credit there could be.
    const earnedFromMobile = l.fromMobile.reduce((n, d) => n + d.payload.length, 0) + (await l.mobileWatch.read()).receivedBytes;
    const earned = earnedFromMobile + forwarded.reduce((n, d) => n + d.payload.length, 0);
    const spent = sentToAttacker.reduce((n, d) => n + d.payload.length, 0);
    const offered = 150 * 1200;
    console.log(`credit: the server sent ${spent} bytes of ESP (${sentToAttacker.length} datagrams) to the unverified address; it had received ${earned} bytes in all; its pings offered ${offered}`);
    assert.ok(spent <= earned, `the server sent ${spent} bytes of ESP to the attacker's unverified address, more than the ${earned} it ever received from the mobile`);
    const limited = await dropsAdded(l.serverVpn, before.status, ['dp-credit-exhausted'], 1);
    assert.ok(limited > 0, 'no datagram was refused for want of credit: the server\'s pings were never limited');
    // Back on its path, the mobile is found where it is, and the server's traffic follows it.
    let back: PingResult | undefined;
    for (let attempt = 0; attempt < 10 && back?.received !== back?.transmitted; attempt++) {
      back = await ping(l.mobility.server, l.tunnel.mobileAddress!, { count: 20, intervalMs: 50 });
    }
    assert.equal(back?.received, back?.transmitted, `server -> mobile pings once the path came back: ${back?.summary}`);
  });
});
