// Driving lab/tools/udp-probe.mjs from tests and the lab CLI: what a NAT maps a socket to, and
// what it lets back in.

import { join } from 'node:path';
import type { Host } from './host.js';
import { REPO_ROOT } from './hipvpn.js';
import type { LabProcess } from './process.js';

const TOOL = join(REPO_ROOT, 'lab/tools/udp-probe.mjs');

export interface Received {
  /** ADDR:PORT the datagram came from, as the receiving host saw it. */
  readonly from: string;
  readonly text: string;
}

export interface ProbeResult {
  readonly received: Received[];
  /** What the reflectors said they saw us as (ADDR:PORT), in order of arrival. */
  readonly seenAs: string[];
}

function parseReceived(lines: readonly string[]): Received[] {
  return lines.filter((line) => line.startsWith('received ')).map((line) => JSON.parse(line.slice('received '.length)) as Received);
}

/** A reflector: answers every datagram on `address:port` with the source it came from. */
export async function startReflector(host: Host, address: string, port: number, options: { againMs?: number } = {}): Promise<LabProcess> {
  const args = [TOOL, '--bind', `${address}:${port}`, '--reflect', '--wait-ms', String(24 * 3600 * 1000)];
  if (options.againMs !== undefined) args.push('--again-ms', String(options.againMs));
  const reflector = host.spawn(process.execPath, args, { label: `${host.name}:reflector:${port}` });
  await reflector.waitForLine(/^bound /, 5_000);
  return reflector;
}

/** Sends one datagram from `bind` to each target and collects what comes back for `waitMs` after the last. */
export async function probe(host: Host, bind: string, targets: readonly string[], waitMs = 500): Promise<ProbeResult> {
  const args = [TOOL, '--bind', bind, '--wait-ms', String(waitMs), ...targets.flatMap((t) => ['--send-to', t])];
  const result = await host.exec(process.execPath, args, { timeoutMs: waitMs + 30_000 });
  const received = parseReceived(result.stdout.split('\n'));
  const seenAs = received.map((r) => /^seen (\S+)/.exec(r.text)?.[1]).filter((s): s is string => s !== undefined);
  return { received, seenAs };
}

/**
 * Listens on `bind` for `waitMs` and returns what arrived (unsolicited traffic, or nothing); with
 * `sendTo`, sends one datagram there from the same socket `sendAfterMs` after binding.
 */
export async function listen(
  host: Host,
  bind: string,
  waitMs: number,
  options: { sendTo?: string; sendAfterMs?: number } = {},
): Promise<{ process: LabProcess; received: () => Received[] }> {
  const args = [TOOL, '--bind', bind, '--wait-ms', String(waitMs), '--send-after-ms', String(options.sendAfterMs ?? 0)];
  if (options.sendTo !== undefined) args.push('--send-to', options.sendTo);
  const listener = host.spawn(process.execPath, args, { label: `${host.name}:listen` });
  await listener.waitForLine(/^bound /, 5_000);
  return { process: listener, received: () => parseReceived(listener.lines) };
}
