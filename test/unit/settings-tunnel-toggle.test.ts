// The tunnel switch on its own: off takes the engine's peers away before closing (so a close
// cannot trigger a reconnect), on gives them back; the choice survives a restart; a damaged
// tunnel.json starts the tunnel on and says so.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TunnelToggle, type TunnelTarget } from '../../src-main/daemon/tunnel-toggle.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** An engine stand-in that records what it was told, with the peers it would know at that moment. */
function engine(toggle: () => TunnelToggle): TunnelTarget & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    applyPeers: () => calls.push(`peers:${toggle().peersForEngine(['bob', 'carol']).join(',') || 'none'}`),
    closeAll: () => calls.push('close-all'),
  };
}

test('off: no peers for the engine, then every association closed; on: the peers come back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-tunnel-'));
  dirs.push(dir);
  const toggle = await TunnelToggle.open(dir);
  assert.equal(toggle.up, true, 'a new host starts with the tunnel on');
  assert.deepEqual(toggle.peersForEngine(['bob']), ['bob']);
  const e = engine(() => toggle);
  assert.deepEqual(await toggle.set(false, e), { up: false, changed: true });
  assert.deepEqual(e.calls, ['peers:none', 'close-all'], 'peers taken away first, then closed');
  assert.equal(toggle.closeWhileDown, true, 'an association reported while off is to be closed');
  assert.deepEqual(await toggle.set(false, e), { up: false, changed: false }, 'off again changes nothing');
  assert.deepEqual(e.calls, ['peers:none', 'close-all']);
  const path = join(dir, 'tunnel.json');
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { version: 1, up: false });
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  const restarted = await TunnelToggle.open(dir);
  assert.equal(restarted.up, false, 'still off after a restart');
  assert.deepEqual(restarted.peersForEngine(['bob']), [], 'so the engine starts with no peer to connect to');
  assert.deepEqual(await toggle.set(true, e), { up: true, changed: true });
  assert.deepEqual(e.calls.slice(2), ['peers:bob,carol'], 'on: the peers are back (the engine connects those with locators)');
  assert.equal((await TunnelToggle.open(dir)).up, true);
});

test('a damaged tunnel.json starts the tunnel on, with a warning', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-tunnel-'));
  dirs.push(dir);
  await writeFile(join(dir, 'tunnel.json'), JSON.stringify({ version: 1, up: 'no' }));
  const warnings: string[] = [];
  assert.equal((await TunnelToggle.open(dir, (m) => warnings.push(m))).up, true);
  assert.match(warnings[0] ?? '', /tunnel\.json: up: expected true or false, got "no"; the tunnel starts on$/);
});
