// Per-flow steering in the native fast path with its packet threads on a real TUN and two UDP
// sockets on loopback standing for two uplinks: the app's datagrams to one port leave on the
// flow route's SA from the second socket to the second peer end, the rest on the peer's path;
// the peer's return traffic for the flow is counted to it; a hold on the peer's path copies
// only what takes the path; [] puts everything back on the path. Needs root: the file re-runs itself in a private network namespace (unshare -n).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromAddr16 } from '../../src-main/base/addr16.js';
import { EspInboundSa } from '../../src-main/esp/index.js';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { openNativeDatagramSocket } from '../../src-main/platform/fast-udp.js';
import { OWN_HIT, PEER_HIT, gcmKeys } from '../../lab/dataplane-fastpath.js';
import { APP_PORT, LOOPBACK, PeerEnd, SUITE, inPrivateNetns, sleep, spiSeq, startRig, udpSegment, until, type Rig } from '../support/native-fastpath-rig.js';

const CELL_OUT = 0x5005;
const CELL_IN = 0x6006;
const FLOW_PORT = 7100;
const FID = 3;

/** How many datagrams the fast path queued for JS to re-send (stranded or held copies). */
function takeStranded(rig: Rig): number {
  return rig.io.fpTakeStranded(rig.fast.handle, new Uint8Array(64 * 2048), new Uint32Array(64), 2048, new Uint8Array(64 * 16), new Uint16Array(64), new Uint8Array(64));
}

if (inPrivateNetns('native fast path: per-flow steering (re-run in a private network namespace)', import.meta.url)) {
  test('a flow bound to the second uplink leaves there on its own SA, the rest on the path; counters both ways; [] unbinds', async () => {
    const wifi = await PeerEnd.open();
    const cell = await PeerEnd.open();
    const rig = await startRig(wifi);
    try {
      const cellSocket = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
      const index = rig.fast.addSocket(cellSocket.nativeFd!);
      rig.sockets[index] = cellSocket;
      assert.ok(rig.fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }));
      rig.fast.setFlowRoutes(PEER_HIT, [{
        fid: FID, protocol: IPPROTO_UDP, needsPorts: true, localFrom: 0, localTo: 65535, remoteFrom: FLOW_PORT, remoteTo: FLOW_PORT,
        remoteAddr16: LOOPBACK, port: cell.port, socketIndex: index, outboundSpi: CELL_OUT,
      }]);
      const toPeer = (n: number, port: number): void => {
        for (let i = 0; i < n; i++) rig.app.send(Uint8Array.of(i, 1, 2, 3), port, fromAddr16(PEER_HIT));
      };
      toPeer(20, FLOW_PORT);
      toPeer(10, APP_PORT);
      await until(() => cell.got.length >= 20 && wifi.got.length >= 10, `20 on cell, 10 on wifi (got ${cell.got.length}, ${wifi.got.length})`);
      await sleep(50);
      assert.equal(cell.got.length, 20, 'only the flow reaches the second uplink');
      assert.equal(wifi.got.length, 10, 'only the rest reaches the path');
      assert.deepEqual(new Set(cell.got.map((g) => g.fromPort)), new Set([cellSocket.local.port]), 'the flow leaves from the second socket');
      assert.deepEqual(new Set(wifi.got.map((g) => g.fromPort)), new Set([rig.sockets[0]!.local.port]), 'the rest from the first');
      const peerCellIn = new EspInboundSa({ spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 });
      assert.deepEqual(cell.got.map((g) => spiSeq(g.data)), Array.from({ length: 20 }, (_, i) => ({ spi: CELL_OUT, seq: i + 1 })),
        'sealed on the flow\'s SA, sequence numbers 1..20 in order');
      assert.ok(cell.got.every((g) => peerCellIn.open(g.data, 0).ok), 'the peer opens each with that SA\'s keys');
      assert.ok(wifi.got.every((g) => rig.peerIn.open(g.data, 0).ok), 'and the rest with the base SA\'s');

      // The peer's answers for the flow (from its port FLOW_PORT) on the base SA arrive on the path.
      const ours = rig.sockets[0]!.local.port;
      for (let i = 0; i < 5; i++) wifi.send(rig.peerOut.seal(udpSegment(PEER_HIT, OWN_HIT, FLOW_PORT, APP_PORT, Uint8Array.of(i)), IPPROTO_UDP, 0), ours);
      for (let i = 0; i < 3; i++) wifi.send(rig.peerOut.seal(udpSegment(PEER_HIT, OWN_HIT, 9000, APP_PORT, Uint8Array.of(i)), IPPROTO_UDP, 0), ours);
      await until(() => rig.appGot.length >= 8, `8 answers delivered to the app (got ${rig.appGot.length})`);
      const flow = rig.fast.stats().flows;
      assert.deepEqual(flow.map((f) => [f.fid, f.packetsOut, f.packetsIn]), [[FID, 20, 5]], 'the flow\'s counters: 20 out, 5 of the 8 answers in');
      assert.equal(flow[0]!.bytesOut, 20 * (8 + 4), 'bytes out: the UDP segments the app sent');
      assert.deepEqual(rig.punted(), { tun: 0, udp: 0 }, 'nothing went up to JS');

      // Holding the peer's path in doubt copies what goes there, not what the route carries.
      rig.fast.setHeld(PEER_HIT, true);
      toPeer(6, FLOW_PORT);
      toPeer(4, APP_PORT);
      await until(() => cell.got.length >= 26 && wifi.got.length >= 14, `6 on cell, 4 on wifi while held (got ${cell.got.length - 20}, ${wifi.got.length - 10})`);
      await sleep(20);
      assert.equal(takeStranded(rig), 4, 'held copies of the 4 on the path only');
      rig.fast.setHeld(PEER_HIT, false);

      rig.fast.setFlowRoutes(PEER_HIT, []);
      toPeer(10, FLOW_PORT);
      await until(() => wifi.got.length >= 24, `the unbound flow on the path (got ${wifi.got.length - 14})`);
      await sleep(50);
      assert.equal(cell.got.length, 26, 'nothing more on the second uplink');
      assert.deepEqual(rig.fast.stats().flows, []);
    } finally {
      rig.close();
      wifi.close();
      cell.close();
    }
  });
}
