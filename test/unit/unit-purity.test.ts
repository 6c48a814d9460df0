// Unit tests are pure: they feed code values and a clock and look at what comes back. A test that
// opens a socket, starts a process, a worker, a daemon or a browser, or loads the native addon
// (its threads and sockets) is an integration or system test and lives there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));

const IMPURE: [RegExp, string][] = [
  [/from 'node:(dgram|net|child_process|worker_threads|http|https|cluster)'/, 'a Node I/O module'],
  [/\bloadNativeIo\b|\bopenNativeDatagramSocket\b/, 'the native addon'],
  [/\bnew WebSocket\(|\bWebSocketServer\b/, 'a WebSocket'],
  [/from '\.\.\/support\/(serve-process|engines|dataplane-loopback|native-fastpath-rig)\.js'/, 'a helper that runs hosts or I/O'],
  [/from '\.\.\/\.\.\/lab\/(lab|host|hipvpn|mobility|nat|process|command)\.js'/, 'the namespace lab'],
  [/playwright|chromium/i, 'a browser'],
  [/from 'vite'|\bvite\.config\b/, 'a vite build (esbuild runs as a child process)'],
];

test('no unit test does I/O beyond reading files', () => {
  const found: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts') && n !== 'unit-purity.test.ts')) {
    const text = readFileSync(`${dir}/${name}`, 'utf8');
    for (const [pattern, what] of IMPURE) if (pattern.test(text)) found.push(`${name}: ${what}`);
  }
  assert.deepEqual(found, [], 'move these to test/integration (or make them pure)');
});
