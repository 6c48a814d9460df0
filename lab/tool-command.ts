// How node runs a lab tool (lab/tools/*.ts) inside a lab host: the copy `npm run build` compiled
// into dist/lab/tools when it is at least as new as every source it was made from, else the
// source through tsx. A tool starts in about a quarter of tsx's time compiled, and the handover
// measurements start four of them per round.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './hipvpn.js';

/** Lab modules the tools import: a change to one makes every compiled tool stale. */
const SHARED_SOURCES = ['lab/stream-analysis.ts'];

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** node's arguments for `lab/tools/<name>.ts` followed by `args`. */
export function toolArgs(name: string, args: readonly string[] = []): string[] {
  const source = join(REPO_ROOT, 'lab/tools', `${name}.ts`);
  const compiled = join(REPO_ROOT, 'dist/lab/tools', `${name}.js`);
  const builtAt = mtimeMs(compiled);
  const fresh = builtAt !== undefined && [source, ...SHARED_SOURCES.map((s) => join(REPO_ROOT, s))].every((s) => (mtimeMs(s) ?? Infinity) <= builtAt);
  return fresh ? [compiled, ...args] : ['--import', 'tsx', source, ...args];
}
