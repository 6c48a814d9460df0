// A native fast path with its packet threads on a real TUN and real UDP sockets on loopback, for
// tests that must run in a private network namespace (`unshare -n`): the TUN carries our HIT
// (2001:20::/28 routes into it), an app socket on that HIT sends the traffic the TX thread
// seals, and plain dgram sockets play the peer's ends.

import { execFileSync, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import { EspInboundSa, EspOutboundSa } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { fromAddr16, toAddr16 } from '../../src-main/base/addr16.js';
import { NativeFastPath } from '../../src-main/dataplane/fastpath.js';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { loadNativeIo, type NativeHandle, type NativeIo } from '../../src-main/platform/native.js';
import { openNativeDatagramSocket, type DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { IN_SPI, OUT_SPI, OWN_HIT, OWN_LSI, PEER_HIT, gcmKeys, saInstall } from '../../lab/dataplane-fastpath.js';

export const SUITE = EspSuite.AES_GCM_16;
export const APP_PORT = 7000;
export const LOOPBACK = toAddr16('127.0.0.1')!;

export { sleep, until } from './wait.js';

/**
 * Whether this test file runs inside its own private network namespace. When not, it registers
 * one test, `title`, that re-runs the file (`fileUrl`, its import.meta.url) under `unshare -n`
 * and passes when that run passes; the caller then defines its real tests only when this is true.
 */
export function inPrivateNetns(title: string, fileUrl: string): boolean {
  if (process.env['HIPVPN_FP_NETNS'] === '1') return true;
  test(title, () => {
    const env: NodeJS.ProcessEnv = { ...process.env, HIPVPN_FP_NETNS: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync('unshare', ['-n', process.execPath, '--import', 'tsx', fileURLToPath(fileUrl)], {
      env, encoding: 'utf8', timeout: 120_000,
    });
    assert.equal(r.status, 0, `the namespaced run failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  });
  return false;
}

/** A UDP socket standing for one of the peer's ends: what arrived there, with the sender's port. */
export class PeerEnd {
  readonly got: Array<{ data: Uint8Array; fromPort: number }> = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (m, r) => this.got.push({ data: new Uint8Array(m), fromPort: r.port }));
  }
  static async open(): Promise<PeerEnd> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new PeerEnd(s);
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(data: Uint8Array, port: number): void {
    this.socket.send(data, port, '127.0.0.1');
  }
  close(): void {
    this.socket.close();
  }
}

/** SPI and sequence number of an ESP datagram. */
export function spiSeq(d: Uint8Array): { spi: number; seq: number } {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return { spi: v.getUint32(0), seq: v.getUint32(4) };
}

/** A UDP header and payload whose checksum holds between the two HITs (what BEET carries). */
export function udpSegment(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const seg = new Uint8Array(8 + data.length);
  const v = new DataView(seg.buffer);
  v.setUint16(0, srcPort);
  v.setUint16(2, dstPort);
  v.setUint16(4, seg.length);
  seg.set(data, 8);
  // RFC 8200 §8.1 pseudo-header: addresses, upper-layer length, next header.
  let sum = 0;
  const add16 = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  };
  add16(src);
  add16(dst);
  sum += seg.length + IPPROTO_UDP;
  add16(seg);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(6, ~sum & 0xffff || 0xffff);
  return seg;
}

export interface Rig {
  io: NativeIo;
  fast: NativeFastPath;
  /** Sockets the rig opened, by the fast path's index (initial socket 0 first). */
  sockets: DatagramSocket[];
  /** The app on our HIT: sends towards the peer's HIT (into the TUN), receives what the fast path opens. */
  app: dgram.Socket;
  appGot: Uint8Array[];
  /** The peer's ESP: opens what we seal on the base SA, seals what we open on the base inbound SA. */
  peerIn: EspInboundSa;
  peerOut: EspOutboundSa;
  /** Sends n app datagrams to the peer's HIT (each carrying its number). */
  sendApp(n: number, from?: number): void;
  /** Everything the fast path handed up to JS so far (TUN packets, datagrams). */
  punted(): { tun: number; udp: number };
  close(): void;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A running fast path with one initial socket (index 0) and the base SA pair installed towards
 * `peer` through it. Must run in a private network namespace (it adds a TUN and a route).
 */
export async function startRig(peer: PeerEnd): Promise<Rig> {
  const io = loadNativeIo();
  sh('ip', ['link', 'set', 'lo', 'up']);
  const tun: { handle: NativeHandle; name: string } = io.tunOpen('', false);
  io.linkConfigure(tun.name, true, 1400);
  sh('ip', ['-6', 'addr', 'add', `${fromAddr16(OWN_HIT)}/28`, 'dev', tun.name, 'nodad']);
  const first = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 });
  const fast = NativeFastPath.create(io, {
    tunFd: io.fdOf(tun.handle), socketFds: [first.nativeFd!], ownHit: OWN_HIT, ownLsi: OWN_LSI, slotSize: 2048,
    onWake: () => undefined,
  });
  const install = saInstall(SUITE);
  install.remote = { address: '127.0.0.1', port: peer.port };
  install.remoteAddr16 = LOOPBACK;
  install.local = '127.0.0.1';
  if (!fast.install(install, 0)) throw new Error('the fast path refused the SA');
  const app = dgram.createSocket({ type: 'udp6' });
  await new Promise<void>((r) => app.bind(APP_PORT, fromAddr16(OWN_HIT), () => r()));
  const appGot: Uint8Array[] = [];
  app.on('message', (m) => appGot.push(new Uint8Array(m)));
  const tunBuf = new Uint8Array(64 * 2048);
  const tunLens = new Uint32Array(64);
  const udpBuf = new Uint8Array(64 * 2048);
  const udpLens = new Uint32Array(64);
  const punts = { tun: 0, udp: 0 };
  const rig: Rig = {
    io, fast, sockets: [first], app, appGot,
    peerIn: new EspInboundSa({ spi: OUT_SPI, suite: SUITE, keys: gcmKeys(7), createdAt: 0 }),
    peerOut: new EspOutboundSa({ spi: IN_SPI, suite: SUITE, keys: gcmKeys(9), createdAt: 0, nextSeq: 1 }),
    sendApp(n, from = 0) {
      for (let i = 0; i < n; i++) app.send(Uint8Array.of((from + i) >> 8, (from + i) & 0xff, 1, 2, 3), APP_PORT, fromAddr16(PEER_HIT));
    },
    punted() {
      punts.tun += io.fpTakeTun(fast.handle, tunBuf, tunLens, 2048);
      punts.udp += io.fpTakeUdp(fast.handle, udpBuf, udpLens, 2048, new Uint8Array(64 * 16), new Uint16Array(64), new Uint8Array(64));
      return { ...punts };
    },
    close() {
      fast.stop();
      app.close();
      for (const s of rig.sockets) s.close();
      io.close(tun.handle);
    },
  };
  return rig;
}
