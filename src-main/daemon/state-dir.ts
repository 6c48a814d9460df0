// Where a hipvpn host keeps its state. One directory per host identity, created 0700, owned by
// the user the daemon runs as and writable by nobody else (state-dir-modes.ts refuses it
// otherwise). Every file is written 0600 and atomically (platform/private-file.ts):
//   host-key.pem   the Host Identity private key (see platform/key-store.ts)
//   peers.json     the peer list (allow-list and locators)
//   settings.json, flows.json, tunnel.json   the user's settings, flow bindings, tunnel switch
//   web-token      the access token of `hipvpn web`
//   hipvpn.sock    the control socket of a running daemon (0600)

import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../base/errors.js';

export interface StateDir {
  root: string;
  hostKey: string;
  peers: string;
  socket: string;
}

/** Unix socket paths are limited to 107 octets on Linux (sun_path). */
const MAX_SOCKET_PATH = 107;

export function stateDir(dir: string): StateDir {
  const root = resolve(dir);
  const layout = { root, hostKey: join(root, 'host-key.pem'), peers: join(root, 'peers.json'), socket: join(root, 'hipvpn.sock') };
  if (Buffer.byteLength(layout.socket) > MAX_SOCKET_PATH) {
    throw new UserError(`state dir ${root} is too long a path for its control socket (${layout.socket}); use a shorter one`);
  }
  return layout;
}

/** Creates the directory (0700) if needed; refuses a path that exists but is not a directory. */
export async function ensureStateDir(dir: StateDir): Promise<void> {
  try {
    await mkdir(dir.root, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new UserError(`state dir ${dir.root} exists and is not a directory`);
    if (code === 'EACCES') throw new UserError(`cannot create state dir ${dir.root}: permission denied`);
    throw err;
  }
  const info = await stat(dir.root);
  if (!info.isDirectory()) throw new UserError(`state dir ${dir.root} exists and is not a directory`);
}
