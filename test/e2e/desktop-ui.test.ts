// The desktop UI in Debian's Chromium, against `hipvpn web` bound to REAL daemons in the lab
// (two namespaces, TUN, ESP): what a person sees and does, checked on the page and against the
// daemon's own status. Screenshots of every view go to test/artifacts/ui-*.png.
//
// Mobility steps (issue 4) slot in as further tests in this describe, using `view()` and the
// lab's links: cut wifi0 → the timeline shows a handover and the primary pair changes; "Fail
// over now" → the other uplink's packet counters grow.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from '../../lab/hipvpn.js';
import { tunnelPair, type TunnelPair } from '../../lab/scenarios.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

const ARTIFACTS = `${REPO_ROOT}test/artifacts`;
const VIEWS = ['overview', 'peers', 'pairs', 'flows', 'interfaces', 'timeline', 'settings'] as const;

describe('desktop UI in Chromium against hipvpn web and real daemons', { timeout: 110_000 }, () => {
  let pair: TunnelPair;
  let web: WebUi;
  let browser: Session;
  let page: Page;
  const pageErrors: string[] = [];

  const view = (id: (typeof VIEWS)[number]): Promise<void> => openView(page, id);


  const text = (selector: string) => async (): Promise<string> => (await page.locator(selector).first().textContent({ timeout: 5_000 }).catch(() => null)) ?? '';

  /** The peer row's cell as text, e.g. tx "12 pkts · 1.2 KiB". */
  async function peerCell(name: string, testId: string): Promise<string> {
    return (await page.locator(`tr[data-peer="${name}"] [data-testid="${testId}"]`).textContent({ timeout: 5_000 })) ?? '';
  }

  before(async () => {
    buildRenderer();
    pair = await tunnelPair();
    web = await startWebUi(pair.aliceVpn.stateDir);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(web.url);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await pair?.lab.teardown();
  });

  test('the peer appears and connects; the overview says Connected and shows this host', async () => {
    await view('peers');
    const row = page.locator('tr[data-peer="bob"]');
    await row.waitFor({ timeout: 10_000 });
    await eventually('bob\'s state', text('tr[data-peer="bob"] td[data-label="State"]'), (t) => t === 'connected');
    assert.equal(await row.locator('code.hit').getAttribute('title'), pair.bobId.hit, 'bob\'s HIT is in his row (whole on hover, shortened on screen)');
    await view('overview');
    await eventually('the tunnel state', text('[data-testid="tunnel-state"]'), (t) => t === 'Connected');
    assert.equal(await page.locator('[data-testid="own-hit"]').getAttribute('title'), pair.aliceId.hit, 'the overview shows alice\'s own HIT');
  });

  test('status numbers move when traffic crosses the tunnel', async () => {
    await view('peers');
    const packets = (text: string): number => Number(/^(\d+) pkts/.exec(text)?.[1] ?? NaN);
    const before = packets(await peerCell('bob', 'tx'));
    assert.ok(Number.isFinite(before), 'the tx cell shows a packet count');
    const bob = await pair.aliceVpn.peer('bob');
    assert.ok(bob?.lsi, 'alice has an LSI for bob');
    await pair.alice.exec('ping', ['-n', '-c', '5', '-i', '0.2', '-W', '2', bob.lsi], { timeoutMs: 20_000 });
    await eventually('bob\'s tx count', text('tr[data-peer="bob"] [data-testid="tx"]'), (t) => packets(t) >= before + 5, 5_000);
    const rx = packets(await peerCell('bob', 'rx'));
    assert.ok(rx >= 5, `the rx cell counts the echo replies (shows ${rx})`);
  });

  test('a malformed HIT is refused with a message and changes nothing', async () => {
    const peersBefore = (await pair.aliceVpn.status()).peers.map((p) => p.name);
    await view('peers');
    await page.fill('input[name="name"]', 'mallory');
    await page.fill('input[name="hit"]', '2001:db8::zz');
    await page.click('button[type="submit"]');
    const fieldError = page.locator('.field-error');
    await fieldError.waitFor({ timeout: 5_000 });
    assert.match(await fieldError.textContent() ?? '', /is not a HIT/, 'the HIT field says what is wrong');
    assert.equal(await page.getAttribute('input[name="hit"]', 'aria-invalid'), 'true', 'the field is marked invalid for assistive technology');
    await page.screenshot({ path: `${ARTIFACTS}/ui-peers-malformed-hit.png`, fullPage: true });

    // Well-formed but refused by the daemon: bob's HIT under another name.
    await page.fill('input[name="hit"]', pair.bobId.hit);
    await page.click('button[type="submit"]');
    const formError = page.locator('.form-error');
    await formError.waitFor({ timeout: 5_000 });
    assert.match(await formError.textContent() ?? '', /already peer bob/, 'the daemon\'s refusal is shown');

    const peersAfter = (await pair.aliceVpn.status()).peers.map((p) => p.name);
    assert.deepEqual(peersAfter, peersBefore, 'the daemon\'s peer list did not change');
    assert.equal(await page.locator('tr[data-peer="mallory"]').count(), 0, 'no row for the refused peer');
  });

  test('settings refuse a bad value and persist a good one', async () => {
    await view('settings');
    await page.fill('input[name="keepalive"]', '0');
    await page.click('button[type="submit"]');
    await page.locator('.field-error').waitFor({ timeout: 5_000 });
    assert.match(await page.locator('.field-error').textContent() ?? '', /1\.\.300/, 'the keepalive field names the range');
    await page.fill('input[name="keepalive"]', '25');
    await page.click('button[type="submit"]');
    await page.locator('.toast.ok', { hasText: 'Settings saved' }).waitFor({ timeout: 5_000 });
    await page.reload();
    await view('settings');
    await eventually('the saved keepalive after a reload', () => page.inputValue('input[name="keepalive"]', { timeout: 5_000 }), (v) => v === '25', 5_000);
  });

  test('keyboard only: Tab reaches the views, Enter opens one, focus lands on its heading', async () => {
    await view('overview');
    await page.locator('h1').focus();
    await page.keyboard.press('Shift+Tab');
    const focusedLink = async (): Promise<string> => (await page.locator('nav a:focus').textContent().catch(() => null)) ?? '';
    // From the heading backwards: the last nav link, then up the list to "Peers".
    for (let i = 0; i < 10 && (await focusedLink()) !== 'Peers'; i++) await page.keyboard.press('Shift+Tab');
    assert.equal(await focusedLink(), 'Peers', 'the Peers link is reachable by keyboard');
    await page.keyboard.press('Enter');
    await eventually('the focused heading', text('h1:focus'), (t) => t === 'Peers', 5_000);
    await page.keyboard.press('Tab');
    assert.ok(await page.locator('tr[data-peer="bob"] button:focus, main button:focus, main input:focus').count() === 1, 'Tab from the heading goes into the view');
  });

  test('every view renders without a page error; screenshots saved', async () => {
    for (const id of VIEWS) {
      await view(id);
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${ARTIFACTS}/ui-${id}.png`, fullPage: true });
    }
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
