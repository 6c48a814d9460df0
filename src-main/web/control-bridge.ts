// The control API as a UI process serves it (the WebSocket of `hipvpn web`, Electron's IPC): a
// handler map each transport calls after checking a request at its boundary. Behind the map is
// the daemon this process hosts, called in-process, or else the daemon of the state dir reached
// over its Unix socket (settings too: the daemon owns them; only while it is down are they read
// from its file). The daemon's events, plus "daemon went away / came back", are passed on.

import {
  isErrorCode,
  type ControlEvent, type ControlHandlers, type ControlMethod, type ControlRequest, type ControlResponse, type ControlSession,
  type ParamsOf, type Settings,
} from '../../src-shared/control-api.js';
import { ApiError, type ApiClient } from '../../src-shared/api-client.js';
import { dispatch, handlersFor } from '../../src-shared/control-dispatch.js';
import { connectControl } from '../daemon/control-client.js';
import { errorText } from '../base/errors.js';
import { stateDir, type StateDir } from '../daemon/state-dir.js';
import { SettingsMirror } from '../daemon/settings-mirror.js';

/** A daemon in this process (daemon.ts): its handlers and its events. */
export interface HostedDaemon {
  readonly handlers: ControlHandlers;
  onEvent(listener: (e: ControlEvent) => void): () => void;
}

export interface BridgeOptions {
  stateDir: string;
  log(line: string): void;
  /** How often to look for a daemon that is not (yet) running. */
  reconnectMs?: number;
  /** The daemon this process hosts; without one, the state dir's daemon over its socket. */
  daemon?: HostedDaemon;
}

type Listener = (e: ControlEvent) => void;

/** Every connection of a UI transport gets the events already; `subscribe` only says so. */
const EVERY_CONNECTION_SUBSCRIBED: ControlSession = { subscribe: () => undefined };

/** A refusal the daemon meant (a code on the wire), as opposed to a connection that failed. */
function isRefusal(err: unknown): err is ApiError {
  return err instanceof ApiError && isErrorCode(err.code);
}

export class ControlBridge {
  private client: ApiClient | undefined;
  private connecting: Promise<ApiClient | undefined> | undefined;
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private offHosted: (() => void) | undefined;
  private readonly listeners = new Set<Listener>();

  /** What each transport serves: params arrive checked by the transport. */
  readonly handlers: ControlHandlers = {
    ...handlersFor((method) => (params) => this.forward(method, params)),
    subscribe: async () => ({ subscribed: true }),
  };

  /** The daemon owns the settings; `settings` is the last copy it sent (Electron reads it at start). */
  private constructor(private readonly dir: StateDir, readonly settings: SettingsMirror, private readonly opts: BridgeOptions) {}

  static async start(opts: BridgeOptions): Promise<ControlBridge> {
    const dir = stateDir(opts.stateDir);
    const settings = await SettingsMirror.open(dir.root, (m) => opts.log(`warning: ${m}`));
    const bridge = new ControlBridge(dir, settings, opts);
    if (opts.daemon) {
      bridge.offHosted = opts.daemon.onEvent((e) => bridge.onDaemonEvent(e));
      bridge.running = true;
      return bridge;
    }
    await bridge.ensureClient();
    bridge.scheduleReconnect();
    return bridge;
  }

  get daemonRunning(): boolean {
    return this.running;
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A request the main process makes itself (tray, resume hooks): typed, so not checked again. */
  async call<M extends ControlMethod>(method: M, params: ParamsOf<M>): Promise<ControlResponse<M>> {
    return (await dispatch(this.handlers, { id: 0, method, params } as ControlRequest, EVERY_CONNECTION_SUBSCRIBED)) as ControlResponse<M>;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.offHosted?.();
    this.client?.close();
    this.client = undefined;
  }

  private async forward(method: ControlMethod, params: unknown): Promise<unknown> {
    const result = this.opts.daemon
      ? await (this.opts.daemon.handlers[method] as (p: unknown, s: ControlSession) => Promise<unknown>)(params, EVERY_CONNECTION_SUBSCRIBED)
      : await this.overSocket(method, params);
    if (method === 'settings.get' || method === 'settings.set') this.settings.update(result as Settings);
    return result;
  }

  private async overSocket(method: ControlMethod, params: unknown): Promise<unknown> {
    const client = await this.ensureClient();
    // Settings belong to the daemon; without one they can still be shown (from its file), not changed.
    if (!client && method === 'settings.get') return this.settings.reread();
    if (!client) throw new ApiError('unavailable', `hipvpn is not running for ${this.dir.root}; start it with \`hipvpn serve --state ${this.dir.root}\``);
    try {
      return await client.call(method, params as never);
    } catch (err) {
      if (isRefusal(err)) throw err;
      if (err instanceof ApiError && err.code === 'bad-response') throw new ApiError('internal', err.message);
      // The socket failed under us: the daemon stopped. Say so once and look for it again.
      this.dropClient(errorText(err));
      throw new ApiError('unavailable', `lost the daemon: ${errorText(err)}`);
    }
  }

  private onDaemonEvent(e: ControlEvent): void {
    if (e.type === 'settings') this.settings.update(e.settings);
    this.emit(e);
  }

  private emit(e: ControlEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.opts.log(`event listener failed: ${errorText(err)}`);
      }
    }
  }

  private setRunning(running: boolean): void {
    if (this.running === running) return;
    this.running = running;
    this.emit({ type: 'daemon', running });
  }

  private dropClient(why: string): void {
    if (!this.client) return;
    this.opts.log(`daemon connection lost: ${why}`);
    this.client.close();
    this.client = undefined;
    this.setRunning(false);
  }

  private ensureClient(): Promise<ApiClient | undefined> {
    if (this.client || this.closed) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      try {
        // Params reaching this client were checked by the transport that received them.
        const client = await connectControl(this.dir.socket, this.dir.root, { checkParams: false });
        client.onEvent((e) => this.onDaemonEvent(e), (problem) => this.opts.log(`the daemon sent an event this UI does not understand: ${problem}`));
        await client.call('subscribe', {}, 5000);
        if (this.closed) {
          client.close();
          return undefined;
        }
        this.client = client;
        this.setRunning(true);
        return client;
      } catch {
        return undefined;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  /** Keeps looking for the daemon, and notices when a quiet one went away (a cheap status). */
  private scheduleReconnect(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void (async () => {
        if (this.client) {
          try {
            await this.client.call('status', {}, 5000);
          } catch (err) {
            if (!isRefusal(err)) this.dropClient(errorText(err));
          }
        } else {
          await this.ensureClient();
        }
        this.scheduleReconnect();
      })();
    }, this.opts.reconnectMs ?? 1000);
    this.timer.unref();
  }
}
