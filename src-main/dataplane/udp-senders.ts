// The runner's way out to the network: per local socket a transmit batch that datagrams queue in
// until a flush sends it in one call. A path whose local address went away sends from another
// socket of the destination's family.

import type { DatagramSocket } from '../platform/fast-udp.js';
import { UdpTxBatch } from '../base/batch.js';

const TX_PACKETS = 128;
const TX_BYTES = TX_PACKETS * 1600;

interface SocketOut { socket: DatagramSocket; batch: UdpTxBatch }

export class UdpSenders {
  private readonly out = new Map<string, SocketOut>();
  /** Datagrams the sockets took. */
  packetsOut = 0;

  /** `drops`: the data plane's drop counters, where a full socket buffer is counted. */
  constructor(private readonly drops: Record<string, number>) {}

  /** False when a socket already sends from that address. */
  add(socket: DatagramSocket): boolean {
    if (this.out.has(socket.local.address)) return false;
    this.out.set(socket.local.address, { socket, batch: new UdpTxBatch(TX_PACKETS, TX_BYTES) });
    return true;
  }

  remove(address: string): void {
    this.out.delete(address);
  }

  /** The socket bound to `local`, if one is. */
  socketOf(local: string): DatagramSocket | undefined {
    return this.out.get(local)?.socket;
  }

  /** Queues one datagram, flushing its socket's batch when full; false when it could not be queued. */
  queue(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean {
    const o = this.out.get(local) ?? this.anySocketFor(addr16);
    if (!o) return false;
    if (!o.batch.appendTo(datagram, addr16, port)) {
      this.flushSocket(o);
      if (!o.batch.appendTo(datagram, addr16, port)) return false;
    }
    return true;
  }

  flush(): void {
    for (const o of this.out.values()) if (o.batch.count > 0) this.flushSocket(o);
  }

  /** A socket of the destination's family, for a path whose local address went away. */
  private anySocketFor(addr16: Uint8Array): SocketOut | undefined {
    const v4 = addr16[10] === 0xff && addr16[11] === 0xff && addr16.subarray(0, 10).every((b) => b === 0);
    for (const o of this.out.values()) if ((o.socket.family === 4) === v4) return o;
    return undefined;
  }

  private flushSocket(o: SocketOut): void {
    const sent = o.socket.send(o.batch);
    this.packetsOut += sent;
    if (sent < o.batch.count) this.drops['udp-send-full'] = (this.drops['udp-send-full'] ?? 0) + o.batch.count - sent;
    o.batch.clear();
  }
}
