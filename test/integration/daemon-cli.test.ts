// The `hipvpn` command as users and scripts run it: real subprocesses (bin/hipvpn.mjs), real
// daemons on loopback UDP in control-plane-only mode (`--tun none`, so no root or TUN), the
// control socket in between. What is checked is what a user would see: printed JSON and
// status, files and their modes, exit statuses and the one-line errors.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { ServeProcess } from '../support/serve-process.js';
import type { ControlEvent } from '../../src-shared/control-api.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'hipvpn.mjs');

interface Run { code: number; stdout: string; stderr: string }

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: REPO, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs every command line, a few at a time: dozens of CLI start-ups at once would outlast `cli`'s timeout. */
async function cliEach(lines: string[][], atOnce = 4): Promise<Run[]> {
  const results: Run[] = [];
  for (let i = 0; i < lines.length; i += atOnce) results.push(...await Promise.all(lines.slice(i, i + atOnce).map((args) => cli(...args))));
  return results;
}

const daemons: ServeProcess[] = [];
const dirs: string[] = [];

async function stateDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hipvpn-${name}-`));
  dirs.push(dir);
  return join(dir, 'state');
}

async function serve(state: string, ...extra: string[]): Promise<ServeProcess> {
  const d = await ServeProcess.start(state, ['127.0.0.1'], extra);
  daemons.push(d);
  return d;
}

async function identity(state: string): Promise<{ hit: string; lsi: string }> {
  const r = await cli('identity', '--state', state);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { hit: string; lsi: string };
}

interface StatusJson {
  identity: { hit: string; lsi: string };
  peers: Array<{ name: string | null; hit: string; lsi: string | null; state: string; local?: { address: string; port: number }; remote?: { address: string; port: number }; lastHeardMs?: number; counters: Record<string, number> }>;
  counters: { dropped: Record<string, number> };
}

async function statusJson(state: string): Promise<StatusJson> {
  const r = await cli('status', '--state', state, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

async function waitForState(state: string, peer: string, want: string, ms = 15_000): Promise<StatusJson['peers'][number]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const p = (await statusJson(state)).peers.find((x) => x.name === peer);
    if (p?.state === want) return p;
    if (Date.now() > deadline) throw new Error(`${peer} in ${state} is ${p?.state ?? 'not listed'}, not ${want}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

after(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('identity creates the host key once (0600 in a 0700 dir) and prints its HIT and LSI as JSON', async () => {
  const state = await stateDir('identity');
  const first = await cli('identity', '--state', state);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^\{"hit": "2001:2[0-9a-f]:[0-9a-f:]+", "lsi": "1\.\d+\.\d+\.\d+"\}\n$/);
  assert.equal((await stat(join(state, 'host-key.pem'))).mode & 0o777, 0o600);
  assert.equal((await stat(state)).mode & 0o777, 0o700);
  const again = await cli('identity', '--state', state);
  assert.equal(again.stdout, first.stdout, 'the same identity on every run');
});

