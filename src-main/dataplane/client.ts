// The engine's handle on the data-plane worker: starts it, forwards HIP control datagrams both
// ways, installs and removes SAs, and keeps the latest counters the worker reported. It also
// serves as the engine's control transport in TUN mode (same shape as UdpTransport).

import { Worker } from 'node:worker_threads';
import { isIPv6 } from 'node:net';
import type { UdpDatagram, UdpEndpoint } from '../platform/udp.js';
import { toAddr16 } from '../base/addr16.js';
import { SocketBindError } from '../base/errors.js';
import type { CoreEvent } from './core-contract.js';
import {
  commandPoster, type DataplaneCommands, type DataplaneEspMode, type DataplaneInit, type DataplaneIoMode, type DataplaneStats, type FromWorker,
  type ToWorker,
} from './messages.js';

export interface DataplaneStartOptions extends Omit<DataplaneInit, 'statsIntervalMs' | 'devices' | 'io'> {
  devices?: Record<string, string>;
  io?: DataplaneIoMode | 'auto';
  statsIntervalMs?: number;
  onDatagram(d: UdpDatagram): void;
  onEvent(e: CoreEvent): void;
  onWarning(message: string): void;
  /** Fresh counters arrived (every statsIntervalMs): failure detection reads them at once. */
  onStats?(): void;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 2_000;

/**
 * The worker script. From dist/ it is worker.js; from source (tsx) it is worker.ts, and a
 * worker does not inherit the parent's loader hooks, so a small bootstrap registers tsx first.
 */
function workerSource(): { script: URL | string; eval: boolean } {
  const file = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return { script: file, eval: false };
  const api = import.meta.resolve('tsx/esm/api');
  return {
    script: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}); })`,
    eval: true,
  };
}

export class DataplaneClient {
  private latest: { stats: DataplaneStats; at: number } | undefined;
  private stopping: Promise<void> | undefined;

  /** Called with the sockets after each open-socket/close-socket (set by the owner). */
  onLocals: ((locals: UdpEndpoint[], failure?: { address: string; error: string }) => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    private localEndpoints: UdpEndpoint[],
    readonly io: DataplaneIoMode,
    /** Where ESP for AES-GCM SAs is sealed and opened. */
    readonly esp: DataplaneEspMode,
    readonly tunName: string,
  ) {}

  static async start(opts: DataplaneStartOptions): Promise<DataplaneClient> {
    const init: DataplaneInit = {
      ownHit: opts.ownHit, ownLsi: opts.ownLsi, tun: opts.tun, addresses: opts.addresses, port: opts.port,
      devices: opts.devices ?? {}, io: opts.io ?? (process.env['HIPVPN_DATAPLANE_IO'] === 'node' ? 'node' : 'auto'),
      statsIntervalMs: opts.statsIntervalMs ?? 250,
    };
    const source = workerSource();
    const worker = new Worker(source.script, { workerData: init, eval: source.eval });
    let client: DataplaneClient | undefined;
    return new Promise<DataplaneClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`data plane did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      worker.on('error', (err) => {
        clearTimeout(timer);
        if (!client) reject(new Error(`data plane failed: ${err.message}`));
        else opts.onWarning(`data plane failed: ${err.stack ?? err.message}`);
      });
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            clearTimeout(timer);
            client = new DataplaneClient(worker, m.locals, m.io, m.esp, m.tunName);
            resolve(client);
            return;
          case 'fatal':
            clearTimeout(timer);
            void worker.terminate();
            reject(m.bind ? new SocketBindError(m.bind.address, m.bind.port, m.bind.errno, m.bind.reason) : new Error(m.message));
            return;
          case 'warning':
            opts.onWarning(m.message);
            return;
          case 'hip':
            opts.onDatagram({ kind: 'hip', packet: m.packet, from: m.from, to: m.to });
            return;
          case 'event':
            opts.onEvent(m.event);
            return;
          case 'stats':
            if (client) client.latest = { stats: m.stats, at: performance.now() };
            opts.onStats?.();
            return;
          case 'locals':
            if (!client) return;
            client.localEndpoints = m.locals;
            client.onLocals?.(m.locals, m.failed === undefined ? undefined : { address: m.failed, error: m.error ?? 'failed' });
            return;
          case 'stopped':
            return;
        }
      });
    });
  }

  // ---- control transport (the engine's HIP packets) -----------------------------------------

  locals(): UdpEndpoint[] {
    return this.localEndpoints.map((l) => ({ ...l }));
  }

  localFor(to: UdpEndpoint, from?: UdpEndpoint): UdpEndpoint | undefined {
    if (from) {
      const exact = this.localEndpoints.find((l) => l.address === from.address);
      if (exact) return exact;
    }
    const v6 = isIPv6(to.address);
    return this.localEndpoints.find((l) => isIPv6(l.address) === v6);
  }

  send(datagram: Uint8Array, to: UdpEndpoint, from?: UdpEndpoint): boolean {
    const local = this.localFor(to, from);
    const toAddr = toAddr16(to.address);
    if (!local || !toAddr) return false;
    this.commands.sendDatagram(local.address, datagram, toAddr, to.port);
    return true;
  }

  close(): void {
    void this.stop();
  }

  // ---- the data-plane contract ------------------------------------------------------------

  /** Every data-plane command, each posted to the worker as a message. */
  readonly commands: DataplaneCommands = commandPoster((command) => this.post(command));

  /** Opens a socket for a new local address (bound to `device`); `locals` follows via onLocals. */
  openSocket(address: string, device?: string): void {
    this.post(device ? { type: 'open-socket', address, device } : { type: 'open-socket', address });
  }

  closeSocket(address: string): void {
    this.post({ type: 'close-socket', address });
  }

  /** The worker's last counters and how old they are. */
  stats(): { stats: DataplaneStats; ageMs: number } | undefined {
    return this.latest && { stats: this.latest.stats, ageMs: performance.now() - this.latest.at };
  }

  /** Stops the worker: closes the TUN and sockets and waits (briefly) for the thread to end. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), STOP_TIMEOUT_MS);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'stop' });
    });
    return this.stopping;
  }

  private post(m: ToWorker): void {
    if (this.stopping && m.type !== 'stop') return;
    this.worker.postMessage(m);
  }
}
