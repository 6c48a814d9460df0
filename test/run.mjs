#!/usr/bin/env node
// Runs every test file under test/ (or the folders named as arguments) with node's own
// test runner and ends with the plain "N passed, N failed" line CI reads.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testRoot = join(root, 'test');
const wanted = process.argv.slice(2);
const dirs = wanted.length > 0 ? wanted.map((d) => join(testRoot, d)) : [testRoot];

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'artifacts' || name === 'fixtures') continue;
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const files = dirs.flatMap((d) => collect(d, []));
if (files.length === 0) {
  console.error(`no test files under ${dirs.map((d) => relative(root, d)).join(', ')}`);
  process.exit(2);
}

// The system tests run the installed `hipvpn` command, which runs the compiled CLI: build it
// first, so what is tested is what is in the tree.
const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('test/run: `tsc -p tsconfig.build.json` failed; fix the build first');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// Tests that measure time on real networks (namespaces, real traffic, a browser) run one file at
// a time after the rest: a CPU-bound neighbour would make their timings measure the neighbour.
const SERIAL = [join('test', 'system'), join('test', 'e2e')];
const isSerial = (f) => SERIAL.some((d) => f.startsWith(d + '/'));
const phases = [
  { files: files.filter((f) => !isSerial(f)), concurrency: 2 },
  { files: files.filter(isSerial), concurrency: 1 },
].filter((p) => p.files.length > 0);

function runPhase({ files: phaseFiles, concurrency }) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...phaseFiles],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-1_000_000);
    });
    child.on('close', (code) => {
      // The summary comes before the list of failures, which can be long: search the whole output.
      const count = (label) => Number(new RegExp(`^ℹ ${label} (\\d+)$`, 'm').exec(tail)?.[1] ?? 0);
      const passed = count('pass');
      const failed = count('fail') + count('cancelled');
      resolve({ passed, failed: code !== 0 && failed === 0 ? 1 : failed, code: code ?? 1 });
    });
  });
}

let passed = 0;
let failed = 0;
for (const phase of phases) {
  const r = await runPhase(phase);
  passed += r.passed;
  failed += r.failed;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
