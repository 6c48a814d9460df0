// The engine hosted by a UI process (the Electron main process; `hipvpn web --serve`): the same
// Daemon `hipvpn serve` runs, its data plane in a worker. If a `hipvpn serve` already runs for
// that state dir the UI uses it instead; if the TUN made by `hipvpn setup` (the package's
// postinst) is missing, the engine still starts, control plane only, and the caller says why.

import { Daemon } from '../daemon/daemon.js';
import { defaultListenAddresses } from '../daemon/listen-addresses.js';
import { UserError, errorText } from '../base/errors.js';
import { DEFAULT_PORT } from '../daemon/peer-input.js';

export interface EngineHostOptions {
  stateDir: string;
  /** null: control plane only, by choice. */
  tun: string | null;
  log: (line: string) => void;
}

export interface HostedEngine {
  /** null when another process serves this state dir. */
  daemon: Daemon | null;
  /** Why the engine runs without a tunnel, if it does. */
  warning: string | null;
}

export async function hostEngine(opts: EngineHostOptions): Promise<HostedEngine> {
  const listen = defaultListenAddresses().map((a) => a.address);
  const start = (tun: string | null): Promise<Daemon> => Daemon.start({
    stateDir: opts.stateDir, port: DEFAULT_PORT, listen, listenIsDefault: true, tun, createTun: false, acceptAny: false, log: opts.log,
  });
  try {
    return { daemon: await start(opts.tun), warning: null };
  } catch (err) {
    if (err instanceof UserError && err.code === 'already-running') return { daemon: null, warning: null };
    if (opts.tun === null || !(err instanceof UserError) || err.code !== 'tun-unavailable') throw err;
    const daemon = await start(null);
    return { daemon, warning: `${errorText(err)}. hipvpn runs without a tunnel until then.` };
  }
}
