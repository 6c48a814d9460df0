// Sending recorded or forged packets at a fixed rate from a lab host (tools/flood.c): the
// attacker of the hardening test and of bench:attack. Packets are built here, written to a file
// and sent by a small C program compiled on first use, which holds 20,000 packets/s on two cores
// and can forge IPv4 source addresses (a raw socket; root).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './command.js';
import type { Host } from './host.js';
import { REPO_ROOT } from './hipvpn.js';
import type { LabProcess } from './process.js';

const SOURCE = join(REPO_ROOT, 'lab/tools/flood.c');

/**
 * Path of the compiled sender, built with `cc` once per source version. Kept under the system's
 * temp folder by content hash: labs come and go, the binary does not change between them.
 */
export async function floodBinary(): Promise<string> {
  const source = readFileSync(SOURCE);
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'hipvpn-flood');
  const binary = join(dir, `flood-${digest}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const building = `${binary}.${process.pid}.tmp`;
  await run('cc', ['-O2', '-Wall', '-o', building, SOURCE]);
  await run('mv', ['-f', building, binary]);
  return binary;
}

/** Writes packets in the sender's file format: a 2-octet length before each. */
export function writePacketFile(path: string, packets: readonly Uint8Array[]): void {
  if (packets.length === 0) throw new Error('a packet file needs at least one packet');
  const total = packets.reduce((sum, p) => sum + 2 + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const packet of packets) {
    if (packet.length > 0xffff) throw new Error(`a packet of ${packet.length} octets does not fit the file format`);
    out[o] = packet.length >> 8;
    out[o + 1] = packet.length & 0xff;
    out.set(packet, o + 2);
    o += 2 + packet.length;
  }
  writeFileSync(path, out);
}

export interface Burst {
  readonly count: number;
  /** Packets per second; 0 = as fast as the socket takes them. */
  readonly rate: number;
}

export type FloodMode =
  /** Whole IPv4 packets, source addresses as written (root). */
  | { readonly raw: true }
  /** UDP payloads from a socket bound to `bind`, counting what comes back to it. */
  | { readonly raw?: false; readonly bind: string; readonly to: string };

export interface FloodOptions {
  readonly packetFile: string;
  readonly mode: FloodMode;
  readonly bursts: readonly Burst[];
  readonly gapMs?: number;
  /** Socket mode: keep counting arrivals this long after the last burst. */
  readonly lingerMs?: number;
}

export interface BurstReport {
  readonly index: number;
  readonly sent: number;
  readonly errors: number;
  readonly bytes: number;
  readonly seconds: number;
}

export interface FloodReport {
  readonly sent: number;
  readonly errors: number;
  readonly bytes: number;
  /** Socket mode: datagrams and octets that arrived on the sending socket. */
  readonly received: number;
  readonly receivedBytes: number;
}

export class Flood {
  private constructor(readonly process: LabProcess) {}

  /** Starts sending from `host`; the lab stops the sender at teardown. */
  static async start(host: Host, options: FloodOptions): Promise<Flood> {
    const binary = await floodBinary();
    const args = ['--packets', options.packetFile];
    if (options.mode.raw) args.push('--raw');
    else args.push('--bind', options.mode.bind, '--to', options.mode.to);
    for (const burst of options.bursts) args.push('--burst', `${burst.count}:${burst.rate}`);
    args.push('--gap-ms', String(options.gapMs ?? 0), '--linger-ms', String(options.lingerMs ?? 0));
    const longest = options.bursts.reduce((sum, b) => sum + (b.rate > 0 ? b.count / b.rate : 10), 0);
    const maxSeconds = Math.ceil(longest + ((options.gapMs ?? 0) * options.bursts.length + (options.lingerMs ?? 0)) / 1000 + 30);
    args.push('--max-seconds', String(maxSeconds));
    return new Flood(host.spawn(binary, args, { label: `${host.name}:flood` }));
  }

  /** The report of burst `index` (1-based), once it has been sent. */
  async burst(index: number, timeoutMs: number): Promise<BurstReport> {
    const line = await this.process.waitForLine(new RegExp(`^burst \\{"index":${index},`), timeoutMs);
    return JSON.parse(line.slice('burst '.length)) as BurstReport;
  }

  /** Ends the current burst now (SIGTERM); the reports of what was sent still come. */
  stop(): void {
    this.process.signal('SIGTERM');
  }

  async done(timeoutMs: number): Promise<FloodReport> {
    const line = await this.process.waitForLine(/^done \{/, timeoutMs);
    return JSON.parse(line.slice('done '.length)) as FloodReport;
  }
}
