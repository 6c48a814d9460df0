// A first run exactly as README.md tells it: the blocks marked `<!-- readme-first-run: NAME -->`
// are taken from a fresh clone's README and run in that clone, in one shell, with no `hipvpn`
// on PATH beforehand. Two daemons on the loopback of a private network namespace (so the
// README's fixed ports meet no other test's). The one substitution: `npm ci` becomes a symlink to
// this checkout's node_modules plus the root package's own lifecycle scripts (`install`: the
// addon, `prepare`: the CLI), which is what `npm ci` runs for it; a real `npm ci` from the cache
// takes minutes. Needs root (unshare -n).
//
//   node --import tsx --test test/system/readme-first-run.test.ts

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The fenced block after each `<!-- readme-first-run: NAME -->` marker, by NAME. */
function markedBlocks(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- readme-first-run: ([\w-]+) -->\n```sh\n([\s\S]*?)\n```/g)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

/** PATH without any directory that holds a `hipvpn`, so only the README's set-up can put it there. */
function pathWithoutHipvpn(): string {
  const which = (dir: string): boolean => spawnSync('test', ['-e', join(dir, 'hipvpn')]).status === 0;
  return (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter((d) => d !== '' && !which(d)).join(delimiter);
}

/** A failed command must not leave the daemons a block started running. */
const JOBS_ON_EXIT = 'trap \'kill $(jobs -p) 2>/dev/null || true; wait\' EXIT';

const NPM_CI = /^ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci\b.*$/m;

test('README set-up and first-run example work as typed on a fresh clone', { timeout: 60_000 }, (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: a private network namespace (unshare -n)');
  const tmp = mkdtempSync(join(tmpdir(), 'hipvpn-readme-'));
  try {
    const clone = join(tmp, 'hipvpn');
    const cloned = spawnSync('git', ['clone', '-q', root, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    const readme = readFileSync(join(clone, 'README.md'), 'utf8');
    const blocks = markedBlocks(readme);
    const setup = blocks.get('setup');
    const example = blocks.get('example');
    const invite = blocks.get('invite');
    assert.ok(setup && example && invite, `README marks setup, example and invite blocks; found: ${[...blocks.keys()].join(', ')}`);
    assert.match(setup, NPM_CI, 'the set-up installs with npm ci');
    const listed = /^ls alice\s+#\s*(.+)$/m.exec(example)?.[1]?.trim().split(/\s+/);
    assert.ok(listed, 'the example lists the state files it expects after `ls alice`');

    const install = `ln -s ${JSON.stringify(join(root, 'node_modules'))} node_modules && npm run install --silent >/dev/null && npm run prepare --silent`;
    const script = [
      'set -euo pipefail',
      'trap \'echo "README command failed: $BASH_COMMAND" >&2\' ERR',
      'ip link set lo up',
      `cd ${JSON.stringify(clone)}`,
      setup.replace(NPM_CI, install),
      'echo "hipvpn is $(command -v hipvpn)"',
      // Each example in its own subshell: its own jobs (%1 %2) and its own scratch dir.
      `(\n${JOBS_ON_EXIT}\n${example}\nwait\n)`,
      `(\n${JOBS_ON_EXIT}\n${invite}\nwait\n)`,
    ].join('\n');
    const run = spawnSync('unshare', ['-n', 'bash', '-c', script], {
      encoding: 'utf8',
      timeout: 55_000,
      env: { ...process.env, PATH: pathWithoutHipvpn(), HIPVPN_STATE: '' },
    });
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, `the README's commands, run as typed, failed:\n${out}`);
    assert.match(run.stdout, new RegExp(`hipvpn is ${clone}/bin/hipvpn`), 'the set-up put the clone\'s hipvpn on PATH');
    assert.match(run.stdout, /usage:\n {2}hipvpn identity/, '`hipvpn --help` prints the usage');
    assert.match(run.stdout, /added peer bob \(2001:2[\da-f:]+\) at 127\.0\.0\.1:10502; saved to/, 'peer add wrote the allow-list before serve');
    assert.match(run.stdout, /3 sent, 3 answered/, `ping bob answered:\n${out}`);
    assert.match(run.stdout, /bob +2001:\S+ +ESTABLISHED/, `status shows bob established:\n${run.stdout}`);
    assert.match(run.stdout, /^alice \(2001:\S+\) at 127\.0\.0\.1:10501$/m, 'bob lists alice');
    assert.match(run.stdout, /added peer carol \(2001:\S+\) at 127\.0\.0\.1:10503 from its invite/, 'dave pasted carol\'s invite');
    assert.match(run.stdout, /^dave \(2001:\S+\) with no locator: it contacts us$/m, `carol lists dave after one paste:\n${run.stdout}`);
    // `ls alice` prints after bob's peer list, before the invite example.
    const lines = run.stdout.slice(0, run.stdout.indexOf('added peer carol')).trimEnd().split('\n');
    const peerListLine = lines.map((l) => l.startsWith('alice (')).lastIndexOf(true);
    const written = lines.slice(peerListLine + 1);
    assert.deepEqual(written.sort(), [...listed].sort(), 'the state files README lists are the ones in the dir');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
