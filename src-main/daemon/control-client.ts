// The client end of the control API over the daemon's Unix socket: typed requests matched to
// their responses by id, every response and event checked against the schema. A daemon that
// is not there (no socket, or nobody listening on it) becomes the one error users need to see.

import net from 'node:net';
import {
  checkResult, decodeServerFrame, encodeFrame,
  type ControlError, type ControlEvent, type ControlMethod, type ControlRequest, type ParamsOf, type ResultOf,
} from '../../src-shared/control-api.js';
import { notRunningError } from '../base/errors.js';

/** The daemon refused a request; `code` says why in terms a caller can branch on. */
export class ControlRequestError extends Error {
  readonly code: ControlError['code'];
  constructor(error: ControlError) {
    super(error.message);
    this.name = 'ControlRequestError';
    this.code = error.code;
  }
}

interface Pending { method: ControlMethod; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }

export class ControlClient {
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners: Array<(e: ControlEvent) => void> = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new Error(`control socket: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('the daemon closed the control connection')));
  }

  /** Connects to the daemon of `stateDirRoot`; throws the "not running" UserError when none answers. */
  static connect(socketPath: string, stateDirRoot: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(notRunningError(stateDirRoot));
        else reject(new Error(`cannot reach the daemon at ${socketPath}: ${err.message}`));
      });
    });
  }

  request<M extends ControlMethod>(method: M, params: ParamsOf<M>, timeoutMs = 30_000): Promise<ResultOf<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the daemon did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.socket.write(encodeFrame({ id, method, params } as ControlRequest));
    });
  }

  onEvent(listener: (e: ControlEvent) => void): void {
    this.eventListeners.push(listener);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.trim() !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const frame = decodeServerFrame(line);
    if (!frame.ok) {
      this.fail(new Error(`the daemon sent a frame this client does not understand: ${frame.error}`));
      this.socket.destroy();
      return;
    }
    if (frame.kind === 'event') {
      for (const l of this.eventListeners) l(frame.event);
      return;
    }
    const p = this.pending.get(frame.id);
    if (!p) return;
    this.pending.delete(frame.id);
    clearTimeout(p.timer);
    if (!frame.response.ok) {
      p.reject(new ControlRequestError(frame.response.error));
      return;
    }
    const checked = checkResult(p.method, frame.response.result);
    if (checked.ok) p.resolve(checked.value);
    else p.reject(new Error(`the daemon's ${p.method} result does not match this client's schema: ${checked.error}`));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}
