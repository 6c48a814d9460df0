// Paths in the pure-node data plane (node:dgram sockets on loopback, memory TUNs, JS ESP).
// Make-before-break copies: while a spare pair is set, every datagram sealed for the peer also
// leaves on it, byte for byte the same (same SA, same sequence number), the receiver delivers
// each packet once (its anti-replay window drops the second copy), and the copies stop when the
// window ends. Simultaneous multihoming: further SAs carry the traffic when setPath names them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneRunner } from '../../src-main/dataplane/runner.js';
import type { SaSpec } from '../../src-main/dataplane/core.js';
import type { UdpRxBatch } from '../../src-main/dataplane/batch.js';
import { toAddr16 } from '../../src-main/dataplane/addr16.js';
import { rxPacket } from '../../src-main/dataplane/batch.js';
import { IPPROTO_UDP, ipv4ToNumber } from '../../src-main/dataplane/packet.js';
import { openDgramDatagramSocket, type DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { MemoryTun } from '../../src-main/platform/tun.js';
import { ipv4Packet } from '../support/dataplane-packets.js';

/** A real socket that also keeps a copy of every datagram it receives. */
class RecordingSocket implements DatagramSocket {
  readonly received: Uint8Array[] = [];
  constructor(private readonly inner: DatagramSocket) {}
  get local() { return this.inner.local; }
  get family() { return this.inner.family; }
  start(onBatch: (b: UdpRxBatch) => void, onError: (m: string) => void): void {
    this.inner.start((b) => {
      for (let i = 0; i < b.count; i++) this.received.push(rxPacket(b, i).slice());
      onBatch(b);
    }, onError);
  }
  send(batch: Parameters<DatagramSocket['send']>[0]): number { return this.inner.send(batch); }
  close(): void { this.inner.close(); }
}

function hit(last: number): Uint8Array {
  const h = new Uint8Array(16);
  h.set([0x20, 0x01, 0x00, 0x22]);
  for (let i = 4; i < 16; i++) h[i] = (last * 7 + i) & 0xff;
  return h;
}

const GCM_128 = 12;
const AB: SaSpec = { spi: 0x1000, suite: GCM_128, keys: { encKey: new Uint8Array(16).fill(1), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(2) } };
const BA: SaSpec = { spi: 0x2000, suite: GCM_128, keys: { encKey: new Uint8Array(16).fill(3), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(4) } };

async function until(cond: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a spare pair gets an identical copy of each sealed datagram for its window, the peer delivers each once, and the copies stop', async () => {
  const hitA = hit(1);
  const hitB = hit(2);
  const sockA = await openDgramDatagramSocket({ address: '127.0.0.1', port: 0 });
  const wifiB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.2', port: 0 }));
  const cellB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.3', port: 0 }));
  let clock = 0; // A's clock: virtual, so the window ends exactly where the test says
  const tunA = new MemoryTun('a');
  const tunB = new MemoryTun('b');
  const quiet = { onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined };
  const a = new DataplaneRunner({ ownHit: hitA, ownLsi: ipv4ToNumber('1.0.0.10')!, tun: tunA, sockets: [sockA], now: () => clock, ...quiet });
  const b = new DataplaneRunner({ ownHit: hitB, ownLsi: ipv4ToNumber('1.0.0.20')!, tun: tunB, sockets: [wifiB, cellB], now: () => performance.now(), ...quiet });
  const bInA = ipv4ToNumber('1.5.5.5')!;
  try {
    a.start();
    b.start();
    a.core.installSa({ hit: hitB, lsi: bInA, outbound: AB, inbound: BA, remote: wifiB.local, remoteAddr16: toAddr16('127.0.0.2')!, local: '127.0.0.1' }, 0);
    b.core.installSa({ hit: hitA, lsi: ipv4ToNumber('1.6.6.6')!, outbound: BA, inbound: AB, remote: sockA.local, remoteAddr16: toAddr16('127.0.0.1')!, local: '127.0.0.2' }, 0);
    a.setSpare(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', 1_000, clock);

    const send = (n: number, from: number): void => {
      for (let i = from; i < from + n; i++) tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new TextEncoder().encode(`packet ${i}`)));
    };
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
  const hitB = hit(2);
  const sockA = await openDgramDatagramSocket({ address: '127.0.0.1', port: 0 });
  const wifiB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.2', port: 0 }));
  const cellB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.3', port: 0 }));
  const tunA = new MemoryTun('a');
  const quiet = { onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined };
  const a = new DataplaneRunner({ ownHit: hit(1), ownLsi: ipv4ToNumber('1.0.0.10')!, tun: tunA, sockets: [sockA], now: () => 0, ...quiet });
  try {
    a.start();
    wifiB.start(() => undefined, () => undefined);
    cellB.start(() => undefined, () => undefined);
    a.core.installSa({ hit: hitB, lsi: ipv4ToNumber('1.5.5.5')!, outbound: AB, inbound: BA, remote: wifiB.local, remoteAddr16: toAddr16('127.0.0.2')!, local: '127.0.0.1' }, 0);
    a.setSpare(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', 5_000, 0);
    a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1');
    for (let i = 0; i < 10; i++) tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new Uint8Array([i])));
    await until(() => cellB.received.length >= 10, `10 datagrams on the new pair (have ${cellB.received.length})`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 10, `the new pair got ${cellB.received.length} datagrams for 10 packets`);
    assert.equal(wifiB.received.length, 0);
    assert.equal(a.stats(0).spareCopies, 0);
  } finally {
    a.stop();
    wifiB.close();
    cellB.close();
  }
});

