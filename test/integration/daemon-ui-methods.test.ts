// The UI's methods against real daemons: `hipvpn serve` subprocesses on loopback in control-plane
// mode (`--tun none`), driven over their Unix sockets the way the Electron app, `hipvpn web` and
// the CLI drive them. What is checked is what a user would notice: settings and flow bindings
// that persist and show in the status, the tunnel switch closing and reopening the association
// and staying off across a restart, and malformed requests refused with nothing changed.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { type ApiClient } from '../../src-shared/api-client.js';
import { DEFAULT_SETTINGS, type ControlEvent, type DaemonStatus } from '../../src-shared/control-api.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'hipvpn.mjs');

/** A `hipvpn serve --tun none` subprocess on 127.0.0.1, and its log. */
class ServeProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  port = 0;
  private readonly proc: ChildProcess;

  constructor(readonly state: string) {
    this.proc = spawn(process.execPath, [BIN, 'serve', '--state', state, '--port', '0', '--listen', '127.0.0.1', '--tun', 'none'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.lines.push(`stderr: ${chunk.trim()}`));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  async started(): Promise<this> {
    const line = await until(`${this.state} listening`, () => this.lines.find((l) => / listening /.test(l)) ?? (this.proc.exitCode !== null ? `exited: ${this.lines.join('\n')}` : undefined), 20_000);
    assert.match(line, / listening /, line);
    this.port = Number(/udp=127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
    return this;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    await this.exited;
  }
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One request line written as is (malformed on purpose), and the daemon's answer to it. */
function rawRequest(socketPath: string, frame: unknown): Promise<{ ok: boolean; error?: { code: string; message: string }; result?: unknown }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buffer = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      s.destroy();
      resolve(JSON.parse(buffer.slice(0, nl)) as { ok: boolean });
    });
    s.on('error', reject);
    s.write(`${JSON.stringify(frame)}\n`);
  });
}

