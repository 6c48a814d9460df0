// The daemon's end of the control API: a Unix socket (mode 0600 inside the 0700 state dir),
// newline-delimited JSON, one request answered per line in any order, events pushed to the
// connections that subscribed. The socket is a trust boundary: each line is checked against the
// schema once, here, and goes to the daemon's handler map (control-dispatch.ts).

import net from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import {
  MAX_FRAME_BYTES, encodeFrame,
  type ControlEvent, type ControlHandlers, type ControlResponse, type ControlSession,
} from '../../src-shared/control-api.js';
import { serveLine, type InternalErrorSink } from '../../src-shared/control-dispatch.js';
import { ExitCode, UserError } from '../base/errors.js';

/** A subscriber that stops reading is cut off rather than buffered without bound. */
const MAX_PENDING_OUTPUT = 4 * MAX_FRAME_BYTES;

class Connection implements ControlSession {
  subscribed = false;
  private buffer = '';

  constructor(private readonly socket: net.Socket, private readonly handlers: () => ControlHandlers, private readonly onError: InternalErrorSink) {
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
    this.send(await serveLine(this.handlers(), line, this, this.onError));
  }
}

export class ControlServer {
  private readonly connections = new Set<Connection>();

  private constructor(private readonly server: net.Server, readonly path: string) {}

  /**
   * Listens on `path`. A socket file left by a daemon that died is replaced; one a live daemon
   * answers on is not (two daemons on one identity would fight over its associations).
   */
  static async listen(path: string, handlers: () => ControlHandlers, onError: InternalErrorSink): Promise<ControlServer> {
    const server = net.createServer();
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => {
      const conn = new Connection(socket, handlers, onError);
      control.connections.add(conn);
      socket.on('close', () => control.connections.delete(conn));
    });
    try {
      await listenOn(server, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (await answers(path)) throw new UserError(`hipvpn is already running for this state dir (control socket ${path})`, ExitCode.failure, 'already-running');
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
