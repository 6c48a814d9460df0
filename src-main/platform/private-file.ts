// The one way hipvpn writes a file into a state dir: whole, to a temporary file that is 0600
// from the moment it exists, flushed, then renamed over the old one. A crash leaves the old
// contents or the new, never half; rename() replaces the old file with the temporary one, so the
// result is 0600 whatever mode (or owner) the file had before; and O_EXCL on the temporary name
// means a file or link someone planted there is never written through.

import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';

/** Owner may read and write; group and others get nothing. */
export const PRIVATE_FILE_MODE = 0o600;

export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    // open()'s mode went through the umask: a umask of 0277 would leave a file its owner could
    // not rewrite. fchmod on the open handle sets exactly 0600 before any byte is written.
    await handle.chmod(PRIVATE_FILE_MODE);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
