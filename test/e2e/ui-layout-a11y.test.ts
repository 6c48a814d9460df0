// The UI at any window size, accessible, with charts and forms a person can trust (issue 14,
// items 3, 8 and 9), in Debian's Chromium against `hipvpn web` and the REAL daemons of the
// two-uplink lab in load-sharing mode (`--multihoming simultaneous`: an SA pair per uplink, flows bound to each). At 360, 420, 768
// and 1280 px every view fits the window, and so do the in-page dialogs and an invite with its
// QR code: no element's box (hidden overflow or not) leaves it; screenshots go to
// test/artifacts/layout-*.png. axe-core finds nothing serious or critical in light and dark
// mode, dialogs and invite included. Needs root (namespace lab).
//
//   node --import tsx --test test/e2e/ui-layout-a11y.test.ts
//   HIPVPN_E2E_UI=/path/to/built/renderer node --import tsx --test test/e2e/ui-layout-a11y.test.ts   (another build, e.g. main's)

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { HipvpnNode, REPO_ROOT } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';
import { eventually, launchChromium, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

const ARTIFACTS = `${REPO_ROOT}test/artifacts`;
const VIEWS = ['overview', 'peers', 'pairs', 'flows', 'interfaces', 'timeline', 'settings'] as const;
const WIDTHS = [360, 420, 768, 1280] as const;
/** On the server's link, held by nobody: peers listed there never answer. */
const DEAD = '10.9.0.99:10600';

/** Every element whose box leaves the window, as page-side code (this program has no DOM types). */
const OUTSIDE_WINDOW = `(() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const b = el.getBoundingClientRect();
    if (b.width === 0 && b.height === 0) continue;
    if (b.right > w + 0.5 || b.left < -0.5) out.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' ' + Math.round(b.left) + '..' + Math.round(b.right));
  }
  return { width: w, scrollWidth: document.documentElement.scrollWidth, outside: out };
})()`;

/**
 * Table cells shown as cards (a grid of label and value) whose content fell under the label: a
 * cell with more than one child puts the second in the label's column.
 */
const MISPLACED_IN_CARDS = `(() => {
  const out = [];
  for (const td of document.querySelectorAll('td[data-label]')) {
    if (getComputedStyle(td).display !== 'grid') continue;
    const left = td.getBoundingClientRect().left;
    for (const child of td.children) {
      if (child.getBoundingClientRect().left < left + 20) out.push((td.closest('tr')?.getAttribute('data-fid') ?? td.closest('tr')?.getAttribute('data-peer') ?? td.closest('tr')?.getAttribute('data-pair') ?? '?') + ' ' + td.getAttribute('data-label'));
    }
  }
  return out;
})()`;

const AXE = `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))`;

/** WCAG contrast of two rgb()/rgba() colours as getComputedStyle gives them. */
function contrast(fg: string, bg: string): number {
  const lum = (c: string): number => {
    const [r, g, b] = (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a! + 0.05) / (b! + 0.05);
}

describe('the UI at 360 to 1280 px, accessible, with readable charts, toasts and forms', { timeout: 240_000 }, () => {
  let mobility: MobilityLab;
  let tunnel: MobilityTunnel;
  let dir: string;
  let web: WebUi;
  let browser: Session;
  let page: Page;
  let serverHit: string;
  /** The keepalive the Settings form showed before a dialog test edited it. */
  let savedKeepalive = '';
  const pageErrors: string[] = [];
  const browserDialogs: string[] = [];

  /** A flow binding's row, found by its FID cell (markup any version of the page has). */
  const flowRow = (fid: string): ReturnType<Page['locator']> => page.locator('tbody tr', { has: page.locator('th', { hasText: new RegExp(`^${fid}$`) }) });
  const text = (selector: string) => async (): Promise<string> => (await page.locator(selector).first().textContent({ timeout: 2_000 }).catch(() => null)) ?? '';
  /** Opens a view by its address, as a link or a bookmark would, at any width (the menu may be closed). */
  const show = async (id: string): Promise<void> => {
    await page.evaluate(`location.hash = '#/${id}'`);
    await page.waitForSelector(`nav a[href="#/${id}"][aria-current="page"]`, { state: 'attached', timeout: 5_000 });
  };

  /** On Peers: "Create invite", until its text and QR code show. */
  const createInvite = async (): Promise<void> => {
    await page.click('button:has-text("Create invite")');
    await page.locator('[data-testid="invite-qr"]').waitFor({ timeout: 5_000 });
  };
  /** Each in-page dialog: how a person opens it, and Cancel (which changes nothing). */
  const DIALOGS = [
    {
      name: 'remove-peer',
      open: async (): Promise<void> => {
        await show('peers');
        await page.locator('tr[data-peer="server"] button:has-text("Remove")').click();
        await page.getByRole('dialog', { name: 'Remove peer server?' }).waitFor({ timeout: 3_000 });
      },
    },
    {
      name: 'remove-flow',
      open: async (): Promise<void> => {
        await show('flows');
        await flowRow('9').locator('button:has-text("Remove")').click();
        await page.getByRole('dialog', { name: 'Remove flow binding 9?' }).waitFor({ timeout: 3_000 });
      },
    },
    {
      name: 'unsaved-settings',
      open: async (): Promise<void> => {
        await show('settings');
        savedKeepalive = await page.locator('input[name="keepalive"]').inputValue();
        await page.locator('input[name="keepalive"]').fill('41');
        await page.evaluate('location.hash = "#/overview"');
        await page.getByRole('dialog', { name: 'Discard unsaved changes?' }).waitFor({ timeout: 3_000 });
      },
    },
  ].map((d) => ({
    ...d,
    cancel: async (): Promise<void> => {
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden', timeout: 3_000 });
      // The settings edit is kept on Cancel: put the saved value back, so no later view change asks.
      if (d.name === 'unsaved-settings') await page.locator('input[name="keepalive"]').fill(savedKeepalive);
    },
  }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hipvpn-layout-'));
    const uiDir = process.env.HIPVPN_E2E_UI ?? join(dir, 'ui');
    if (!process.env.HIPVPN_E2E_UI) buildRenderer(uiDir);
    mobility = await MobilityLab.create({ cell0: 'up' });
    tunnel = await startMobilityHipvpn(mobility, { multihoming: 'simultaneous' });
    // Two more peers, only identities at an address where nothing answers: one to edit while the
    // CLI removes it (its flow stays behind), one to remove from the page.
    const [ghost, phantom] = await Promise.all([new HipvpnNode(mobility.server, 10600, 'ghost').identity(), new HipvpnNode(mobility.server, 10601, 'phantom').identity()]);
    await tunnel.mobileVpn.addPeer('ghost', ghost.hit, [DEAD]);
    await tunnel.mobileVpn.addPeer('phantom', phantom.hit, [DEAD]);
    serverHit = (await tunnel.mobileVpn.peer('server'))!.hit;
    // A handover on the timeline.
    await tunnel.mobileVpn.cli(['failover', 'server']);
    web = await startWebUi(tunnel.mobileVpn.stateDir, uiDir);
    browser = await launchChromium();
    // axe-core is injected as a script: the page's CSP (script-src 'self') would refuse it.
    page = await (await browser.browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', bypassCSP: true })).newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => {
      browserDialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(web.url);
    // Flow bindings, added as a person does: the server's on each uplink (one held there), one for ghost.
    await show('flows');
    const flows = [['7', 'server', 'tcp', '443', '', 'prefer'], ['8', 'ghost', 'any', '', '', 'prefer'], ['9', 'server', 'udp', '5060', 'cell0', 'only'], ['10', 'server', 'udp', '4500', 'wifi0', 'prefer']] as const;
    for (const [fid, peer, protocol, ports, uplink, policy] of flows) {
      await page.getByLabel('Flow ID (FID)').fill(fid);
      await page.getByLabel('Peer', { exact: true }).selectOption(peer);
      await page.getByLabel('Protocol').selectOption(protocol);
      await page.getByLabel('Peer ports').fill(ports);
      await page.getByLabel('Interface', { exact: true }).selectOption(uplink);
      await page.getByLabel('Policy').selectOption(policy);
      await page.click('button:has-text("Save binding")');
      await flowRow(fid).waitFor({ timeout: 5_000 }).catch(async (err: unknown) => {
        throw new Error(`flow ${fid} not listed; the form says: ${(await page.locator('form .form-error, form .field-error').allTextContents()).join(' | ')}`, { cause: err });
      });
    }
    await eventually('flow 9 on its pair', async () => (await flowRow('9').locator('td[data-label="Pair"]').textContent()) ?? '', (t) => t.includes(mobility.cell.address), 10_000);
    await show('timeline');
    await page.locator('[data-testid="handover-timeline"] li').first().waitFor({ timeout: 10_000 });
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await mobility?.teardown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('at 360, 420, 768 and 1280 px no view, dialog or invite is wider than the window and no element\'s box leaves it', async () => {
    const problems: string[] = [];
    const measure = async (width: number, what: string, fullPage = true): Promise<void> => {
      await page.waitForTimeout(100);
      const m = await page.evaluate<{ width: number; scrollWidth: number; outside: string[] }>(OUTSIDE_WINDOW);
      if (m.scrollWidth > m.width) problems.push(`${width} px ${what}: the page is ${m.scrollWidth} px wide`);
      if (m.outside.length) problems.push(`${width} px ${what}: ${m.outside.length} boxes leave the window, e.g. ${m.outside.slice(0, 4).join('; ')}`);
      const misplaced = await page.evaluate<string[]>(MISPLACED_IN_CARDS);
      if (misplaced.length) problems.push(`${width} px ${what}: in the cards, under the label instead of beside it: ${misplaced.slice(0, 4).join('; ')}`);
      await page.screenshot({ path: `${ARTIFACTS}/layout-${width}-${what}.png`, fullPage });
    };
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      for (const id of VIEWS) {
        await show(id);
        if (id === 'peers') await createInvite();
        if (id === 'pairs') await page.locator('section[data-peer="server"] tbody tr').nth(1).waitFor({ timeout: 5_000 });
        await measure(width, id);
      }
      for (const dialog of DIALOGS) {
        await dialog.open();
        await measure(width, `dialog-${dialog.name}`, false);
        await dialog.cancel();
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  test('narrow: the navigation is behind a Menu button; a HIT is one line, shortened, whole on hover, with a copy button', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    await show('overview');
    const menu = page.getByRole('button', { name: 'Menu' });
    assert.equal(await menu.isVisible(), true, 'a Menu button');
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('nav a[href="#/peers"]').isVisible(), false, 'the view list is collapsed');
    // Overview is shorter than the window here: the bar must not take the spare height.
    const navHeight = await page.locator('nav').evaluate((n: { getBoundingClientRect(): { height: number } }) => n.getBoundingClientRect().height);
    assert.ok(navHeight < 64, `the collapsed navigation is one bar (${navHeight} px tall)`);
    await menu.click();
    await page.locator('nav a[href="#/peers"]').click();
    await page.waitForSelector('nav a[href="#/peers"][aria-current="page"]', { state: 'attached' });
    assert.equal(await page.locator('nav a[href="#/peers"]').isVisible(), false, 'choosing a view closes the menu');

    for (const width of [360, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      const hit = page.locator('tr[data-peer="server"] code.hit');
      assert.equal(await hit.getAttribute('title'), serverHit, `${width} px: the whole HIT on hover`);
      const shown = (await hit.textContent()) ?? '';
      assert.ok(shown.length < 20 && shown.includes('…') && serverHit.startsWith(shown.split('…')[0]!) && serverHit.endsWith(shown.split('…')[1]!), `${width} px: shortened to its first and last groups: ${shown}`);
      const box = await hit.boundingBox();
      assert.ok(box && box.height < 24, `${width} px: the HIT takes one line (${box?.height} px tall)`);
      assert.equal(await page.locator('tr[data-peer="server"] button[aria-label="Copy HIT"]').count(), 1, `${width} px: a copy button by it`);
    }
  });

  test('charts: axes with units, gridlines, a legend and a 2-minute window; in and out apart on 0; RTT from 0 ms', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await show('timeline');
    const [rate, rtt] = [page.locator('[data-peer="server"] [data-testid="chart"]').nth(0), page.locator('[data-peer="server"] [data-testid="chart"]').nth(1)];
    const ticks = (chart: typeof rate, axis: 'y' | 'x'): Promise<string[]> => chart.locator(`.${axis}-tick text`).allTextContents();
    const rateY = await ticks(rate, 'y');
    assert.ok(rateY.length >= 3 && rateY[0] === '0 bit/s' && rateY.every((t) => /bit\/s$/.test(t)), `throughput axis from 0 with units: ${JSON.stringify(rateY)}`);
    assert.equal(await rate.locator('.y-tick line').count(), rateY.length, 'a gridline per tick');
    const x = await ticks(rate, 'x');
    assert.equal(x[0], '−2 min');
    assert.equal(x.at(-1), 'now');
    assert.deepEqual(await rate.locator('.legend li').allTextContents(), ['in', 'out'], 'a legend');
    const style = (line: string): Promise<string> => rate.locator(`path[data-line="${line}"]`).evaluate((p: object) => {
      const s = (globalThis as unknown as { getComputedStyle(e: object): { stroke: string; strokeDasharray: string; strokeWidth: string } }).getComputedStyle(p);
      return `${s.strokeDasharray} ${s.strokeWidth}`;
    });
    assert.notEqual(await style('in'), await style('out'), 'in and out drawn differently (dash, width), so both show when both are 0');
    const rttY = await ticks(rtt, 'y');
    assert.equal(rttY[0], '0.0 ms', `the RTT axis starts at 0: ${JSON.stringify(rttY)}`);
    assert.ok(Number.parseFloat(rttY.at(-1)!) >= 20, `and does not stretch a few ms to the top: ${JSON.stringify(rttY)}`);
    const entry = page.locator('[data-testid="handover-timeline"] li').first();
    assert.match((await entry.textContent()) ?? '', /server.*you chose it.*→/);
  });

  test('a peer removed (here by the CLI) while its edit form is open: the form closes', async () => {
    await show('peers');
    await page.locator('tr[data-peer="ghost"] button:has-text("Edit")').click();
    assert.equal(await text('#peer-form-h')(), 'Edit ghost');
    await tunnel.mobileVpn.removePeer('ghost');
    await eventually('the form heading', text('#peer-form-h'), (t) => t === 'Add a peer', 5_000);
    assert.equal(await page.locator('input[name="name"]').inputValue(), '', 'the form is emptied');
  });

  test('the flow binding of a removed peer says "peer removed", not "fallback"', async () => {
    await show('flows');
    const flow = await eventually('ghost\'s flow', async () => (await flowRow('8').textContent()) ?? '', (t) => t.includes('ghost'), 5_000);
    assert.match(flow, /peer removed/);
    assert.doesNotMatch(flow, /fallback/);
  });

  test('removing a peer or a flow asks in the page (an accessible dialog), never with the browser\'s confirm()', async () => {
    await show('flows');
    await flowRow('7').locator('button:has-text("Remove")').click();
    const dialog = page.getByRole('dialog', { name: 'Remove flow binding 7?' });
    await dialog.waitFor({ timeout: 3_000 });
    assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((b: object) => (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement === b), true, 'focus is on Cancel, inside the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden', timeout: 3_000 });
    await page.waitForTimeout(1_200);
    assert.equal(await flowRow('7').count(), 1, 'Esc keeps the binding');
    await flowRow('7').locator('button:has-text("Remove")').click();
    await dialog.getByRole('button', { name: 'Remove binding' }).click();
    await eventually('flow 7', () => flowRow('7').count(), (n) => n === 0, 5_000);

    await show('peers');
    await page.locator('tr[data-peer="phantom"] button:has-text("Remove")').click();
    const peerDialog = page.getByRole('dialog', { name: 'Remove peer phantom?' });
    await peerDialog.waitFor({ timeout: 3_000 });
    await page.screenshot({ path: `${ARTIFACTS}/layout-remove-peer-dialog.png` });
    await peerDialog.getByRole('button', { name: 'Remove peer' }).click();
    await eventually('phantom\'s row', () => page.locator('tr[data-peer="phantom"]').count(), (n) => n === 0, 5_000);
    assert.equal((await tunnel.mobileVpn.status()).peers.some((p) => p.name === 'phantom'), false, 'the daemon removed it');
    assert.deepEqual(browserDialogs, [], 'no browser dialog');
  });

  test('unsaved Settings: leaving asks; Cancel keeps the edit, Discard leaves', async () => {
    await show('settings');
    const keepalive = page.locator('input[name="keepalive"]');
    const saved = await keepalive.inputValue();
    await keepalive.fill('42');
    await page.locator('nav a[href="#/overview"]').click({ force: true }).catch(() => page.evaluate('location.hash = "#/overview"'));
    const ask = page.getByRole('dialog', { name: 'Discard unsaved changes?' });
    await ask.waitFor({ timeout: 3_000 });
    assert.equal(await text('main h1')(), 'Settings', 'still on Settings while it asks');
    await ask.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await keepalive.inputValue(), '42', 'Cancel keeps the edit');
    await page.evaluate('location.hash = "#/overview"');
    await ask.getByRole('button', { name: 'Discard and leave' }).click();
    await eventually('the view', text('main h1'), (t) => t === 'Overview', 3_000);
    await show('settings');
    assert.equal(await keepalive.inputValue(), saved, 'the edit was dropped, as chosen');
  });

  test('the tab title says the state; dark mode\'s primary button reads at 4.5:1 or better', async () => {
    await show('overview');
    await eventually('the tab title', () => page.title(), (t) => /^hipvpn · (Connected|Degraded)$/.test(t), 5_000);
    await page.emulateMedia({ colorScheme: 'dark' });
    await show('settings');
    const [fg, bg] = await page.locator('button.primary').first().evaluate((b: object) => {
      const s = (globalThis as unknown as { getComputedStyle(e: object): { color: string; backgroundColor: string } }).getComputedStyle(b);
      return [s.color, s.backgroundColor];
    });
    const ratio = contrast(fg, bg);
    assert.ok(ratio >= 4.5, `primary button ${fg} on ${bg}: ${ratio.toFixed(2)}:1`);
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('axe-core: no serious or critical violations on any view, dialog or invite, light (wide and narrow) and dark', async () => {
    await page.addScriptTag({ path: `${REPO_ROOT}node_modules/axe-core/axe.min.js` });
    const found: string[] = [];
    const check = async (what: string): Promise<void> => {
      await page.waitForTimeout(100);
      for (const v of await page.evaluate<string[]>(AXE)) found.push(`${what}: ${v}`);
    };
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      // Dark mode changes colours, not layout: the narrow window is enough for it.
      for (const width of scheme === 'light' ? [1280, 360] : [360]) {
        await page.setViewportSize({ width, height: 800 });
        for (const id of VIEWS) {
          await show(id);
          if (id === 'peers') await createInvite();
          await check(`${scheme} ${width} px ${id}`);
        }
      }
      for (const dialog of DIALOGS) {
        await dialog.open();
        await check(`${scheme} 360 px dialog ${dialog.name}`);
        await dialog.cancel();
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(found, [], found.join('\n'));
  });

  test('no page errors along the way', () => {
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