test('further SAs: setPath naming an SPI seals with that SA (its own sequence numbers), removing it falls back to the base SA', async () => {
  const hitA = hit(1);
  const hitB = hit(2);
  const sockA = await openDgramDatagramSocket({ address: '127.0.0.1', port: 0 });
  const sockB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.2', port: 0 }));
  const tunA = new MemoryTun('a');
  const tunB = new MemoryTun('b');
  const quiet = { onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined };
  const a = new DataplaneRunner({ ownHit: hitA, ownLsi: ipv4ToNumber('1.0.0.10')!, tun: tunA, sockets: [sockA], now: () => performance.now(), ...quiet });
  const b = new DataplaneRunner({ ownHit: hitB, ownLsi: ipv4ToNumber('1.0.0.20')!, tun: tunB, sockets: [sockB], now: () => performance.now(), ...quiet });
  const AB2: SaSpec = { spi: 0x3000, suite: GCM_128, keys: { encKey: new Uint8Array(16).fill(5), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(6) } };
  const BA2: SaSpec = { spi: 0x4000, suite: GCM_128, keys: { encKey: new Uint8Array(16).fill(7), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(8) } };
  try {
    a.start();
    b.start();
    const toB = { remote: sockB.local, remoteAddr16: toAddr16('127.0.0.2')!, local: '127.0.0.1' };
    a.installSa({ hit: hitB, lsi: ipv4ToNumber('1.5.5.5')!, outbound: AB, inbound: BA, ...toB }, 0);
    b.installSa({ hit: hitA, lsi: ipv4ToNumber('1.6.6.6')!, outbound: BA, inbound: AB, remote: sockA.local, remoteAddr16: toAddr16('127.0.0.1')!, local: '127.0.0.2' }, 0);
    a.addSas(hitB, AB2, BA2, 0);
    b.addSas(hitA, BA2, AB2, 0);
    let n = 0;
    const send = async (count: number): Promise<number[]> => {
      const from = sockB.received.length;
      for (let i = 0; i < count; i++, n++) tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new TextEncoder().encode(`packet ${n}`)));
      await until(() => sockB.received.length >= from + count, `${count} datagrams at B (have ${sockB.received.length - from})`);
      return sockB.received.slice(from).map((d) => ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0);
    };
    assert.deepEqual(new Set(await send(5)), new Set([AB.spi]), 'the base SA until a path names another');
    a.setPath(hitB, toB.remote, toB.remoteAddr16, toB.local, AB2.spi);
    assert.deepEqual(new Set(await send(5)), new Set([AB2.spi]), 'the further SA once setPath names it');
    a.removeOutbound(hitB, AB2.spi);
    assert.deepEqual(new Set(await send(5)), new Set([AB.spi]), 'the base SA again once the further one is removed');
    await tunB.waitForWritten(15);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(tunB.written.length, 15, `B delivered ${tunB.written.length} of 15 packets`);
    assert.deepEqual(b.core.drops, {}, 'nothing dropped: each SA has its own sequence numbers and replay window');
  } finally {
    a.stop();
    b.stop();
  }
});
