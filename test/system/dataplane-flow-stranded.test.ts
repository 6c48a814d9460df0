// A DataplaneRunner with the native fast path on a real TUN and two uplinks: wifi (a socket on
// 127.0.0.1) and cell (a socket on 10.77.0.1, an address the test takes away). When cell's
// address vanishes, the fast path's sends there fail and the datagrams strand; moving a flow
// off cell (setFlowRoutes) re-sends what the flow stranded on its new pair, so the peer opens
// every datagram the app sent; a flow whose route is dropped takes them to the peer's path.
// A flow moving off the peer's own pair takes only its own datagrams; the peer's other traffic
// stranded there waits for setPath. Needs root: the file re-runs itself in a
// private network namespace (unshare -n).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { fromAddr16 } from '../../src-main/base/addr16.js';
import type { FlowRoute } from '../../src-main/dataplane/core.js';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { DataplaneRunner } from '../../src-main/dataplane/runner.js';
import { EspInboundSa } from '../../src-main/esp/index.js';
import { openNativeDatagramSocket } from '../../src-main/platform/fast-udp.js';
import { loadNativeIo } from '../../src-main/platform/native.js';
import { openNativeTun } from '../../src-main/platform/tun.js';
import { OUT_SPI, OWN_HIT, OWN_LSI, PEER_HIT, gcmKeys, saInstall } from '../../lab/dataplane-fastpath.js';
import { APP_PORT, LOOPBACK, PeerEnd, SUITE, inPrivateNetns, sleep, spiSeq, until } from '../support/native-fastpath-rig.js';
import { toAddr16 } from '../../src-main/base/addr16.js';

const CELL = '10.77.0.1';
const FLOW_OUT = 0x5005;
const FLOW_IN = 0x6006;
const FLOW_PORT = 7100;
const FID = 3;

function sh(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Rig {
  runner: DataplaneRunner;
  app: dgram.Socket;
  wifi: PeerEnd;
  cell: PeerEnd;
  /** The app sends n datagrams to the peer's HIT, to `port`. */
  send(n: number, port: number): void;
  /** The flow's route: its SA, from our socket on `local` to the peer's end on `port`. */
  flowTo(local: string, port: number): FlowRoute;
  close(): void;
}

/** The peer's path on `pathLocal` → the peer's end there; the flow's SA pair installed too. */
async function startRunner(pathLocal: 'wifi' | 'cell'): Promise<Rig> {
  const io = loadNativeIo();
  sh('link', 'set', 'lo', 'up');
  sh('addr', 'add', `${CELL}/32`, 'dev', 'lo');
  const tun = openNativeTun(io, { name: '', mtu: 1400 });
  io.linkConfigure(tun.name, true, 1400);
  sh('-6', 'addr', 'add', `${fromAddr16(OWN_HIT)}/28`, 'dev', tun.name, 'nodad');
  const wifi = await PeerEnd.open();
  const cell = await PeerEnd.open();
  const sockets = [openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 }), openNativeDatagramSocket(io, { address: CELL, port: 0 })];
  // A frozen clock: nothing stranded expires while the test looks.
  const runner = new DataplaneRunner({
    ownHit: OWN_HIT, ownLsi: OWN_LSI, tun, sockets, now: () => 0, fastPath: { io, slotSize: 2048 },
    onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined,
  });
  runner.start();
  assert.ok(runner.fastPathActive);
  const install = saInstall(SUITE);
  const end = pathLocal === 'wifi' ? wifi : cell;
  install.remote = { address: '127.0.0.1', port: end.port };
  install.remoteAddr16 = LOOPBACK;
  install.local = pathLocal === 'wifi' ? '127.0.0.1' : CELL;
  runner.installSa(install);
  runner.addSas(PEER_HIT, { spi: FLOW_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: FLOW_IN, suite: SUITE, keys: gcmKeys(23) });
  const app = dgram.createSocket({ type: 'udp6' });
  await new Promise<void>((r) => app.bind(APP_PORT, fromAddr16(OWN_HIT), () => r()));
  let n = 0;
  return {
    runner, app, wifi, cell,
    send(count, port) {
      for (let i = 0; i < count; i++, n++) app.send(Uint8Array.of(n >> 8, n & 0xff), port, fromAddr16(PEER_HIT));
    },
    flowTo(local, port) {
      return {
        fid: FID, protocol: IPPROTO_UDP, localPorts: null, remotePorts: { from: FLOW_PORT, to: FLOW_PORT },
        remote: { address: '127.0.0.1', port }, remoteAddr16: LOOPBACK, local, outboundSpi: FLOW_OUT,
      };
    },
    close() {
      runner.stop();
      app.close();
      wifi.close();
      cell.close();
    },
  };
}

