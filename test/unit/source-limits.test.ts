// The size limits of the code's shape: no C file over 800 lines, no TypeScript source file over
// 600. There are no exceptions: a file that outgrows its limit is split into modules with one job.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TS_LIMIT = 600;
const C_LIMIT = 800;


function files(dir: string, keep: (name: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'build' || name === 'dist') continue;
    if (statSync(join(root, path)).isDirectory()) files(path, keep, out);
    else if (keep(name)) out.push(path);
  }
  return out;
}

const lines = (path: string): number => readFileSync(join(root, path), 'utf8').split('\n').length - 1;

test(`no C file in native/ is over ${C_LIMIT} lines`, () => {
  const over = files('native', (n) => n.endsWith('.c') || n.endsWith('.h')).filter((f) => lines(f) > C_LIMIT);
  assert.deepEqual(over.map((f) => `${f}: ${lines(f)}`), []);
});

test(`no TypeScript source file is over ${TS_LIMIT} lines`, () => {
  const sources = ['src-main', 'src-shared', 'src-renderer'].flatMap((d) => files(d, (n) => /\.tsx?$/.test(n)));
  assert.ok(sources.length > 100, `only ${sources.length} TypeScript sources found`);
  const over = sources.filter((f) => lines(f) > TS_LIMIT);
  assert.deepEqual(over.map((f) => `${f}: ${lines(f)}`), []);
});
