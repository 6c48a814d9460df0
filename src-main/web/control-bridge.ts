// The daemon's control API offered again to a UI (the WebSocket of `hipvpn web`, Electron's
// IPC): every request checked against the schema and forwarded over the daemon's Unix socket
// (settings too: the daemon owns them; only while it is down are they read from its file), and
// the daemon's events (plus "daemon went away / came back") passed on. Transport-free: each
// transport hands in values and sends out values.

import {
  checkResult, decodeRequestValue,
  type ControlError, type ControlEvent, type ControlMethod, type ControlRequest, type ControlResponse, type ParamsOf, type Settings,
} from '../../src-shared/control-api.js';
import { ControlClient, ControlRequestError } from '../daemon/control-client.js';
import { errorText } from '../base/errors.js';
import { stateDir, type StateDir } from '../daemon/state-dir.js';
import { SettingsMirror } from '../daemon/settings-mirror.js';

export interface BridgeOptions {
  stateDir: string;
  log(line: string): void;
  /** How often to look for a daemon that is not (yet) running. */
  reconnectMs?: number;
}

type Listener = (e: ControlEvent) => void;

export class ControlBridge {
  private client: ControlClient | undefined;
  private connecting: Promise<ControlClient | undefined> | undefined;
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<Listener>();

  /** The daemon owns the settings; `settings` is the last copy it sent (Electron reads it at start). */
  private constructor(private readonly dir: StateDir, readonly settings: SettingsMirror, private readonly opts: BridgeOptions) {}

  static async start(opts: BridgeOptions): Promise<ControlBridge> {
    const dir = stateDir(opts.stateDir);
    const settings = await SettingsMirror.open(dir.root, (m) => opts.log(`warning: ${m}`));
    const bridge = new ControlBridge(dir, settings, opts);
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

  /** One request as a transport received it (untrusted). Never throws. */
  async handle(value: unknown): Promise<ControlResponse> {
    const decoded = decodeRequestValue(value);
    if (!decoded.ok) return { id: decoded.id ?? 0, ok: false, error: decoded.error };
    return this.dispatch(decoded.request);
  }

  /** A request the main process makes itself (tray, resume hooks); typed, same path. */
  async call<M extends ControlMethod>(method: M, params: ParamsOf<M>): Promise<ControlResponse<M>> {
    return (await this.dispatch({ id: 0, method, params } as ControlRequest)) as ControlResponse<M>;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.client?.close();
    this.client = undefined;
  }

  private async dispatch(req: ControlRequest): Promise<ControlResponse> {
    const fail = (error: ControlError): ControlResponse => ({ id: req.id, ok: false, error });
    try {
      // Every connection of the bridge is subscribed already; a UI's subscribe just says so.
      if (req.method === 'subscribe') return { id: req.id, ok: true, result: { subscribed: true } };
      const client = await this.ensureClient();
      // Settings belong to the daemon; without one they can still be shown (from its file), not changed.
      if (!client && req.method === 'settings.get') return { id: req.id, ok: true, result: await this.settings.reread() };
      if (!client) return fail({ code: 'unavailable', message: `hipvpn is not running for ${this.dir.root}; start it with \`hipvpn serve --state ${this.dir.root}\`` });
      const result = await client.request(req.method, req.params);
      const checked = checkResult(req.method, result);
      if (!checked.ok) return fail({ code: 'internal', message: checked.error });
      if (req.method === 'settings.get' || req.method === 'settings.set') this.settings.update(checked.value as Settings);
      return { id: req.id, ok: true, result: checked.value };
    } catch (err) {
      if (err instanceof ControlRequestError) return fail({ code: err.code, message: err.message });
      // The socket failed under us: the daemon stopped. Say so once and look for it again.
      this.dropClient(errorText(err));
      return fail({ code: 'unavailable', message: `lost the daemon: ${errorText(err)}` });
    }
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

  private ensureClient(): Promise<ControlClient | undefined> {
    if (this.client || this.closed) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      try {
        const client = await ControlClient.connect(this.dir.socket, this.dir.root);
        client.onEvent((e) => {
          if (e.type === 'settings') this.settings.update(e.settings);
          this.emit(e);
        });
        await client.request('subscribe', {}, 5000);
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
            await this.client.request('status', {}, 5000);
          } catch (err) {
            if (!(err instanceof ControlRequestError)) this.dropClient(errorText(err));
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
