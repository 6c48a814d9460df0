// The path to each peer in words, in Chromium against real daemons on loopback: two daemons
// that know each other's address say "direct via …" on the Overview and the Peers page, and the
// Pairs page says how the peer's address was found ("Reached at"). Two daemons that know each
// other by HIT alone meet through `hipvpn relay serve` (named "home" in alice's settings); on one
// machine each one's host address works too, so the relayed pair upgrades at once, and the
// Timeline and the daemon's log record that move off the relay: "relayed through home → direct
// via 127.0.0.1".
//
//   npx tsc -p tsconfig.build.json && node --import tsx --test test/e2e/path-words-ui.test.ts

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ServeProcess, hipvpn } from '../support/serve-process.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

let dir: string;
let browser: Session;
const daemons: ServeProcess[] = [];
const webs: WebUi[] = [];

const hitOf = async (state: string): Promise<string> => (await hipvpn('identity', '--state', state, '--hit')).stdout.trim();

async function addPeer(state: string, name: string, hit: string, ...rest: string[]): Promise<void> {
  const r = await hipvpn('peer', 'add', name, '--hit', hit, ...rest, '--state', state);
  assert.equal(r.code, 0, r.stderr);
}

async function ping(state: string, peer: string): Promise<void> {
  const r = await hipvpn('ping', peer, '--state', state, '--timeout', '5000');
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hipvpn-path-words-'));
  buildRenderer(join(dir, 'ui'));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await Promise.all(webs.map((w) => w.stop()));
  await Promise.all(daemons.map((d) => d.stop()));
  await rm(dir, { recursive: true, force: true });
});

test('two daemons that know each other\'s address: "direct via 127.0.0.1" on Overview and Peers, "its own address" on Pairs', { timeout: 90_000 }, async () => {
  const [aliceState, bobState] = [join(dir, 'alice'), join(dir, 'bob')];
  const [aliceHit, bobHit] = await Promise.all([hitOf(aliceState), hitOf(bobState)]);
  const alice = await ServeProcess.start(aliceState);
  const bob = await ServeProcess.start(bobState);
  daemons.push(alice, bob);
  await addPeer(aliceState, 'bob', bobHit, '--locator', `127.0.0.1:${bob.port()}`);
  await addPeer(bobState, 'alice', aliceHit, '--locator', `127.0.0.1:${alice.port()}`);
  await ping(aliceState, 'bob');
  const web = await startWebUi(aliceState, join(dir, 'ui'));
  webs.push(web);

  const page = await browser.context.newPage();
  await page.goto(web.url);
  const overview = await eventually('the Overview says how bob is reached, with the round-trip time once measured',
    async () => (await page.locator('[data-testid="peer-paths"] li[data-peer="bob"]').textContent().catch(() => null)) ?? '',
    (t) => /^bob: direct via 127\.0\.0\.1 · RTT [\d.]+ ms$/.test(t), 15_000);
  console.log(`Overview: ${overview}`);

  await openView(page, 'peers');
  const words = await eventually('the Peers row says the path in words beside the pair',
    async () => (await page.locator('tr[data-peer="bob"]').textContent().catch(() => null)) ?? '', (t) => t.includes('direct via 127.0.0.1'));
  assert.match(words, new RegExp(`direct via 127\\.0\\.0\\.1 ?127\\.0\\.0\\.1:${alice.port()} ⇄ 127\\.0\\.0\\.1:${bob.port()}`), words);

  await openView(page, 'pairs');
  const cell = page.locator('section[data-peer="bob"] tr[data-primary="true"] [data-testid="pair-candidate"]');
  await eventually('the pair in use was reached at bob\'s own address', async () => (await cell.textContent().catch(() => null)) ?? '', (t) => t === 'its own address');
  assert.equal(await cell.getAttribute('data-candidate'), 'host');
  // A daemon on a fixed address names no interface: the uplink is that address, with no "(other)".
  assert.equal(await page.locator('section[data-peer="bob"] tr[data-primary="true"] td[data-label="Uplink"]').textContent(), '127.0.0.1');
  assert.match(await page.locator('section[data-peer="bob"] [data-testid="peer-path"]').textContent() ?? '', /^direct via 127\.0\.0\.1$/);

  const text = await hipvpn('status', '--state', aliceState);
  assert.match(text.stdout, new RegExp(`bob +${bobHit} +ESTABLISHED +direct via 127\\.0\\.0\\.1, rtt [\\d.]+ms +127\\.0\\.0\\.1:${alice.port()} <-> 127\\.0\\.0\\.1:${bob.port()} `), text.stdout);
});

test('two daemons that meet through a relay: the Timeline and the log record the move from "relayed through home" to "direct"', { timeout: 90_000 }, async () => {
  const [relayState, aliceState, bobState] = [join(dir, 'relay'), join(dir, 'alice2'), join(dir, 'bob2')];
  const [relayHit, aliceHit, bobHit] = await Promise.all([hitOf(relayState), hitOf(aliceState), hitOf(bobState)]);
  await addPeer(relayState, 'alice', aliceHit);
  await addPeer(relayState, 'bob', bobHit);
  await addPeer(aliceState, 'bob', bobHit);
  await addPeer(bobState, 'alice', aliceHit);
  const relay = await ServeProcess.startRelay(relayState);
  daemons.push(relay);
  const relayAt = { hit: relayHit, address: '127.0.0.1', port: relay.port() };
  // Alice names the relay; bob gets it by --relay and calls it by its HIT.
  await writeFile(join(aliceState, 'settings.json'), JSON.stringify({ relays: [{ name: 'home', ...relayAt }] }), { mode: 0o600 });
  const alice = await ServeProcess.start(aliceState);
  const bob = await ServeProcess.start(bobState, ['127.0.0.1'], ['--relay', `${relayHit}@127.0.0.1:${relay.port()}`]);
  daemons.push(alice, bob);
  await alice.line(/ relay relay=home registered=true /);
  await bob.line(/ relay relay=\S+ registered=true /);
  const web = await startWebUi(aliceState, join(dir, 'ui'));
  webs.push(web);
  const page = await browser.context.newPage();
  await page.goto(web.url);

  const startedAt = performance.now();
  await ping(aliceState, 'bob');
  const line = await alice.line(/ handover peer=bob .* path="relayed through home -> direct via 127\.0\.0\.1"$/, 5_000);
  console.log(`alice's log, ${Math.round(performance.now() - startedAt)} ms after the ping started: ${line}`);
  assert.match(line, new RegExp(`from=127\\.0\\.0\\.1:${alice.port()}->127\\.0\\.0\\.1:${relay.port()} to=127\\.0\\.0\\.1:${alice.port()}->127\\.0\\.0\\.1:${bob.port()} `));

  await openView(page, 'timeline');
  const change = page.locator('[data-testid="handover-timeline"] li [data-testid="path-change"]');
  const entry = await eventually('the Timeline names the move off the relay', async () => (await change.allTextContents()).join(' | '),
    (t) => t.includes('relayed through home → direct via 127.0.0.1'));
  console.log(`Timeline: ${entry}`);
  await openView(page, 'overview');
  await eventually('the Overview says bob is direct', async () => (await page.locator('[data-testid="peer-paths"] li[data-peer="bob"]').textContent().catch(() => null)) ?? '',
    (t) => t.startsWith('bob: direct via 127.0.0.1'));
  await openView(page, 'pairs');
  const reached = await page.locator('section[data-peer="bob"] tr[data-primary="true"] [data-testid="pair-candidate"]').textContent();
  assert.equal(reached, 'its own address');
});
