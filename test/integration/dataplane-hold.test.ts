// Holding a peer's data while its pair is in doubt, in the pure-node data plane (node:dgram
// sockets on loopback, memory TUNs, JS ESP): copies of what was sent are re-sent, byte for byte
// (same SA, same sequence numbers), on the pair the peer moves to, and the peer delivers each
// packet once; when the doubt clears on the same pair, the copies are discarded.

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


interface Setup {
  a: DataplaneRunner; b: DataplaneRunner; tunA: MemoryTun; tunB: MemoryTun; wifiB: RecordingSocket; cellB: RecordingSocket; hitA: Uint8Array; hitB: Uint8Array;
  sockA: DatagramSocket;
  send(n: number, from: number): void;
  /** B sends `n` packets to A through the tunnel. */
  reply(n: number): void;
}

async function setup(): Promise<Setup> {
  const hitA = hit(1);
  const hitB = hit(2);
  const sockA = await openDgramDatagramSocket({ address: '127.0.0.1', port: 0 });
  const wifiB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.2', port: 0 }));
  const cellB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.3', port: 0 }));
  const tunA = new MemoryTun('a');
  const tunB = new MemoryTun('b');
  const quiet = { onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined };
  const a = new DataplaneRunner({ ownHit: hitA, ownLsi: ipv4ToNumber('1.0.0.10')!, tun: tunA, sockets: [sockA], now: () => performance.now(), ...quiet });
  const b = new DataplaneRunner({ ownHit: hitB, ownLsi: ipv4ToNumber('1.0.0.20')!, tun: tunB, sockets: [wifiB, cellB], now: () => performance.now(), ...quiet });
  a.start();
  b.start();
  const now = performance.now();
  a.core.installSa({ hit: hitB, lsi: ipv4ToNumber('1.5.5.5')!, outbound: AB, inbound: BA, remote: wifiB.local, remoteAddr16: toAddr16('127.0.0.2')!, local: '127.0.0.1' }, now);
  b.core.installSa({ hit: hitA, lsi: ipv4ToNumber('1.6.6.6')!, outbound: BA, inbound: AB, remote: sockA.local, remoteAddr16: toAddr16('127.0.0.1')!, local: '127.0.0.2' }, now);
  const send = (n: number, from: number): void => {
    for (let i = from; i < from + n; i++) tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new TextEncoder().encode(`packet ${i}`)));
  };
  const reply = (n: number): void => {
    for (let i = 0; i < n; i++) tunB.inject(ipv4Packet('1.0.0.20', '1.6.6.6', IPPROTO_UDP, new TextEncoder().encode(`reply ${i}`)));
  };
  return { a, b, tunA, tunB, wifiB, cellB, hitA, hitB, sockA, send, reply };
}

test('what was sent while the pair was in doubt is re-sent at once on the pair the peer moves to, and delivered once', async () => {
  const { a, b, tunB, wifiB, cellB, hitB, send } = await setup();
  try {
    send(5, 0);
    await until(() => wifiB.received.length >= 5, `5 datagrams before the doubt (have ${wifiB.received.length})`);
    a.setHeld(hitB, true);
    send(10, 5);
    await until(() => wifiB.received.length >= 15, `10 datagrams while held (have ${wifiB.received.length - 5})`);
    await tunB.waitForWritten(15);
    assert.equal(cellB.received.length, 0, 'nothing goes to the other pair before the move');
    a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1');
    await until(() => cellB.received.length >= 10, `the 10 held datagrams re-sent on the new pair (have ${cellB.received.length})`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 10, `the new pair got ${cellB.received.length} datagrams: only those sent while held are re-sent`);
    for (let i = 0; i < 10; i++) assert.deepEqual(cellB.received[i], wifiB.received[5 + i], `re-sent datagram ${i} is not the one sent while held`);
    assert.equal(tunB.written.length, 15, `B delivered ${tunB.written.length} packets for 15: the re-sent ones it already had must be dropped as replays`);
    const st = a.stats(performance.now());
    assert.equal(st.heldCopies, 10, `held copies counted: ${st.heldCopies}`);
    assert.equal(st.heldResent, 10, `re-sent datagrams counted: ${st.heldResent}`);
  } finally {
    a.stop();
    b.stop();
  }
});

test('when the peer answers on the same pair, the copies are discarded: a later move re-sends nothing', async () => {
  const { a, b, tunB, wifiB, cellB, hitB, send } = await setup();
  try {
    a.setHeld(hitB, true);
    send(10, 0);
    await until(() => wifiB.received.length >= 10, `10 datagrams while held (have ${wifiB.received.length})`);
    await tunB.waitForWritten(10);
    a.setHeld(hitB, false);
    a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1');
    send(1, 10);
    await until(() => cellB.received.length >= 1, 'the next packet on the new pair');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 1, `the new pair got ${cellB.received.length - 1} re-sent datagrams after the doubt cleared`);
    const st = a.stats(performance.now());
    assert.equal(st.heldCopies, 10);
    assert.equal(st.heldResent, 0, `re-sent after release: ${st.heldResent}`);
  } finally {
    a.stop();
    b.stop();
  }
});

test('a held peer\'s ESP from a new address moves its traffic and what was held there at once, before the engine says so', async () => {
  const { a, b, tunA, tunB, wifiB, cellB, hitA, hitB, sockA, send, reply } = await setup();
  try {
    a.setHeld(hitB, true);
    send(10, 0);
    await until(() => wifiB.received.length >= 10, `10 datagrams while held (have ${wifiB.received.length})`);
    await tunB.waitForWritten(10);
    // B comes back from its other address: its ESP now leaves from cellB.
    b.setPath(hitA, sockA.local, toAddr16('127.0.0.1')!, '127.0.0.3');
    reply(1);
    await until(() => cellB.received.length >= 10, `the held datagrams following B to its new address (have ${cellB.received.length})`);
    await tunA.waitForWritten(1);
    send(1, 10);
    await until(() => cellB.received.length >= 11, 'the next packet on the new pair');
    assert.equal(wifiB.received.length, 10, 'nothing more went to the old address');
    assert.equal(tunB.written.length, 11, `B delivered ${tunB.written.length} packets for 11: the re-sent ones were dropped as replays`);
  } finally {
    a.stop();
    b.stop();
  }
});

test('a peer whose pair is not in doubt is not moved by ESP from a new address: the engine verifies it first', async () => {
  const { a, b, tunA, wifiB, cellB, hitA, sockA, send, reply } = await setup();
  try {
    b.setPath(hitA, sockA.local, toAddr16('127.0.0.1')!, '127.0.0.3');
    reply(1);
    await tunA.waitForWritten(1);
    send(1, 0);
    await until(() => wifiB.received.length >= 1, 'the next packet, on the old pair');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cellB.received.length, 0, 'nothing went to the unverified address');
  } finally {
    a.stop();
    b.stop();
  }
});
