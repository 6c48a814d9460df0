// The size limits of the code's shape: no C file over 800 lines, no TypeScript source file over
// 600. The TypeScript files still over it are listed with the size they may not grow past, so
// each split shrinks the list and nothing new joins it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TS_LIMIT = 600;
const C_LIMIT = 800;

/** Files over TS_LIMIT until they are split, each with the lines it has now. */
const TS_OVER_LIMIT: Record<string, number> = {
};

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

test(`no TypeScript source file is over ${TS_LIMIT} lines, and none of those still over it grows`, () => {
  const sources = ['src-main', 'src-shared', 'src-renderer'].flatMap((d) => files(d, (n) => /\.tsx?$/.test(n)));
  const wrong: string[] = [];
  for (const f of sources) {
    const n = lines(f);
    const allowed = TS_OVER_LIMIT[relative(root, join(root, f))] ?? TS_LIMIT;
    if (n > allowed) wrong.push(`${f}: ${n} lines, ${allowed} allowed`);
  }
  assert.deepEqual(wrong, []);
  for (const f of Object.keys(TS_OVER_LIMIT)) assert.ok(sources.includes(f), `${f} is listed but does not exist: take it off the list`);
});
