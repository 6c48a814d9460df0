// hipvpn inside a lab host, driven exactly as a user would: the `hipvpn` CLI for identity,
// peers and serve, and the daemon's control socket (the API the CLI and the UI use) for status.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ControlEvent, DaemonStatus, PeerConfig, PeerStatus, ParamsOf, RelayServerStatus, ResultOf } from '../src-shared/control-api.js';
import { connectControl } from '../src-main/daemon/control-client.js';
import { stateDir } from '../src-main/daemon/state-dir.js';
import type { CommandResult, RunOptions } from './command.js';
import type { Host } from './host.js';
import type { LabProcess } from './process.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How to start the CLI: the package's bin once it exists, the TypeScript entry until then. */
export function hipvpnCommand(): { cmd: string; args: string[] } {
  const bin = `${REPO_ROOT}bin/hipvpn.mjs`;
  if (existsSync(bin)) return { cmd: process.execPath, args: [bin] };
  return { cmd: process.execPath, args: ['--import', 'tsx', `${REPO_ROOT}src-main/cli/hipvpn.ts`] };
}

export interface HipvpnIdentity {
  readonly hit: string;
  readonly lsi: string;
}

export interface ServeOptions {
  readonly port?: number;
  /** TUN device to create in the host (default hip0); null for control-plane only. */
  readonly tun?: string | null;
  readonly acceptAny?: boolean;
  /** `--listen` addresses; absent, the daemon follows the host's interfaces. */
  readonly listen?: readonly string[];
  /** `--multihoming`; absent, the daemon's settings decide. */
  readonly multihoming?: 'fault-tolerance' | 'simultaneous';
  /** Called with each daemon log line as it arrives. */
  readonly onLine?: (line: string) => void;
  /** Added to the daemon's environment (HIPVPN_LIBCRYPTO=none: ESP in the JS core). */
  readonly env?: NodeJS.ProcessEnv;
  /** `--relay HIT@ADDR[:PORT]`, one per relay. */
  readonly relays?: readonly string[];
}

