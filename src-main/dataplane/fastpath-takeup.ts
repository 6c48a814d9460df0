// What the native fast path hands up to JS, taken a batch at a time: packets it cannot handle
// (HIP control, unknown SPIs, peers without a fast SA) from the TUN and from the sockets, and
// the sealed datagrams it could not send or keeps copies of (stranded, held).

import { newRxBatch, newUdpRxBatch, rxPacket, type RxBatch, type UdpRxBatch } from '../base/batch.js';
import type { FastPathHandle, NativeIo } from '../platform/native.js';
import { STRANDED_HELD_FLAG } from './fastpath.js';

/** Packets handed up by the fast path, taken per call. */
const PUNT_SLOTS = 64;

type SocketBatch = UdpRxBatch & { sockets: Uint8Array };

export class FastPathTakeUp {
  private readonly tun: RxBatch;
  private readonly udp: SocketBatch;
  private readonly strandedIn: SocketBatch;

  constructor(private readonly io: NativeIo, private readonly handle: FastPathHandle, slotSize: number) {
    this.tun = newRxBatch(PUNT_SLOTS, slotSize);
    this.udp = { ...newUdpRxBatch(PUNT_SLOTS, slotSize), sockets: new Uint8Array(PUNT_SLOTS) };
    this.strandedIn = { ...newUdpRxBatch(PUNT_SLOTS, slotSize), sockets: new Uint8Array(PUNT_SLOTS) };
  }

  /** One batch of TUN packets; true when it was full (more may wait). */
  fromTun(each: (packet: Uint8Array) => void): boolean {
    const b = this.tun;
    b.count = this.io.fpTakeTun(this.handle, b.buf, b.lengths, b.slotSize);
    for (let i = 0; i < b.count; i++) each(rxPacket(b, i));
    return b.count === PUNT_SLOTS;
  }

  /** One batch of datagrams, each with the fast path's index of the socket it came in on; true when full. */
  fromUdp(each: (packet: Uint8Array, addrs16: Uint8Array, at: number, port: number, socket: number) => void): boolean {
    const b = this.udp;
    b.count = this.io.fpTakeUdp(this.handle, b.buf, b.lengths, b.slotSize, b.addrs16, b.ports, b.sockets);
    for (let i = 0; i < b.count; i++) each(rxPacket(b, i), b.addrs16, i * 16, b.ports[i]!, b.sockets[i]!);
    return b.count === PUNT_SLOTS;
  }

  /** Every failed send and held copy, each with the socket index and the peer's end it was sent on. */
  stranded(each: (datagram: Uint8Array, socket: number, addr16: Uint8Array, port: number, held: boolean) => void): void {
    const b = this.strandedIn;
    const take = (): number => this.io.fpTakeStranded(this.handle, b.buf, b.lengths, b.slotSize, b.addrs16, b.ports, b.sockets);
    for (let n = take(); n > 0; n = n < PUNT_SLOTS ? 0 : take()) {
      b.count = n;
      for (let i = 0; i < n; i++) {
        const flags = b.sockets[i]!;
        each(rxPacket(b, i), flags & ~STRANDED_HELD_FLAG, b.addrs16.subarray(i * 16, i * 16 + 16), b.ports[i]!, (flags & STRANDED_HELD_FLAG) !== 0);
      }
    }
  }
}
