// Two data planes in one process, each with a memory TUN, joined by an in-memory UDP link:
// TUN packets are routed by inner destination to the peer's SA, arrive rewritten for the
// receiver, and what cannot be routed is dropped and counted (or asks for a connect).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneRunner } from '../../src-main/dataplane/runner.js';
import type { CoreEvent, SaSpec } from '../../src-main/dataplane/core.js';
import { newUdpRxBatch, type UdpRxBatch, type UdpTxBatch } from '../../src-main/base/batch.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { IPPROTO_UDP, ipv4ToNumber, writeBeetPacket } from '../../src-main/dataplane/packet.js';
import type { DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { MemoryTun } from '../../src-main/platform/tun.js';
import type { UdpEndpoint } from '../../src-main/platform/udp.js';
import { checksumsValid, ipv4Packet } from '../support/dataplane-packets.js';
import { until } from '../support/wait.js';

/** A socket whose sends land in the peer socket's receive callback. */
class MemorySocket implements DatagramSocket {
  readonly family = 4 as const;
  peer: MemorySocket | undefined;
  private onBatch: ((b: UdpRxBatch) => void) | undefined;
  private readonly rx = newUdpRxBatch(64, 2048);
  constructor(readonly local: UdpEndpoint) {}
  start(onBatch: (b: UdpRxBatch) => void): void { this.onBatch = onBatch; }
  send(batch: UdpTxBatch): number {
    const target = this.peer!;
    const packets = Array.from({ length: batch.count }, (_, i) => batch.packet(i).slice());
    setImmediate(() => target.receive(packets, this.local));
    return batch.count;
  }
  receive(packets: Uint8Array[], from: UdpEndpoint): void {
    packets.forEach((p, i) => {
      this.rx.buf.set(p, i * 2048);
      this.rx.lengths[i] = p.length;
      this.rx.addrs16.set(toAddr16(from.address)!, i * 16);
      this.rx.ports[i] = from.port;
    });
    this.rx.count = packets.length;
    this.onBatch?.(this.rx);
  }
  close(): void {}
}

function hit(last: number): Uint8Array {
  const h = new Uint8Array(16);
  h.set([0x20, 0x01, 0x00, 0x22]);
  for (let i = 4; i < 16; i++) h[i] = (last * 7 + i) & 0xff;
  return h;
}

const KEY_AB = { encKey: new Uint8Array(16).fill(1), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(2) };
const KEY_BA = { encKey: new Uint8Array(16).fill(3), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(4) };
const GCM_128 = 12;

function pair() {
  const hitA = hit(1);
  const hitB = hit(2);
  const lsiA = ipv4ToNumber('1.0.0.10')!; // A's own LSI
  const lsiB = ipv4ToNumber('1.0.0.20')!; // B's own LSI
  const bInA = ipv4ToNumber('1.5.5.5')!; // the LSI A gives B
  const aInB = ipv4ToNumber('1.6.6.6')!; // the LSI B gives A
  const sockA = new MemorySocket({ address: '10.0.0.1', port: 10500 });
  const sockB = new MemorySocket({ address: '10.0.0.2', port: 10500 });
  sockA.peer = sockB;
  sockB.peer = sockA;
  const tunA = new MemoryTun('a');
  const tunB = new MemoryTun('b');
  const events: CoreEvent[] = [];
  const hipAtB: Uint8Array[] = [];
  let t = 0;
  const mk = (ownHit: Uint8Array, ownLsi: number, tun: MemoryTun, sock: MemorySocket, hipSink: Uint8Array[]) =>
    new DataplaneRunner({
      ownHit, ownLsi, tun, sockets: [sock], now: () => (t += 1),
      onHip: (p) => hipSink.push(p.slice()), onEvent: (e) => events.push(e), onWarning: () => undefined,
    });
  const a = mk(hitA, lsiA, tunA, sockA, []);
  const b = mk(hitB, lsiB, tunB, sockB, hipAtB);
  a.start();
  b.start();
  const ab: SaSpec = { spi: 0x1000, suite: GCM_128, keys: KEY_AB };
  const ba: SaSpec = { spi: 0x2000, suite: GCM_128, keys: KEY_BA };
  const install = () => {
    a.core.installSa({ hit: hitB, lsi: bInA, outbound: ab, inbound: ba, remote: sockB.local, remoteAddr16: toAddr16('10.0.0.2')!, local: '10.0.0.1' }, 0);
    b.core.installSa({ hit: hitA, lsi: aInB, outbound: ba, inbound: ab, remote: sockA.local, remoteAddr16: toAddr16('10.0.0.1')!, local: '10.0.0.2' }, 0);
  };
  return { a, b, tunA, tunB, sockA, hitA, hitB, lsiA, lsiB, bInA, aInB, install, events, hipAtB };
}

test('an IPv4 packet to the peer LSI arrives from the LSI the receiver gave us, to its own LSI, checksums valid', async () => {
  const x = pair();
  x.install();
  for (let i = 0; i < 100; i++) {
    x.tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new TextEncoder().encode(`datagram ${i}`)));
  }
  const got = await x.tunB.waitForWritten(100);
  for (const [i, p] of got.entries()) {
    assert.deepEqual([...p.subarray(12, 20)], [1, 6, 6, 6, 1, 0, 0, 20], 'src = A as B knows it, dst = B');
    assert.ok(checksumsValid(p), 'IPv4 and UDP checksums are valid after the rewrite');
    assert.equal(new TextDecoder().decode(p.subarray(28)), `datagram ${i}`);
  }
  assert.equal(x.b.stats(0).peers[0]?.packetsIn, 100);
});

