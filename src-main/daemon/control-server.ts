// The daemon's end of the control API: a Unix socket (mode 0600 inside the 0700 state dir),
// newline-delimited JSON, one request answered per line in any order, events pushed to the
// connections that subscribed. Every frame in is checked against the schema before a handler
// sees it; every result out is checked too, so a daemon bug shows up as an error, not as a
// frame the client would misread.

import net from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import {
  MAX_FRAME_BYTES, checkResult, decodeRequest, encodeFrame,
  type ControlEvent, type ControlRequest, type ControlResponse, type ErrorCode,
} from '../../src-shared/control-api.js';
import { UserError, errorText } from '../base/errors.js';

/** A handler's refusal, sent to the client as `{ ok: false, error: { code, message } }`. */
export class ControlFailure extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ControlFailure';
  }
}

export interface ControlConnection {
  /** From now on, events go to this connection too. */
  subscribe(): void;
}

export type ControlHandler = (request: ControlRequest, conn: ControlConnection) => Promise<unknown>;

/** A subscriber that stops reading is cut off rather than buffered without bound. */
const MAX_PENDING_OUTPUT = 4 * MAX_FRAME_BYTES;

class Connection implements ControlConnection {
  subscribed = false;
  private buffer = '';

  constructor(private readonly socket: net.Socket, private readonly handler: ControlHandler, private readonly onError: (e: unknown) => void) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  subscribe(): void {
    this.subscribed = true;
  }

  send(frame: ControlResponse | { event: ControlEvent }): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableLength > MAX_PENDING_OUTPUT) {
      this.socket.destroy();
      return;
    }
    this.socket.write(encodeFrame(frame));
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== '') void this.onLine(line);
    }
    if (this.buffer.length > MAX_FRAME_BYTES) {
      this.send({ id: 0, ok: false, error: { code: 'bad-frame', message: `frame longer than ${MAX_FRAME_BYTES} characters` } });
      this.socket.end();
    }
  }

  private async onLine(line: string): Promise<void> {
    const decoded = decodeRequest(line);
    if (!decoded.ok) {
      this.send({ id: decoded.id ?? 0, ok: false, error: decoded.error });
      return;
    }
    const { id, method } = decoded.request;
    try {
      const result = await this.handler(decoded.request, this);
      const checked = checkResult(method, result);
      if (!checked.ok) throw new Error(`daemon produced an invalid ${method} result: ${checked.error}`);
      this.send({ id, ok: true, result: checked.value });
    } catch (err) {
      if (err instanceof ControlFailure) {
        this.send({ id, ok: false, error: { code: err.code, message: err.message } });
        return;
      }
      this.onError(err);
      this.send({ id, ok: false, error: { code: 'internal', message: errorText(err) } });
    }
  }
}

export class ControlServer {
  private readonly connections = new Set<Connection>();

  private constructor(private readonly server: net.Server, readonly path: string) {}

  /**
   * Listens on `path`. A socket file left by a daemon that died is replaced; one a live daemon
   * answers on is not (two daemons on one identity would fight over its associations).
   */
  static async listen(path: string, handler: ControlHandler, onError: (e: unknown) => void): Promise<ControlServer> {
    const server = net.createServer();
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => {
      const conn = new Connection(socket, handler, onError);
      control.connections.add(conn);
      socket.on('close', () => control.connections.delete(conn));
    });
    try {
      await listenOn(server, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (await answers(path)) throw new UserError(`hipvpn is already running for this state dir (control socket ${path})`);
      await unlink(path);
      await listenOn(server, path);
    }
    await chmod(path, 0o600);
    return control;
  }

  broadcast(event: ControlEvent): void {
    for (const c of this.connections) if (c.subscribed) c.send({ event });
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }
}

function listenOn(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
