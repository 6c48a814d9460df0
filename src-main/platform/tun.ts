// TUN devices: the Linux backend (our own N-API addon: uv_poll, batched reads into a shared
// buffer, one crossing per batch of writes), a slower pure-node reader for when the fast path
// is unavailable, an in-memory device for tests, and the one-time privileged setup that makes
// a persistent device owned by an unprivileged user and gives it the host's HIT and LSI.

import { execFileSync } from 'node:child_process';
import { read as fsRead, writeSync } from 'node:fs';
import { hitToText } from '../hip/wire/address.js';
import { newRxBatch, type RxBatch, type TxBatch } from '../base/batch.js';
import { errnoName, loadNativeIo, type NativeHandle, type NativeIo } from './native.js';

export interface TunDevice {
  readonly name: string;
  /** The device fd when the addon owns it, for the native ESP fast path to read and write. */
  readonly nativeFd?: number;
  /** Delivers packets read from the device in batches; the batch is reused after the callback. */
  start(onBatch: (batch: RxBatch) => void, onError: (message: string) => void): void;
  /** Writes a batch of IP packets to the device; returns how many it took. */
  write(batch: TxBatch): number;
  close(): void;
}

/** Packets per read batch: ~64 per wakeup is where the syscall cost stops mattering. */
const RX_SLOTS = 64;

function slotSizeFor(mtu: number): number {
  return Math.max(2048, mtu + 64);
}

// ---------------------------------------------------------------------------------------------
// native

class NativeTun implements TunDevice {
  private readonly rx: RxBatch;
  private closed = false;

  constructor(private readonly io: NativeIo, readonly handle: NativeHandle, readonly name: string, mtu: number) {
    this.rx = newRxBatch(RX_SLOTS, slotSizeFor(mtu));
  }

  get nativeFd(): number {
    return this.io.fdOf(this.handle);
  }

  start(onBatch: (batch: RxBatch) => void, onError: (message: string) => void): void {
    this.io.startReading(
      this.handle, this.rx.buf, this.rx.lengths, this.rx.slotSize,
      (count) => {
        this.rx.count = count;
        onBatch(this.rx);
      },
      (r) => onError(`TUN ${this.name}: ${errnoName(r.errno)}`),
    );
  }

  write(batch: TxBatch): number {
    if (this.closed || batch.count === 0) return 0;
    return this.io.writeBatch(this.handle, batch.buf, batch.offsets, batch.lengths, batch.count).written;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.io.close(this.handle);
  }
}

export interface OpenTunOptions {
  name: string;
  mtu: number;
}

/**
 * Attaches to the TUN device `name` (creating a non-persistent one when it does not exist and
 * we may). The error says what to do when it cannot.
 */
export function openNativeTun(io: NativeIo, opts: OpenTunOptions): TunDevice {
  try {
    const { handle, name } = io.tunOpen(opts.name, false);
    return new NativeTun(io, handle, name, opts.mtu);
  } catch (err) {
    throw tunOpenError(opts.name, err as NodeJS.ErrnoException);
  }
}

function tunOpenError(name: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EPERM' || err.code === 'EACCES') {
    return new Error(
      `cannot open TUN ${name}: permission denied; run \`hipvpn setup --tun ${name} --user $(id -u)\` once as root, ` +
        'or run as root',
    );
  }
  if (err.code === 'EBUSY') return new Error(`cannot open TUN ${name}: another process has it open`);
  if (err.code === 'ENOENT') return new Error(`cannot open TUN ${name}: /dev/net/tun is missing (load the tun module)`);
  return new Error(`cannot open TUN ${name}: ${err.message}`);
}

// ---------------------------------------------------------------------------------------------
// fallback: a non-blocking fd read through node:fs

/**
 * Reads a non-blocking TUN fd through node:fs. Each read returns at once (EAGAIN when empty),
 * so no thread-pool thread is ever parked on the device and the process can exit; when idle it
 * polls on an unreferenced timer, backing off to a few milliseconds. Much slower than uv_poll.
 */
