// Two pure-node data planes on loopback (node:dgram sockets, memory TUNs, JS ESP): A on
// 127.0.0.1; B on two addresses, 127.0.0.2 ("wifi") and 127.0.0.3 ("cell"), whose sockets keep a
// copy of every datagram they receive, so a test sees exactly what A sent where.

import type { UdpRxBatch } from '../../src-main/base/batch.js';
import { rxPacket } from '../../src-main/base/batch.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import type { SaSpec } from '../../src-main/dataplane/core.js';
import { IPPROTO_UDP, ipv4ToNumber } from '../../src-main/dataplane/packet.js';
import { DataplaneRunner } from '../../src-main/dataplane/runner.js';
import { openDgramDatagramSocket, type DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { MemoryTun } from '../../src-main/platform/tun.js';
import { ipv4Packet } from './dataplane-packets.js';

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

function loopbackHit(last: number): Uint8Array {
  const h = new Uint8Array(16);
  h.set([0x20, 0x01, 0x00, 0x22]);
  for (let i = 4; i < 16; i++) h[i] = (last * 7 + i) & 0xff;
  return h;
}

const GCM_128 = 12;

/** An AES-GCM SA whose keys are filled with `fill` (encryption) and `fill + 1` (salt). */
export function gcmSa(spi: number, fill: number): SaSpec {
  return { spi, suite: GCM_128, keys: { encKey: new Uint8Array(16).fill(fill), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(fill + 1) } };
}

/** A → B and B → A of the pair's base SAs. */
export const SA_AB = gcmSa(0x1000, 1);
const SA_BA = gcmSa(0x2000, 3);

const A_LSI = '1.0.0.10';
const B_LSI = '1.0.0.20';
/** The LSI each host gave the other. */
const B_AT_A = '1.5.5.5';
const A_AT_B = '1.6.6.6';

export interface LoopbackPair {
  a: DataplaneRunner;
  b: DataplaneRunner;
  tunA: MemoryTun;
  tunB: MemoryTun;
  sockA: DatagramSocket;
  wifiB: RecordingSocket;
  cellB: RecordingSocket;
  hitA: Uint8Array;
  hitB: Uint8Array;
  /** A sends `n` packets to B through the tunnel, numbered from `from`. */
  send: (n: number, from: number) => void;
  /** B sends `n` packets to A through the tunnel. */
  reply: (n: number) => void;
  stop(): void;
}

/**
 * Both runners started, with the base SA pair installed: A sends to B's wifi address. `clockA`
 * is A's clock (a test that ends a window exactly sets it); B runs on performance.now().
 */
export async function loopbackPair(clockA: () => number = () => performance.now()): Promise<LoopbackPair> {
  const hitA = loopbackHit(1);
  const hitB = loopbackHit(2);
  const sockA = await openDgramDatagramSocket({ address: '127.0.0.1', port: 0 });
  const wifiB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.2', port: 0 }));
  const cellB = new RecordingSocket(await openDgramDatagramSocket({ address: '127.0.0.3', port: 0 }));
  const tunA = new MemoryTun('a');
  const tunB = new MemoryTun('b');
  const quiet = { onHip: () => undefined, onEvent: () => undefined, onWarning: () => undefined };
  const clockB = (): number => performance.now();
  const a = new DataplaneRunner({ ownHit: hitA, ownLsi: ipv4ToNumber(A_LSI)!, tun: tunA, sockets: [sockA], now: clockA, ...quiet });
  const b = new DataplaneRunner({ ownHit: hitB, ownLsi: ipv4ToNumber(B_LSI)!, tun: tunB, sockets: [wifiB, cellB], now: clockB, ...quiet });
  a.start();
  b.start();
  a.core.installSa({ hit: hitB, lsi: ipv4ToNumber(B_AT_A)!, outbound: SA_AB, inbound: SA_BA, remote: wifiB.local, remoteAddr16: toAddr16('127.0.0.2')!, local: '127.0.0.1' }, clockA());
  b.core.installSa({ hit: hitA, lsi: ipv4ToNumber(A_AT_B)!, outbound: SA_BA, inbound: SA_AB, remote: sockA.local, remoteAddr16: toAddr16('127.0.0.1')!, local: '127.0.0.2' }, clockB());
  const text = new TextEncoder();
  return {
    a, b, tunA, tunB, sockA, wifiB, cellB, hitA, hitB,
    send: (n, from) => {
      for (let i = from; i < from + n; i++) tunA.inject(ipv4Packet(A_LSI, B_AT_A, IPPROTO_UDP, text.encode(`packet ${i}`)));
    },
    reply: (n) => {
      for (let i = 0; i < n; i++) tunB.inject(ipv4Packet(B_LSI, A_AT_B, IPPROTO_UDP, text.encode(`reply ${i}`)));
    },
    stop: () => {
      a.stop();
      b.stop();
    },
  };
}
