// The native fast path's run-time changes with its packet threads running on a real TUN and real
// sockets: a socket added after start (a new uplink) carries ESP both ways in C; removing one
// while traffic flows leaves its fd alone from the moment the call returns; a spare destination
// gets the very same datagrams for its window only. Needs root: the file re-runs itself in a
// private network namespace (unshare -n), where the TUN and its route cannot disturb the host.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { openNativeDatagramSocket, type DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { rxPacket, type UdpRxBatch } from '../../src-main/base/batch.js';
import { OWN_HIT, OUT_SPI, PEER_HIT } from '../../lab/dataplane-fastpath.js';
import { APP_PORT, LOOPBACK, PeerEnd, inPrivateNetns, sleep, spiSeq, startRig, udpSegment, until, type Rig } from '../support/native-fastpath-rig.js';

if (inPrivateNetns('native fast path at run time (re-run in a private network namespace)', import.meta.url)) {
  /** ESP the peer sealed towards our base inbound SA, carrying a UDP segment for the app. */
  function espForApp(rig: Rig, n: number): Uint8Array {
    return rig.peerOut.seal(udpSegment(PEER_HIT, OWN_HIT, 9000, APP_PORT, Uint8Array.of(n, 0xee)), IPPROTO_UDP, 0);
  }

  function peerStats(rig: Rig): { packetsIn: number; packetsOut: number; outboundSpi: number | null } {
    const p = rig.fast.stats().peers.find((s) => Buffer.from(s.hit).equals(Buffer.from(PEER_HIT)));
    assert.ok(p, 'the fast path lists the peer');
    return p;
  }

  test('a socket added after start receives ESP the fast path opens, and the peer\'s traffic leaves from it, all in C', async () => {
    const peer = await PeerEnd.open();
    const rig = await startRig(peer);
    try {
      const late = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
      const index = rig.fast.addSocket(late.nativeFd!);
      rig.sockets[index] = late;
      assert.equal(index, 1, `the first added socket gets index 1, got ${index}`);
      assert.equal(rig.fast.addSocket(late.nativeFd!), 1, 'the same fd added twice keeps its index');
      rig.fast.setPath(PEER_HIT, LOOPBACK, peer.port, index);

      rig.sendApp(20);
      await until(() => peer.got.length >= 20, `20 ESP datagrams at the peer (got ${peer.got.length})`);
      const ports = new Set(peer.got.map((g) => g.fromPort));
      assert.deepEqual([...ports], [late.local.port], `all sent from the added socket (port ${late.local.port}), not ${[...ports].join(',')}`);
      const seqs = peer.got.map((g) => {
        const r = rig.peerIn.open(g.data, 0);
        assert.ok(r.ok, 'the peer opens what the TX thread sealed');
        return r.seq;
      });
      assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => i + 1), 'sequence numbers 1..20 in order');

      for (let i = 0; i < 10; i++) peer.send(espForApp(rig, i), late.local.port);
      await until(() => rig.appGot.length >= 10, `10 datagrams opened into the TUN reach the app (got ${rig.appGot.length})`);
      assert.deepEqual(rig.appGot.map((d) => d[0]), [...Array(10).keys()], 'the app gets each inner datagram once, in order');
      const s = peerStats(rig);
      assert.equal(s.packetsIn, 10, `the RX thread counts 10 packets in for the peer, not ${s.packetsIn}`);
      assert.equal(s.packetsOut, 20, `the TX thread counts 20 packets out, not ${s.packetsOut}`);
      assert.deepEqual(rig.punted(), { tun: 0, udp: 0 }, 'nothing went up to JS');
    } finally {
      rig.close();
      peer.close();
    }
  });

  test('removing a socket under traffic: the call returns with its fd untouched, and a socket reusing the number is left alone', async () => {
    const peer = await PeerEnd.open();
    const rig = await startRig(peer);
    let flood: NodeJS.Timeout | undefined;
    let reused: DatagramSocket | undefined;
    try {
      const late = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
      const index = rig.fast.addSocket(late.nativeFd!);
      rig.fast.setPath(PEER_HIT, LOOPBACK, peer.port, index);
      let n = 0;
      let target = late.local.port;
      // Both threads busy on the socket: the app's traffic out of it, the peer's ESP into it.
      flood = setInterval(() => {
        rig.sendApp(16, n);
        for (let i = 0; i < 16; i++) peer.send(espForApp(rig, (n + i) & 0xff), target);
        n += 16;
      }, 1);
      await until(() => peer.got.length >= 200 && peerStats(rig).packetsIn >= 200, 'traffic flowing both ways on the added socket');

      const fd = late.nativeFd!;
      const lateOut = peer.got.length;
      const t0 = process.hrtime.bigint();
      rig.fast.removeSocket(index);
      const removalMs = Number(process.hrtime.bigint() - t0) / 1e6;
      late.close();
      // The next socket takes the lowest free number: the one just closed.
      const extra: DatagramSocket[] = [];
      while (!reused) {
        const s = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
        if (s.nativeFd === fd) reused = s;
        else extra.push(s);
        assert.ok(extra.length < 32, `no socket got fd ${fd} back`);
      }
      for (const s of extra) s.close();
      const reusedGot: Uint8Array[] = [];
      reused.start((b: UdpRxBatch) => {
        for (let i = 0; i < b.count; i++) reusedGot.push(rxPacket(b, i).slice());
      }, () => undefined);
      target = reused.local.port;  // the peer's ESP now goes to the new socket: it is no longer ours
      const peerBefore = peer.got.length;
      await sleep(300);
      clearInterval(flood);
      flood = undefined;
      await sleep(100);

      const fromReused = peer.got.filter((g) => g.fromPort === reused!.local.port).length;
      assert.equal(fromReused, 0, `${fromReused} datagrams left from the socket that reused fd ${fd}`);
      // What the TX thread sent from the removed socket before the call returned may still sit in
      // the peer's receive queue when the count was taken; the queue is FIFO, so such datagrams
      // come before the first one from the initial socket and none after it.
      const after = peer.got.slice(peerBefore);
      const initialPort = rig.sockets[0]!.local.port;
      const firstInitial = after.findIndex((g) => g.fromPort === initialPort);
      assert.ok(firstInitial >= 0 && after.length - firstInitial > 100,
        `traffic goes on from the initial socket after the removal (${after.length - Math.max(firstInitial, 0)} datagrams)`);
      const strays = after.slice(firstInitial).filter((g) => g.fromPort !== initialPort);
      assert.equal(strays.length, 0,
        `after the removal the peer's traffic falls back to the initial socket (${strays.length} later datagrams from ports ${[...new Set(strays.map((g) => g.fromPort))].join(',')})`);
      assert.ok(after.slice(0, firstInitial).every((g) => g.fromPort === late.local.port),
        'what arrived before it was sent from the removed socket before the removal');
      assert.ok(reusedGot.length > 100 && reusedGot.every((d) => spiSeq(d).spi !== 0),
        `the socket reusing fd ${fd} got the datagrams sent to it (${reusedGot.length}); the RX thread took none`);
      // The RX thread sleeps in poll without a timeout: only the wake-up lets the removal return.
      assert.ok(removalMs < 250, `removeSocket returned after ${removalMs.toFixed(1)} ms`);
      assert.ok(lateOut < n, 'sanity: the flood kept sending');
    } finally {
      if (flood) clearInterval(flood);
      reused?.close();
      rig.close();
      peer.close();
    }
  });

  test('sockets added and removed 40 times under traffic in both directions: every removal returns promptly and the threads carry on', async () => {
    const peer = await PeerEnd.open();
    const rig = await startRig(peer);
    let flood: NodeJS.Timeout | undefined;
    try {
      let target = rig.sockets[0]!.local.port;
      let n = 0;
      flood = setInterval(() => {
        rig.sendApp(8, n);
        for (let i = 0; i < 8; i++) peer.send(espForApp(rig, (n + i) & 0xff), target);
        n += 8;
      }, 1);
      let slowest = 0;
      for (let cycle = 0; cycle < 40; cycle++) {
        const s = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
        const index = rig.fast.addSocket(s.nativeFd!);
        assert.ok(index > 0, `cycle ${cycle}: a slot for the new socket (got ${index})`);
        rig.fast.setPath(PEER_HIT, LOOPBACK, peer.port, index);
        rig.fast.setSpare(PEER_HIT, LOOPBACK, peer.port, 0, 1000);
        target = s.local.port;
        await sleep(5);
        const t0 = process.hrtime.bigint();
        rig.fast.removeSocket(index);
        slowest = Math.max(slowest, Number(process.hrtime.bigint() - t0) / 1e6);
        s.close();
        target = rig.sockets[0]!.local.port;
      }
      const before = peer.got.length;
      const inBefore = peerStats(rig).packetsIn;
      await until(() => peer.got.length > before + 50 && peerStats(rig).packetsIn > inBefore + 50, 'traffic still flows both ways after the churn');
      assert.ok(slowest < 250, `the slowest removal took ${slowest.toFixed(1)} ms`);
    } finally {
      if (flood) clearInterval(flood);
      rig.close();
      peer.close();
    }
  });

  test('a spare destination gets the very same datagrams for its window, none after, and its failures cost the path nothing', async () => {
    const path = await PeerEnd.open();
    const spare = await PeerEnd.open();
    const rig = await startRig(path);
    try {
      const late = openNativeDatagramSocket(rig.io, { address: '127.0.0.1', port: 0 });
      const index = rig.fast.addSocket(late.nativeFd!);
      rig.sockets[index] = late;
      rig.fast.setSpare(PEER_HIT, LOOPBACK, spare.port, index, 400);
      const started = Date.now();
      rig.sendApp(20);
      await until(() => path.got.length >= 20 && spare.got.length >= 20, `20 datagrams on the path (${path.got.length}) and at the spare (${spare.got.length})`);
      assert.ok(Date.now() - started < 400, 'sanity: still inside the spare window');
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(spare.got[i]!.data, path.got[i]!.data, `copy ${i} is byte-equal to the datagram on the path`);
      }
      assert.deepEqual(spare.got.map((g) => spiSeq(g.data).seq), Array.from({ length: 20 }, (_, i) => i + 1), 'same SPI+seq: one seal per packet');
      assert.ok(spare.got.every((g) => g.fromPort === late.local.port), 'copies leave from the spare\'s socket');
      assert.ok(path.got.every((g) => g.fromPort === rig.sockets[0]!.local.port), 'the path keeps its own socket');
      let st = rig.fast.stats();
      assert.equal(st.spareCopies, 20, `20 copies counted, not ${st.spareCopies}`);
      assert.equal(peerStats(rig).packetsOut, 20, 'copies are not counted as the peer\'s packets');

      await sleep(400 - (Date.now() - started) + 20);
      rig.sendApp(10, 20);
      await until(() => path.got.length >= 30, 'the next 10 datagrams on the path');
      await sleep(50);
      assert.equal(spare.got.length, 20, `no copies after the window (${spare.got.length - 20} arrived)`);

      // Moving onto the spare's destination ends it: each datagram arrives there once.
      rig.fast.setSpare(PEER_HIT, LOOPBACK, spare.port, index, 10_000);
      rig.fast.setPath(PEER_HIT, LOOPBACK, spare.port, index);
      rig.sendApp(5, 30);
      await until(() => spare.got.length >= 25, 'five datagrams on the new path');
      await sleep(50);
      assert.equal(spare.got.length, 25, `each datagram once at the new path, not ${spare.got.length - 20}`);
      assert.equal(new Set(spare.got.map((g) => spiSeq(g.data).seq)).size, 25, 'no duplicate sequence numbers');

      // A spare whose sends fail (no route from here): the path's datagrams still all arrive,
      // nothing is stranded or dropped for them.
      rig.fast.setPath(PEER_HIT, LOOPBACK, path.port, 0);
      const unreachable = new Uint8Array(16);
      unreachable.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 0, 1]);
      rig.fast.setSpare(PEER_HIT, unreachable, 10500, index, 10_000);
      const before = path.got.length;
      rig.sendApp(20, 40);
      await until(() => path.got.length >= before + 20, `20 datagrams on the path despite the failing spare (${path.got.length - before})`);
      st = rig.fast.stats();
      assert.ok(st.spareCopiesFailed >= 20, `the failed copies are counted apart (${st.spareCopiesFailed})`);
      const sendDrops = Object.entries(st.drops).filter(([why]) => why.startsWith('udp-'));
      assert.deepEqual(sendDrops, [], `no send drops counted: ${JSON.stringify(st.drops)}`);
      const stranded = rig.io.fpTakeStranded(rig.fast.handle, new Uint8Array(64 * 2048), new Uint32Array(64), 2048, new Uint8Array(64 * 16), new Uint16Array(64), new Uint8Array(64));
      assert.equal(stranded, 0, `no copy went to the stranded queue (${stranded})`);
      assert.equal(spiSeq(path.got.at(-1)!.data).spi, OUT_SPI);
    } finally {
      rig.close();
      path.close();
      spare.close();
    }
  });
}