/** `hipvpn relay serve` options (the relay has no TUN and follows no interfaces). */
export interface RelayServeOptions {
  readonly port?: number;
  readonly acceptAny?: boolean;
  /** `--listen` addresses; absent, the host's addresses at start. */
  readonly listen?: readonly string[];
  readonly onLine?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export class HipvpnNode {
  readonly stateDir: string;
  daemon: LabProcess | undefined;
  private identityCache: HipvpnIdentity | undefined;
  private lastServe: ServeOptions = {};
  /** Set while the node is a relay (relayServe()), so restart() starts a relay again. */
  private lastRelay: RelayServeOptions | undefined;

  constructor(
    readonly host: Host,
    readonly port = 10500,
    /** Names the state dir, so that several daemons can share one host (on its loopback). */
    stateName = 'hipvpn',
  ) {
    this.stateDir = `${host.scratchDir}/${stateName}`;
  }

  /** Run `hipvpn ARGS --state DIR` inside the host. */
  cli(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { cmd, args: prefix } = hipvpnCommand();
    return this.host.exec(cmd, [...prefix, ...args, '--state', this.stateDir], { cwd: REPO_ROOT, timeoutMs: 30_000, ...options });
  }

  async identity(): Promise<HipvpnIdentity> {
    if (this.identityCache) return this.identityCache;
    const result = await this.cli(['identity']);
    const parsed = JSON.parse(result.stdout) as Partial<HipvpnIdentity>;
    if (typeof parsed.hit !== 'string' || typeof parsed.lsi !== 'string') {
      throw new Error(`hipvpn identity printed ${result.stdout.trim()}, expected {"hit","lsi"}`);
    }
    this.identityCache = { hit: parsed.hit, lsi: parsed.lsi };
    return this.identityCache;
  }

  /** `hipvpn peer add`; locators are "IP" or "IP:PORT". */
  async addPeer(name: string, hit: string, locators: readonly string[] = []): Promise<void> {
    await this.cli(['peer', 'add', name, '--hit', hit, ...locators.flatMap((locator) => ['--locator', locator])]);
  }

  async removePeer(name: string): Promise<void> {
    await this.cli(['peer', 'remove', name]);
  }

  /** Start `hipvpn serve` and wait until its control socket answers. */
  async serve(options: ServeOptions = {}): Promise<LabProcess> {
    if (this.daemon?.running) throw new Error(`hipvpn already serving on ${this.host.name}`);
    this.lastServe = options;
    this.lastRelay = undefined;
    const serveArgs = ['--tun', options.tun === null ? 'none' : (options.tun ?? 'hip0')];
    if (options.multihoming) serveArgs.push('--multihoming', options.multihoming);
    for (const relay of options.relays ?? []) serveArgs.push('--relay', relay);
    this.daemon = this.spawnDaemon(['serve'], serveArgs, options);
    await this.waitUntilAnswering(this.daemon, 30_000);
    return this.daemon;
  }

  /** `hipvpn COMMAND --state DIR --port N [--accept-any] [--listen ADDR ...] EXTRA` in the host. */
  private spawnDaemon(command: readonly string[], extra: readonly string[], options: RelayServeOptions): LabProcess {
    const { cmd, args } = hipvpnCommand();
    const all = [...args, ...command, '--state', this.stateDir, '--port', String(options.port ?? this.port), ...extra];
    if (options.acceptAny) all.push('--accept-any');
    for (const address of options.listen ?? []) all.push('--listen', address);
    return this.host.spawn(cmd, all, {
      label: `${this.host.name}:${this.stateDir.split('/').pop()}`,
      cwd: REPO_ROOT,
      onLine: options.onLine,
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    });
  }

  /** Start `hipvpn relay serve` and wait until its control socket answers `relay.status`. */
  async relayServe(options: RelayServeOptions = {}): Promise<LabProcess> {
    if (this.daemon?.running) throw new Error(`hipvpn already serving on ${this.host.name}`);
    this.lastRelay = options;
    this.daemon = this.spawnDaemon(['relay', 'serve'], [], options);
    await this.waitUntilAnswering(this.daemon, 30_000, () => this.relayStatus(2_000));
    return this.daemon;
  }

  /** The relay's clients, registrations and counters (`hipvpn relay status --json`). */
  relayStatus(timeoutMs = 5_000): Promise<RelayServerStatus> {
    return this.request('relay.status', timeoutMs);
  }

  /** SIGTERM the daemon (a clean shutdown that closes associations) and wait for it to exit. */
  async stop(): Promise<void> {
    await this.daemon?.stop(5_000);
  }

  /** Stop and start again with the options of the last serve(). */
  async restart(): Promise<LabProcess> {
    await this.stop();
    return this.lastRelay ? this.relayServe(this.lastRelay) : this.serve(this.lastServe);
  }

  /** One status request over the control socket. */
  status(timeoutMs = 5_000): Promise<DaemonStatus> {
    return this.request('status', timeoutMs);
  }

  /** One parameterless request over the daemon's control socket, on a connection of its own. */
  private async request<M extends 'status' | 'relay.status'>(method: M, timeoutMs: number): Promise<ResultOf<M>> {
    const client = await connectControl(stateDir(this.stateDir).socket, this.stateDir);
    try {
      return await client.call(method, {} as ParamsOf<M>, timeoutMs);
    } finally {
      client.close();
    }
  }

  /**
   * Adds `peer` over the control API (as the UI does) and resolves with the milliseconds until
   * the daemon reports the association established; the peer is removed again afterwards (which
   * closes the association), so the next call measures a fresh base exchange.
   */
  async timeToEstablish(peer: PeerConfig, timeoutMs = 20_000): Promise<number> {
    const client = await connectControl(stateDir(this.stateDir).socket, this.stateDir);
    try {
      await client.call('subscribe', {});
      let onEstablished: () => void = () => {};
      const established = new Promise<void>((resolve) => (onEstablished = resolve));
      client.onEvent((event: ControlEvent) => {
        if (event.type === 'established' && (event.peer === peer.name || event.hit === peer.hit)) onEstablished();
      });
      const started = performance.now();
      await client.call('peer.add', peer);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.host.name}: no association with ${peer.name} within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([established, timedOut]);
      } finally {
        clearTimeout(timer);
      }
      const elapsed = performance.now() - started;
      await client.call('peer.remove', { name: peer.name });
      return elapsed;
    } finally {
      client.close();
    }
  }

  async peer(name: string): Promise<PeerStatus | undefined> {
    return (await this.status()).peers.find((peer) => peer.name === name);
  }

  /**
   * Poll status until the named peer's association can carry data: ESTABLISHED, or R2-SENT on
   * the responder, which stays there until the initiator's first packet (RFC 7401 §4.4.2).
   */
  async waitForEstablished(name: string, timeoutMs = 20_000): Promise<PeerStatus> {
    const deadline = performance.now() + timeoutMs;
    let last: PeerStatus | undefined;
    while (performance.now() < deadline) {
      last = await this.peer(name).catch(() => undefined);
      if (last?.state === 'ESTABLISHED' || last?.state === 'R2-SENT') return last;
      await sleep(100);
    }
    throw new Error(
      `${this.host.name}: peer ${name} not ESTABLISHED within ${timeoutMs} ms (state ${last?.state ?? 'unknown'})\n${this.daemon?.tail() ?? ''}`,
    );
  }

  private async waitUntilAnswering(daemon: LabProcess, timeoutMs: number, ask: () => Promise<unknown> = () => this.status(2_000)): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let lastError: unknown;
    while (performance.now() < deadline) {
      if (!daemon.running) throw new Error(`hipvpn serve on ${this.host.name} exited early\n${daemon.tail()}`);
      try {
        await ask();
        return;
      } catch (error) {
        lastError = error;
        await sleep(100);
      }
    }
    throw new Error(`hipvpn serve on ${this.host.name} did not answer within ${timeoutMs} ms: ${String(lastError)}\n${daemon.tail()}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
