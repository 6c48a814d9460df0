#!/usr/bin/env node
// The `hipvpn` command. It runs the compiled CLI (dist/, made by `npm run build`, which `npm
// install` and `npm test` run) because a status query should cost a node start-up, not a
// TypeScript compile. In a development checkout whose sources are newer than dist/, it runs
// the TypeScript entry through tsx instead, so an edit is never hidden behind a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const built = join(root, 'dist/src-main/cli/hipvpn.js');

function newestSource(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

const builtAt = existsSync(built) ? statSync(built).mtimeMs : -1;
const fresh = builtAt >= 0 && builtAt >= Math.max(newestSource(join(root, 'src-main')), newestSource(join(root, 'src-shared')));

if (fresh) {
  await import(new URL(`file://${built}`).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src-main/cli/hipvpn.ts', new URL(`file://${root}`)).href);
}
