// `hipvpn web --state DIR [--port 7777] [--ui DIR] [--serve [--tun NAME|none]]`: the UI for a
// browser on this machine, bound to the daemon of that state dir (or, with --serve, hosting one
// when none runs). Prints the address with its token (the fragment never reaches a server log)
// and keeps the token in DIR/web-token (0600).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlBridge } from './control-bridge.js';
import { WebServer, tokenFileIn } from './web-server.js';
import { ensureStateDir, stateDir } from '../daemon/state-dir.js';
import { logLine } from '../daemon/event-log.js';

/**
 * The repository's dist/renderer, found from this module wherever it runs: the source tree
 * (src-main/web) and the compiled CLI (dist/src-main/web) sit at different depths, so the root is
 * the nearest directory above with a package.json.
 */
export function defaultUiDir(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'renderer');
}

/** What `hipvpn web` says at start when the UI it would serve is not built. */
export function missingUiWarning(uiDir: string): string | undefined {
  return existsSync(join(uiDir, 'index.html')) ? undefined : `the UI is not built in ${uiDir}: run \`npm run build:renderer\` (or \`npm run web -- --state DIR\`, which builds it first)`;
}

export interface WebCommandOptions {
  state: string;
  port: number;
  uiDir?: string;
  /** Host an engine in this process when no daemon serves the state dir. */
  serve?: { tun: string | null };
  print(line: string): void;
}

export async function runWeb(opts: WebCommandOptions): Promise<{ stop(): Promise<void> }> {
  const dir = stateDir(opts.state);
  await ensureStateDir(dir);
  const log = (line: string): void => opts.print(line);
  // The engine's modules (crypto, data plane) load only when this process hosts it.
  const hosted = opts.serve ? await (await import('./engine-host.js')).hostEngine({ stateDir: dir.root, tun: opts.serve.tun, log }) : null;
  if (hosted?.warning) log(logLine('warning', { message: hosted.warning }));
  // A daemon hosted here is called in-process; otherwise the state dir's daemon over its socket.
  const bridge = await ControlBridge.start({
    stateDir: dir.root, log: (m) => log(logLine('web', { message: m })), ...(hosted?.daemon ? { daemon: hosted.daemon } : {}),
  });
  const uiDir = opts.uiDir ?? defaultUiDir();
  const missingUi = missingUiWarning(uiDir);
  if (missingUi) log(logLine('warning', { message: missingUi }));
  const server = await WebServer.start({ bridge, uiDir, port: opts.port, tokenFile: tokenFileIn(dir.root), log: (m) => log(logLine('web', { message: m })) });
  log(logLine('web-listening', { url: server.url, daemon: bridge.daemonRunning ? 'running' : 'not running', tokenFile: tokenFileIn(dir.root) }));
  return {
    async stop() {
      await server.close();
      bridge.close();
      await hosted?.daemon?.stop('web stopped');
    },
  };
}
