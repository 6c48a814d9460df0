// `npm ci` on the Node that README requires installs without an engine warning (EBADENGINE), and
// the packaging tools are pinned devDependencies rather than fetched at build time (issue 14,
// item 10): every installed package's `engines.node` admits the lowest Node our `engines` allows.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/** npm's own range semantics (`semver`, installed with the toolchain; it ships no types). */
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string; major: number; minor: number } | null;
  validRange(range: string): string | null;
  satisfies(version: string, range: string): boolean;
  valid(version: string): string | null;
};

const root = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string }; scripts: Record<string, string>; devDependencies: Record<string, string>;
};

/** Every package.json under node_modules, nested ones included, as npm would install them. */
function* installed(dir: string): Generator<{ name: string; version: string; engines?: { node?: unknown } }> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (entry.startsWith('@')) {
      yield* installed(path);
      continue;
    }
    const file = join(path, 'package.json');
    if (!existsSync(file)) continue;
    yield JSON.parse(readFileSync(file, 'utf8')) as { name: string; version: string; engines?: { node?: unknown } };
    yield* installed(join(path, 'node_modules'));
  }
}

test('every installed package runs on the lowest Node that package.json (and README) allow', () => {
  const lowest = semver.minVersion(manifest.engines.node);
  assert.ok(lowest, `engines.node is a range: ${manifest.engines.node}`);
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.match(readme, new RegExp(`Node\\.js ≥ ${lowest.major}\\.${lowest.minor}\\b`), 'README names the same Node');
  const refused: string[] = [];
  let count = 0;
  for (const pkg of installed(join(root, 'node_modules'))) {
    count++;
    const range = pkg.engines?.node;
    if (typeof range === 'string' && semver.validRange(range) && !semver.satisfies(lowest.version, range)) refused.push(`${pkg.name}@${pkg.version} needs node ${range}`);
  }
  assert.ok(count > 100, `read the installed packages (${count})`);
  assert.deepEqual(refused, [], `npm ci on Node ${lowest.version} would warn EBADENGINE for:\n${refused.join('\n')}`);
});

test('electron and electron-builder are pinned devDependencies; no script fetches a tool with npx --yes', () => {
  for (const name of ['electron', 'electron-builder']) {
    assert.ok(semver.valid(manifest.devDependencies[name] ?? ''), `${name} is pinned to one version: ${manifest.devDependencies[name]}`);
  }
  const fetching = Object.entries(manifest.scripts).filter(([, s]) => /\bnpx\s+(--yes|-y)\b/.test(s));
  assert.deepEqual(fetching, [], 'scripts that download a tool at run time');
});