test('bad input gets one clear line and a non-zero exit status', async () => {
  const state = await stateDir('bad');
  const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
    { args: ['frob'], code: 2, message: /^hipvpn: unknown command "frob"; run `hipvpn help` for usage$/ },
    { args: ['status'], code: 2, message: /^hipvpn: missing --state DIR/ },
    { args: ['peer', 'add', 'bob', '--hit', 'bob', '--state', state], code: 2, message: /^hipvpn: malformed HIT "bob": expected IPv6 text/ },
    { args: ['peer', 'add', 'bob', '--hit', '2001:db8::1', '--state', state], code: 2, message: /^hipvpn: 2001:db8::1 is not a HIT: HIPv2 HITs start with 2001:2/ },
    { args: ['peer', 'add', 'bob', '--hit', '2001:20::1', '--locator', '10.0.0:5', '--state', state], code: 2, message: /^hipvpn: bad locator "10\.0\.0:5": "10\.0\.0" is not an IP address; expected IP or IP:PORT/ },
    { args: ['peer', 'add', 'bob', '--hit', '2001:20::1', '--locator', '10.0.0.1:99999', '--state', state], code: 2, message: /^hipvpn: bad locator "10\.0\.0\.1:99999": port "99999" is not 1\.\.65535/ },
    { args: ['peer', 'add', 'bob', '--state', state], code: 2, message: /^hipvpn: hipvpn peer add bob needs --hit HIT/ },
    { args: ['peer', 'add', 'b b', '--hit', '2001:20::1', '--state', state], code: 2, message: /^hipvpn: bad peer name "b b"/ },
    { args: ['peer', 'add', 'bob', '--hit', '2001:20::1', '--lokator', '1.2.3.4', '--state', state], code: 2, message: /^hipvpn: Unknown option '--lokator'/ },
    { args: ['peer', 'remove', 'nobody', '--state', state], code: 1, message: /^hipvpn: unknown peer "nobody" \(no peers configured\)$/ },
    { args: ['status', '--state', state], code: 3, message: new RegExp(`^hipvpn: hipvpn is not running for state dir ${state}; start it with \`hipvpn serve --state ${state}\`$`) },
    { args: ['ping', 'bob', '--state', state], code: 3, message: /^hipvpn: hipvpn is not running for state dir / },
    { args: ['ping', 'bob', '--count', 'many', '--state', state], code: 2, message: /^hipvpn: --count must be a whole number/ },
    { args: ['serve', '--state', state, '--port', '70000', '--tun', 'none'], code: 2, message: /^hipvpn: --port must be a whole number 0\.\.65535, not "70000"$/ },
    { args: ['serve', '--state', state, '--tun', 'a/b'], code: 2, message: /^hipvpn: --tun "a\/b" is not an interface name/ },
    { args: ['setup', '--state', state, '--tun', 'hip9'], code: 2, message: /^hipvpn: hipvpn setup needs --user UID\[:GID\]/ },
  ];
  const results = await Promise.all(cases.map((c) => cli(...c.args)));
  cases.forEach((c, i) => {
    const r = results[i]!;
    const label = `hipvpn ${c.args.join(' ')}`;
    assert.equal(r.code, c.code, `${label}: exit status (stderr: ${r.stderr})`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${label}: exactly one line, got ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr.trimEnd(), c.message, label);
    assert.equal(r.stdout, '', `${label}: nothing on stdout`);
  });
});

/** Runs each command line; each must fail with exit 2 and exactly `message` as its one line. */
async function assertUsageErrors(cases: Array<{ args: string[]; message: string }>): Promise<void> {
  const results = await cliEach(cases.map((c) => c.args));
  cases.forEach((c, i) => {
    const r = results[i]!;
    const label = `hipvpn ${c.args.join(' ')}`;
    assert.equal(r.stderr, `hipvpn: ${c.message}\n`, label);
    assert.equal(r.code, 2, `${label}: exit status`);
    assert.equal(r.stdout, '', `${label}: nothing on stdout`);
  });
}

test('a HIT or peer name gets the same message and exit 2 in every command that takes it', async () => {
  const state = await stateDir('same-input');
  const malformed = 'malformed HIT "2001:zz::1": expected IPv6 text such as 2001:2x:...; `hipvpn identity` prints a host\'s HIT';
  const notOrchid = '2001:db8::1 is not a HIT: HIPv2 HITs start with 2001:2 (ORCHIDv2, 2001:20::/28)';
  const badName = 'bad peer name "b b": use up to 63 letters, digits, ".", "_" or "-", starting with a letter or digit';
  const cases: Array<{ args: string[]; message: string }> = [];
  for (const [hit, message] of [['2001:zz::1', malformed], ['2001:db8::1', notOrchid]] as const) {
    cases.push(
      { args: ['peer', 'add', 'bob', '--hit', hit, '--state', state], message },
      { args: ['ping', hit, '--state', state], message },
      { args: ['failover', hit, '--state', state], message },
    );
  }
  cases.push(
    { args: ['peer', 'add', 'b b', '--hit', '2001:20::1', '--state', state], message: badName },
    { args: ['peer', 'remove', 'b b', '--state', state], message: badName },
    { args: ['ping', 'b b', '--state', state], message: badName },
    { args: ['failover', 'b b', '--state', state], message: badName },
  );
  // Without a daemon the CLI decides; with one running, the answer must not change.
  await assertUsageErrors(cases);
  const d = await serve(state);
  await assertUsageErrors(cases.filter((c) => c.args[0] !== 'peer' || c.args[1] !== 'add'));
  // Another client of the control socket (the UI) gets the same refusal from the daemon itself.
  const client = await connectControl(join(state, 'hipvpn.sock'), state);
  await assert.rejects(client.call('ping', { peer: '2001:zz::1' }), { code: 'invalid-params', message: malformed });
  client.close();
  await d.stop();
});

