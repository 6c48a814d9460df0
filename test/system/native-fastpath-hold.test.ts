// The native fast path's part in following a peer whose path is in doubt, with its packet threads
// on a real TUN and real sockets: a held peer's datagrams still go out, and a copy of each is
// queued for JS (flagged, with its destination) to re-send on the next pair; a peer's
// authenticated ESP from a source we are not sending to is reported once per address. Needs
// root: the file re-runs itself in a private network namespace (unshare -n).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { STRANDED_HELD_FLAG } from '../../src-main/dataplane/fastpath.js';
import type { FastPathEvent } from '../../src-main/platform/native.js';
import { OWN_HIT, PEER_HIT } from '../../lab/dataplane-fastpath.js';
import { APP_PORT, LOOPBACK, PeerEnd, inPrivateNetns, sleep, spiSeq, startRig, udpSegment, until, type Rig } from '../support/native-fastpath-rig.js';

if (inPrivateNetns('native fast path: held peers and new ESP sources (re-run in a private network namespace)', import.meta.url)) {
  function takeStranded(rig: Rig): Array<{ data: Uint8Array; addr16: Uint8Array; port: number; socket: number }> {
    const buf = new Uint8Array(64 * 2048);
    const lens = new Uint32Array(64);
    const addrs = new Uint8Array(64 * 16);
    const ports = new Uint16Array(64);
    const socks = new Uint8Array(64);
    const n = rig.io.fpTakeStranded(rig.fast.handle, buf, lens, 2048, addrs, ports, socks);
    return Array.from({ length: n }, (_, i) => ({
      data: buf.slice(i * 2048, i * 2048 + lens[i]!), addr16: addrs.slice(i * 16, i * 16 + 16), port: ports[i]!, socket: socks[i]!,
    }));
  }

  test('a held peer\'s datagrams go out as usual, and a flagged copy of each waits for JS with its destination', async () => {
    const peer = await PeerEnd.open();
    const rig = await startRig(peer);
    try {
      rig.sendApp(5);
      await until(() => peer.got.length >= 5, `5 datagrams before the hold (got ${peer.got.length})`);
      assert.equal(takeStranded(rig).length, 0, 'nothing is copied for a peer that is not held');
      rig.fast.setHeld(PEER_HIT, true);
      rig.sendApp(10, 5);
      await until(() => peer.got.length >= 15, `10 datagrams while held (got ${peer.got.length - 5})`);
      await sleep(20);
      const copies = takeStranded(rig);
      assert.equal(copies.length, 10, `10 copies queued for 10 datagrams sent while held, not ${copies.length}`);
      for (let i = 0; i < 10; i++) {
        const c = copies[i]!;
        assert.deepEqual(c.data, peer.got[5 + i]!.data, `copy ${i} is not the datagram the peer got (seq ${spiSeq(c.data).seq})`);
        assert.equal(c.socket, STRANDED_HELD_FLAG | 0, `copy ${i} is flagged as held on socket 0 (got 0x${c.socket.toString(16)})`);
        assert.deepEqual([...c.addr16], [...LOOPBACK]);
        assert.equal(c.port, peer.port, 'its destination is the pair it was sent on');
      }
      assert.equal(rig.fast.stats().heldCopies, 10);
      rig.fast.setHeld(PEER_HIT, false);
      rig.sendApp(5, 15);
      await until(() => peer.got.length >= 20, 'the next datagrams after the hold');
      await sleep(20);
      assert.equal(takeStranded(rig).length, 0, 'no copies once the hold is off');
    } finally {
      rig.close();
      peer.close();
    }
  });

  test('the pair authenticated ESP arrives on is reported when it changes: the first, a new source, a return; never per packet', async () => {
    const peer = await PeerEnd.open();
    const moved = await PeerEnd.open();
    const third = await PeerEnd.open();
    const rig = await startRig(peer);
    const events: FastPathEvent[] = [];
    const ours = rig.sockets[0]!.local.port;
    const esp = (n: number): Uint8Array => rig.peerOut.seal(udpSegment(PEER_HIT, OWN_HIT, 9000, APP_PORT, Uint8Array.of(n)), IPPROTO_UDP, 0);
    try {
      for (let i = 0; i < 3; i++) peer.send(esp(i), ours);
      await until(() => rig.appGot.length >= 3, `3 packets from the current source delivered (got ${rig.appGot.length})`);
      const first = rig.fast.poll().filter((e): e is Extract<FastPathEvent, { type: 'esp-source' }> => e.type === 'esp-source');
      assert.equal(first.length, 1, `3 packets on one pair: the first reported, once (${JSON.stringify(first)})`);
      assert.equal(first[0]!.port, peer.port, 'from where we send');
      for (let i = 3; i < 8; i++) moved.send(esp(i), ours);
      await until(() => rig.appGot.length >= 8, `5 packets from the new source delivered (got ${rig.appGot.length - 3})`);
      events.push(...rig.fast.poll());
      const reported = events.filter((e): e is Extract<FastPathEvent, { type: 'esp-source' }> => e.type === 'esp-source');
      assert.equal(reported.length, 1, `5 packets from one new source: ${reported.length} reports`);
      // Back where we send: the inbound pair changed again, so the control plane hears of it.
      for (let i = 8; i < 10; i++) peer.send(esp(i), ours);
      await until(() => rig.appGot.length >= 10, 'the packets from the first source again');
      const back = rig.fast.poll().filter((e): e is Extract<FastPathEvent, { type: 'esp-source' }> => e.type === 'esp-source');
      assert.deepEqual(back.map((e) => e.port), [peer.port], 'the return to the first source, reported once');
      const r = reported[0]!;
      assert.deepEqual([...r.hit], [...PEER_HIT]);
      assert.deepEqual([...r.address], [...LOOPBACK]);
      assert.equal(r.port, moved.port, `the new source's port (${moved.port}), not ${r.port}`);
      assert.equal(r.socket, 0);
      assert.ok(r.bytes > 0, 'its size, for credit');
      // Forged ESP from yet another source: not authenticated, not reported.
      const forged = esp(99);
      forged[forged.length - 1] = forged.at(-1)! ^ 1;
      third.send(forged, ours);
      await sleep(50);
      assert.equal(rig.fast.poll().filter((e) => e.type === 'esp-source').length, 0, 'a forged datagram was reported');
    } finally {
      rig.close();
      peer.close();
      moved.close();
      third.close();
    }
  });
}
