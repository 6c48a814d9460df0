// Loads the data-plane addon (native/, built by node-gyp on `npm install`). It is N-API only,
// so the same binary loads in Node and in Electron's main process or a worker of either.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque handle owning one fd (TUN queue or UDP socket); closed by `close` or env teardown. */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** Opaque handle of the native ESP fast path (its SA tables and packet threads). */
export type FastPathHandle = { readonly __fastPathHandle: unique symbol };

export type FastPathEvent =
  /** spi: the inbound SA first heard (esp-heard), or the outbound SA due for a rekey (rekey-needed). */
  | { type: 'esp-heard' | 'rekey-needed'; hit: Uint8Array; spi: number }
  | {
      type: 'socket-error' | 'tun-error'; errno: number; socket: number; origin: number; icmpType: number; icmpCode: number;
      /** socket-error from the error queue: the destination of the datagram it is about (16 octets, IPv4 mapped), and its port. */
      address?: Uint8Array; port?: number;
    }
  /**
   * Authenticated ESP on inbound SA `spi` came from `address` (16 octets, IPv4 mapped):`port`,
   * on socket `socket`, and the peer's previous one did not (or it is the first since an inbound
   * SA was installed): once per change of that pair, not per packet. `bytes`: that datagram's size.
   */
  | { type: 'esp-source'; hit: Uint8Array; spi: number; address: Uint8Array; port: number; socket: number; bytes: number };

export interface FastPathStats {
  peers: Array<{
    hit: Uint8Array; packetsIn: number; bytesIn: number; packetsOut: number; bytesOut: number; lastHeardAgoMs: number | null;
    /** The outbound SA carrying the peer's traffic; null: it goes up to JS. */
    outboundSpi: number | null;
  }>;
  /**
   * Every peer's flow routes (fpSetFlowRoutes), in their order. Out: datagrams the TX thread
   * sent on the route; in: packets opened for the peer whose mirrored selector matches it.
   * Bytes are ESP payload octets, as the peers' counters.
   */
  flows: Array<{ hit: Uint8Array; fid: number; packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }>;
  /** Every peer's spread members (load sharing) and what the TX thread sent on each. */
  spread: Array<{ hit: Uint8Array; spreadKey: number; outboundSpi: number; packetsOut: number; bytesOut: number }>;
  drops: Record<string, number>;
  tunPacketsIn: number;
  tunPacketsOut: number;
  udpPacketsIn: number;
  udpPacketsOut: number;
  /** Datagrams also sent to a peer's spare destination (not in udpPacketsOut nor packetsOut). */
  spareCopies: number;
  /** Spare copies whose send failed (never stranded, never counted as drops). */
  spareCopiesFailed: number;
  /** Copies of held peers' datagrams queued for JS (fpSetHeld). */
  heldCopies: number;
  /** Such copies the full queue could not take. */
  heldCopiesLost: number;
}