test('a number out of range says the range it must be in', async () => {
  const state = await stateDir('ranges');
  await assertUsageErrors([
    { args: ['serve', '--state', state, '--port', '-1'], message: '--port must be a whole number 0..65535, not "-1"' },
    { args: ['serve', '--state', state, '--port=-1'], message: '--port must be a whole number 0..65535, not "-1"' },
    { args: ['web', '--state', state, '--port', '-1'], message: '--port must be a whole number 0..65535, not "-1"' },
    { args: ['web', '--state', state, '--port', '65536'], message: '--port must be a whole number 0..65535, not "65536"' },
    { args: ['ping', 'bob', '--count', '0', '--state', state], message: '--count must be a whole number 1..100000, not "0"' },
    { args: ['ping', 'bob', '--count', '-3', '--state', state], message: '--count must be a whole number 1..100000, not "-3"' },
    { args: ['ping', 'bob', '--timeout', 'abc', '--state', state], message: '--timeout must be a whole number 1..60000, not "abc"' },
    { args: ['ping', 'bob', '--interval', '1.5', '--state', state], message: '--interval must be a whole number 1..60000, not "1.5"' },
    { args: ['setup', '--state', state, '--tun', 'hip9', '--user', '1000', '--mtu', '0'], message: '--mtu must be a whole number 1280..65535, not "0"' },
    { args: ['setup', '--state', state, '--tun', 'hip9', '--user', '1000', '--mtu', '1279'], message: '--mtu must be a whole number 1280..65535, not "1279"' },
    {
      args: ['setup', '--state', state, '--tun', 'hip9', '--user', '4294967296'],
      message: '--user "4294967296" must be UID or UID:GID, whole numbers 0..4294967294 (as `id -u` and `id -g` print them)',
    },
  ]);
});

test('`hipvpn COMMAND --help` prints that command\'s usage and exits 0, for every command and subcommand', async () => {
  const commands = [['identity'], ['serve'], ['peer'], ['peer', 'add'], ['peer', 'remove'], ['peer', 'list'], ['status'], ['ping'], ['failover'], ['setup'], ['web']];
  const runs = [
    ...commands.map((c) => ({ command: c, args: [...c, '--help'] })),
    { command: ['ping'], args: ['ping', '-h'] },
    { command: ['peer', 'remove'], args: ['help', 'peer', 'remove'] },
    // Wherever it stands, and whatever else is on the line.
    { command: ['peer', 'add'], args: ['peer', 'add', 'bob', '--hit', 'nonsense', '--help'] },
    { command: ['serve'], args: ['serve', '--port', '-1', '--help'] },
  ];
  const results = await cliEach(runs.map((r) => r.args));
  runs.forEach((run, i) => {
    const r = results[i]!;
    const label = `hipvpn ${run.args.join(' ')}`;
    assert.equal(r.code, 0, `${label}: exit status (stderr: ${r.stderr})`);
    assert.equal(r.stderr, '', label);
    assert.ok(r.stdout.startsWith(`usage: hipvpn ${run.command.join(' ')} `), `${label}: ${r.stdout}`);
  });
  const serveHelp = results[1]!.stdout;
  for (const flag of ['--state DIR', '--port N', '--listen ADDR', '--tun NAME|none', '--accept-any', '--multihoming MODE']) {
    assert.match(serveHelp, new RegExp(`^  ${flag.replace(/[|]/g, '\\|')} +\\S`, 'm'), `serve --help explains ${flag}`);
  }
  assert.match(serveHelp, /UDP port for HIP and ESP, 0\.\.65535/);
  const peerHelp = results[2]!.stdout;
  assert.match(peerHelp, /^usage: hipvpn peer add NAME .*\n {7}hipvpn peer remove NAME .*\n {7}hipvpn peer list /);
  const unknown = await cli('help', 'frob');
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'hipvpn: unknown command "frob"; run `hipvpn help` for usage\n');
});

test('serve refuses a state dir other users can write to, with the chmod that fixes it', async () => {
  const state = await stateDir('strict');
  await identity(state);
  await chmod(state, 0o777);
  const r = await cli('serve', '--state', state, '--port', '0', '--listen', '127.0.0.1', '--tun', 'none');
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `hipvpn: state dir ${state} has mode 0777: its group and all users can replace the peer list (the allow-list) and the host key. Fix with \`chmod 700 ${state}\` and check its files\n`);
  assert.equal(existsSync(join(state, 'hipvpn.sock')), false, 'it never listened');
  await chmod(state, 0o700);
  await (await serve(state)).stop();
});