/** Lets the app's sends reach the TUN, then blocks the event loop so the runner takes nothing up meanwhile. */
async function sendAndBlock(rig: Rig, count: number, port: number, ms: number): Promise<void> {
  rig.send(count, port);
  await new Promise((r) => process.nextTick(r));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function openAll(got: PeerEnd['got'], sa: EspInboundSa): number[] {
  return got.map((g) => {
    const r = sa.open(g.data, 0);
    assert.ok(r.ok, `the peer opens SPI ${spiSeq(g.data).spi} seq ${spiSeq(g.data).seq}`);
    return r.seq;
  });
}

const seqs = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

if (inPrivateNetns('runner: a moved flow takes its stranded datagrams along (re-run in a private network namespace)', import.meta.url)) {
  test('a flow moved off an uplink whose address vanished: what it stranded there arrives on the new pair, none lost', async () => {
    const rig = await startRunner('wifi');
    try {
      rig.runner.setFlowRoutes(PEER_HIT, [rig.flowTo(CELL, rig.cell.port)]);
      rig.send(10, FLOW_PORT);
      await until(() => rig.cell.got.length >= 10, `10 flow datagrams on cell (got ${rig.cell.got.length})`);

      // Cell's address goes: the next 20 fail to send and strand. The control plane closes the
      // socket and re-plans the flow onto wifi before the runner has taken them up (worst case).
      sh('addr', 'del', `${CELL}/32`, 'dev', 'lo');
      await sendAndBlock(rig, 20, FLOW_PORT, 150);
      assert.ok(rig.runner.removeSocket(CELL));
      rig.runner.setFlowRoutes(PEER_HIT, [rig.flowTo('127.0.0.1', rig.wifi.port)]);
      await until(() => rig.wifi.got.length >= 20, `the 20 stranded datagrams at wifi (got ${rig.wifi.got.length})`);
      rig.send(5, FLOW_PORT);
      await until(() => rig.wifi.got.length >= 25, `5 more flow datagrams at wifi (got ${rig.wifi.got.length - 20})`);
      await sleep(50);

      const flowIn = new EspInboundSa({ spi: FLOW_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 });
      assert.deepEqual(openAll(rig.cell.got, flowIn), seqs(1, 10), 'cell: the flow\'s first 10');
      assert.deepEqual(openAll(rig.wifi.got, flowIn), seqs(11, 35), 'wifi: the 20 stranded, then the 5 sent after the move, once each');
      const wifiPort = rig.runner.locals().find((l) => l.address === '127.0.0.1')!.port;
      assert.ok(rig.wifi.got.every((g) => g.fromPort === wifiPort), 'all from our wifi socket');
      assert.equal(rig.runner.stats(0).heldResent, 20, 'the runner counts 20 re-sent');
    } finally {
      rig.close();
    }
  });

  test('a flow whose route is dropped takes what it stranded to the peer\'s path, where its packets go', async () => {
    const rig = await startRunner('wifi');
    try {
      rig.runner.setFlowRoutes(PEER_HIT, [rig.flowTo(CELL, rig.cell.port)]);
      sh('addr', 'del', `${CELL}/32`, 'dev', 'lo');
      rig.send(10, FLOW_PORT);
      await sleep(150);
      assert.equal(rig.wifi.got.length + rig.cell.got.length, 0, 'nothing leaves before the flow moves');
      rig.runner.setFlowRoutes(PEER_HIT, []);
      await until(() => rig.wifi.got.length >= 10, `the 10 stranded datagrams on the peer's path (got ${rig.wifi.got.length})`);
      await sleep(50);
      assert.deepEqual(openAll(rig.wifi.got, new EspInboundSa({ spi: FLOW_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 })), seqs(1, 10));
    } finally {
      rig.close();
    }
  });

  test('a flow moving off the peer\'s own pair takes only its own stranded datagrams; the peer\'s stay for setPath', async () => {
    const rig = await startRunner('cell');
    try {
      rig.runner.setFlowRoutes(PEER_HIT, [rig.flowTo(CELL, rig.cell.port)]);
      sh('addr', 'del', `${CELL}/32`, 'dev', 'lo');
      rig.send(10, FLOW_PORT);
      rig.send(10, 9000);
      await sleep(150);
      assert.equal(rig.cell.got.length, 0, 'nothing leaves cell once its address is gone');

      rig.runner.setFlowRoutes(PEER_HIT, [rig.flowTo('127.0.0.1', rig.wifi.port)]);
      await until(() => rig.wifi.got.length >= 10, `the flow's 10 stranded datagrams on wifi (got ${rig.wifi.got.length})`);
      await sleep(100);
      const flowIn = new EspInboundSa({ spi: FLOW_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 });
      assert.deepEqual(rig.wifi.got.map((g) => spiSeq(g.data).spi), Array(10).fill(FLOW_OUT), 'the flow\'s, and none of the peer\'s other traffic');
      assert.deepEqual(openAll(rig.wifi.got, flowIn), seqs(1, 10));

      rig.runner.setPath(PEER_HIT, { address: '127.0.0.1', port: rig.wifi.port }, toAddr16('127.0.0.1')!, '127.0.0.1', true);
      await until(() => rig.wifi.got.length >= 20, `the peer's move brings its 10 to wifi (got ${rig.wifi.got.length})`);
      await sleep(50);
      const base = rig.wifi.got.filter((g) => spiSeq(g.data).spi === OUT_SPI);
      assert.deepEqual(openAll(base, new EspInboundSa({ spi: OUT_SPI, suite: SUITE, keys: gcmKeys(7), createdAt: 0 })), seqs(1, 10));
      assert.equal(rig.wifi.got.length, 20, 'each once');
    } finally {
      rig.close();
    }
  });
}