class FsTun implements TunDevice {
  private readonly rx: RxBatch;
  private closed = false;
  private idleMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly fd: number, readonly name: string, mtu: number, private readonly closeFd: (fd: number) => void) {
    this.rx = newRxBatch(1, slotSizeFor(mtu));
  }

  start(onBatch: (batch: RxBatch) => void, onError: (message: string) => void): void {
    const next = (): void => {
      if (this.closed) return;
      fsRead(this.fd, this.rx.buf, 0, this.rx.slotSize, null, (err, n) => {
        if (this.closed) return;
        if (err) {
          if (err.code !== 'EAGAIN') {
            onError(`TUN ${this.name}: ${err.message}`);
            return;
          }
          this.idleMs = Math.min(4, this.idleMs + 1);
          this.timer = setTimeout(next, this.idleMs);
          this.timer.unref();
          return;
        }
        this.idleMs = 0;
        if (n > 0) {
          this.rx.lengths[0] = n;
          this.rx.count = 1;
          onBatch(this.rx);
        }
        next();
      });
    };
    next();
  }

  write(batch: TxBatch): number {
    let written = 0;
    for (let i = 0; i < batch.count; i++) {
      try {
        writeSync(this.fd, batch.packet(i));
        written++;
      } catch {
        // A packet the kernel refuses is dropped alone.
      }
    }
    return written;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.closeFd(this.fd);
  }
}

/**
 * The pure-node TUN path. Attaching to a TUN needs the TUNSETIFF ioctl, which node cannot
 * issue, so the fd comes from the addon; only the packet I/O is plain node (for comparison
 * and for when the uv_poll reader misbehaves).
 */
export function openFsTun(io: NativeIo, opts: OpenTunOptions): TunDevice {
  const tun = openNativeTun(io, opts);
  const fd = io.detachFd((tun as NativeTun).handle);
  // node:fs did not open the fd, so node:fs must not close it (it warns in workers): the addon does.
  return new FsTun(fd, tun.name, opts.mtu, (f) => io.close(io.adoptFd(f, 'tun')));
}

// ---------------------------------------------------------------------------------------------
// memory

/** An in-process TUN: tests inject packets as if the kernel routed them, and read what is written. */
export class MemoryTun implements TunDevice {
  readonly written: Uint8Array[] = [];
  private onBatch: ((batch: RxBatch) => void) | undefined;
  private readonly rx = newRxBatch(RX_SLOTS, 4096);
  private readonly queue: Uint8Array[] = [];
  private scheduled = false;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly name = 'mem0') {}

  start(onBatch: (batch: RxBatch) => void): void {
    this.onBatch = onBatch;
    this.schedule();
  }

  /** A packet the host's stack sends into the tunnel. */
  inject(packet: Uint8Array): void {
    this.queue.push(packet.slice());
    this.schedule();
  }

  write(batch: TxBatch): number {
    for (let i = 0; i < batch.count; i++) this.written.push(batch.packet(i).slice());
    for (const w of this.waiters.splice(0)) w();
    return batch.count;
  }

  /** Resolves once `n` packets in total have been written to the device. */
  async waitForWritten(n: number, ms = 2000): Promise<Uint8Array[]> {
    const deadline = Date.now() + ms;
    while (this.written.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`MemoryTun ${this.name}: ${this.written.length} of ${n} packets written`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.written;
  }

  close(): void {
    this.onBatch = undefined;
  }

  private schedule(): void {
    if (this.scheduled || !this.onBatch || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const deliver = this.onBatch;
      if (!deliver) return;
      const n = Math.min(RX_SLOTS, this.queue.length);
      for (let i = 0; i < n; i++) {
        const p = this.queue.shift()!;
        this.rx.buf.set(p, i * this.rx.slotSize);
        this.rx.lengths[i] = p.length;
      }
      this.rx.count = n;
      deliver(this.rx);
      this.schedule();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// privileged setup

/**
 * Creates (or takes over) a persistent TUN device owned by `owner`, so an unprivileged
 * `hipvpn serve` can attach to it later. Root only.
 */
export function createPersistentTun(name: string, owner: { uid: number; gid: number }): void {
  const io = loadNativeIo();
  const tun = openNativeTun(io, { name, mtu: 1500 });
  try {
    const handle = (tun as NativeTun).handle;
    io.tunIoctl(handle, 'owner', owner.uid);
    io.tunIoctl(handle, 'group', owner.gid);
    io.tunIoctl(handle, 'persist', 1);
  } finally {
    tun.close();
  }
}

function ip(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/**
 * Gives the TUN the host's HIT (route 2001:20::/28) and LSI (route 1.0.0.0/8), sets its MTU and
 * brings it up. Idempotent: addresses already present are replaced. Root only.
 */
export function assignTunAddresses(name: string, hit: Uint8Array, lsi: string, mtu: number): void {
  ip(['link', 'set', 'dev', name, 'mtu', String(mtu), 'up']);
  ip(['-6', 'addr', 'replace', `${hitToText(hit)}/28`, 'dev', name, 'nodad']);
  ip(['-4', 'addr', 'replace', `${lsi}/8`, 'dev', name]);
}
