// `hipvpn web` as a browser meets it, against a real daemon (control plane only, loopback): who
// may open the WebSocket, what a page gets for good and bad frames, settings that persist, the
// static files with their CSP, and the daemon going away.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { Daemon } from '../../src-main/daemon/daemon.js';
import { ControlBridge } from '../../src-main/web/control-bridge.js';
import { WebServer } from '../../src-main/web/web-server.js';
import { checkUpgrade, tokenMatches } from '../../src-main/web/web-auth.js';
import { staticFile } from '../../src-main/web/static-files.js';

const TOKEN = 'T'.repeat(43);

describe('hipvpn web: WebSocket transport and static UI', () => {
  let dir: string;
  let daemon: Daemon;
  let bridge: ControlBridge;
  let server: WebServer;
  let origin: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hipvpn-web-'));
    await mkdir(join(dir, 'ui', 'assets'), { recursive: true });
    await writeFile(join(dir, 'ui', 'index.html'), '<!doctype html><title>hipvpn</title>');
    await writeFile(join(dir, 'ui', 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'secret.txt'), 'not for the web');
    daemon = await Daemon.start({ stateDir: join(dir, 'state'), port: 0, listen: ['127.0.0.1'], tun: null, createTun: false, acceptAny: false, log: () => undefined });
    bridge = await ControlBridge.start({ stateDir: join(dir, 'state'), log: () => undefined, reconnectMs: 100 });
    server = await WebServer.start({ bridge, uiDir: join(dir, 'ui'), port: 0, token: TOKEN, tokenFile: join(dir, 'state', 'web-token'), log: () => undefined });
    origin = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.close();
    bridge?.close();
    await daemon?.stop('test');
    await rm(dir, { recursive: true, force: true });
  });

  /** Frames each socket received, kept from its first byte (the server speaks first). */
  const received = new WeakMap<WebSocket, { frames: unknown[]; waiters: Array<() => void> }>();

  /** Opens a socket; resolves with it, or with the HTTP status the server refused it with. */
  function connect(opts: { token?: string | null; origin?: string; host?: string } = {}): Promise<WebSocket | number> {
    const protocols = ['hipvpn.v1', ...(opts.token === null ? [] : [`hipvpn.token.${opts.token ?? TOKEN}`])];
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/control`, protocols, {
      origin: opts.origin ?? origin,
      headers: opts.host ? { host: opts.host } : {},
    });
    const box = { frames: [] as unknown[], waiters: [] as Array<() => void> };
    received.set(ws, box);
    ws.on('message', (d) => {
      // ws's default binaryType ('nodebuffer'): each message arrives as one Buffer.
      box.frames.push(JSON.parse((d as Buffer).toString()));
      box.waiters.splice(0).forEach((w) => w());
    });
    return new Promise((resolve) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
  }

  /** A socket with a frame queue: events and responses in arrival order. */
  async function session() {
    const ws = await connect();
    assert.ok(ws instanceof WebSocket, `the page's socket opens (got ${typeof ws === 'number' ? ws : 'a socket'})`);
    const { frames, waiters } = received.get(ws)!;
    const next = async (pred: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const i = frames.findIndex((f) => pred(f as Record<string, unknown>));
        if (i >= 0) return frames.splice(i, 1)[0] as Record<string, unknown>;
        if (Date.now() > deadline) assert.fail(`no matching frame; have ${JSON.stringify(frames)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    };
    const call = async (id: number, method: string, params?: unknown): Promise<Record<string, unknown>> => {
      ws.send(JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) }));
      return next((f) => f.id === id);
    };
    return { ws, next, call };
  }

  test('the socket is refused without the token, from another origin, or via another Host', async () => {
    assert.equal(await connect({ token: null }), 401, 'no token');
    assert.equal(await connect({ token: 'x'.repeat(43) }), 401, 'wrong token');
    assert.equal(await connect({ origin: 'http://evil.example' }), 403, 'another site\'s page');
    assert.equal(await connect({ host: `attacker.example:${server.port}` }), 403, 'DNS rebinding: Host is not ours');
    assert.equal(checkUpgrade({ host: `localhost:${server.port}`, origin: `http://localhost:${server.port}`, protocols: `hipvpn.v1, hipvpn.token.${TOKEN}` }, server.port, TOKEN).ok, true, 'localhost works too');
    assert.equal(tokenMatches(`${TOKEN}x`, TOKEN), false, 'a longer token does not match');
    const file = await stat(join(dir, 'state', 'web-token'));
    assert.equal(file.mode & 0o777, 0o600, 'the token file is private');
    assert.equal((await readFile(join(dir, 'state', 'web-token'), 'utf8')).trim(), TOKEN);
  });

  test('status, errors and refusals travel as schema frames', async () => {
    const s = await session();
    const hello = await s.next((f) => 'event' in f);
    assert.deepEqual(hello, { event: { type: 'daemon', running: true } }, 'a page learns at once that the engine runs');
    const status = await s.call(1, 'status');
    assert.equal(status.ok, true);
    assert.equal((status.result as { identity: { hit: string } }).identity.hit.slice(0, 6), '2001:2', 'the daemon\'s own status');
    s.ws.send('{nope');
    assert.deepEqual(await s.next((f) => f.id === 0), { id: 0, ok: false, error: { code: 'bad-frame', message: 'frame is not JSON' } });
    const unknown = await s.call(2, 'reboot');
    assert.equal((unknown.error as { code: string }).code, 'unknown-method');
    const bad = await s.call(3, 'peer.add', { name: 'bob', hit: '2001:db8::1', locators: [] });
    assert.deepEqual(bad.error, { code: 'invalid-params', message: 'peer bob: 2001:db8::1 is not a HIT: HIPv2 HITs start with 2001:2 (ORCHIDv2, 2001:20::/28)' });
    const peers = await s.call(4, 'peer.list');
    assert.deepEqual(peers.result, { peers: [] }, 'the refused peer was not added');
    s.ws.close();
  });

  test('settings: bad values refused, good ones persisted (0600) and broadcast', async () => {
    const s = await session();
    const bad = await s.call(1, 'settings.set', { keepaliveIntervalS: 0, notifications: false });
    assert.equal((bad.error as { code: string }).code, 'invalid-params');
    const unchanged = await s.call(2, 'settings.get');
    assert.equal((unchanged.result as { notifications: boolean }).notifications, true, 'a refused patch changes nothing, not even its good fields');
    const good = await s.call(3, 'settings.set', { keepaliveIntervalS: 25, interfaceOrder: ['wlan0', 'eth0'] });
    assert.equal((good.result as { keepaliveIntervalS: number }).keepaliveIntervalS, 25);
    const event = await s.next((f) => (f.event as { type?: string } | undefined)?.type === 'settings');
    assert.deepEqual((event.event as { settings: { interfaceOrder: string[] } }).settings.interfaceOrder, ['wlan0', 'eth0']);
    const file = join(dir, 'state', 'settings.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as { keepaliveIntervalS: unknown }).keepaliveIntervalS, 25);
    s.ws.close();
  });

  test('static files: the UI with a strict CSP, nothing outside it, and no foreign Host', async () => {
    const page = await fetch(`${origin}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>hipvpn<\/title>/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, new RegExp(`connect-src ws://127\\.0\\.0\\.1:${server.port}`));
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal((await fetch(`${origin}/assets/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await staticFile(join(dir, 'ui'), '/../secret.txt')).status, 404, 'no path outside the UI dir');
    assert.equal((await staticFile(join(dir, 'ui'), '/%2e%2e/secret.txt')).status, 404, 'not even encoded');
    assert.equal((await fetch(`${origin}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${origin}/`, { method: 'POST' })).status, 405);
  });

  test('when the daemon stops, pages are told and requests answer "unavailable"', async () => {
    const s = await session();
    await s.next((f) => 'event' in f);
    await daemon.stop('test');
    const gone = await s.next((f) => (f.event as { type?: string; running?: boolean } | undefined)?.running === false);
    assert.deepEqual(gone.event, { type: 'daemon', running: false });
    const r = await s.call(9, 'status');
    assert.equal((r.error as { code: string }).code, 'unavailable');
    assert.match((r.error as { message: string }).message, /hipvpn serve --state/);
    const settings = await s.call(10, 'settings.get');
    assert.equal(settings.ok, true, 'settings still answer without the engine');
    s.ws.close();
  });
});
