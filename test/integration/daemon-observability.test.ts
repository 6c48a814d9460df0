// What an operator sees of trouble that happens outside our code: the puzzle difficulty the
// responder asks now, the datagrams the kernel dropped because a socket's receive buffer was
// full (a flood while the daemon could not read), and one log line per move of a peer's traffic
// (peer, from local->remote, to local->remote, cause). Real `hipvpn serve --tun none` daemons on
// loopback: alice listens on 127.0.0.1 and 127.0.0.2, so her tunnel to bob has two pairs.
//
//   node --import tsx --test test/integration/daemon-observability.test.ts

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { type ApiClient } from '../../src-shared/api-client.js';
import { DEFAULT_PUZZLE_POLICY } from '../../src-main/hip/timers.js';
import type { DaemonStatus, Endpoint } from '../../src-shared/control-api.js';
import { ServeProcess, hipvpn, tempState } from '../support/serve-process.js';
import { sleep } from '../support/wait.js';

async function statusJson(state: string): Promise<DaemonStatus> {
  const r = await hipvpn('status', '--state', state, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as DaemonStatus;
}

async function statusText(state: string): Promise<string> {
  const r = await hipvpn('status', '--state', state);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The kernel's receive-buffer drops of process `pid`'s UDP sockets, read here, not by the daemon. */
function kernelDrops(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
    if (m) inodes.add(m[1]!);
  }
  let sum = 0;
  for (const table of ['udp', 'udp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (inodes.has(cols[9]!)) sum += Number(cols[12]);
    }
  }
  return sum;
}

/** `count` junk datagrams at 127.0.0.1:`port`, as fast as the socket takes them. */
async function flood(port: number, count: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  const junk = Buffer.alloc(64, 0xa5);
  try {
    for (let sent = 0; sent < count; sent += 1000) {
      await Promise.all(Array.from({ length: 1000 }, () => new Promise<void>((resolve) => socket.send(junk, port, '127.0.0.1', () => resolve()))));
    }
  } finally {
    socket.close();
  }
}

const arrow = (local: Endpoint, remote: Endpoint): string => `${local.address}:${local.port}->${remote.address}:${remote.port}`;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function primaryOf(s: DaemonStatus, peer: string): string | undefined {
  const p = s.peers.find((x) => x.name === peer)?.pairs?.find((x) => x.primary);
  return p && arrow(p.local, p.remote);
}

function canUseNft(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('nft', ['list', 'tables'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('what an operator sees on a real daemon', () => {
  const roots: string[] = [];
  const clients: ApiClient[] = [];
  let alice: ServeProcess;
  let bob: ServeProcess;
  let aliceState: string;
  let bobState: string;

  before(async () => {
    const [a, b] = await Promise.all([tempState('obs-alice'), tempState('obs-bob')]);
    roots.push(a.root, b.root);
    aliceState = a.state;
    bobState = b.state;
    [alice, bob] = await Promise.all([ServeProcess.start(aliceState, ['127.0.0.1', '127.0.0.2']), ServeProcess.start(bobState)]);
    const [aliceId, bobId] = await Promise.all([statusJson(aliceState), statusJson(bobState)]).then((s) => s.map((x) => x.identity.hit));
    assert.equal((await hipvpn('peer', 'add', 'alice', '--hit', aliceId!, '--locator', `127.0.0.1:${alice.port()}`, '--state', bobState)).code, 0);
    assert.equal((await hipvpn('peer', 'add', 'bob', '--hit', bobId!, '--locator', `127.0.0.1:${bob.port()}`, '--state', aliceState)).code, 0);
    // Both of alice's pairs tested, so a failover has somewhere to go.
    await until('alice has two operational pairs to bob', async () => {
      const pairs = (await statusJson(aliceState)).peers.find((p) => p.name === 'bob')?.pairs ?? [];
      return pairs.length === 2 && pairs.every((p) => p.state === 'operational') ? true : undefined;
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([alice, bob].filter((p) => p !== undefined).map((p) => p.stop('SIGKILL')));
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  });

  test('status shows the puzzle difficulty: the base K while nobody floods us', async () => {
    const s = await statusJson(aliceState);
    const idle = DEFAULT_PUZZLE_POLICY.baseK;
    assert.deepEqual(s.puzzle, { difficulty: idle, baseDifficulty: idle, busiestPrefixDifficulty: idle });
    const text = await statusText(aliceState);
    assert.match(text, new RegExp(`^puzzle difficulty ${DEFAULT_PUZZLE_POLICY.baseK} \\(${DEFAULT_PUZZLE_POLICY.baseK} when idle\\)$`, 'm'), text);
  });

  test('datagrams the kernel dropped while the daemon could not read show in status, as /proc counts them', async () => {
    assert.equal((await statusJson(aliceState)).socketDrops, 0, 'nothing dropped before the flood');
    alice.signal('SIGSTOP');
    try {
      await flood(alice.port('127.0.0.1'), 30_000);
    } finally {
      alice.signal('SIGCONT');
    }
    const inKernel = kernelDrops(alice.pid);
    assert.ok(inKernel > 1000, `the flood overran alice's receive buffer (${inKernel} drops in /proc)`);
    // Status may answer from a reading up to a second old.
    const s = await until('status to report the drops', async () => {
      const st = await statusJson(aliceState);
      return st.socketDrops === inKernel ? st : undefined;
    }, 5_000);
    assert.equal(s.socketDrops, inKernel);
    const text = await statusText(aliceState);
    assert.match(text, new RegExp(`^socket drops ${inKernel} \\(datagrams the kernel dropped: our receive buffers were full\\)$`, 'm'), text);
    // The association lived through it, and bob's socket dropped nothing.
    assert.equal((await statusJson(bobState)).socketDrops, 0);
  });

  test('a manual failover is one log line: peer, from local->remote, to local->remote, cause', async () => {
    const [aliceBefore, bobBefore] = await Promise.all([statusJson(aliceState), statusJson(bobState)]);
    const from = primaryOf(aliceBefore, 'bob');
    const to = aliceBefore.peers.find((p) => p.name === 'bob')!.pairs!.find((p) => !p.primary)!;
    const aliceLines = alice.matching(/ handover /).length;
    const bobLines = bob.matching(/ handover /).length;
    const r = await hipvpn('failover', 'bob', '--state', aliceState);
    assert.equal(r.code, 0, r.stderr);
    const line = await alice.line(/ handover peer=bob /);
    assert.match(line, new RegExp(` from=${escape(from!)} to=${escape(arrow(to.local, to.remote))} cause=user `), line);
    // Moves that follow would log later; a second line for the same move comes at once.
    await sleep(1000);
    assert.equal(alice.matching(/ handover /).length - aliceLines, 1, alice.matching(/ handover /).join('\n'));
    assert.equal(primaryOf(await statusJson(aliceState), 'bob'), arrow(to.local, to.remote));
    // Bob's traffic moves only if his pair changed, and then with one line of its own.
    const bobMoved = primaryOf(await statusJson(bobState), 'alice') !== primaryOf(bobBefore, 'alice');
    assert.equal(bob.matching(/ handover /).length - bobLines, bobMoved ? 1 : 0, bob.matching(/ handover /).join('\n'));
  });

  test('two failover requests at once (a double-click, a retry) make one handover; one after the repeat window moves again', async () => {
    const c = await connectControl(join(aliceState, 'hipvpn.sock'), aliceState);
    clients.push(c);
    await sleep(1600); // past the repeat window of the previous test's failover
    const lines = alice.matching(/ handover /).length;
    const before = primaryOf(await statusJson(aliceState), 'bob');
    const [first, second] = await Promise.all([c.call('failover', { peer: 'bob' }), c.call('failover', { peer: 'bob' })]);
    assert.equal(first.handovers.length, 1, JSON.stringify(first));
    assert.deepEqual(second.handovers, first.handovers, 'the second answers with the first\'s handover');
    await sleep(300);
    assert.equal(alice.matching(/ handover /).length - lines, 1, alice.matching(/ handover /).join('\n'));
    const moved = primaryOf(await statusJson(aliceState), 'bob');
    assert.notEqual(moved, before, 'the traffic moved, once');
    await sleep(1600);
    const third = await c.call('failover', { peer: 'bob' });
    assert.equal(third.handovers.length, 1, `a failover asked for later is a new request: ${JSON.stringify(third)}`);
    assert.equal(primaryOf(await statusJson(aliceState), 'bob'), before, 'and moves the traffic again');
  });

  test('a pair that stops answering moves the traffic with one log line saying which detector failed it (root, nft)', { skip: !canUseNft() && 'needs root and nft' }, async () => {
    const c = await connectControl(join(aliceState, 'hipvpn.sock'), aliceState);
    clients.push(c);
    await c.call('settings.set', { keepaliveIntervalS: 1, failureDetection: 'aggressive' });
    const before = await statusJson(aliceState);
    const from = before.peers.find((p) => p.name === 'bob')!.pairs!.find((p) => p.primary)!;
    const to = before.peers.find((p) => p.name === 'bob')!.pairs!.find((p) => !p.primary)!;
    const lines = alice.matching(/ handover /).length;
    // Only the primary pair's socket of alice goes silent: a table of our own, for its port only.
    const table = `hipvpn_obs_${process.pid}`;
    const port = from.local.port;
    execFileSync('nft', ['-f', '-'], {
      input: `table inet ${table} {\n chain input {\n  type filter hook input priority 0;\n  udp sport ${port} drop\n  udp dport ${port} drop\n }\n}\n`,
    });
    try {
      // Earlier tests' user moves left the same pair: this one is the move the silence caused.
      const line = await alice.line(new RegExp(` handover peer=bob .* from=${escape(arrow(from.local, from.remote))} .*cause=pair-failed `), 15_000);
      assert.match(line, new RegExp(` to=${escape(arrow(to.local, to.remote))} cause=pair-failed detail=(keepalive|data-silence) gapMs=\\d+$`), line);
      // While the old pair stays silent nothing moves back: any further line is the same move twice.
      await sleep(1000);
      assert.equal(alice.matching(/ handover /).length - lines, 1, alice.matching(/ handover /).join('\n'));
    } finally {
      execFileSync('nft', ['delete', 'table', 'inet', table]);
    }
  });
});
