// Entry point of the data-plane worker thread: owns the TUN and the UDP sockets, runs the
// packet path, and talks to the engine only through messages. Keeping this loop off the main
// thread is what keeps the control plane and the UI responsive under full load.

import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { openDgramDatagramSocket, openNativeDatagramSocket, type DatagramSocket } from '../platform/fast-udp.js';
import { loadNativeIo, type NativeIo } from '../platform/native.js';
import { openFsTun, openNativeTun, type TunDevice } from '../platform/tun.js';
import { fastPathUnavailable } from './fastpath.js';
import { DataplaneRunner } from './runner.js';
import { applyCommand, type DataplaneEspMode, type DataplaneInit, type DataplaneIoMode, type FromWorker, type ToWorker } from './messages.js';
import { SocketBindError } from '../base/errors.js';

const port = parentPort;
if (!port) throw new Error('dataplane worker must run in a worker thread');
const init = workerData as DataplaneInit;
const post = (m: FromWorker): void => port.postMessage(m);

function pickIo(): { io: NativeIo | undefined; mode: DataplaneIoMode } {
  let io: NativeIo | undefined;
  try {
    io = loadNativeIo();
  } catch (err) {
    post({ type: 'warning', message: `${(err as Error).message}; using the much slower pure-node data plane` });
    return { io: undefined, mode: 'node' };
  }
  return { io, mode: init.io === 'node' ? 'node' : 'native' };
}

/** Slot size of the fast path's packet buffers: an MTU-sized packet plus ESP head- and tailroom. */
function fastPathSlotSize(mtu: number): number {
  return Math.max(2048, mtu + 256);
}

/** Whether established AES-GCM SAs can run in the native fast path; warns when they cannot. */
function pickEsp(io: NativeIo | undefined, mode: DataplaneIoMode): DataplaneEspMode {
  if (!io || mode !== 'native') return 'js';
  const reason = fastPathUnavailable(io);
  if (reason === null) return 'native';
  post({ type: 'warning', message: `native ESP fast path unavailable: ${reason}; sealing and opening ESP in JS (slower)` });
  return 'js';
}

let ioInUse: { io: NativeIo; mode: DataplaneIoMode } | undefined;

/** One socket for `address` on the data plane's port, bound to `device` when given. */
async function openSocket(io: NativeIo, mode: DataplaneIoMode, address: string, device: string | undefined): Promise<DatagramSocket> {
  const opts = { address, port: init.port, ...(device ? { device } : {}) };
  if (mode === 'native') return openNativeDatagramSocket(io, opts);
  if (device) post({ type: 'warning', message: `node:dgram cannot bind ${address} to ${device}; binding the address only` });
  return openDgramDatagramSocket(opts);
}

async function open(): Promise<{ runner: DataplaneRunner; mode: DataplaneIoMode; esp: DataplaneEspMode }> {
  const { io, mode } = pickIo();
  if (!io) {
    throw new Error(
      `cannot open TUN ${init.tun.name}: attaching to a TUN needs the native addon (node has no ioctl); ` +
        'run `npm run build:native`',
    );
  }
  const tun: TunDevice = mode === 'native' ? openNativeTun(io, init.tun) : openFsTun(io, init.tun);
  const sockets: DatagramSocket[] = [];
  try {
    for (const address of init.addresses) sockets.push(await openSocket(io, mode, address, init.devices[address]));
  } catch (err) {
    tun.close();
    for (const s of sockets) s.close();
    throw err;
  }
  ioInUse = { io, mode };
  const esp = pickEsp(io, mode);
  const runner = new DataplaneRunner({
    ...(esp === 'native' ? { fastPath: { io, slotSize: fastPathSlotSize(init.tun.mtu) } } : {}),
    ownHit: init.ownHit,
    ownLsi: init.ownLsi,
    tun,
    sockets,
    now: () => performance.now(),
    onHip: (packet, from, to) => post({ type: 'hip', packet: packet.slice(), from, to }),
    onEvent: (event) => post({ type: 'event', event }),
    onWarning: (message) => post({ type: 'warning', message }),
  });
  return { runner, mode, esp };
}

async function main(): Promise<void> {
  let opened: { runner: DataplaneRunner; mode: DataplaneIoMode; esp: DataplaneEspMode };
  try {
    opened = await open();
  } catch (err) {
    const bind = err instanceof SocketBindError ? { address: err.address, port: err.port, reason: err.reason, ...(err.errno === undefined ? {} : { errno: err.errno }) } : undefined;
    post({ type: 'fatal', message: (err as Error).message, ...(bind ? { bind } : {}) });
    return;
  }
  const { runner, mode, esp } = opened;
  const now = (): number => performance.now();
  const statsTimer = setInterval(() => {
    runner.tick(now());
    post({ type: 'stats', stats: runner.stats(now()) });
  }, init.statsIntervalMs);

  port!.on('message', (m: ToWorker) => {
    try {
      handle(m);
    } catch (err) {
      // A bug in handling one control message must not take the data plane down.
      post({ type: 'warning', message: `data plane: ${m.type} failed: ${(err as Error).stack ?? String(err)}` });
    }
  });
  const handle = (m: ToWorker): void => {
    switch (m.type) {
      case 'open-socket': {
        const { io, mode: ioMode } = ioInUse!;
        openSocket(io, ioMode, m.address, m.device).then(
          (socket) => {
            runner.addSocket(socket);
            post({ type: 'locals', locals: runner.locals() });
          },
          (err: unknown) => post({
            type: 'locals', locals: runner.locals(), failed: m.address, error: `cannot open a socket on ${m.address}: ${(err as Error).message}`,
          }),
        );
        return;
      }
      case 'close-socket':
        runner.removeSocket(m.address);
        post({ type: 'locals', locals: runner.locals() });
        return;
      case 'stop':
        clearInterval(statsTimer);
        post({ type: 'stats', stats: runner.stats(now()) });
        runner.stop();
        post({ type: 'stopped' });
        port!.close();
        return;
      default:
        applyCommand(runner, m);
    }
  };
  try {
    runner.start();
  } catch (err) {
    runner.stop();
    post({ type: 'fatal', message: `data plane: ${(err as Error).message}` });
    return;
  }
  post({ type: 'ready', locals: runner.locals(), io: mode, esp, tunName: init.tun.name });
}

void main();
