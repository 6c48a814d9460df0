// Every file hipvpn writes into a state dir ends 0600, whatever was there before (a looser file
// from an older version or a hand edit) and whatever the umask, and the old file is replaced,
// never written through. Checked with stat, on each real writer.

import assert from 'node:assert/strict';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity } from '../../src-main/hip/identity/host-identity.js';
import { saveIdentity } from '../../src-main/platform/key-store.js';
import { writePrivateFile } from '../../src-main/platform/private-file.js';
import { savePeers } from '../../src-main/daemon/peer-store.js';
import { SettingsStore } from '../../src-main/daemon/settings-store.js';
import { TunnelToggle } from '../../src-main/daemon/tunnel-toggle.js';
import { FlowTable } from '../../src-main/flows/flow-table.js';
import { saveFlows } from '../../src-main/flows/flow-store.js';
import { ControlBridge } from '../../src-main/web/control-bridge.js';
import { WebServer, tokenFileIn } from '../../src-main/web/web-server.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempStateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-modes-'));
  dirs.push(dir);
  return dir;
}

const modeOf = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8).padStart(4, '0');

/** Runs `f` with a umask, restoring the old one after. */
async function withUmask<T>(mask: number, f: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await f();
  } finally {
    process.umask(old);
  }
}

/** Each real writer; `round` 0 and 1 write different contents, so the second is a real rewrite. */
const WRITERS: Array<{ file: string; write: (dir: string, round: 0 | 1) => Promise<void> }> = [
  { file: 'host-key.pem', write: (dir) => saveIdentity(dir, generateIdentity(nodeCrypto, 'ecdsa-p256')) },
  { file: 'peers.json', write: (dir, round) => savePeers(join(dir, 'peers.json'), [{ name: `bob${round}`, hit: '2001:22:9184:d55f:7016:8deb:7eb1:bf70', locators: [] }]) },
  { file: 'settings.json', write: async (dir, round) => void (await (await SettingsStore.open(dir)).set({ notifications: round === 1 })) },
  { file: 'tunnel.json', write: async (dir, round) => void (await (await TunnelToggle.open(dir)).set(round === 1, { applyPeers: () => undefined, closeAll: () => undefined })) },
  { file: 'flows.json', write: (dir) => saveFlows(join(dir, 'flows.json'), FlowTable.empty()) },
  {
    file: 'web-token',
    write: async (dir) => {
      const bridge = await ControlBridge.start({ stateDir: dir, log: () => undefined, reconnectMs: 60_000 });
      const server = await WebServer.start({ bridge, uiDir: dir, port: 0, tokenFile: tokenFileIn(dir), log: () => undefined });
      await server.close();
      bridge.close();
    },
  },
];

for (const { file, write } of WRITERS) {
  test(`${file}: a 0644 file already there is rewritten 0600`, async () => {
    const dir = await tempStateDir();
    const path = join(dir, file);
    await write(dir, 0);
    await chmod(path, 0o644);
    const before = await readFile(path, 'utf8');
    const inode = (await stat(path)).ino;
    await write(dir, 1);
    assert.equal(await modeOf(path), '0600');
    if (file !== 'flows.json') assert.notEqual(await readFile(path, 'utf8'), before, 'the new contents are there');
    assert.notEqual((await stat(path)).ino, inode, 'replaced by a new file, not written in place');
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp') || n.includes('.unreadable-')), [], 'nothing left beside it');
  });

  test(`${file}: written 0600 even under umask 0277 (open's mode alone would give 0400)`, async () => {
    const dir = await tempStateDir();
    await withUmask(0o277, () => write(dir, 0));
    assert.equal(await modeOf(join(dir, file)), '0600');
  });
}

test('a link planted at the file\'s name is replaced, not written through', async () => {
  const dir = await tempStateDir();
  const target = join(dir, 'elsewhere');
  await writeFile(target, 'not yours\n');
  await chmod(target, 0o644);
  await symlink(target, join(dir, 'peers.json'));
  await writePrivateFile(join(dir, 'peers.json'), '{}\n');
  assert.equal(await readFile(target, 'utf8'), 'not yours\n');
  assert.equal(await modeOf(target), '0644');
  assert.ok((await lstat(join(dir, 'peers.json'))).isFile(), 'peers.json is now a file of its own');
  assert.equal(await modeOf(join(dir, 'peers.json')), '0600');
});
