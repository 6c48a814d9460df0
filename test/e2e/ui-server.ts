// The pieces of an e2e run around the browser: the renderer built as it ships (dist/renderer),
// and `hipvpn web` started as a user would, bound to a daemon's state dir.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, hipvpnCommand } from '../../lab/hipvpn.js';
import { LabProcess } from '../../lab/process.js';

/** What the renderer build reads: its sources, the shared modules they import, the locked dependencies. */
const RENDERER_SOURCES = ['src-renderer', 'src-shared'];
const RENDERER_LOCK = 'package-lock.json';

/** A digest of every input of the renderer build: equal digests give equal builds. */
function rendererDigest(): string {
  const hash = createHash('sha256');
  for (const dir of RENDERER_SOURCES) {
    const files = readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort();
    for (const f of files) hash.update(f).update(readFileSync(f));
  }
  hash.update(readFileSync(join(REPO_ROOT, RENDERER_LOCK)));
  return hash.digest('hex').slice(0, 20);
}

function viteBuild(outDir: string): void {
  const r = spawnSync(process.execPath, [`${REPO_ROOT}node_modules/vite/bin/vite.js`, 'build', '--config', 'src-renderer/vite.config.ts', '--logLevel', 'warn', '--outDir', outDir, '--emptyOutDir'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

/**
 * The renderer as `vite build` makes it, into dist/renderer, where `hipvpn web` finds it, or
 * into `outDir` for a test file that must not race another one rewriting dist/renderer. Every
 * e2e file needs it and a build takes seconds: it is built once per digest of its inputs into
 * the temp dir and copied from there, so a changed source still gets a fresh build.
 */
export function buildRenderer(outDir?: string): void {
  const built = join(tmpdir(), `hipvpn-renderer-${rendererDigest()}`);
  if (!existsSync(join(built, 'index.html'))) {
    // Built aside and renamed into place, so a file running at the same time never copies half a build.
    const staging = `${built}.${process.pid}`;
    viteBuild(staging);
    try {
      renameSync(staging, built);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another file's build got there first
    }
  }
  const out = outDir ?? join(REPO_ROOT, 'dist/renderer');
  rmSync(out, { recursive: true, force: true });
  cpSync(built, out, { recursive: true });
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
