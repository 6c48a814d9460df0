// Interface metadata the rtnetlink dump does not carry: whether a device is 802.11 or a WWAN
// modem (sysfs, cheap, read once per new interface) and systeminformation's wired / wireless /
// virtual view (slow and blocking, so it runs in a worker thread in the background, and only
// refines the kind of interfaces whose names say nothing).

import { access, readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { InterfaceMetadata } from '../mobility/local-addresses.js';

export interface SysfsFacts {
  readonly devtype?: string;
  readonly wireless?: boolean;
}

const SAFE_IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** DEVTYPE from uevent, and whether the device has a wireless extension or an 802.11 phy. */
export async function readSysfsFacts(ifname: string, root = '/sys/class/net'): Promise<SysfsFacts> {
  if (!SAFE_IFNAME.test(ifname) || ifname === '.' || ifname === '..') return {};
  const dir = `${root}/${ifname}`;
  const [uevent, wirelessDir, phy] = await Promise.all([
    readFile(`${dir}/uevent`, 'utf8').catch(() => ''),
    exists(`${dir}/wireless`),
    exists(`${dir}/phy80211`),
  ]);
  const devtype = /^DEVTYPE=(\S+)$/m.exec(uevent)?.[1];
  const wireless = wirelessDir || phy || devtype === 'wlan';
  return { ...(devtype !== undefined ? { devtype } : {}), ...(wireless ? { wireless: true } : {}) };
}

interface SystemInformationNic {
  readonly iface?: unknown;
  readonly type?: unknown;
  readonly virtual?: unknown;
}

// systeminformation runs its shell commands with execSync: hundreds of milliseconds during which
// the thread does nothing else. The engine's main thread carries ESP traffic, so the call runs in
// a throwaway worker thread that posts back only the fields classification uses.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module)
  .then((m) => (m.default ?? m).networkInterfaces(true))
  .then((nics) => parentPort.postMessage(Array.isArray(nics) ? nics.map((n) => ({ iface: n.iface, type: n.type, virtual: n.virtual })) : []))
  .catch((error) => parentPort.postMessage({ error: String(error) }));
`;
const WORKER_TIMEOUT_MS = 15_000;

/** systeminformation's networkInterfaces(), reduced to what classification uses. Never throws. */
export async function systemInformationMetadata(): Promise<InterfaceMetadata[]> {
  let module: string;
  try {
    module = import.meta.resolve('systeminformation');
  } catch {
    return [];
  }
  const nics = await new Promise<unknown>((resolve) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module } });
    const timer = setTimeout(() => void worker.terminate(), WORKER_TIMEOUT_MS);
    const finish = (value: unknown) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(value);
    };
    worker.once('message', finish);
    worker.once('error', () => finish([]));
    worker.once('exit', () => finish([]));
  });
  if (!Array.isArray(nics)) return [];
  return nics.flatMap((nic: SystemInformationNic) => {
    if (typeof nic !== 'object' || nic === null || typeof nic.iface !== 'string' || nic.iface === '') return [];
    const metadata: { ifname: string; wireless?: boolean; virtual?: boolean } = { ifname: nic.iface };
    // 'unknown' (interface down) says nothing either way.
    if (nic.type === 'wireless') metadata.wireless = true;
    else if (nic.type === 'wired') metadata.wireless = false;
    if (typeof nic.virtual === 'boolean') metadata.virtual = nic.virtual;
    return [metadata];
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
