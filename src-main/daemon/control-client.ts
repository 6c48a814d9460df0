// The daemon's Unix socket as a transport for the one control client (src-shared/api-client.ts):
// newline-delimited JSON, each line decoded and checked once (decodeServerFrame), requests
// matched to their responses by id, events passed on. The client checks each result against its
// method. A daemon that is not there (no socket, or nobody listening on it) becomes the one
// error users need to see.

import net from 'node:net';
import { decodeServerFrame, encodeFrame, type ControlEvent, type ControlMethod, type ControlRequest } from '../../src-shared/control-api.js';
import { ApiClient, ApiError, type ApiClientOptions, type ControlTransport } from '../../src-shared/api-client.js';
import { notRunningError } from '../base/errors.js';

/** How long a request waits for its answer unless the caller says otherwise. */
const DEFAULT_TIMEOUT_MS = 30_000;

interface Pending { method: ControlMethod; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }
interface EventListener { listener(e: ControlEvent): void; onInvalid?(error: string): void }

/** Connects to the daemon of `stateDirRoot`; throws the "not running" UserError when none answers. */
export async function connectControl(socketPath: string, stateDirRoot: string, opts?: ApiClientOptions): Promise<ApiClient> {
  return new ApiClient(await SocketTransport.connect(socketPath, stateDirRoot), opts);
}

class SocketTransport implements ControlTransport {
  readonly decodesFrames = true;
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<EventListener>();
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new Error(`control socket: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('the daemon closed the control connection')));
  }

  static connect(socketPath: string, stateDirRoot: string): Promise<SocketTransport> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new SocketTransport(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(notRunningError(stateDirRoot));
        else reject(new Error(`cannot reach the daemon at ${socketPath}: ${err.message}`));
      });
    });
  }

  request(method: ControlMethod, params: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the daemon did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.socket.write(encodeFrame({ id, method, params } as ControlRequest));
    });
  }

  onEvent(listener: (e: ControlEvent) => void, onInvalid?: (error: string) => void): () => void {
    const entry: EventListener = { listener, ...(onInvalid ? { onInvalid } : {}) };
    this.eventListeners.add(entry);
    return () => this.eventListeners.delete(entry);
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
    if (frame.ok && frame.kind === 'event') {
      for (const l of this.eventListeners) l.listener(frame.event);
      return;
    }
    // A malformed event is one the caller logs; the connection and its requests go on.
    if (!frame.ok && frame.frame?.kind === 'event') {
      for (const l of this.eventListeners) l.onInvalid?.(frame.error);
      return;
    }
    const id = frame.ok ? frame.id : frame.frame?.kind === 'response' ? frame.frame.id : undefined;
    if (id === undefined) {
      this.fail(new Error(`the daemon sent a frame this client does not understand: ${frame.ok ? 'no id' : frame.error}`));
      this.socket.destroy();
      return;
    }
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.response);
    else p.reject(new ApiError('bad-response', `${p.method}: ${frame.error}`));
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
