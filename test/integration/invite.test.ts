// Invites between real daemons on loopback: alice invites, bob pastes the text once and both
// are peers (alice lists bob under the invite's name, persistently). The same text a second
// time, an expired invite and a host that knows only alice's HIT are refused, and counted.
//
//   npx tsc -p tsconfig.build.json && node --import tsx --test test/integration/invite.test.ts

import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { type ApiClient } from '../../src-shared/api-client.js';
import { ServeProcess, hipvpn, tempState } from '../support/serve-process.js';

let root: string;
const daemons: ServeProcess[] = [];
let alice: ServeProcess;

async function host(name: string): Promise<ServeProcess> {
  const d = await ServeProcess.start(join(root, name));
  daemons.push(d);
  return d;
}

async function aliceControl<T>(f: (c: ApiClient) => Promise<T>): Promise<T> {
  const c = await connectControl(join(alice.state, 'hipvpn.sock'), alice.state);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

const alicePeers = async (): Promise<Array<{ name: string; hit: string }>> => (JSON.parse((await hipvpn('peer', 'list', '--state', alice.state, '--json')).stdout) as { peers: Array<{ name: string; hit: string }> }).peers;
const hitOf = async (d: ServeProcess): Promise<string> => (await hipvpn('identity', '--state', d.state, '--hit')).stdout.trim();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

before(async () => {
  root = (await tempState('invite')).root;
  alice = await host('alice');
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await rm(root, { recursive: true, force: true });
});

test('one paste of an invite makes both sides peers; the invite cannot be used again', async () => {
  const bob = await host('bob');
  const created = await hipvpn('invite', '--state', alice.state, '--name', 'bob');
  assert.equal(created.code, 0, created.stderr);
  const text = created.stdout.trim();
  assert.match(text, /^hipvpn-invite:[A-Za-z0-9_-]+$/);
  assert.match(created.stderr, /one use, until .*hipvpn peer add --invite/);

  const added = await hipvpn('peer', 'add', 'alice', '--invite', text, '--state', bob.state);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added peer alice \(2001:\S+\) at 127\.0\.0\.1:\d+ from its invite/);
  const ping = await hipvpn('ping', 'alice', '--state', bob.state, '--count', '1', '--timeout', '5000');
  assert.equal(ping.code, 0, `${ping.stdout}${ping.stderr}\n${alice.lines.join('\n')}`);

  const bobHit = await hitOf(bob);
  assert.deepEqual((await alicePeers()).map((p) => [p.name, p.hit]), [['bob', bobHit]], 'alice lists bob under the invite\'s name');
  const saved = JSON.parse(await readFile(join(alice.state, 'peers.json'), 'utf8')) as { peers: Array<{ name: string }> };
  assert.deepEqual(saved.peers.map((p) => p.name), ['bob'], 'saved, so it outlives the daemon');
  await alice.line(/invite-redeemed peer=bob/);
  // alice, in turn, reaches bob by name.
  const back = await hipvpn('ping', 'bob', '--state', alice.state, '--count', '1', '--timeout', '5000');
  assert.equal(back.code, 0, back.stderr);

  // The same text from another host: it proves the secret, but the invite is spent.
  const carol = await host('carol');
  assert.equal((await hipvpn('peer', 'add', 'alice', '--invite', text, '--state', carol.state)).code, 0);
  const carolPing = await hipvpn('ping', 'alice', '--state', carol.state, '--count', '1', '--timeout', '3000');
  assert.notEqual(carolPing.code, 0, 'a second use of the invite gets no association');
  const status = await aliceControl((c) => c.call('invite.status', {}));
  assert.equal(status['invite-proof'], 1);
  assert.ok(status['invite-refused'] >= 1, `the second use is counted as refused: ${JSON.stringify(status)}`);
  assert.deepEqual((await alicePeers()).map((p) => p.name), ['bob'], 'carol is not admitted');
  assert.match((await hipvpn('status', '--state', alice.state, '--json')).stdout, /"hip-invite-refused": [1-9]/);
});

test('an expired invite is refused and counted', async () => {
  const dave = join(root, 'dave');
  // Expiry is in whole seconds, so a few seconds of it leave the CLI room to start under load.
  const inv = await aliceControl((c) => c.call('invite.create', { name: 'dave', expiresSeconds: 6 }));
  const pending = (await aliceControl((c) => c.call('invite.status', {}))).pending;
  // Pasted while it is valid, with dave's daemon not running: it connects only after the expiry.
  assert.equal((await hipvpn('peer', 'add', 'alice', '--invite', inv.text, '--state', dave)).code, 0, 'accepted before it expires');
  // Expired by alice's clock: her count of pending invites loses this one (no other expires now).
  const deadline = Date.now() + 15_000;
  while ((await aliceControl((c) => c.call('invite.status', {}))).pending >= pending) {
    assert.ok(Date.now() < deadline, `alice still counts the invite pending 15 s after it was made (expires at ${inv.expiresAt})`);
    await sleep(200);
  }
  // Dave's daemon knows the invite expired and sends no proof; alice refuses his I2 as anyone's
  // from a HIT she does not list. Either way it is counted as a refusal on alice's side.
  const refusals = async (): Promise<number> => {
    const invites = await aliceControl((c) => c.call('invite.status', {}));
    const policy = Number(/"hip-policy": (\d+)/.exec((await hipvpn('status', '--state', alice.state, '--json')).stdout)?.[1] ?? 0);
    return invites['invite-refused'] + policy;
  };
  const before = await refusals();
  daemons.push(await ServeProcess.start(dave));
  const ping = await hipvpn('ping', 'alice', '--state', dave, '--count', '1', '--timeout', '3000');
  assert.notEqual(ping.code, 0, 'no association after the expiry');
  const after = await refusals();
  assert.ok(after > before, `counted as refused: ${before} -> ${after}`);
  assert.equal((await alicePeers()).some((p) => p.name === 'dave'), false);
});

test('a host that knows only the HIT gets nowhere, even while an invite is pending', async () => {
  await aliceControl((c) => c.call('invite.create', { name: 'someone' }));
  const eve = await host('eve');
  const aliceHit = await hitOf(alice);
  const add = await hipvpn('peer', 'add', 'alice', '--hit', aliceHit, '--locator', `127.0.0.1:${alice.port()}`, '--state', eve.state);
  assert.equal(add.code, 0, add.stderr);
  const ping = await hipvpn('ping', 'alice', '--state', eve.state, '--count', '1', '--timeout', '3000');
  assert.notEqual(ping.code, 0, 'eve gets no association');
  const eveHit = await hitOf(eve);
  assert.equal((await alicePeers()).some((p) => p.hit === eveHit), false, 'eve is not on alice\'s list');
  const s = (await hipvpn('status', '--state', alice.state, '--json')).stdout;
  assert.match(s, /"hip-policy": [1-9]/, 'eve\'s base exchange was refused by policy');
  assert.equal((await aliceControl((c) => c.call('invite.status', {}))).pending >= 1, true, 'the pending invite is untouched');
});
