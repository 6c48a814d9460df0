// `hipvpn web --state DIR [--port 7777] [--ui DIR] [--serve [--tun NAME|none]]`: the UI for a
// browser on this machine, bound to the daemon of that state dir (or, with --serve, hosting one
// when none runs). Prints the address with its token (the fragment never reaches a server log)
// and keeps the token in DIR/web-token (0600).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ControlBridge } from './control-bridge.js';
import { WebServer, tokenFileIn } from './web-server.js';
import { ensureStateDir, stateDir } from '../daemon/state-dir.js';
import { logLine } from '../daemon/event-log.js';

/** dist/renderer from the source tree and from the compiled CLI (dist/src-main/web) alike. */
export function defaultUiDir(): string {
  const candidates = ['../../dist/renderer', '../../renderer', '../../../dist/renderer'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((c) => existsSync(`${c}/index.html`)) ?? candidates[0]!;
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
  const bridge = await ControlBridge.start({ stateDir: dir.root, log: (m) => log(logLine('web', { message: m })) });
  const server = await WebServer.start({ bridge, uiDir: opts.uiDir ?? defaultUiDir(), port: opts.port, tokenFile: tokenFileIn(dir.root), log: (m) => log(logLine('web', { message: m })) });
  log(logLine('web-listening', { url: server.url, daemon: bridge.daemonRunning ? 'running' : 'not running', tokenFile: tokenFileIn(dir.root) }));
  return {
    async stop() {
      await server.close();
      bridge.close();
      await hosted?.daemon?.stop('web stopped');
    },
  };
}
