// Invites in the UI, in Chromium against two real daemons on loopback, each with its own
// `hipvpn web`: alice presses "Create invite" (text and QR code), bob pastes the text, and
// both list each other as peers without anything else typed.
//
//   npx tsc -p tsconfig.build.json && node --import tsx --test test/e2e/invite-ui.test.ts

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import qrcode from 'qrcode-generator';
import { ServeProcess, hipvpn } from '../support/serve-process.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

let dir: string;
let browser: Session;
const daemons: ServeProcess[] = [];
const webs: WebUi[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hipvpn-invite-ui-'));
  buildRenderer(join(dir, 'ui'));
  daemons.push(await ServeProcess.start(join(dir, 'alice')), await ServeProcess.start(join(dir, 'bob')));
  webs.push(await startWebUi(join(dir, 'alice'), join(dir, 'ui')), await startWebUi(join(dir, 'bob'), join(dir, 'ui')));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await Promise.all(webs.map((w) => w.stop()));
  await Promise.all(daemons.map((d) => d.stop()));
  await rm(dir, { recursive: true, force: true });
});

const peerNames = async (state: string): Promise<string[]> => (JSON.parse((await hipvpn('peer', 'list', '--state', state, '--json')).stdout) as { peers: Array<{ name: string }> }).peers.map((p) => p.name);

test('Create invite shows the text and its QR code; pasting it on the other host makes both peers', { timeout: 90_000 }, async () => {
  const alicePage = await browser.context.newPage();
  await alicePage.goto(webs[0]!.url);
  await openView(alicePage, 'peers');
  await alicePage.fill('input[name="invite-name"]', 'bob');
  await alicePage.click('button:has-text("Create invite")');
  const text = (await alicePage.locator('[data-testid="invite-text"]').inputValue({ timeout: 5_000 })).trim();
  assert.match(text, /^hipvpn-invite:[A-Za-z0-9_-]+$/);
  // The QR code drawn is the one of exactly this text.
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const drawn = await alicePage.locator('[data-testid="invite-qr"] path').getAttribute('d');
  const dark = (drawn ?? '').split('M').length - 1;
  let expected = 0;
  for (let r = 0; r < qr.getModuleCount(); r++) for (let c = 0; c < qr.getModuleCount(); c++) if (qr.isDark(r, c)) expected++;
  assert.equal(dark, expected, 'one square per dark module of the text\'s QR code');

  const bobPage = await browser.context.newPage();
  await bobPage.goto(webs[1]!.url);
  await openView(bobPage, 'peers');
  await bobPage.fill('textarea[name="invite-paste"]', text);
  await bobPage.click('button:has-text("Add from invite")');
  await eventually('bob lists the inviter', () => peerNames(join(dir, 'bob')), (names) => names.length === 1);
  await eventually('alice lists bob after one paste', () => peerNames(join(dir, 'alice')), (names) => names.includes('bob'), 15_000);
  await eventually('alice\'s Peers view shows bob', async () => alicePage.locator('tr[data-peer="bob"]').count(), (n) => n === 1);

  // A damaged paste is refused with a sentence, not a crash.
  await bobPage.fill('textarea[name="invite-paste"]', text.slice(0, 30));
  await bobPage.click('button:has-text("Add from invite")');
  await eventually('the damaged paste is explained', async () => (await bobPage.locator('.form-error').last().textContent()) ?? '', (t) => /not a usable invite/.test(t));
});
