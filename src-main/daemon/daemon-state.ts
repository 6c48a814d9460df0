// What `hipvpn serve` and `hipvpn relay serve` open first, in this order: the state dir (refused
// when others may write to it, before anything is read from it), the identity, the peer list,
// and the control socket, which is also the lock against a second daemon on the same state dir.
// Requests that arrive before the daemon is ready are answered "still starting".

import { nodeCrypto } from '../hip/crypto/index.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import { loadOrCreateIdentity } from '../platform/key-store.js';
import { errorText } from '../base/errors.js';
import type { ControlHandlers, PeerConfig } from '../../src-shared/control-api.js';
import { refuseAll } from '../../src-shared/control-dispatch.js';
import { ControlServer } from './control-server.js';
import { logLine } from './event-log.js';
import { loadPeers } from './peer-store.js';
import { ensureStateDir, stateDir, type StateDir } from './state-dir.js';
import { refuseUnsafeStateDir } from './state-dir-modes.js';

export interface DaemonState {
  dir: StateDir;
  identity: LocalHostIdentity;
  peers: PeerConfig[];
  control: ControlServer;
  /** From now on the control socket's requests go to `handlers`. */
  serve(handlers: ControlHandlers): void;
}

/** `what` names the daemon in the "still starting" answer ("daemon", "relay"). */
export async function openDaemonState(path: string, what: string, log: (line: string) => void): Promise<DaemonState> {
  const dir = stateDir(path);
  await ensureStateDir(dir);
  await refuseUnsafeStateDir(dir.root);
  const identity = await loadOrCreateIdentity(dir.root, nodeCrypto);
  const peers = await loadPeers(dir.peers);
  let handlers = refuseAll('internal', () => `the ${what} is still starting; try again`);
  const control = await ControlServer.listen(
    dir.socket,
    () => handlers,
    (err) => log(logLine('control-error', { error: errorText(err) })),
  );
  return { dir, identity, peers, control, serve: (h) => { handlers = h; } };
}
