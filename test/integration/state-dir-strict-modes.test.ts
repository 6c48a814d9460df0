// StrictModes: a daemon (hipvpn serve, web --serve and the desktop app all start it through
// Daemon.start) refuses a state dir that another user could have written to: peers.json is the
// allow-list, so such a dir lets that user admit their own host. Checked with real modes and,
// as root, real owners; the refusal names the command that fixes it and nothing is started.

import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../../src-main/daemon/daemon.js';
import { UserError } from '../../src-main/base/errors.js';
import { refuseUnsafeStateDir } from '../../src-main/daemon/state-dir-modes.js';
import { hostEngine } from '../../src-main/web/engine-host.js';

const isRoot = process.getuid?.() === 0;
/** A uid nobody on a test machine runs as. */
const OTHER_UID = 54321;

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A state dir as `hipvpn serve` leaves it (0700, a peers.json), ready to be loosened. */
async function stateDir(): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'hipvpn-strict-'));
  dirs.push(base);
  const dir = join(base, 'state');
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, 'peers.json'), '{"version": 1, "peers": []}\n', { mode: 0o600 });
  return dir;
}

function startDaemon(dir: string): Promise<Daemon> {
  return Daemon.start({ stateDir: dir, port: 0, listen: ['127.0.0.1'], tun: null, createTun: false, acceptAny: false, log: () => undefined });
}

/** Daemon.start refuses with `message` and leaves no control socket (nothing was started). */
async function assertRefused(dir: string, message: RegExp): Promise<void> {
  await assert.rejects(startDaemon(dir), (err: unknown) => {
    assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.message, message);
    return true;
  });
  assert.equal(existsSync(join(dir, 'hipvpn.sock')), false, 'no control socket: the daemon never listened');
}

test('a state dir writable by group or others is refused with `chmod 700 DIR`', async () => {
  for (const [mode, who] of [[0o770, 'its group'], [0o707, 'all users'], [0o777, 'its group and all users']] as const) {
    const dir = await stateDir();
    await chmod(dir, mode);
    await assertRefused(dir, new RegExp(`^state dir ${dir} has mode 0${mode.toString(8)}: ${who} can replace the peer list \\(the allow-list\\) and the host key\\. Fix with \`chmod 700 ${dir}\``));
  }
});

test('a peers.json writable by group or others is refused with `chmod 600 FILE`', async () => {
  const dir = await stateDir();
  await chmod(join(dir, 'peers.json'), 0o666);
  await assertRefused(dir, new RegExp(`^${dir}/peers\\.json has mode 0666: its group and all users can change it\\. Check it, then \`chmod 600 ${dir}/peers\\.json\`$`));
});

test('the daemon starts on a 0700 dir, and on a 0755 one (readable is not writable)', async () => {
  for (const mode of [0o700, 0o755]) {
    const dir = await stateDir();
    await chmod(dir, mode);
    const daemon = await startDaemon(dir);
    await daemon.stop('test');
  }
});

test('seen from a daemon running as another uid, the dir is refused with the chown that fixes it', async () => {
  const dir = await stateDir();
  const me = process.getuid!();
  await assert.rejects(refuseUnsafeStateDir(dir, OTHER_UID), {
    message: `state dir ${dir} belongs to uid ${me}, but this daemon runs as uid ${OTHER_UID}: its owner could rewrite the peer list (the allow-list). `
      + `Run hipvpn as uid ${me}, or take the dir over with \`sudo chown -R ${OTHER_UID} ${dir}\``,
  });
  await refuseUnsafeStateDir(dir, me);
});

test('root\'s daemon refuses a peers.json another user replaced (allow-list poisoning)', { skip: isRoot ? false : 'needs root to chown' }, async () => {
  const dir = await stateDir();
  await chown(join(dir, 'peers.json'), OTHER_UID, OTHER_UID);
  await assertRefused(dir, new RegExp(`^${dir}/peers\\.json belongs to uid ${OTHER_UID}, but this daemon runs as uid 0; another user may have written it\\. Check it, then \`sudo chown 0 ${dir}/peers\\.json\` \\(or remove it\\)$`));
});

test('root\'s daemon refuses a state dir owned by another user', { skip: isRoot ? false : 'needs root to chown' }, async () => {
  const dir = await stateDir();
  await chown(dir, OTHER_UID, OTHER_UID);
  await assertRefused(dir, new RegExp(`^state dir ${dir} belongs to uid ${OTHER_UID}, but this daemon runs as uid 0: .* \`sudo chown -R 0 ${dir}\``));
});

test('the engine a UI hosts (desktop app, web --serve) is refused the same way', async () => {
  const dir = await stateDir();
  await chmod(dir, 0o777);
  await assert.rejects(hostEngine({ stateDir: dir, tun: null, log: () => undefined }), { message: new RegExp(`^state dir ${dir} has mode 0777: .*chmod 700`) });
});