describe('the UI\'s methods on a real daemon', () => {
  const processes: ServeProcess[] = [];
  const clients: ApiClient[] = [];
  let root: string;
  let aliceState: string;
  let bobState: string;
  let alice: ServeProcess;
  let bob: ServeProcess;
  let a: ApiClient;

  const serve = async (state: string): Promise<ServeProcess> => {
    const p = new ServeProcess(state);
    processes.push(p);
    return p.started();
  };
  const connect = async (state: string): Promise<ApiClient> => {
    const c = await connectControl(join(state, 'hipvpn.sock'), state);
    clients.push(c);
    return c;
  };
  const identity = async (state: string): Promise<{ hit: string }> => (await connect(state)).call('status', {}).then((s) => s.identity);
  const peerState = async (c: ApiClient, name: string): Promise<string | undefined> => (await c.call('status', {})).peers.find((p) => p.name === name)?.state;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hipvpn-ui-methods-'));
    aliceState = join(root, 'alice');
    bobState = join(root, 'bob');
    [alice, bob] = await Promise.all([serve(aliceState), serve(bobState)]);
    const [aliceId, bobId] = await Promise.all([identity(aliceState), identity(bobState)]);
    const b = await connect(bobState);
    await b.call('peer.add', { name: 'alice', hit: aliceId.hit, locators: [{ address: '127.0.0.1', port: alice.port }] });
    a = await connect(aliceState);
    await a.call('peer.add', { name: 'bob', hit: bobId.hit, locators: [{ address: '127.0.0.1', port: bob.port }] });
    await until('alice ⇄ bob established', async () => ((await peerState(a, 'bob')) === 'ESTABLISHED' ? true : undefined));
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(processes.map((p) => p.stop()));
    await rm(root, { recursive: true, force: true });
  });

  test('settings: defaults, refusals that change nothing, a change that persists, is announced and survives a restart', async () => {
    assert.deepEqual(await a.call('settings.get', {}), DEFAULT_SETTINGS);
    const sock = join(aliceState, 'hipvpn.sock');
    const refusals: Array<[unknown, RegExp]> = [
      [{ keepaliveIntervalS: 0, notifications: false }, /^params\.keepaliveIntervalS: expected an integer 1\.\.300, got 0$/],
      [{ failureDetection: 'paranoid' }, /expected one of "relaxed", "normal", "aggressive"/],
      [{ interfaceOrder: ['eth0', 'eth0'] }, /interface "eth0" is listed twice/],
      [{ keepalive: 5 }, /^params\.keepalive: unknown field/],
      [{}, /names no setting to change/],
      ['fast', /^params: expected an object/],
    ];
    for (const [params, message] of refusals) {
      const r = await rawRequest(sock, { id: 1, method: 'settings.set', params });
      assert.equal(r.error?.code, 'invalid-params', JSON.stringify(params));
      assert.match(r.error.message, message);
    }
    assert.deepEqual(await a.call('settings.get', {}), DEFAULT_SETTINGS, 'nothing changed, not even the good fields of a refused patch');
    await assert.rejects(stat(join(aliceState, 'settings.json')), /ENOENT/, 'and nothing was written');

    const watcher = await connect(aliceState);
    const events: ControlEvent[] = [];
    watcher.onEvent((e) => events.push(e));
    await watcher.call('subscribe', {});
    // Load sharing (an SA pair per uplink: simultaneous multihoming) is stored like the rest.
    const saved = await a.call('settings.set', { keepaliveIntervalS: 25, interfaceOrder: ['wlan0', 'eth0'], multihomingMode: 'load-sharing' });
    assert.equal(saved.keepaliveIntervalS, 25);
    assert.equal(saved.multihomingMode, 'load-sharing');
    const event = await until('settings event', () => events.find((e) => e.type === 'settings'));
    assert.deepEqual(event, { type: 'settings', settings: saved }, 'subscribers (the UI, the tray) hear the change');
    const file = join(aliceState, 'settings.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), saved);
  });

  test('flow bindings: add, edit, move to interface and remove; status shows each with its state and pair', async () => {
    const web = { fid: 1, peer: 'bob', selector: { protocol: 'tcp' as const, remotePorts: { from: 443, to: 443 } }, interface: null };
    assert.deepEqual(await a.call('flow.set', web), { flow: web, replaced: false });
    const voice = { fid: 2, peer: 'bob', selector: { protocol: 'udp' as const, localPorts: { from: 5060, to: 5061 } }, interface: 'wwan0' };
    assert.deepEqual(await a.call('flow.set', voice), { flow: voice, replaced: false });
    const status = await a.call('status', {});
    const byFid = new Map((status.flows ?? []).map((f) => [f.binding.fid, f]));
    assert.equal(byFid.get(1)?.state, 'bound', 'unbound flow follows the established primary pair');
    assert.equal(byFid.get(1)?.remote?.port, bob.port, 'and names it');
    assert.equal(byFid.get(2)?.state, 'pending', 'wwan0 carries no proven pair to bob: pending, riding the primary meanwhile');
    assert.equal(byFid.get(2)?.reason, 'no pair on wwan0 yet', 'and says why');
    assert.deepEqual([byFid.get(1)?.enforced, byFid.get(1)?.packetsOut, byFid.get(1)?.bytesIn], [false, 0, 0], 'nothing of flow 1 was sent yet, so it is not shown as enforced');
    const moved = await a.call('flow.set', { ...voice, interface: null });
    assert.equal(moved.replaced, true, '"move to interface" is a set with the same FID');
    assert.equal((await a.call('status', {})).flows?.find((f) => f.binding.fid === 2)?.state, 'bound');
    assert.deepEqual(await a.call('flow.remove', { fid: 1 }), { removed: web });
    const stored = JSON.parse(await readFile(join(aliceState, 'flows.json'), 'utf8')) as { flows: unknown[] };
    assert.deepEqual(stored.flows, [{ ...voice, interface: null }], 'flows.json holds what the daemon acknowledged');
    assert.equal((await stat(join(aliceState, 'flows.json'))).mode & 0o777, 0o600);
  });

  test('malformed flow and tunnel requests are refused with the reason, and nothing changes', async () => {
    const sock = join(aliceState, 'hipvpn.sock');
    const before = await a.call('status', {});
    const flowsFile = await readFile(join(aliceState, 'flows.json'), 'utf8');
    const good = { fid: 9, peer: 'bob', selector: { protocol: 'udp' }, interface: null };
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['flow.set', { ...good, fid: 0 }, 'invalid-params', /^params\.fid: expected an integer 1\.\.65535, got 0$/],
      ['flow.set', { ...good, fid: '9' }, 'invalid-params', /^params\.fid: expected an integer/],
      ['flow.set', { fid: 9, peer: 'bob', interface: null }, 'invalid-params', /^params\.selector: missing/],
      ['flow.set', { ...good, colour: 'red' }, 'invalid-params', /^params\.colour: unknown field/],
      ['flow.set', { ...good, selector: { protocol: 'sctp' } }, 'invalid-params', /^params\.selector\.protocol: expected one of "any", "tcp", "udp", "icmp"/],
      ['flow.set', { ...good, selector: { protocol: 'udp', remotePorts: { from: 9000, to: 80 } } }, 'invalid-params', /port range ends \(80\) before it starts \(9000\)/],
      ['flow.set', { ...good, selector: { protocol: 'icmp', remotePorts: { from: 1, to: 1 } } }, 'invalid-params', /^flow 9: ICMP has no ports: remove the port range, or choose tcp or udp$/],
      ['flow.set', { ...good, peer: 'mallory' }, 'unknown-peer', /^flow 9: unknown peer "mallory" \(known: bob\); add the peer first$/],
      ['flow.set', { ...good, interface: 'eth0; rm -rf /' }, 'invalid-params', /^params\.interface: expected an interface name/],
      ['flow.set', { ...good, selector: { protocol: 'udp', localPorts: { from: 5060, to: 5061 } } }, 'conflict', /^flow 2 already selects udp from ports 5060-5061 towards bob/],
      ['flow.remove', { fid: 77 }, 'invalid-params', /^no flow with FID 77 \(FIDs in use: 2\)$/],
      ['flow.remove', {}, 'invalid-params', /^params\.fid: missing/],
      ['tunnel.set', { up: 'no' }, 'invalid-params', /^params\.up: expected true or false, got "no"$/],
      ['tunnel.set', {}, 'invalid-params', /^params\.up: missing/],
      ['tunnel.set', { up: false, peer: 'bob' }, 'invalid-params', /^params\.peer: unknown field/],
    ];
    for (const [method, params, code, message] of cases) {
      const r = await rawRequest(sock, { id: 7, method, params });
      assert.equal(r.ok, false, `${method} ${JSON.stringify(params)} is refused`);
      assert.equal(r.error?.code, code, `${method} ${JSON.stringify(params)}: ${r.error?.message}`);
      assert.match(r.error.message, message);
    }
    const afterwards = await a.call('status', {});
    assert.deepEqual(afterwards.flows, before.flows, 'the flow table is unchanged');
    assert.equal(afterwards.tunnelUp, true, 'the tunnel is still on');
    assert.equal(afterwards.peers.find((p) => p.name === 'bob')?.state, 'ESTABLISHED', 'and still connected');
    assert.equal(await readFile(join(aliceState, 'flows.json'), 'utf8'), flowsFile, 'flows.json untouched');
  });

  test('the tunnel switch: off closes the association and refuses new ones, survives a restart; on reconnects', async () => {
    assert.deepEqual(await a.call('tunnel.set', { up: false }), { up: false });
    await until('bob closed on alice', async () => ((await peerState(a, 'bob')) !== 'ESTABLISHED' ? true : undefined));
    const off: DaemonStatus = await a.call('status', {});
    assert.equal(off.tunnelUp, false);
    await assert.rejects(a.call('ping', { peer: 'bob', timeoutMs: 1000 }), /the tunnel is off/, 'no connect on demand while off');
    // bob, whose tunnel is on, tries to reach alice: alice takes no base exchange while off.
    const b = await connect(bobState);
    await assert.rejects(b.call('ping', { peer: 'alice', timeoutMs: 2000 }), (err: Error & { code?: string }) => err.code === 'ping-failed', 'alice refuses bob\'s base exchange');
    assert.notEqual(await peerState(a, 'bob'), 'ESTABLISHED', 'still no association on alice');
    assert.deepEqual(JSON.parse(await readFile(join(aliceState, 'tunnel.json'), 'utf8')), { version: 1, up: false });

    await alice.stop();
    alice = await serve(aliceState);
    a = await connect(aliceState);
    const restarted = await a.call('status', {});
    assert.equal(restarted.tunnelUp, false, 'still off after a restart');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await peerState(a, 'bob'), 'UNASSOCIATED', 'and nothing connected at start');
    assert.equal((await a.call('settings.get', {})).keepaliveIntervalS, 25, 'settings survived the restart too');
    assert.deepEqual((await a.call('status', {})).flows?.map((f) => f.binding.fid), [2], 'and the flow bindings');

    assert.deepEqual(await a.call('tunnel.set', { up: true }), { up: true });
    await until('alice ⇄ bob established again', async () => ((await peerState(a, 'bob')) === 'ESTABLISHED' ? true : undefined));
    assert.equal((await a.call('status', {})).tunnelUp, true);
    assert.ok(alice.lines.some((l) => / tunnel up=true/.test(l)), `the switch is in the log:\n${alice.lines.join('\n')}`);
  });
});