test('a TUN the daemon may not open is one clear line and a non-zero exit', async () => {
  const state = await stateDir('tun');
  // "lo" exists and is no TUN device: attaching to it fails for root and users alike.
  const r = await cli('serve', '--state', state, '--port', '0', '--listen', '127.0.0.1', '--tun', 'lo');
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  // Root could have created the device, so the advice differs: another name, or a one-time setup.
  const advice = process.getuid?.() === 0 ? /; pick a --tun name no other device uses, or use --tun none/ : /; create it once with `sudo hipvpn setup --state .* --tun lo --user/;
  assert.match(r.stderr, /^hipvpn: cannot open TUN lo: /);
  assert.match(r.stderr, advice);
  assert.equal(existsSync(join(state, 'hipvpn.sock')), false, 'no control socket left behind');
});

test('two daemons on loopback: allow-list, live peer changes, status, ping, and a clean SIGTERM', async () => {
  const [aState, bState, cState] = await Promise.all([stateDir('alice'), stateDir('bob'), stateDir('carol')]);
  const [alice, bob, carol] = await Promise.all([identity(aState), identity(bState), identity(cState)]);

  // Offline edits go to peers.json.
  const offline = await cli('peer', 'add', 'alice', '--hit', alice.hit, '--state', bState);
  assert.equal(offline.code, 0, offline.stderr);
  assert.match(offline.stdout, /^added peer alice \(.*\) with no locator: it contacts us; saved to .*peers\.json/);
  const b = await serve(bState);
  const a = await serve(aState);

  // Live edits go through the socket and take effect at once: alice connects to bob.
  const add = await cli('peer', 'add', 'bob', '--hit', bob.hit, '--locator', `127.0.0.1:${b.port()}`, '--state', aState);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /; the daemon applied it\n$/);
  const saved = JSON.parse(await readFile(join(aState, 'peers.json'), 'utf8')) as { peers: Array<{ name: string }> };
  assert.deepEqual(saved.peers.map((p) => p.name), ['bob'], 'persisted before it was acknowledged');
  await b.line(/ established peer=alice .* initiator=false/);
  const bobSeen = await waitForState(aState, 'bob', 'ESTABLISHED');
  assert.deepEqual(bobSeen.local, { address: '127.0.0.1', port: a.port() });
  assert.deepEqual(bobSeen.remote, { address: '127.0.0.1', port: b.port() });
  assert.match(bobSeen.lsi ?? '', /^1\.\d+\.\d+\.\d+$/);

  const st = await statusJson(aState);
  assert.equal(st.identity.hit, alice.hit);
  assert.equal(st.identity.lsi, alice.lsi, 'status and identity agree on our LSI');
  const human = await cli('status', '--state', aState);
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, new RegExp(`^${alice.lsi.replace(/\./g, '\\.')} +\\(this host\\) +${alice.hit} +tun none +listening 127\\.0\\.0\\.1:${a.port()}$`));
  assert.match(lines[1]!, new RegExp(`^1\\.[\\d.]+ +bob +${bob.hit} +ESTABLISHED +direct via 127\\.0\\.0\\.1(, rtt [\\d.]+ms)? +127\\.0\\.0\\.1:${a.port()} <-> 127\\.0\\.0\\.1:${b.port()} +heard \\S+ ago +tx 0 rx 0$`));

  // HIP-level ping, by name and by HIT, reporting the pair and the RTT.
  const ping = await cli('ping', 'bob', '--count', '2', '--interval', '50', '--state', aState);
  assert.equal(ping.code, 0, ping.stderr);
  const pongs = ping.stdout.trimEnd().split('\n');
  assert.equal(pongs.length, 3, ping.stdout);
  for (const line of pongs.slice(0, 2)) {
    assert.match(line, new RegExp(`^pong from bob \\(${bob.hit}\\) via 127\\.0\\.0\\.1:${a.port()} <-> 127\\.0\\.0\\.1:${b.port()} in \\d+\\.\\d\\dms$`));
  }
  assert.match(pongs[2]!, /^2 sent, 2 answered, rtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms$/);
  const rtt = Number(/in ([\d.]+)ms/.exec(pongs[0]!)?.[1]);
  assert.ok(rtt > 0 && rtt < 1000, `loopback RTT ${rtt} ms`);
  const byHit = await cli('ping', alice.hit, '--state', bState);
  assert.equal(byHit.code, 0, byHit.stderr);
  assert.match(byHit.stdout, /^pong from alice /);
  const unknown = await cli('ping', 'zed', '--state', aState);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'hipvpn: unknown peer "zed" (known: bob); add it with `hipvpn peer add NAME --hit HIT`\n');

  // A locator nobody answers on: ping says so within its timeout.
  await cli('peer', 'add', 'dave', '--hit', '2001:20::d', '--locator', '127.0.0.1:9', '--state', aState);
  const unreachable = await cli('ping', 'dave', '--timeout', '1500', '--state', aState);
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.stderr, 'hipvpn: no base exchange with dave at 127.0.0.1:9 within 1500 ms; check the locator and that hipvpn serve runs there with this host on its peer list\n');
  assert.equal((await cli('peer', 'remove', 'dave', '--state', aState)).code, 0);

  // Subscribers get every event, checked against the schema by the client.
  const socket = join(bState, 'hipvpn.sock');
  assert.equal((await stat(socket)).mode & 0o777, 0o600, 'control socket mode');
  const watcher = await connectControl(socket, bState);
  const events: ControlEvent[] = [];
  watcher.onEvent((e) => events.push(e));
  assert.deepEqual(await watcher.call('subscribe', {}), { subscribed: true });

  // Carol is not on bob's list: her base exchange is refused and counted ...
  await cli('peer', 'add', 'bob', '--hit', bob.hit, '--locator', `127.0.0.1:${b.port()}`, '--state', cState);
  const c = await serve(cState);
  const deadline = Date.now() + 10_000;
  while (((await statusJson(bState)).counters.dropped['hip-policy'] ?? 0) === 0) {
    assert.ok(Date.now() < deadline, 'bob never counted carol\'s refused base exchange');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal((await statusJson(cState)).peers[0]?.state === 'ESTABLISHED', false, 'carol must not get in');
  // ... until bob adds her, live: her next I1 retransmission gets through.
  const addCarol = await cli('peer', 'add', 'carol', '--hit', carol.hit, '--state', bState);
  assert.equal(addCarol.code, 0, addCarol.stderr);
  await waitForState(cState, 'bob', 'ESTABLISHED', 20_000);
  assert.ok(events.some((e) => e.type === 'peers' && e.peers.some((p) => p.name === 'carol')), 'subscriber saw the peer list change');
  assert.ok(events.some((e) => e.type === 'established' && e.peer === 'carol'), `subscriber saw carol established: ${JSON.stringify(events)}`);
  watcher.close();
  // Removing her closes the association at once.
  const removeCarol = await cli('peer', 'remove', 'carol', '--state', bState);
  assert.equal(removeCarol.code, 0, removeCarol.stderr);
  await c.line(/ closed peer=bob .* byPeer=true/);
  assert.deepEqual((await statusJson(bState)).peers.map((p) => p.name), ['alice']);

  // A second daemon on the same state dir is refused without disturbing the first.
  const twice = await cli('serve', '--state', aState, '--port', '0', '--listen', '127.0.0.1', '--tun', 'none');
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /^hipvpn: hipvpn is already running for this state dir/);
  assert.equal((await statusJson(aState)).peers[0]?.state, 'ESTABLISHED');

  // SIGTERM: alice closes her association, bob sees the peer close it, alice exits 0.
  assert.equal(await a.stop('SIGTERM'), 0);
  await b.line(/ closed peer=alice .* byPeer=true/);
  assert.ok(a.lines.some((l) => / association peer=bob .* to=CLOSING/.test(l)), 'alice sent CLOSE');
  assert.ok(a.lines.some((l) => / closed peer=bob .* byPeer=false/.test(l)), `alice got CLOSE_ACK:\n${a.lines.join('\n')}`);
  assert.equal(existsSync(join(aState, 'hipvpn.sock')), false, 'the control socket is removed');
  const gone = await cli('status', '--state', aState);
  assert.equal(gone.code, 3);
  assert.equal(await c.stop('SIGINT'), 0);
  assert.equal(await b.stop('SIGTERM'), 0);
});