/** The addon's ESP fast path (native/src/fastpath.c); AES-GCM through a dlopened libcrypto. */
export interface NativeFastPathApi {
  cryptoStatus(): { available: boolean; library: string; reason: string };
  /** tunFd < 0: tables only, no threads (the synchronous process* calls, for tests). */
  fpCreate(tunFd: number, socketFds: Int32Array, ownHit: Uint8Array, ownLsi: number, slotSize: number, onWake: () => void): FastPathHandle;
  fpInstall(
    fp: FastPathHandle, hit: Uint8Array, lsi: number, icvLength: number,
    outSpi: number, outKey: Uint8Array, outSalt: Uint8Array, inSpi: number, inKey: Uint8Array, inSalt: Uint8Array,
    remote16: Uint8Array, port: number, socket: number, lifetimeMs: number, seqRekeyThreshold: number, nextSeq: number,
  ): boolean;
  fpDropOutbound(fp: FastPathHandle, hit: Uint8Array): void;
  fpDropSas(fp: FastPathHandle, hit: Uint8Array): void;
  fpRetireInbound(fp: FastPathHandle, spi: number, afterMs: number): boolean;
  fpTick(fp: FastPathHandle): void;
  fpSetPath(fp: FastPathHandle, hit: Uint8Array, remote16: Uint8Array, port: number, socket: number, outboundSpi?: number): void;
  fpSetSpare(fp: FastPathHandle, hit: Uint8Array, remote16: Uint8Array | null, port: number, socket: number, forMs: number): void;
  fpAddOutbound(
    fp: FastPathHandle, hit: Uint8Array, spi: number, icvLength: number, key: Uint8Array, salt: Uint8Array,
    lifetimeMs: number, seqRekeyThreshold: number, nextSeq: number,
  ): boolean;
  fpAddInbound(fp: FastPathHandle, hit: Uint8Array, spi: number, icvLength: number, key: Uint8Array, salt: Uint8Array): boolean;
  fpRemoveOutbound(fp: FastPathHandle, hit: Uint8Array, spi: number): void;
  /** The further outbound SA `spi` replaces the base one (and its traffic, if it had it); false when there is none. */
  fpPromoteBase(fp: FastPathHandle, hit: Uint8Array, spi: number): boolean;
  /** Test hook: outbound SA `spi` (base or further) seals its next packet with `nextSeq`; false for an unknown SA. */
  fpSetNextSeq(fp: FastPathHandle, hit: Uint8Array, spi: number, nextSeq: number): boolean;
  /**
   * While on, a copy of every datagram sealed for the peer is queued for fpTakeStranded after
   * it is sent, its socket index flagged with FP_STRANDED_HELD (0x80).
   */
  fpSetHeld(fp: FastPathHandle, hit: Uint8Array, on: boolean): void;
  /** The new socket's index, or -1 when the table is full. */
  fpAddSocket(fp: FastPathHandle, fd: number): number;
  /** Returns once neither packet thread can use the fd. */
  fpRemoveSocket(fp: FastPathHandle, index: number): void;
  fpSetLsi(fp: FastPathHandle, hit: Uint8Array, lsi: number): void;
  /**
   * Replaces the peer's flow routes. Per route 10 fields (fid, protocol, localFrom, localTo,
   * remoteFrom, remoteTo, port, socketIndex, outboundSpi, needsPorts 0/1) and 16 octets of
   * remote address.
   */
  fpSetFlowRoutes(fp: FastPathHandle, hit: Uint8Array, fields: Float64Array, addrs16: Uint8Array): void;
  /** The sealed ESP packet, or the drop reason. */
  fpSeal(fp: FastPathHandle, hit: Uint8Array, payload: Uint8Array, nextHeader: number): Uint8Array | string;
  fpProcessTun(
    fp: FastPathHandle, packet: Uint8Array,
  ): { datagram: Uint8Array; socket: number; address: Uint8Array; port: number; spareSocket?: number } | { punt: true } | { drop: string };
  fpProcessUdp(fp: FastPathHandle, datagram: Uint8Array): { inner: Uint8Array } | { none: true } | { punt: true } | { drop: string };
  fpPoll(fp: FastPathHandle): FastPathEvent[];
  fpTakeTun(fp: FastPathHandle, buf: Uint8Array, lengths: Uint32Array, slotSize: number): number;
  fpTakeUdp(
    fp: FastPathHandle, buf: Uint8Array, lengths: Uint32Array, slotSize: number, addrs16: Uint8Array, ports: Uint16Array, sockets: Uint8Array,
  ): number;
  /** Sealed datagrams whose send failed with their interface gone, with their old destination and socket. */
  fpTakeStranded(
    fp: FastPathHandle, buf: Uint8Array, lengths: Uint32Array, slotSize: number, addrs16: Uint8Array, ports: Uint16Array, sockets: Uint8Array,
  ): number;
  /** Without flows (`withFlows` false) `flows` is empty. */
  fpStats(fp: FastPathHandle, withFlows?: boolean): FastPathStats;
  fpStop(fp: FastPathHandle): void;
}

export interface NativeErrorReport {
  errno: number;
  /** SO_EE_ORIGIN_*: 2 = ICMP, 3 = ICMPv6, 1 = local, 0 = plain socket error. */
  origin: number;
  icmpType: number;
  icmpCode: number;
  /** Destination of the packet that caused it (16 bytes, IPv4 mapped), when known. */
  address?: Uint8Array;
  port: number;
}

const SO_EE_ORIGIN_ICMP = 2;
const SO_EE_ORIGIN_ICMP6 = 3;
const ICMP_DEST_UNREACH = 3;
const ICMP_FRAG_NEEDED = 4;
const ICMPV6_DEST_UNREACH = 1;

/**
 * The destination an ICMP destination-unreachable error (from a socket's error queue) is about,
 * as 16 octets and a port; undefined for anything else: local errors, "fragmentation needed"
 * (a path MTU signal, not a dead path), other ICMP types, or no destination given.
 */
