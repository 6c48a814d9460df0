// UDP sockets on several local addresses, one port, moved in batches: recvmmsg/sendmmsg through
// the native addon (fast-udp.ts), or node:dgram when the addon is missing. For a server that
// handles each datagram on its own and answers with datagrams of its own (the relay): each
// received datagram is handed over with its source and the local endpoint it came to; what is
// queued with send() goes out in one batch per socket when the received batch is done (or at
// flush()). Received octets are only valid during the callback: whoever keeps them copies them.
// A datagram that was to be sent and did not leave is counted (unsent), never lost silently.

import { fromAddr16, same16, toAddr16 } from '../base/addr16.js';
import { TRUNCATED_FLAG, UdpTxBatch, rxPacket, type UdpRxBatch } from '../base/batch.js';
import { openDgramDatagramSocket, openNativeDatagramSocket, type DatagramSocket } from './fast-udp.js';
import { loadNativeIo } from './native.js';
import type { UdpEndpoint } from './udp.js';

const TX_SLOTS = 64;
const TX_BYTES = TX_SLOTS * 2048;

export interface BatchedUdpOptions {
  addresses: readonly string[];
  /** 0 picks an ephemeral port per socket (tests). */
  port: number;
  onDatagram(bytes: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  /** After each received batch: the moment to queue replies before they are sent. */
  onBatchEnd(): void;
  /** Force node:dgram (HIPVPN_DATAPLANE_IO=node does the same). */
  dgram?: boolean;
}

interface Bound { socket: DatagramSocket; tx: UdpTxBatch }

export class BatchedUdp {
  /** 'native' when recvmmsg/sendmmsg carry the datagrams; why not otherwise. */
  io: 'native' | { dgram: string } = 'native';
  /** Datagrams longer than a receive slot, dropped. */
  truncated = 0;
  /**
   * Datagrams queued with send() that never left: no socket for the destination's family or no
   * address, or refused by the kernel (a full send buffer past the wait, an error that persisted).
   */
  private unsentHere = 0;
  private readonly bound: Bound[] = [];
  /** The last source address's text, so a stream from one peer is not re-formatted per datagram. */
  private lastFrom = new Uint8Array(16);
  private lastFromText = '';

  private constructor(private readonly opts: BatchedUdpOptions) {}

  static async open(opts: BatchedUdpOptions): Promise<BatchedUdp> {
    const u = new BatchedUdp(opts);
    let io: ReturnType<typeof loadNativeIo> | undefined;
    if (opts.dgram === true || process.env.HIPVPN_DATAPLANE_IO === 'node') {
      u.io = { dgram: 'asked for' };
    } else {
      try {
        io = loadNativeIo();
      } catch (err) {
        u.io = { dgram: (err as Error).message };
      }
    }
    try {
      for (const address of opts.addresses) {
        const socket = io ? openNativeDatagramSocket(io, { address, port: opts.port }) : await openDgramDatagramSocket({ address, port: opts.port });
        u.bound.push({ socket, tx: new UdpTxBatch(TX_SLOTS, TX_BYTES) });
      }
    } catch (err) {
      u.close();
      throw err;
    }
    for (const b of u.bound) b.socket.start((batch) => u.onBatch(batch, b.socket.local), () => undefined);
    return u;
  }

  /** Every datagram that was to be sent and was not, on all sockets (see unsentHere). */
  get unsent(): number {
    let n = this.unsentHere;
    for (const b of this.bound) n += b.socket.lateSendFailures?.() ?? 0;
    return n;
  }

  locals(): UdpEndpoint[] {
    return this.bound.map((b) => ({ ...b.socket.local }));
  }

  private onBatch(batch: UdpRxBatch, local: UdpEndpoint): void {
    for (let i = 0; i < batch.count; i++) {
      if ((batch.lengths[i]! & TRUNCATED_FLAG) !== 0) {
        this.truncated++;
        continue;
      }
      if (!same16(this.lastFrom, batch.addrs16, i * 16) || this.lastFromText === '') {
        this.lastFrom = batch.addrs16.slice(i * 16, i * 16 + 16);
        this.lastFromText = fromAddr16(this.lastFrom);
      }
      this.opts.onDatagram(rxPacket(batch, i), { address: this.lastFromText, port: batch.ports[i]! }, local);
    }
    this.opts.onBatchEnd();
    this.flush();
  }

  /** Queues a datagram from the socket bound to `from`'s address (else the first of `to`'s family). */
  send(bytes: Uint8Array, to: UdpEndpoint, from?: UdpEndpoint): boolean {
    const addr = toAddr16(to.address);
    const b = this.pick(to, from);
    if (addr && b) {
      if (b.tx.appendTo(bytes, addr, to.port)) return true;
      this.sendBatch(b);
      if (b.tx.appendTo(bytes, addr, to.port)) return true;
    }
    this.unsentHere++;
    return false;
  }

  flush(): void {
    for (const b of this.bound) this.sendBatch(b);
  }

  private sendBatch(b: Bound): void {
    if (b.tx.count === 0) return;
    this.unsentHere += b.tx.count - b.socket.send(b.tx);
    b.tx.clear();
  }

  private pick(to: UdpEndpoint, from?: UdpEndpoint): Bound | undefined {
    if (from) {
      const exact = this.bound.find((b) => b.socket.local.address === from.address);
      if (exact) return exact;
    }
    const family = to.address.includes(':') ? 6 : 4;
    return this.bound.find((b) => b.socket.family === family);
  }

  close(): void {
    for (const b of this.bound) {
      this.unsentHere += b.socket.lateSendFailures?.() ?? 0;
      b.socket.close();
    }
    this.bound.length = 0;
  }
}
