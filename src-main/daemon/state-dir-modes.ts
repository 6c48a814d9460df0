// StrictModes for the state dir (as ssh checks ~/.ssh): a daemon refuses to start when anyone
// but the user it runs as could have changed what it loads. peers.json is the allow-list, so a
// state dir another user can write to, or owns, lets that user admit their own host (or replace
// the host key); for root's daemon that is exactly the attack. Refused, not silently fixed: the
// user learns the files were exposed, and the message says the command that fixes it.

import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../base/errors.js';

/** Group- or world-writable. */
const WRITABLE_BY_OTHERS = 0o022;

function modeText(info: Stats): string {
  return (info.mode & 0o777).toString(8).padStart(4, '0');
}

function whoElseWrites(info: Stats): string {
  const group = (info.mode & 0o020) !== 0;
  const others = (info.mode & 0o002) !== 0;
  return group && others ? 'its group and all users' : group ? 'its group' : 'all users';
}

/**
 * Refuses a state dir, or an entry in it, that is owned by another uid than `uid` or writable by
 * group or others. `uid` undefined (no POSIX owners, e.g. Windows) skips the check.
 */
export async function refuseUnsafeStateDir(root: string, uid: number | undefined = process.getuid?.()): Promise<void> {
  if (uid === undefined) return;
  const dirInfo = await stat(root);
  if (dirInfo.uid !== uid) {
    throw new UserError(
      `state dir ${root} belongs to uid ${dirInfo.uid}, but this daemon runs as uid ${uid}: its owner could rewrite the peer list (the allow-list). ` +
        `Run hipvpn as uid ${dirInfo.uid}, or take the dir over with \`sudo chown -R ${uid} ${root}\``,
    );
  }
  if ((dirInfo.mode & WRITABLE_BY_OTHERS) !== 0) {
    throw new UserError(
      `state dir ${root} has mode ${modeText(dirInfo)}: ${whoElseWrites(dirInfo)} can replace the peer list (the allow-list) and the host key. ` +
        `Fix with \`chmod 700 ${root}\` and check its files`,
    );
  }
  for (const name of await readdir(root)) {
    const path = join(root, name);
    // What the daemon would read is the file a name leads to, so links are followed.
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined; // a dangling link, or gone since readdir
      throw err;
    });
    if (info === undefined) continue;
    if (info.uid !== uid) {
      throw new UserError(
        `${path} belongs to uid ${info.uid}, but this daemon runs as uid ${uid}; another user may have written it. ` +
          `Check it, then \`sudo chown ${uid} ${path}\` (or remove it)`,
      );
    }
    if ((info.mode & WRITABLE_BY_OTHERS) !== 0) {
      throw new UserError(
        `${path} has mode ${modeText(info)}: ${whoElseWrites(info)} can change it. Check it, then \`chmod ${info.isDirectory() ? '700' : '600'} ${path}\``,
      );
    }
  }
}
