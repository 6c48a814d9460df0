// Entry point of the data-plane worker thread: owns the TUN and the UDP sockets, runs the
// packet path, and talks to the engine only through messages. Keeping this loop off the main
// thread is what keeps the control plane and the UI responsive under full load.

import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { openDgramDatagramSocket, openNativeDatagramSocket, type DatagramSocket } from '../platform/fast-udp.js';
import { loadNativeIo, type NativeIo } from '../platform/native.js';
import { openFsTun, openNativeTun, type TunDevice } from '../platform/tun.js';
import { DataplaneRunner } from './runner.js';
import type { DataplaneInit, DataplaneIoMode, FromWorker, ToWorker } from './messages.js';

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

async function open(): Promise<{ runner: DataplaneRunner; mode: DataplaneIoMode }> {
  const { io, mode } = pickIo();
  let tun: TunDevice;
  if (!io) {
    throw new Error(
      `cannot open TUN ${init.tun.name}: attaching to a TUN needs the native addon (node has no ioctl); ` +
        'run `npm run build:native`',
    );
  }
  tun = mode === 'native' ? openNativeTun(io, init.tun) : openFsTun(io, init.tun);
  const sockets: DatagramSocket[] = [];
  try {
    for (const address of init.addresses) {
      const device = init.devices[address];
      const opts = { address, port: init.port, ...(device ? { device } : {}) };
      if (mode === 'native') sockets.push(openNativeDatagramSocket(io, opts));
      else {
        if (device) post({ type: 'warning', message: `node:dgram cannot bind ${address} to ${device}; binding the address only` });
        sockets.push(await openDgramDatagramSocket(opts));
      }
    }
  } catch (err) {
    tun.close();
    for (const s of sockets) s.close();
    throw err;
  }
  const runner = new DataplaneRunner({
    ownHit: init.ownHit,
    ownLsi: init.ownLsi,
    tun,
    sockets,
    now: () => performance.now(),
    onHip: (packet, from, to) => post({ type: 'hip', packet: packet.slice(), from, to }),
    onEvent: (event) => post({ type: 'event', event }),
    onWarning: (message) => post({ type: 'warning', message }),
  });
  return { runner, mode };
}

async function main(): Promise<void> {
  let opened: { runner: DataplaneRunner; mode: DataplaneIoMode };
  try {
    opened = await open();
  } catch (err) {
    post({ type: 'fatal', message: (err as Error).message });
    return;
  }
  const { runner, mode } = opened;
  const now = (): number => performance.now();
  const statsTimer = setInterval(() => {
    runner.core.tick(now());
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
      case 'routes':
        runner.core.setRoutes(m.routes);
        return;
      case 'install-sa':
        runner.core.installSa(m.sa, now());
        return;
      case 'drop-sas':
        runner.core.dropSas(m.hit);
        return;
      case 'retire-inbound':
        runner.core.retireInbound(m.spi, now() + m.afterMs);
        return;
      case 'set-path':
        runner.core.setPath(m.hit, m.remote, m.remoteAddr16, m.local);
        return;
      case 'send-datagram':
        runner.sendDatagram(m.from, m.datagram, m.toAddr16, m.to.port);
        return;
      case 'send-payload':
        runner.core.sendPayload(m.hit, m.payload, m.nextHeader, now());
        return;
      case 'stop':
        clearInterval(statsTimer);
        post({ type: 'stats', stats: runner.stats(now()) });
        runner.stop();
        post({ type: 'stopped' });
        port!.close();
        return;
    }
  };
  runner.start();
  post({ type: 'ready', locals: runner.locals(), io: mode, tunName: init.tun.name });
}

void main();
