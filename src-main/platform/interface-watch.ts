// Watch our own locators as the engine sees them, one JSON line per change:
//
//   node --import tsx src-main/platform/interface-watch.ts [--prefer wifi,ethernet,cellular]
//        [--exclude 'veth*'] [--own-tun hip0] [--hold-ms 2000] [--allow-link-local] [--no-metadata]
//
// Run it under `ip netns exec NS` to watch a namespace. A line "recheck" on stdin, or SIGUSR1,
// re-reads everything as after a resume. Lines: {"event":"ready"|"change", "wallMs",
// "kernelEventWallMs"?, "trigger", "causes", "locators"}; times are wall-clock milliseconds with
// sub-millisecond precision: when the line was printed, and when the kernel notification behind
// it arrived, so other processes can measure how long a change took to be seen.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RANKED_KINDS } from '../mobility/local-interface-kind.js';
import type { InterfaceKind } from '../../src-shared/vocabulary.js';
import type { LocalAddressPolicy, MonitoredLocator, LocatorChange } from '../mobility/local-addresses.js';
import { InterfaceMonitor, type ChangeTiming } from './interface-monitor.js';

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function policyFromArgs(argv: string[]): { policy: Partial<LocalAddressPolicy>; metadata: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      prefer: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      'own-tun': { type: 'string', multiple: true },
      'hold-ms': { type: 'string' },
      'allow-link-local': { type: 'boolean' },
      'no-metadata': { type: 'boolean' },
    },
  });
  const policy: { -readonly [K in keyof LocalAddressPolicy]?: LocalAddressPolicy[K] } = {};
  if (values.prefer !== undefined) {
    const kinds = values.prefer.split(',').map((kind) => kind.trim());
    const unknown = kinds.filter((kind) => !(RANKED_KINDS as readonly string[]).includes(kind));
    if (unknown.length > 0) throw new Error(`--prefer: unknown kind ${unknown.join(', ')} (kinds: ${RANKED_KINDS.join(', ')})`);
    policy.preference = kinds as InterfaceKind[];
  }
  if (values.exclude) policy.exclude = values.exclude;
  if (values['own-tun']) policy.ownTunnels = values['own-tun'];
  if (values['hold-ms'] !== undefined) {
    const holdMs = Number(values['hold-ms']);
    if (!Number.isInteger(holdMs) || holdMs < 0) throw new Error('--hold-ms takes a whole number of milliseconds');
    policy.holdMs = holdMs;
  }
  if (values['allow-link-local']) policy.allowLinkLocal = true;
  return { policy, metadata: values['no-metadata'] !== true };
}

function print(event: 'ready' | 'change', locators: readonly MonitoredLocator[], change?: LocatorChange, timing: ChangeTiming = {}): void {
  const line = {
    event,
    wallMs: wallMs(),
    // The monitor's clock is performance.now(), so this is the wall time the kernel event reached us.
    ...(timing.kernelEventAt !== undefined ? { kernelEventWallMs: performance.timeOrigin + timing.kernelEventAt } : {}),
    trigger: change?.trigger ?? 'initial',
    causes: change?.causes ?? [],
    locators,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const { policy, metadata } = policyFromArgs(process.argv.slice(2));
  const monitor = new InterfaceMonitor({ policy, interfaceMetadata: metadata });
  monitor.on('change', (change, timing) => print('change', change.locators, change, timing));
  monitor.on('warning', (message) => process.stderr.write(`warning: ${message}\n`));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void monitor.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGUSR1, like a "recheck" line, is what a resume from sleep does.
  process.on('SIGUSR1', () => monitor.recheck('resume'));
  const initial = await monitor.start();
  // The first read is done (its locators were printed as a change if there were any).
  print('ready', initial);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'recheck') monitor.recheck('resume');
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`interface-watch: ${(error as Error).message}\n`);
  process.exit(1);
});
