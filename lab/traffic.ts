// Traffic a user would send through the tunnel, run inside lab hosts: ping, and a TCP transfer
// hashed at both ends (lab/tools/tcp-transfer.ts), so a test compares counts and SHA-256.

import { REPO_ROOT } from './hipvpn.js';
import type { Host } from './host.js';
import { toolArgs } from './tool-command.js';

export interface TransferReport {
  bytes: number;
  sha256: string;
  seconds: number;
}

/** `ping -c count` from `from`: whether every echo came back, and what ping printed. */
export async function ping(from: Host, target: string, count = 3): Promise<{ ok: boolean; output: string }> {
  const result = await from.exec('ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', target], { allowFailure: true, timeoutMs: 20_000 });
  return { ok: result.code === 0 && / 0% packet loss/.test(result.stdout), output: result.stdout + result.stderr };
}

/** Send `bytes` from `from` to `to` at `target` over TCP; returns both ends' reports. */
export async function transfer(from: Host, to: Host, target: string, bytes: number, port: number, timeoutMs = 60_000): Promise<[TransferReport, TransferReport]> {
  const sink = to.spawn(process.execPath, toolArgs('tcp-transfer', ['sink', '--port', String(port)]), { cwd: REPO_ROOT, label: `${to.name}:sink` });
  try {
    await sink.waitForLine(/^listening/, 20_000);
    const sent = await from.exec(
      process.execPath,
      toolArgs('tcp-transfer', ['source', '--host', target, '--port', String(port), '--bytes', String(bytes)]),
      { cwd: REPO_ROOT, timeoutMs },
    );
    const received = await sink.waitForLine(/^\{/, 10_000);
    return [JSON.parse(sent.stdout.trim()) as TransferReport, JSON.parse(received) as TransferReport];
  } finally {
    await sink.stop(1_000);
  }
}
