// A native fast path without threads (tables only) next to a JS DataplaneCore holding the same
// keys, so tests can push one packet through each and compare bytes.

import { DataplaneCore, type CoreEvent, type CoreSink, type SaInstall } from '../src-main/dataplane/core.js';
import { toAddr16 } from '../src-main/base/addr16.js';
import { NativeFastPath, type FastPathTuning } from '../src-main/dataplane/fastpath.js';
import { ipv4ToNumber } from '../src-main/dataplane/packet.js';
import { loadNativeIo, type NativeIo } from '../src-main/platform/native.js';
import { openNativeDatagramSocket } from '../src-main/platform/fast-udp.js';
import type { EspKeyMaterial } from '../src-main/esp/index.js';

export function testHit(last: number): Uint8Array {
  const h = new Uint8Array(16);
  h.set([0x20, 0x01, 0x00, 0x22]);
  for (let i = 4; i < 16; i++) h[i] = (last * 7 + i) & 0xff;
  return h;
}

export function gcmKeys(seed: number, keyLength = 16): EspKeyMaterial {
  const encKey = new Uint8Array(keyLength);
  for (let i = 0; i < keyLength; i++) encKey[i] = (seed * 31 + i * 17) & 0xff;
  return { encKey, authKey: new Uint8Array(0), salt: Uint8Array.of(seed, 0xa5, 0x5a, seed ^ 0xff) };
}

export const OWN_HIT = testHit(1);
export const PEER_HIT = testHit(2);
export const OWN_LSI = ipv4ToNumber('1.0.0.10')!;
/** The LSI we give the peer. */
export const PEER_LSI = ipv4ToNumber('1.5.5.5')!;
export const OUT_SPI = 0x1001;
export const IN_SPI = 0x2002;

export function saInstall(suite: number, outKeys = gcmKeys(7), inKeys = gcmKeys(9)): SaInstall {
  return {
    hit: PEER_HIT, lsi: PEER_LSI,
    outbound: { spi: OUT_SPI, suite, keys: outKeys },
    inbound: { spi: IN_SPI, suite, keys: inKeys },
    remote: { address: '192.0.2.2', port: 10500 },
    remoteAddr16: toAddr16('192.0.2.2')!,
    local: '192.0.2.1',
  };
}

/** What the JS core emitted: sealed datagrams, TUN packets, control packets, events, drops. */
export class RecordingSink implements CoreSink {
  readonly udpOut: Uint8Array[] = [];
  readonly tunOut: Uint8Array[] = [];
  readonly hipIn: Uint8Array[] = [];
  readonly events: CoreEvent[] = [];
  private tunBuf = new Uint8Array(70000);
  udp(_local: string, datagram: Uint8Array): boolean {
    this.udpOut.push(datagram.slice());
    return true;
  }
  tunReserve(length: number): Uint8Array {
    return this.tunBuf.subarray(0, length);
  }
  tunCommit(length: number): void {
    this.tunOut.push(this.tunBuf.slice(0, length));
  }
  hip(packet: Uint8Array): void {
    this.hipIn.push(packet.slice());
  }
  event(e: CoreEvent): void {
    this.events.push(e);
  }
}

export interface Twin {
  io: NativeIo;
  fast: NativeFastPath;
  js: DataplaneCore;
  sink: RecordingSink;
  close(): void;
}

/** A fast path and a JS core with the same SA pair installed. */
export function twin(suite: number, tuning: FastPathTuning = {}, install = saInstall(suite)): Twin {
  const io = loadNativeIo();
  // An SA needs a socket of its family to be sendable; no thread reads this one.
  const socket = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 });
  const fast = NativeFastPath.create(io, { tunFd: -1, socketFds: [socket.nativeFd!], ownHit: OWN_HIT, ownLsi: OWN_LSI, slotSize: 2048, onWake: () => undefined, ...tuning });
  const sink = new RecordingSink();
  const js = new DataplaneCore(OWN_HIT, OWN_LSI, sink);
  if (!fast.install(install, -1)) throw new Error('fast path refused the SA');
  js.installSa(install, 0);
  return {
    io, fast, js, sink,
    close: () => {
      fast.stop();
      socket.close();
    },
  };
}
