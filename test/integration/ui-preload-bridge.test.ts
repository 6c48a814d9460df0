// The Electron preload as it ships (bundled by Vite into one CommonJS file) run against a fake
// 'electron' module: what the page may call, and what reaches the page, is checked both ways.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFunction } from 'node:vm';
import { after, before, test } from 'node:test';
import { build } from 'vite';
import { REPO_ROOT } from '../../lab/hipvpn.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL } from '../../src-main/electron/ipc-channels.js';

interface Exposed { request(method: unknown, params: unknown): Promise<unknown>; onEvent(l: unknown): () => void }

let dir: string;
let exposed: Exposed;
const invoked: Array<[string, unknown]> = [];
let answer: unknown = null;
const listeners = new Map<string, (e: unknown, v: unknown) => void>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hipvpn-preload-'));
  await build({
    configFile: `${REPO_ROOT}src-main/electron/preload.vite.config.ts`,
    logLevel: 'silent',
    build: { outDir: dir, emptyOutDir: true },
  });
  const code = await readFile(join(dir, 'preload.cjs'), 'utf8');
  const fakeElectron = {
    contextBridge: { exposeInMainWorld: (key: string, api: Exposed) => { if (key === 'hipvpn') exposed = api; } },
    ipcRenderer: {
      invoke: async (channel: string, value: unknown) => {
        invoked.push([channel, value]);
        return answer;
      },
      on: (channel: string, l: (e: unknown, v: unknown) => void) => void listeners.set(channel, l),
      removeListener: (channel: string) => void listeners.delete(channel),
    },
  };
  const requireFake = (name: string): unknown => {
    if (name !== 'electron') throw new Error(`the sandboxed preload may only require electron, not ${name}`);
    return fakeElectron;
  };
  const runPreload = compileFunction(code, ['require', 'module', 'exports']) as (require: typeof requireFake, module: { exports: object }, exports: object) => void;
  runPreload(requireFake, { exports: {} }, {});
  assert.ok(exposed, 'the preload exposed window.hipvpn');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the page cannot send unknown methods or malformed params to the main process', async () => {
  invoked.length = 0;
  assert.deepEqual(await exposed.request('shell.exec', {}), { id: 0, ok: false, error: { code: 'unknown-method', message: 'unknown method "shell.exec"' } });
  const bad = await exposed.request('peer.add', { name: 'bob', hit: 'x', locators: [], extra: 1 }) as { error: { code: string; message: string } };
  assert.deepEqual([bad.error.code, bad.error.message], ['invalid-params', 'params.extra: unknown field (expected name, hit, locators, relay)']);
  assert.equal(invoked.length, 0, 'nothing crossed to the main process');
  answer = { id: 0, ok: true, result: { up: true } };
  assert.deepEqual(await exposed.request('tunnel.set', { up: true }), { id: 0, ok: true, result: { up: true } });
  assert.deepEqual(invoked, [[REQUEST_CHANNEL, { id: 0, method: 'tunnel.set', params: { up: true } }]]);
});

test('malformed answers and events from the main process never reach the page', async () => {
  answer = { ok: 'yes' };
  const r = await exposed.request('status', {}) as { ok: boolean; error: { code: string } };
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'internal');
  const seen: unknown[] = [];
  const off = exposed.onEvent((e: unknown) => seen.push(e));
  const deliver = listeners.get(EVENT_CHANNEL);
  assert.ok(deliver, 'the preload listens on the event channel');
  deliver({}, { type: 'daemon', running: true });
  deliver({}, { type: 'daemon', running: 'no' });
  deliver({}, { type: 'exec', command: 'rm -rf /' });
  assert.deepEqual(seen, [{ type: 'daemon', running: true }]);
  off();
  assert.equal(listeners.has(EVENT_CHANNEL), false, 'unsubscribing removes the IPC listener');
});
