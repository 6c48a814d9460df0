// Paths in the pure-node data plane (node:dgram sockets on loopback, memory TUNs, JS ESP).
// Make-before-break copies: while a spare pair is set, every datagram sealed for the peer also
// leaves on it, byte for byte the same (same SA, same sequence number), the receiver delivers
// each packet once (its anti-replay window drops the second copy), and the copies stop when the
// window ends. Simultaneous multihoming: further SAs carry the traffic when setPath names them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { SA_AB as AB, gcmSa, loopbackPair } from '../support/dataplane-loopback.js';
import { until } from '../support/wait.js';

test('a spare pair gets an identical copy of each sealed datagram for its window, the peer delivers each once, and the copies stop', async () => {
  let clock = 0; // A's clock: virtual, so the window ends exactly where the test says
  const { a, b, tunB, wifiB, cellB, hitB, send } = await loopbackPair(() => clock);
  try {
    a.setSpare(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', 1_000);
    send(20, 0);
    await until(() => wifiB.received.length >= 20 && cellB.received.length >= 20, `20 datagrams on each of B's addresses (wifi ${wifiB.received.length}, cell ${cellB.received.length})`);
    assert.equal(cellB.received.length, 20, `the spare got ${cellB.received.length} datagrams for 20 packets`);
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(cellB.received[i], wifiB.received[i], `copy ${i} differs from the datagram on the primary pair`);
    }
    await tunB.waitForWritten(20);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(tunB.written.length, 20, `B delivered ${tunB.written.length} packets for 20 sent twice: copies must be dropped as replays`);
    const bDrops = Object.entries(b.core.drops).reduce((n, [, v]) => n + v, 0);
    assert.equal(bDrops, 20, `B dropped ${bDrops} datagrams (${JSON.stringify(b.core.drops)}), expected the 20 second copies`);
    assert.equal(a.stats(clock).spareCopies, 20, 'A counts the copies it sent');
    assert.equal(a.stats(clock).peers[0]?.packetsOut, 20, 'copies are not counted as packets out');

    clock = 1_000; // the window is over
    send(10, 20);
    await until(() => wifiB.received.length >= 30, `10 more datagrams on the primary (have ${wifiB.received.length - 20})`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 20, `the spare still got ${cellB.received.length - 20} copies after its window ended`);
    assert.equal(a.stats(clock).spareCopies, 20);
    assert.equal(tunB.written.length, 30);
  } finally {
    a.stop();
    b.stop();
  }
});

test('moving the data onto the spare ends the copies at once', async () => {
  const { a, b, wifiB, cellB, hitB, send } = await loopbackPair(() => 0);
  try {
    a.setSpare(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', 5_000);
    a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', true);
    send(10, 0);
    await until(() => cellB.received.length >= 10, `10 datagrams on the new pair (have ${cellB.received.length})`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 10, `the new pair got ${cellB.received.length} datagrams for 10 packets`);
    assert.equal(wifiB.received.length, 0);
    assert.equal(a.stats(0).spareCopies, 0);
  } finally {
    a.stop();
    b.stop();
  }
});

test('further SAs: setPath naming an SPI seals with that SA (its own sequence numbers), removing it falls back to the base SA', async () => {
  const pair = await loopbackPair();
  const { a, b, tunB, wifiB, hitA, hitB } = pair;
  const AB2 = gcmSa(0x3000, 5);
  const BA2 = gcmSa(0x4000, 7);
  try {
    a.addSas(hitB, AB2, BA2);
    b.addSas(hitA, BA2, AB2);
    let n = 0;
    /** The SPIs of the next `count` datagrams B's wifi address receives. */
    const send = async (count: number): Promise<number[]> => {
      const from = wifiB.received.length;
      pair.send(count, n);
      n += count;
      await until(() => wifiB.received.length >= from + count, `${count} datagrams at B (have ${wifiB.received.length - from})`);
      return wifiB.received.slice(from).map((d) => ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0);
    };
    assert.deepEqual(new Set(await send(5)), new Set([AB.spi]), 'the base SA until a path names another');
    a.setPath(hitB, wifiB.local, toAddr16('127.0.0.2')!, '127.0.0.1', true, AB2.spi);
    assert.deepEqual(new Set(await send(5)), new Set([AB2.spi]), 'the further SA once setPath names it');
    a.removeOutbound(hitB, AB2.spi);
    assert.deepEqual(new Set(await send(5)), new Set([AB.spi]), 'the base SA again once the further one is removed');
    await tunB.waitForWritten(15);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(tunB.written.length, 15, `B delivered ${tunB.written.length} of 15 packets`);
    assert.deepEqual(b.core.drops, {}, 'nothing dropped: each SA has its own sequence numbers and replay window');
  } finally {
    pair.stop();
  }
});
