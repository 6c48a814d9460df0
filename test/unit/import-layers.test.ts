// Reads the imports of every product and tooling source file and checks them against the layers
// in test/support/layers.ts: no import from a lower folder to a higher one or between folders of
// one layer, no cycle between folders, a renderer that sees only src-shared, 'electron' only in
// src-main/electron, and no product code that reaches into test/, bench/ or the lab.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ELECTRON_FOLDER, LAYERS, RENDERER_MAY_IMPORT, TOOLING } from '../support/layers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PRODUCT_ROOTS = ['src-main', 'src-shared', 'src-renderer'];
const SCANNED = [...PRODUCT_ROOTS, ...TOOLING];

interface Import {
  /** Importing file, relative to the repository root. */
  file: string;
  specifier: string;
  /** Folder of the importing file (see folderOf). */
  from: string;
  /** Folder the specifier resolves to, or null for a package. */
  to: string | null;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** src-main/<folder> for product code under src-main, else the top-level folder. */
function folderOf(repoPath: string): string {
  const parts = repoPath.split(sep);
  if (parts[0] === 'src-main' && parts.length > 2) return `src-main/${parts[1]}`;
  return parts[0]!;
}

function readImports(): Import[] {
  const imports: Import[] = [];
  for (const abs of SCANNED.flatMap((r) => sourceFiles(join(ROOT, r)))) {
    const file = relative(ROOT, abs);
    // preProcessFile lists import, import type, export … from, import() with a literal and require().
    const info = ts.preProcessFile(readFileSync(abs, 'utf8'), true, true);
    for (const { fileName: specifier } of info.importedFiles) {
      const relativeSpecifier = specifier.startsWith('./') || specifier.startsWith('../');
      const to = relativeSpecifier ? folderOf(relative(ROOT, resolve(dirname(abs), specifier))) : null;
      imports.push({ file, specifier, from: folderOf(file), to });
    }
  }
  return imports;
}

const IMPORTS = readImports();
const RANK = new Map<string, number>(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank] as const)));
const isProduct = (folder: string): boolean => PRODUCT_ROOTS.some((r) => folder === r || folder.startsWith(`${r}/`));
const show = (i: Import, why: string): string => `${i.file} → ${i.to ?? i.specifier} ('${i.specifier}'): ${why}`;

function check(problems: string[], what: string): void {
  const unique = [...new Set(problems)].sort();
  assert.equal(unique.length, 0, `${unique.length} ${what}:\n  ${unique.join('\n  ')}`);
}

test('the scan sees the product', () => {
  assert.ok(IMPORTS.length > 300, `only ${IMPORTS.length} imports found under ${SCANNED.join(', ')}`);
  for (const folder of RANK.keys()) {
    assert.ok(IMPORTS.some((i) => i.from === folder), `layers.ts names ${folder}, which has no source files`);
  }
});

test('every product folder under src-main is in a layer', () => {
  const unplaced = new Set(IMPORTS.map((i) => i.from).filter((f) => f.startsWith('src-main') && !RANK.has(f)));
  check([...unplaced].map((f) => `${f} is in no layer of test/support/layers.ts`), 'folders without a layer');
});

test('no import from a lower folder to a higher one, or between folders of one layer', () => {
  const problems: string[] = [];
  for (const i of IMPORTS) {
    if (i.to === null || i.to === i.from) continue;
    const from = RANK.get(i.from);
    const to = RANK.get(i.to);
    if (from === undefined || to === undefined) continue;
    if (to > from) problems.push(show(i, `upward (layer ${from} imports layer ${to})`));
    else if (to === from) problems.push(show(i, `sideways (both in layer ${from})`));
  }
  check(problems, 'back-edges');
});

test('no cycle between folders', () => {
  const edges = new Map<string, Map<string, Import>>();
  for (const i of IMPORTS) {
    if (i.to === null || i.to === i.from) continue;
    if (!edges.has(i.from)) edges.set(i.from, new Map());
    const out = edges.get(i.from)!;
    if (!out.has(i.to)) out.set(i.to, i);
  }
  // Every simple cycle would be too many to read; one per starting folder, shortest first (BFS).
  const cycles = new Set<string>();
  for (const start of [...edges.keys()].sort()) {
    const previous = new Map<string, string>();
    const queue = [start];
    let found: string[] | null = null;
    while (queue.length > 0 && !found) {
      const at = queue.shift()!;
      for (const next of [...(edges.get(at)?.keys() ?? [])].sort()) {
        if (next === start) {
          const path = [at];
          while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
          found = path;
          break;
        }
        if (!previous.has(next) && next !== start) {
          previous.set(next, at);
          queue.push(next);
        }
      }
    }
    if (!found) continue;
    // Name each cycle once, from its smallest folder.
    const min = found.indexOf([...found].sort()[0]!);
    const ring = [...found.slice(min), ...found.slice(0, min)];
    const steps = ring.map((f, k) => {
      const i = edges.get(f)!.get(ring[(k + 1) % ring.length]!)!;
      return `${i.file} → ${i.to}`;
    });
    cycles.add(`${[...ring, ring[0]].join(' → ')}\n      ${steps.join('\n      ')}`);
  }
  check([...cycles], 'folder cycles');
});

test('the renderer imports only src-shared, and nothing imports the renderer', () => {
  const problems: string[] = [];
  for (const i of IMPORTS) {
    if (i.to === null || i.to === i.from) continue;
    if (i.from === 'src-renderer' && !RENDERER_MAY_IMPORT.includes(i.to)) problems.push(show(i, 'the renderer may import only src-shared'));
    if (i.to === 'src-renderer' && i.from !== 'src-renderer') problems.push(show(i, 'the renderer is a page, not a library'));
  }
  check(problems, 'renderer imports');
});

test("only src-main/electron imports 'electron'", () => {
  const problems = IMPORTS.filter((i) => i.to === null && (i.specifier === 'electron' || i.specifier.startsWith('electron/')))
    .filter((i) => i.from !== ELECTRON_FOLDER)
    .map((i) => show(i, `only ${ELECTRON_FOLDER} runs inside Electron`));
  check(problems, "imports of 'electron'");
});

test('product code imports no tooling or tests; tooling imports no tests', () => {
  const problems: string[] = [];
  for (const i of IMPORTS) {
    if (i.to === null || i.to === i.from) continue;
    const toTooling = TOOLING.indexOf(i.to);
    if (isProduct(i.from)) {
      if (i.to === 'test' || toTooling >= 0) problems.push(show(i, 'product code imports no tests, bench or lab'));
      else if (!isProduct(i.to)) problems.push(show(i, 'product code imports only product code'));
      continue;
    }
    const fromTooling = TOOLING.indexOf(i.from);
    if (i.to === 'test') problems.push(show(i, `${i.from}/ is product tooling; what it needs from test/ belongs in ${i.from}/ or lab/`));
    else if (toTooling > fromTooling) problems.push(show(i, `${i.from}/ comes before ${i.to}/ in TOOLING`));
  }
  check(problems, 'imports of tests or tooling');
});
