// Relays in the UI, in Chromium against a real daemon on loopback started with `--relay` (an
// address that answers nothing, so nothing registers): Overview lists the relay as not
// registered, a peer added on the Peers page by name and HIT alone shows "relayed through" the
// relay, and Settings adds a relay to the `relays` setting or says what is wrong with one.
//
//   npx tsc -p tsconfig.build.json && node --import tsx --test test/e2e/relay-ui.test.ts

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { shortHit } from '../../src-shared/hit-text.js';
import { ServeProcess, hipvpn } from '../support/serve-process.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

let dir: string;
let browser: Session;
let daemon: ServeProcess;
let web: WebUi;
let relayAddress: Socket;
let relayHit: string;

const hitOf = async (state: string): Promise<string> => (await hipvpn('identity', '--state', state, '--hit')).stdout.trim();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hipvpn-relay-ui-'));
  buildRenderer(join(dir, 'ui'));
  relayAddress = createSocket('udp4');
  await new Promise<void>((r) => relayAddress.bind(0, '127.0.0.1', r));
  relayHit = await hitOf(join(dir, 'relay'));
  daemon = await ServeProcess.start(join(dir, 'alice'), ['127.0.0.1'], ['--relay', `${relayHit}@127.0.0.1:${relayAddress.address().port}`]);
  web = await startWebUi(join(dir, 'alice'), join(dir, 'ui'));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await web?.stop();
  await daemon?.stop();
  relayAddress?.close();
  await rm(dir, { recursive: true, force: true });
});

test('Overview lists the relay; a peer added by HIT alone is relayed through it; Settings adds relays', { timeout: 90_000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(web.url);
  const relayRow = page.locator(`[data-testid="relays"] li[data-relay="${relayHit}"]`);
  await eventually('Overview lists the relay, not registered', async () => (await relayRow.textContent()) ?? '', (t) => /127\.0\.0\.1:\d+ not registered has not said where it sees this host/.test(t));

  const bobHit = await hitOf(join(dir, 'bob'));
  await openView(page, 'peers');
  await page.fill('input[name="name"]', 'bob');
  await page.fill('input[name="hit"]', bobHit);
  await page.click('button:has-text("Add peer")');
  const bobRow = page.locator('tr[data-peer="bob"]');
  await eventually('bob is relayed through the relay', async () => (await bobRow.count()) === 1 ? (await bobRow.textContent()) ?? '' : '', (t) => t.includes(`relayed through ${shortHit(relayHit)}`));

  await openView(page, 'settings');
  await eventually('Settings names the relay of --relay as used by this run', async () => (await page.locator('[data-testid="relays-this-run"]').textContent()) ?? '', (t) => t.includes(shortHit(relayHit)));
  await page.fill('input[name="relay"]', '127.0.0.1:10500');
  await page.click('button:has-text("Add relay")');
  await eventually('a relay without a HIT is explained', async () => (await page.locator('#relays-h ~ form .field-error').allTextContents()).join(' '), (t) => /no "@" between the relay's HIT and its address/.test(t));

  const homeHit = await hitOf(join(dir, 'home'));
  await page.fill('input[name="relay"]', `${homeHit}@[::1]:10600`);
  await page.fill('input[name="relay-name"]', 'home');
  await page.click('button:has-text("Add relay")');
  await eventually('Settings lists the new relay', async () => (await page.locator('[data-testid="settings-relays"] li[data-relay="home"]').textContent()) ?? '', (t) => t.includes('[::1]:10600'));
  const saved = JSON.parse(await readFile(join(dir, 'alice', 'settings.json'), 'utf8')) as { relays: unknown };
  assert.deepEqual(saved.relays, [{ name: 'home', hit: homeHit, address: '::1', port: 10600 }]);
});
