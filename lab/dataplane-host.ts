// One hipvpn host with a real TUN, run as a child process inside a network namespace by the
// data-plane system tests and bench:
//   node --import tsx lab/dataplane-host.ts --state DIR --addr IP --tun NAME
//        [--port 10500] [--peer HIT[@IP:PORT]] ...
// Prints JSON lines on stdout: {"type":"ready",...}, then every engine event. Reads commands
// from stdin: "snapshot" prints the engine snapshot; "stop" (or SIGTERM/EOF) stops and exits.

import { createInterface } from 'node:readline';
import { HipEngine, type EngineEvent, type PeerConfig } from '../src-main/engine/engine.js';
import { nodeCrypto } from '../src-main/hip/crypto/index.js';
import { hitToText, textToHit } from '../src-main/hip/wire/address.js';
import { loadOrCreateIdentity } from '../src-main/platform/key-store.js';

function parseArgs(argv: string[]): { state: string; addr: string; tun: string; port: number; peers: PeerConfig[] } {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const peers: PeerConfig[] = [];
  argv.forEach((a, i) => {
    if (a !== '--peer') return;
    const [hitText, locator] = (argv[i + 1] ?? '').split('@') as [string, string | undefined];
    const hit = textToHit(hitText);
    if (!hit) throw new Error(`bad --peer ${argv[i + 1]}`);
    const locators = [];
    if (locator) {
      const at = locator.lastIndexOf(':');
      locators.push({ address: locator.slice(0, at), port: Number(locator.slice(at + 1)) });
    }
    peers.push({ name: `peer${peers.length}`, hit, locators });
  });
  const state = get('--state');
  const addr = get('--addr');
  const tun = get('--tun');
  if (!state || !addr || !tun) throw new Error('usage: dataplane-host --state DIR --addr IP --tun NAME [--peer HIT[@IP:PORT]]');
  return { state, addr, tun, port: Number(get('--port') ?? 10500), peers };
}

const print = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => (v instanceof Uint8Array ? hitToText(v) : v))}\n`);
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const identity = await loadOrCreateIdentity(args.state, nodeCrypto);
  const engine = await HipEngine.start({
    identity,
    crypto: nodeCrypto,
    addresses: [args.addr],
    port: args.port,
    tun: { name: args.tun, create: true },
  });
  engine.on('event', (e: EngineEvent) => print({ ...e, type: 'event', event: e.type }));
  engine.setPeers(args.peers);
  const snapshot = engine.snapshot();
  print({ type: 'ready', hit: engine.hitText, lsi: engine.lsi, peers: args.peers.map((p) => ({ hit: hitToText(p.hit), lsi: engine.lsiOf(p.hit) })), locals: snapshot.locals });

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await engine.stop(500);
    print({ type: 'stopped' });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'snapshot') print({ type: 'snapshot', snapshot: engine.snapshot() });
    else if (line.trim() === 'stop') void stop();
  });
  rl.on('close', () => void stop());
}

main().catch((err: unknown) => {
  print({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
});
