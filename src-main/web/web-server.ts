// `hipvpn web`: the UI for a browser. Serves the built renderer and the control API over a
// WebSocket (one JSON frame per message, the schema of src-shared/control-api.ts) on 127.0.0.1
// only. Every upgrade is checked (Host, Origin, token); every message is checked against the
// schema here, at the boundary, and goes to the bridge's handler map.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, type ControlEvent, type ControlSession } from '../../src-shared/control-api.js';
import { serveValue } from '../../src-shared/control-dispatch.js';
import { errorText } from '../base/errors.js';
import type { ControlBridge } from './control-bridge.js';
import { staticFile, contentSecurityPolicy } from './static-files.js';
import { WS_PROTOCOL, checkUpgrade, hostAllowed } from './web-auth.js';
import { writePrivateFile } from '../platform/private-file.js';

export interface WebServerOptions {
  bridge: ControlBridge;
  /** The built renderer (index.html and assets). */
  uiDir: string;
  port: number;
  /** Given (tests) or made here: 32 random bytes, base64url. */
  token?: string;
  /** Where the token is written (0600) for scripts; none if undefined. */
  tokenFile?: string;
  log: (line: string) => void;
}

/** A client that stops reading is cut off rather than buffered without bound. */
const MAX_BUFFERED = 4 * MAX_FRAME_BYTES;

/** Every socket gets the events from the start (attach); `subscribe` changes nothing. */
const EVERY_SOCKET_SUBSCRIBED: ControlSession = { subscribe: () => undefined };

export class WebServer {
  private constructor(private readonly http: Server, private readonly wss: WebSocketServer, readonly port: number, readonly token: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/#token=${this.token}`;
  }

  static async start(opts: WebServerOptions): Promise<WebServer> {
    const token = opts.token ?? randomBytes(32).toString('base64url');
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, handleProtocols: (p) => (p.has(WS_PROTOCOL) ? WS_PROTOCOL : false) });
    let port = opts.port;
    const http = createServer((req, res) => void serveFile(req, res, opts.uiDir, port));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port, '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
    const address = http.address();
    port = typeof address === 'object' && address ? address.port : opts.port;
    const server = new WebServer(http, wss, port, token);
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const verdict = checkUpgrade({ host: req.headers.host, origin: req.headers.origin, protocols: req.headers['sec-websocket-protocol'] }, port, token);
      if (!verdict.ok) {
        opts.log(`refused WebSocket from ${req.socket.remoteAddress ?? '?'}: ${verdict.reason}`);
        socket.end(`HTTP/1.1 ${verdict.status} ${verdict.status === 401 ? 'Unauthorized' : verdict.status === 403 ? 'Forbidden' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => server.attach(ws, opts.bridge, opts.log));
    });
    if (opts.tokenFile) await writePrivateFile(opts.tokenFile, `${token}\n`);
    return server;
  }

  private attach(ws: WebSocket, bridge: ControlBridge, log: (line: string) => void): void {
    const send = (frame: unknown): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify(frame));
    };
    const off = bridge.onEvent((event: ControlEvent) => send({ event }));
    send({ event: { type: 'daemon', running: bridge.daemonRunning } });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        send({ id: 0, ok: false, error: { code: 'bad-frame', message: 'frames are JSON text' } });
        return;
      }
      let value: unknown;
      try {
        // ws hands a text message to a socket of the default binaryType ('nodebuffer') as one Buffer.
        value = JSON.parse((data as Buffer).toString());
      } catch {
        send({ id: 0, ok: false, error: { code: 'bad-frame', message: 'frame is not JSON' } });
        return;
      }
      void serveValue(bridge.handlers, value, EVERY_SOCKET_SUBSCRIBED, (err) => log(`control request failed: ${errorText(err)}`)).then(send);
    });
    ws.on('close', off);
    ws.on('error', (err) => {
      log(`WebSocket error: ${err.message}`);
      ws.terminate();
    });
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

async function serveFile(req: IncomingMessage, res: ServerResponse, uiDir: string, port: number): Promise<void> {
  const headers = {
    'Content-Security-Policy': contentSecurityPolicy(port),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
  if (!hostAllowed(req.headers.host, port)) {
    res.writeHead(403, headers).end('forbidden: Host is not this server\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
    return;
  }
  const file = await staticFile(uiDir, req.url ?? '/');
  if (file.status !== 200) {
    const missingUi = file.status === 404 && (req.url === '/' || req.url === '/index.html');
    res.writeHead(file.status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' })
      .end(missingUi ? `the UI is not built in ${uiDir}; run \`npm run build:renderer\`\n` : 'not found\n');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': file.type, 'Content-Length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}

export function tokenFileIn(stateDirRoot: string): string {
  return join(stateDirRoot, 'web-token');
}