test('an IPv6 packet to the peer HIT is rebuilt from peer HIT to own HIT', async () => {
  const x = pair();
  x.install();
  const body = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const pkt = new Uint8Array(48);
  writeBeetPacket(pkt, x.hitA, x.hitB, 17, body);
  x.tunA.inject(pkt);
  const [p] = await x.tunB.waitForWritten(1);
  assert.ok(p, 'a packet reached B');
  assert.deepEqual([...p.subarray(8, 24)], [...x.hitA]);
  assert.deepEqual([...p.subarray(24, 40)], [...x.hitB]);
  assert.equal(p[6], 17);
  assert.deepEqual([...p.subarray(40)], [...body]);
});

test('traffic for a known peer without an SA asks to connect; unknown destinations are dropped and counted', async () => {
  const x = pair();
  x.a.core.setRoutes([{ hit: x.hitB, lsi: x.bInA }]);
  x.tunA.inject(ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new Uint8Array(4)));
  x.tunA.inject(ipv4Packet('1.0.0.10', '1.7.7.7', IPPROTO_UDP, new Uint8Array(4)));
  // Both packets are handled once both are counted; the ask comes with the first.
  await until(() => (x.a.core.drops['tun-no-sa'] ?? 0) + (x.a.core.drops['tun-no-peer'] ?? 0) >= 2, 'both packets handled');
  const asks = x.events.filter((e) => e.type === 'need-connect');
  assert.equal(asks.length, 1);
  assert.deepEqual([...asks[0]!.peerHit], [...x.hitB]);
  assert.deepEqual(x.a.core.drops, { 'tun-no-sa': 1, 'tun-no-peer': 1 });
});

test('HIP control datagrams go to the control plane; forged ESP is dropped by SPI or ICV', async () => {
  const x = pair();
  x.install();
  const hipPacket = new Uint8Array(44);
  hipPacket[4] = 59;
  assert.ok(x.a.sendDatagram('10.0.0.1', hipPacket, toAddr16('10.0.0.2')!, 10500), 'the HIP datagram was queued');
  const forged = new Uint8Array(64);
  forged.set([0, 0, 0x10, 0x00, 0, 0, 0, 1]); // B's inbound SPI, garbage body
  const unknown = new Uint8Array(64);
  unknown.set([0, 0, 0x77, 0x77]);
  x.sockA.send(Object.assign(Object.create(null), {
    count: 2, packet: (i: number) => (i === 0 ? forged : unknown),
  }) as UdpTxBatch);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(x.hipAtB.length, 1);
  assert.equal(x.hipAtB[0]![0], 59, 'the control packet arrives without its zero marker');
  assert.deepEqual(x.b.core.drops, { 'esp-auth-failed': 1, 'esp-unknown-spi': 1 });
  assert.equal(x.tunB.written.length, 0);
});
