// UDP transport for HIP and ESP (RFC 9028 §5.1): one socket per local address, all on the
// same port. Control packets carry 32 zero bits before the HIP header; anything else is ESP,
// whose first 32 bits are a (never zero) SPI. This module only frames and demultiplexes;
// what the packets mean is the engine's business.

import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { SocketBindError } from '../base/errors.js';
import type { Endpoint } from '../../src-shared/vocabulary.js';

/** The vocabulary's Endpoint, under the name the socket layer's signatures use. */
export type UdpEndpoint = Endpoint;

export type UdpDatagram =
  | { kind: 'hip'; packet: Uint8Array; from: UdpEndpoint; to: UdpEndpoint }
  | { kind: 'esp'; packet: Uint8Array; from: UdpEndpoint; to: UdpEndpoint }
  | { kind: 'runt'; length: number; from: UdpEndpoint; to: UdpEndpoint };

const NON_ESP_MARKER_LENGTH = 4;

/** Splits one received datagram by its first 32 bits. */
export function classifyDatagram(data: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): UdpDatagram {
  if (data.length < NON_ESP_MARKER_LENGTH) return { kind: 'runt', length: data.length, from, to };
  const marker = (data[0]! | data[1]! | data[2]! | data[3]!) === 0;
  return marker
    ? { kind: 'hip', packet: data.subarray(NON_ESP_MARKER_LENGTH), from, to }
    : { kind: 'esp', packet: data, from, to };
}

/** The datagram a HIP control packet travels in. */
export function frameHip(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(NON_ESP_MARKER_LENGTH + packet.length);
  out.set(packet, NON_ESP_MARKER_LENGTH);
  return out;
}

export interface UdpTransportOptions {
  /** Local addresses to bind, one socket each. */
  addresses: string[];
  /** 0 picks an ephemeral port per socket (tests); the protocol default is 10500. */
  port: number;
  onDatagram(d: UdpDatagram): void;
  onError?(err: Error, local: UdpEndpoint): void;
}

interface BoundSocket { socket: dgram.Socket; local: UdpEndpoint }

export class UdpTransport {
  private readonly sockets = new Map<string, BoundSocket>();

  private constructor(private readonly opts: UdpTransportOptions) {}

  static async open(opts: UdpTransportOptions): Promise<UdpTransport> {
    const t = new UdpTransport(opts);
    try {
      for (const address of opts.addresses) await t.addAddress(address);
    } catch (err) {
      t.close();
      throw err;
    }
    return t;
  }

  /** Starts listening on another local address (a new locator). */
  async addAddress(address: string): Promise<UdpEndpoint> {
    const existing = this.sockets.get(address);
    if (existing) return existing.local;
    const socket = dgram.createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', ipv6Only: isIPv6(address) });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new SocketBindError(address, this.opts.port, err.code, err.message));
      socket.once('error', onError);
      socket.bind(this.opts.port, address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    const local = { address, port: socket.address().port };
    socket.on('message', (msg, rinfo) => {
      const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      this.opts.onDatagram(classifyDatagram(data, { address: rinfo.address, port: rinfo.port }, local));
    });
    // An ICMP error on a connectionless socket surfaces here; it is a hint, never fatal.
    socket.on('error', (err) => this.opts.onError?.(err, local));
    this.sockets.set(address, { socket, local });
    return local;
  }

  removeAddress(address: string): void {
    const s = this.sockets.get(address);
    if (!s) return;
    this.sockets.delete(address);
    s.socket.close();
  }

  locals(): UdpEndpoint[] {
    return [...this.sockets.values()].map((s) => s.local);
  }

  /** Sends from the socket bound to `from` (or the first one of the right family). */
  send(data: Uint8Array, to: UdpEndpoint, from?: UdpEndpoint): boolean {
    const s = this.pickSocket(to, from);
    if (!s) return false;
    s.socket.send(data, to.port, to.address);
    return true;
  }

  localFor(to: UdpEndpoint, from?: UdpEndpoint): UdpEndpoint | undefined {
    return this.pickSocket(to, from)?.local;
  }

  private pickSocket(to: UdpEndpoint, from?: UdpEndpoint): BoundSocket | undefined {
    if (from) {
      const exact = this.sockets.get(from.address);
      if (exact) return exact;
    }
    const v6 = isIPv6(to.address);
    for (const s of this.sockets.values()) if (isIPv6(s.local.address) === v6) return s;
    return undefined;
  }

  close(): void {
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
  }
}
