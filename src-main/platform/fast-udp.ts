// UDP sockets for the data plane, moved in batches: recvmmsg/sendmmsg (and UDP GSO) through the
// native addon, or node:dgram one datagram at a time when the addon is unavailable. Each socket
// is bound to one local address and, when given, to its interface (SO_BINDTODEVICE), so a
// locator keeps using its own link when routes change.

import { equalBytes } from '../base/bytes.js';
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { UdpRxBatch, UdpTxBatch } from '../base/batch.js';
import { newUdpRxBatch } from '../base/batch.js';
import { toAddr16, fromAddr16 } from '../base/addr16.js';
import type { UdpEndpoint } from './udp.js';
import { errnoName, unreachableDestination, type NativeHandle, type NativeIo } from './native.js';
import { SocketBindError } from '../base/errors.js';

export interface DatagramSocket {
  readonly local: UdpEndpoint;
  readonly family: 4 | 6;
  /** The socket fd when the addon owns it, for the native ESP fast path to send and receive on. */
  readonly nativeFd?: number;
  /**
   * Delivers received datagrams in batches; the batch is reused once the callback returns.
   * `unreachable`: the error is an ICMP destination-unreachable for a datagram sent there.
   */
  start(onBatch: (batch: UdpRxBatch) => void, onError: (message: string, unreachable?: UdpEndpoint) => void): void;
  /** Sends a whole batch; returns how many left (the rest was dropped as a full queue would). */
  send(batch: UdpTxBatch): number;
  /**
   * Datagrams send() counted as gone that failed later: node:dgram reports a send error in a
   * callback, after send() returned. Absent where send()'s count is final (native).
   */
  lateSendFailures?(): number;
  close(): void;
}

export interface DatagramSocketOptions {
  address: string;
  port: number;
  /** Interface to bind to as well (SO_BINDTODEVICE; needs CAP_NET_RAW). */
  device?: string;
}

const RX_SLOTS = 64;
/** Room for any datagram up to a 1500-octet link's worth plus slack; longer ones are flagged. */
const RX_SLOT_SIZE = 2048;
const SOCKET_BUFFER = 4 * 1024 * 1024;
/** How long a send may wait for socket-buffer space before dropping the rest of a batch. */
const SEND_WAIT_MS = 5;

export { toAddr16, fromAddr16 } from '../base/addr16.js';

// ---------------------------------------------------------------------------------------------
// native: recvmmsg / sendmmsg / GSO

class NativeDatagramSocket implements DatagramSocket {
  private readonly rx = newUdpRxBatch(RX_SLOTS, RX_SLOT_SIZE);
  private gso = true;
  private closed = false;

  constructor(
    private readonly io: NativeIo,
    private readonly handle: NativeHandle,
    readonly local: UdpEndpoint,
    readonly family: 4 | 6,
  ) {}

  get nativeFd(): number {
    return this.io.fdOf(this.handle);
  }

  start(onBatch: (batch: UdpRxBatch) => void, onError: (message: string, unreachable?: UdpEndpoint) => void): void {
    this.io.startReading(
      this.handle, this.rx.buf, this.rx.lengths, this.rx.slotSize,
      (count) => {
        this.rx.count = count;
        onBatch(this.rx);
      },
      // ICMP errors (port unreachable and the like) are hints about a path, never fatal.
      (r) => {
        const message = `${errnoName(r.errno)}${r.origin >= 2 ? ` (ICMP type ${r.icmpType} code ${r.icmpCode})` : ''}`;
        const to = unreachableDestination(r);
        onError(message, to && { address: fromAddr16(to.address), port: to.port });
      },
      this.rx.addrs16, this.rx.ports,
    );
  }

  send(batch: UdpTxBatch): number {
    if (this.closed || batch.count === 0) return 0;
    const r = this.io.udpSend(
      this.handle, batch.buf, batch.offsets, batch.lengths, batch.addrs16, batch.ports, batch.count, this.gso, SEND_WAIT_MS,
    );
    this.gso = r.gso !== 0;
    return r.sent;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.io.close(this.handle);
  }
}

export function openNativeDatagramSocket(io: NativeIo, opts: DatagramSocketOptions): DatagramSocket {
  const addr16 = toAddr16(opts.address);
  if (!addr16) throw new Error(`not an IP address: ${opts.address}`);
  const family: 4 | 6 = isIPv4(opts.address) ? 4 : 6;
  const { handle, port } = io.udpOpen(addr16, family, opts.port, opts.device ?? '', SOCKET_BUFFER, SOCKET_BUFFER, true, 0);
  return new NativeDatagramSocket(io, handle, { address: opts.address, port }, family);
}

// ---------------------------------------------------------------------------------------------
// fallback: node:dgram, one datagram per callback

class DgramDatagramSocket implements DatagramSocket {
  private readonly rx = newUdpRxBatch(1, RX_SLOT_SIZE);
  private lastTo = '';
  private lastToKey = new Uint8Array(16);
  private failedSends = 0;
  private onError: ((message: string) => void) | undefined;
  /** With a callback, dgram reports a send error here instead of as an 'error' event: it still reaches onError. */
  private readonly onSent = (err: Error | null): void => {
    if (!err) return;
    this.failedSends++;
    this.onError?.(err.message);
  };

  constructor(private readonly socket: dgram.Socket, readonly local: UdpEndpoint, readonly family: 4 | 6) {}

  start(onBatch: (batch: UdpRxBatch) => void, onError: (message: string) => void): void {
    this.onError = onError;
    this.socket.on('message', (msg, rinfo) => {
      const addr = toAddr16(rinfo.address);
      if (!addr) return;
      const len = Math.min(msg.length, RX_SLOT_SIZE);
      this.rx.buf.set(msg.subarray(0, len), 0);
      this.rx.lengths[0] = msg.length > RX_SLOT_SIZE ? RX_SLOT_SIZE | 0x80000000 : len;
      this.rx.addrs16.set(addr, 0);
      this.rx.ports[0] = rinfo.port;
      this.rx.count = 1;
      onBatch(this.rx);
    });
    this.socket.on('error', (err) => onError(err.message));
  }

  send(batch: UdpTxBatch): number {
    for (let i = 0; i < batch.count; i++) {
      const key = batch.addrs16.subarray(i * 16, i * 16 + 16);
      if (!equalBytes(key, this.lastToKey) || this.lastTo === '') {
        this.lastTo = fromAddr16(key);
        this.lastToKey = key.slice();
      }
      // dgram may queue the buffer itself when the socket is busy, and the batch is reused.
      this.socket.send(Buffer.from(batch.packet(i)), batch.ports[i], this.lastTo, this.onSent);
    }
    return batch.count;
  }

  lateSendFailures(): number {
    return this.failedSends;
  }

  close(): void {
    this.socket.close();
  }
}

export async function openDgramDatagramSocket(opts: DatagramSocketOptions): Promise<DatagramSocket> {
  const family: 4 | 6 = isIPv4(opts.address) ? 4 : 6;
  const socket = dgram.createSocket({
    type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6, recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) => reject(new SocketBindError(opts.address, opts.port, err.code, err.message)));
    socket.bind(opts.port, opts.address, () => resolve());
  });
  socket.removeAllListeners('error');
  return new DgramDatagramSocket(socket, { address: opts.address, port: socket.address().port }, family);
}
