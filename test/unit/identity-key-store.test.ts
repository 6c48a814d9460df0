import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nobleCrypto, nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity, signWith, verifyWith } from '../../src-main/hip/identity/host-identity.js';
import { hostKeyPath, loadIdentity, loadOrCreateIdentity, saveIdentity } from '../../src-main/platform/key-store.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'hipvpn-keystore-'));
  try {
    await fn(base);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

test('first run creates a 0600 PKCS#8 key in a 0700 directory; later runs keep the same HIT', () =>
  withTempDir(async (base) => {
    const stateDir = join(base, 'state', 'hipvpn');
    const first = await loadOrCreateIdentity(stateDir, nodeCrypto);
    assert.equal((await stat(hostKeyPath(stateDir))).mode & 0o777, 0o600);
    assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
    assert.match(await readFile(hostKeyPath(stateDir), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const again = await loadOrCreateIdentity(stateDir, nodeCrypto);
    assert.equal(toHex(again.hit), toHex(first.hit));
    // The reloaded key signs what the original identity's peers accept.
    const data = Uint8Array.of(9, 8, 7);
    assert.equal(verifyWith(nobleCrypto, first, data, signWith(nodeCrypto, again, data)), true);
  }));

test('every key kind survives a save and load, under either provider', () =>
  withTempDir(async (base) => {
    for (const kind of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'] as const) {
      const dir = join(base, kind);
      const id = generateIdentity(nodeCrypto, kind);
      await saveIdentity(dir, id);
      for (const p of [nodeCrypto, nobleCrypto]) {
        const loaded = await loadIdentity(dir, p);
        assert.equal(toHex(loaded.hit), toHex(id.hit), `${kind} via ${p.name}`);
        assert.equal(toHex(loaded.hi), toHex(id.hi));
      }
    }
  }));

test('a key file readable by group or others is refused with the chmod 600 fix, not used', () =>
  withTempDir(async (base) => {
    const id = await loadOrCreateIdentity(base, nodeCrypto);
    const path = hostKeyPath(base);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, mode);
      await assert.rejects(loadOrCreateIdentity(base, nodeCrypto), (err: Error) => {
        assert.match(err.message, /chmod 600/);
        assert.ok(err.message.includes(path));
        return true;
      });
    }
    await chmod(path, 0o600);
    assert.equal(toHex((await loadIdentity(base, nodeCrypto)).hit), toHex(id.hit), 'after the fix it loads again');
    await chmod(path, 0o400);
    assert.equal(toHex((await loadIdentity(base, nodeCrypto)).hit), toHex(id.hit), 'owner read-only is fine');
  }));

test('a corrupt key file is an error that names the file, and is not overwritten with a new identity', () =>
  withTempDir(async (base) => {
    const path = hostKeyPath(base);
    await writeFile(path, 'not a key', { mode: 0o600 });
    await assert.rejects(loadOrCreateIdentity(base, nodeCrypto), (err: Error) => err.message.includes(path));
    assert.equal(await readFile(path, 'utf8'), 'not a key');
  }));