export function unreachableDestination(
  r: { origin: number; icmpType: number; icmpCode: number; address?: Uint8Array; port?: number },
): { address: Uint8Array; port: number } | undefined {
  if (r.address === undefined || r.port === undefined || r.address.length !== 16) return undefined;
  const v4 = r.origin === SO_EE_ORIGIN_ICMP && r.icmpType === ICMP_DEST_UNREACH && r.icmpCode !== ICMP_FRAG_NEEDED;
  const v6 = r.origin === SO_EE_ORIGIN_ICMP6 && r.icmpType === ICMPV6_DEST_UNREACH;
  return v4 || v6 ? { address: r.address, port: r.port } : undefined;
}

export interface NativeIo extends NativeFastPathApi {
  readonly abiVersion: number;
  tunOpen(name: string, multiQueue: boolean): { handle: NativeHandle; name: string };
  tunIoctl(handle: NativeHandle, what: 'persist' | 'owner' | 'group', value: number): void;
  linkConfigure(name: string, up: boolean, mtu: number): void;
  adoptFd(fd: number, kind: 'tun' | 'udp'): NativeHandle;
  udpOpen(
    address16: Uint8Array, family: 4 | 6, port: number, device: string,
    rcvbuf: number, sndbuf: number, recvErr: boolean, scopeId: number,
  ): { handle: NativeHandle; port: number };
  udpSend(
    handle: NativeHandle, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
    addrs16: Uint8Array, ports: Uint16Array, count: number, gso: boolean, waitMs: number,
  ): { sent: number; lastErrno: number; gso: number };
  writeBatch(
    handle: NativeHandle, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number,
  ): { written: number; lastErrno: number };
  startReading(
    handle: NativeHandle, buf: Uint8Array, lengths: Uint32Array, slotSize: number,
    onBatch: (count: number) => void, onError: ((report: NativeErrorReport) => void) | undefined,
    addrs16?: Uint8Array, ports?: Uint16Array,
  ): void;
  stopReading(handle: NativeHandle): void;
  setRef(handle: NativeHandle, referenced: boolean): void;
  close(handle: NativeHandle): void;
  fdOf(handle: NativeHandle): number;
  detachFd(handle: NativeHandle): number;
  setBlocking(fd: number, blocking: boolean): void;
  inetNtop(address16: Uint8Array): string;
  inetPton(address: string): { address: Uint8Array; family: 4 | 6 } | null;
  ifIndex(name: string): number;
}

const ADDON_FILE = 'hipvpn_io.node';
const EXPECTED_ABI = 6;

let cached: NativeIo | undefined;
let loadError: Error | undefined;

// Works from the source tree (tsx), from dist/ and from an unpacked Electron asar, so walk up
// to the first folder holding native/build/Release.
function findAddon(): string[] {
  const tried: string[] = [];
  const override = process.env['HIPVPN_NATIVE_IO'];
  if (override) return [override];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const variant of ['Release', 'Debug']) tried.push(join(dir, 'native', 'build', variant, ADDON_FILE));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return tried;
}

/** The addon, or throws an Error saying how to build it. */
export function loadNativeIo(): NativeIo {
  if (cached) return cached;
  if (loadError) throw loadError;
  if (process.platform !== 'linux') {
    loadError = new Error(`hipvpn native I/O: no backend for ${process.platform} yet (Linux only)`);
    throw loadError;
  }
  const candidates = findAddon();
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    loadError = new Error(
      'hipvpn native I/O addon is not built: run `npm run build:native` ' +
        '(node-gyp rebuild --directory native; needs g++ and node headers). Looked for ' +
        candidates.slice(0, 2).join(', '),
    );
    throw loadError;
  }
  const require = createRequire(import.meta.url);
  let mod: NativeIo;
  try {
    mod = require(path) as NativeIo;
  } catch (err) {
    loadError = new Error(`hipvpn native I/O addon at ${path} failed to load: ${(err as Error).message}`);
    throw loadError;
  }
  if (mod.abiVersion !== EXPECTED_ABI) {
    loadError = new Error(
      `hipvpn native I/O addon at ${path} is stale (abi ${String(mod.abiVersion)}, want ${EXPECTED_ABI}): ` +
        'run `npm run build:native`',
    );
    throw loadError;
  }
  cached = mod;
  return mod;
}

/** Whether the addon loads; the reason when it does not. */
export function nativeIoStatus(): { available: true } | { available: false; reason: string } {
  try {
    loadNativeIo();
    return { available: true };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

/** An Error carrying the errno name, as node's own I/O errors do. */
export function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const name = errnoName(errno);
  const err: NodeJS.ErrnoException = new Error(`${what}: ${name}`);
  err.code = name;
  err.errno = errno;
  return err;
}

let errnoNames: Map<number, string> | undefined;

export function errnoName(errno: number): string {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}
