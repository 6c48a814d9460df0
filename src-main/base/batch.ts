// Packet batches: the unit that crosses between JS and the I/O layer. A receive batch is a
// buffer of fixed-size slots filled by the reader; a transmit batch packs packets back to back
// with offset/length tables, so one call (one syscall batch in the addon) sends them all.

/** Packets a reader delivered: packet i is buf[i * slotSize, i * slotSize + lengths[i]). */
export interface RxBatch {
  readonly buf: Uint8Array;
  readonly slotSize: number;
  readonly lengths: Uint32Array;
  count: number;
}

/** Where a received datagram came from, per slot (IPv4 as v4-mapped, 16 octets each). */
export interface UdpRxBatch extends RxBatch {
  readonly addrs16: Uint8Array;
  readonly ports: Uint16Array;
}

/** Length flag the addon sets on a datagram that did not fit its slot. */
export const TRUNCATED_FLAG = 0x80000000;

export function rxPacket(b: RxBatch, i: number): Uint8Array {
  const start = i * b.slotSize;
  return b.buf.subarray(start, start + (b.lengths[i]! & ~TRUNCATED_FLAG));
}

export function newRxBatch(slots: number, slotSize: number): RxBatch {
  return { buf: new Uint8Array(slots * slotSize), slotSize, lengths: new Uint32Array(slots), count: 0 };
}

export function newUdpRxBatch(slots: number, slotSize: number): UdpRxBatch {
  return { ...newRxBatch(slots, slotSize), addrs16: new Uint8Array(slots * 16), ports: new Uint16Array(slots) };
}

/** Packets to write, packed back to back. */
export class TxBatch {
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  count = 0;
  private used = 0;

  constructor(readonly capacity: number, bytes: number) {
    this.buf = new Uint8Array(bytes);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Room for one more packet of `length` octets: a view to fill, or null when full. */
  reserve(length: number): Uint8Array | null {
    if (this.count >= this.capacity || this.used + length > this.buf.length) return null;
    return this.buf.subarray(this.used, this.used + length);
  }

  /** Commits the packet written into the last reserve() view, trimmed to `length`. */
  commit(length: number): number {
    const i = this.count++;
    this.offsets[i] = this.used;
    this.lengths[i] = length;
    this.used += length;
    return i;
  }

  append(packet: Uint8Array): number | null {
    const view = this.reserve(packet.length);
    if (!view) return null;
    view.set(packet);
    return this.commit(packet.length);
  }

  packet(i: number): Uint8Array {
    const at = this.offsets[i]!;
    return this.buf.subarray(at, at + this.lengths[i]!);
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }
}

/** A transmit batch whose packets each have a destination (16-octet address and port). */
export class UdpTxBatch extends TxBatch {
  readonly addrs16: Uint8Array;
  readonly ports: Uint16Array;

  constructor(capacity: number, bytes: number) {
    super(capacity, bytes);
    this.addrs16 = new Uint8Array(capacity * 16);
    this.ports = new Uint16Array(capacity);
  }

  appendTo(packet: Uint8Array, addr16: Uint8Array, port: number): boolean {
    const i = this.append(packet);
    if (i === null) return false;
    this.addrs16.set(addr16, i * 16);
    this.ports[i] = port;
    return true;
  }
}
