// Wires a DataplaneCore to real (or memory) devices: batches from the TUN are routed and sealed
// into per-socket transmit batches that go out in one call each; batches from the UDP sockets
// are opened into one TUN write batch. One wakeup, one crossing in each direction.

import type { DatagramSocket } from '../platform/fast-udp.js';
import type { TunDevice } from '../platform/tun.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { rxPacket, TRUNCATED_FLAG, TxBatch, UdpTxBatch } from './batch.js';
import { DataplaneCore, type CoreEvent } from './core.js';
import type { DataplaneStats } from './messages.js';

export interface RunnerOptions {
  ownHit: Uint8Array;
  ownLsi: number;
  tun: TunDevice;
  sockets: DatagramSocket[];
  now: () => number;
  onHip(packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  onEvent(e: CoreEvent): void;
  onWarning(message: string): void;
}

const TX_PACKETS = 128;
const TX_BYTES = TX_PACKETS * 1600;
/** A socket error is reported at most this often: an ICMP storm must not flood the log. */
const WARN_INTERVAL_MS = 5000;

interface SocketOut { socket: DatagramSocket; batch: UdpTxBatch }

export class DataplaneRunner {
  readonly core: DataplaneCore;
  private readonly tunTx = new TxBatch(TX_PACKETS, TX_BYTES);
  private readonly out = new Map<string, SocketOut>();
  private readonly counts = { tunPacketsIn: 0, tunPacketsOut: 0, udpPacketsIn: 0, udpPacketsOut: 0 };
  private lastWarnAt = -Infinity;
  private stopped = false;

  constructor(private readonly opts: RunnerOptions) {
    for (const socket of opts.sockets) {
      this.out.set(socket.local.address, { socket, batch: new UdpTxBatch(TX_PACKETS, TX_BYTES) });
    }
    this.core = new DataplaneCore(opts.ownHit, opts.ownLsi, {
      udp: (local, datagram, addr16, port) => this.queueUdp(local, datagram, addr16, port),
      tunReserve: (length) => {
        let view = this.tunTx.reserve(length);
        if (!view) {
          this.flushTun();
          view = this.tunTx.reserve(length);
        }
        return view;
      },
      tunCommit: (length) => void this.tunTx.commit(length),
      hip: (packet, from, to) => opts.onHip(packet, from, to),
      event: (e) => opts.onEvent(e),
    });
  }

  locals(): UdpEndpoint[] {
    return this.opts.sockets.map((s) => s.local);
  }

  start(): void {
    this.opts.tun.start(
      (batch) => {
        if (this.stopped) return;
        const now = this.opts.now();
        this.counts.tunPacketsIn += batch.count;
        for (let i = 0; i < batch.count; i++) this.core.fromTun(rxPacket(batch, i), now);
        this.flushUdp();
      },
      (message) => this.warn(message),
    );
    for (const socket of this.opts.sockets) {
      const to = socket.local;
      socket.start(
        (batch) => {
          if (this.stopped) return;
          const now = this.opts.now();
          this.counts.udpPacketsIn += batch.count;
          for (let i = 0; i < batch.count; i++) {
            if (batch.lengths[i]! & TRUNCATED_FLAG) {
              this.core.drops['udp-truncated'] = (this.core.drops['udp-truncated'] ?? 0) + 1;
              continue;
            }
            this.core.fromUdp(rxPacket(batch, i), batch.addrs16, i * 16, batch.ports[i]!, to, now);
          }
          this.flushTun();
          // Control replies or queued packets sealed while handling the batch.
          this.flushUdp();
        },
        (message) => this.warn(`UDP ${to.address}:${to.port}: ${message}`),
      );
    }
  }

  /** Sends one ready datagram (a HIP control packet from the engine) at once. */
  sendDatagram(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean {
    if (!this.queueUdp(local, datagram, addr16, port)) return false;
    this.flushUdp();
    return true;
  }

  stats(now: number): DataplaneStats {
    return {
      peers: this.core.stats().map((p) => ({
        hit: p.hit, packetsIn: p.packetsIn, bytesIn: p.bytesIn, packetsOut: p.packetsOut, bytesOut: p.bytesOut,
        lastHeardAgoMs: p.lastHeardAt === null ? null : Math.max(0, now - p.lastHeardAt),
      })),
      drops: { ...this.core.drops },
      ...this.counts,
    };
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.tun.close();
    for (const s of this.opts.sockets) s.close();
  }

  private queueUdp(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean {
    const o = this.out.get(local) ?? this.anySocketFor(addr16);
    if (!o) return false;
    if (!o.batch.appendTo(datagram, addr16, port)) {
      this.flushSocket(o);
      if (!o.batch.appendTo(datagram, addr16, port)) return false;
    }
    return true;
  }

  /** A socket of the destination's family, for a path whose local address went away. */
  private anySocketFor(addr16: Uint8Array): SocketOut | undefined {
    const v4 = addr16[10] === 0xff && addr16[11] === 0xff && addr16.subarray(0, 10).every((b) => b === 0);
    for (const o of this.out.values()) if ((o.socket.family === 4) === v4) return o;
    return undefined;
  }

  private flushUdp(): void {
    for (const o of this.out.values()) if (o.batch.count > 0) this.flushSocket(o);
  }

  private flushSocket(o: SocketOut): void {
    const sent = o.socket.send(o.batch);
    this.counts.udpPacketsOut += sent;
    if (sent < o.batch.count) this.core.drops['udp-send-full'] = (this.core.drops['udp-send-full'] ?? 0) + o.batch.count - sent;
    o.batch.clear();
  }

  private flushTun(): void {
    if (this.tunTx.count === 0) return;
    const written = this.opts.tun.write(this.tunTx);
    this.counts.tunPacketsOut += written;
    if (written < this.tunTx.count) this.core.drops['tun-write-failed'] = (this.core.drops['tun-write-failed'] ?? 0) + this.tunTx.count - written;
    this.tunTx.clear();
  }

  private warn(message: string): void {
    const now = this.opts.now();
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.opts.onWarning(message);
  }
}
