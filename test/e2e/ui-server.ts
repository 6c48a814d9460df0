// The pieces of an e2e run around the browser: the renderer built as it ships (dist/renderer),
// and `hipvpn web` started as a user would, bound to a daemon's state dir.

import { spawnSync } from 'node:child_process';
import { REPO_ROOT, hipvpnCommand } from '../../lab/hipvpn.js';
import { LabProcess } from '../../lab/process.js';

/**
 * `vite build` of src-renderer (about 2 s): into dist/renderer, where `hipvpn web` finds it, or
 * into `outDir` for a test file that must not race another one rebuilding dist/renderer.
 */
export function buildRenderer(outDir?: string): void {
  const out = outDir ? ['--outDir', outDir, '--emptyOutDir'] : [];
  const r = spawnSync(process.execPath, [`${REPO_ROOT}node_modules/vite/bin/vite.js`, 'build', '--config', 'src-renderer/vite.config.ts', '--logLevel', 'warn', ...out], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export interface WebUi { process: LabProcess; url: string; stop(): Promise<void> }

/** `hipvpn web --state DIR --port PORT` (any free one by default) in this (the root) namespace: the daemon's socket is a file. */
export async function startWebUi(stateDir: string, uiDir?: string, port = 0): Promise<WebUi> {
  const { cmd, args } = hipvpnCommand();
  const proc = new LabProcess(cmd, [...args, 'web', '--state', stateDir, '--port', String(port), ...(uiDir ? ['--ui', uiDir] : [])], { cwd: REPO_ROOT, label: 'hipvpn-web' });
  const line = await proc.waitForLine(/web-listening/, 20_000);
  const url = /url="?(http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]+)/.exec(line)?.[1];
  if (!url) {
    await proc.stop();
    throw new Error(`hipvpn web printed no URL: ${line}`);
  }
  return { process: proc, url, stop: async () => void (await proc.stop(3_000)) };
}
