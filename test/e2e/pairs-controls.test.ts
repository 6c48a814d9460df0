// The Locator pairs view's controls and both directions of a path, in Debian's Chromium against
// `hipvpn web` bound to the REAL mobile daemon of the two-uplink lab (mobile with wifi0 + cell0,
// server), with the native fast path carrying ESP where it is built:
// - "Use this pair" leaves the row under the pointer where it was (rows keep their order);
// - a double-click on "Fail over now" sends one request and makes one handover (the daemon's
//   handover log), and the button shows it is busy meanwhile;
// - after a one-way failure (the mobile's packets on wifi0 lost, the server's still delivered)
//   the mobile sends on cell0 and receives on wifi0, and `hipvpn status`, the Pairs view and the
//   Overview all say so, with the inbound pair heard recently while traffic flows.
// Screenshots go to test/artifacts/ui-pairs-*.png. Needs root (namespace lab).
//
//   node --import tsx --test test/e2e/pairs-controls.test.ts

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { REPO_ROOT, sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { stateDir } from '../../src-main/daemon/state-dir.js';
import type { HandoverRecord } from '../../src-shared/control-api.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

const ARTIFACTS = `${REPO_ROOT}test/artifacts`;

describe('pair controls and both directions in the desktop UI against the real mobile daemon', { timeout: 120_000 }, () => {
  let mobility: MobilityLab;
  let tunnel: MobilityTunnel;
  let uiDir: string;
  let web: WebUi;
  let browser: Session;
  let page: Page;
  const pageErrors: string[] = [];
  /** Control requests the page sent over its WebSocket, by method. */
  const sent: string[] = [];

  const section = 'section[data-peer="server"]';
  const rowOf = (local: string): ReturnType<Page['locator']> => page.locator(`${section} tbody tr[data-pair^="${local}:"]`);

  async function handovers(): Promise<HandoverRecord[]> {
    const client = await connectControl(stateDir(tunnel.mobileVpn.stateDir).socket, tunnel.mobileVpn.stateDir);
    try {
      return (await client.call('handover.list', {})).handovers.filter((h) => h.peer === 'server');
    } finally {
      client.close();
    }
  }

  async function primaryLocal(): Promise<string | undefined> {
    return (await tunnel.mobileVpn.peer('server'))?.pairs?.find((p) => p.primary)?.local.address;
  }

  before(async () => {
    uiDir = await mkdtemp(join(tmpdir(), 'hipvpn-e2e-pairs-'));
    buildRenderer(join(uiDir, 'ui'));
    mobility = await MobilityLab.create({ cell0: 'up' });
    tunnel = await startMobilityHipvpn(mobility);
    web = await startWebUi(tunnel.mobileVpn.stateDir, join(uiDir, 'ui'));
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('websocket', (ws) => ws.on('framesent', (f) => {
      const method = /"method":"([a-z.]+)"/.exec(String(f.payload))?.[1];
      if (method) sent.push(method);
    }));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(web.url);
    await openView(page, 'pairs');
    await eventually('both pairs working', () => page.locator(`${section} tbody tr`).allTextContents(), (r) => r.length === 2 && r.every((x) => x.includes('working')), 20_000);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await mobility?.teardown();
    if (uiDir) await rm(uiDir, { recursive: true, force: true });
  });

  test('"Use this pair": the row under the pointer stays where it was, and becomes the one in use', async (t) => {
    const cell = mobility.cell.address;
    assert.equal(await primaryLocal(), mobility.wifi.address, 'wifi0 carries the traffic at the start');
    const button = rowOf(cell).locator('button', { hasText: 'Use this pair' });
    const box = await button.boundingBox();
    assert.ok(box, 'the cell0 row shows "Use this pair"');
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    const rowBefore = await rowOf(cell).boundingBox();
    await page.mouse.click(x, y);
    await eventually('the daemon\'s primary pair', primaryLocal, (a) => a === cell, 5_000);
    await eventually('the page shows the cell0 pair in use', () => rowOf(cell).getAttribute('data-primary'), (v) => v === 'true', 5_000);
    const rowAfter = await rowOf(cell).boundingBox();
    t.diagnostic(`cell0 row y before ${rowBefore?.y}, after ${rowAfter?.y}`);
    assert.ok(rowBefore && rowAfter && Math.abs(rowBefore.y - rowAfter.y) < 0.5, `the row did not move: y ${rowBefore?.y} → ${rowAfter?.y}`);
    // What a second click at the same spot would hit: the same pair's row, not the old pair's.
    const under = await page.evaluate(([px, py]) => {
      type Node = { closest(s: string): { getAttribute(n: string): string | null } | null };
      const el = (globalThis as unknown as { document: { elementFromPoint(x: number, y: number): Node | null } }).document.elementFromPoint(px!, py!);
      return el?.closest('tr')?.getAttribute('data-pair') ?? null;
    }, [x, y]);
    assert.ok(under?.startsWith(`${cell}:`), `under the pointer after the click: ${under}, not the cell0 pair`);
    await page.screenshot({ path: `${ARTIFACTS}/ui-pairs-after-use.png`, fullPage: true });
    // Back to wifi0 for the next test.
    await rowOf(mobility.wifi.address).locator('button', { hasText: 'Use this pair' }).click();
    await eventually('the daemon\'s primary pair', primaryLocal, (a) => a === mobility.wifi.address, 5_000);
    await eventually('the page shows wifi0 in use', () => rowOf(mobility.wifi.address).getAttribute('data-primary'), (v) => v === 'true', 5_000);
  });

  test('a double-click on "Fail over now" makes exactly one handover, and the button shows it is busy', async (t) => {
    await sleep(1_600); // past the daemon's repeat window of the previous test's moves
    const before = (await handovers()).length;
    const requestsBefore = sent.filter((m) => m === 'failover').length;
    await page.evaluate(() => {
      const g = globalThis as unknown as { sawBusy: boolean; MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void }; document: { body: unknown; querySelector(s: string): unknown } };
      g.sawBusy = false;
      new g.MutationObserver(() => {
        if (g.document.querySelector('section[data-peer="server"] .card-head button[aria-busy="true"][disabled]')) g.sawBusy = true;
      }).observe(g.document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await page.dblclick(`${section} button:has-text("Fail over now")`);
    await eventually('the daemon\'s primary pair', primaryLocal, (a) => a === mobility.cell.address, 5_000);
    await sleep(2_000); // room for a second handover, if one were coming
    const made = (await handovers()).slice(before);
    t.diagnostic(`handovers: ${JSON.stringify(made.map((h) => [h.cause, h.from?.interface, h.to.interface]))}; failover requests: ${sent.filter((m) => m === 'failover').length - requestsBefore}`);
    assert.equal(made.length, 1, `one handover for a double-click: ${JSON.stringify(made.map((h) => [h.cause, h.to.interface]))}`);
    assert.equal(made[0]!.cause, 'user');
    assert.equal(made[0]!.to.interface, 'cell0');
    assert.equal(sent.filter((m) => m === 'failover').length - requestsBefore, 1, 'the page sent one failover request');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { sawBusy: boolean }).sawBusy), true, 'the button was disabled and busy while the request was in flight');
    await eventually('the button is back', () => page.locator(`${section} button:has-text("Fail over now")`).isEnabled(), (v) => v, 5_000);
    await rowOf(mobility.wifi.address).locator('button', { hasText: 'Use this pair' }).click();
    await eventually('the daemon\'s primary pair', primaryLocal, (a) => a === mobility.wifi.address, 5_000);
  });

  test('one-way failure: out via cell0, in via wifi0, in hipvpn status, on Pairs and on Overview', async (t) => {
    const wifi = mobility.wifi.address;
    const cell = mobility.cell.address;
    // Traffic through the tunnel all along: failure detection and the inbound pair need it.
    const pings = mobility.mobile.exec('ping', ['-q', '-n', '-c', '400', '-i', '0.05', '-W', '1', tunnel.serverAddress], { allowFailure: true, timeoutMs: 60_000 });
    try {
      // The mobile's packets on wifi0 are dropped at its router; the server's still arrive there.
      await mobility.wifi.peer.blockArrivals(true);
      const peer = await eventually(
        'the mobile sends on cell0 and hears the server on wifi0',
        async () => tunnel.mobileVpn.peer('server'),
        (p) => p?.pairs?.find((x) => x.primary)?.local.address === cell && p.inbound?.local.address === wifi,
        15_000,
      );
      t.diagnostic(`inbound ${JSON.stringify(peer?.inbound)}; pairs ${JSON.stringify(peer?.pairs?.map((p) => [p.local.address, p.primary, p.inbound, p.lastHeardMs]))}`);
      assert.deepEqual(peer!.pairs!.filter((p) => p.inbound).map((p) => p.local.address), [wifi], 'one pair flagged inbound: wifi0\'s');
      // Fresh while the server's packets keep coming, sampled a few times.
      for (let i = 0; i < 5; i++) {
        await sleep(400);
        const heard = (await tunnel.mobileVpn.peer('server'))?.pairs?.find((p) => p.inbound)?.lastHeardMs;
        assert.ok(heard !== undefined && heard < 1_000, `the inbound pair heard ${heard} ms ago, with pings every 50 ms`);
      }

      const text = (await tunnel.mobileVpn.cli(['status'])).stdout;
      t.diagnostic(text);
      assert.match(text, / server +\S+ +ESTABLISHED +direct, out via cellular \(cell0\) · in via Wi-Fi \(wifi0\)/, `the path in words:\n${text}`);
      assert.match(text, /server: fault-tolerance, 2 pairs \(\* out, < in\)/, `status text:\n${text}`);
      assert.match(text, new RegExp(`\\* +${cell.replace(/\./g, '\\.')}:\\d+ -> `), `cell0's pair marked out:\n${text}`);
      assert.match(text, new RegExp(` < +${wifi.replace(/\./g, '\\.')}:\\d+ -> `), `wifi0's pair marked in:\n${text}`);

      await eventually('the Pairs view names both directions', () => page.locator(`${section} [data-testid="peer-path"]`).textContent(), (s) => s === 'direct, out via cellular (cell0) · in via Wi-Fi (wifi0)', 5_000);
      assert.equal(await rowOf(wifi).getAttribute('data-inbound'), 'true');
      assert.equal(await rowOf(cell).getAttribute('data-primary'), 'true');
      await page.screenshot({ path: `${ARTIFACTS}/ui-pairs-one-way.png`, fullPage: true });
      await openView(page, 'overview');
      await eventually('the Overview names both directions', () => page.locator('[data-testid="peer-paths"] li[data-peer="server"]').textContent(), (s) => /^server: direct, out via cellular \(cell0\) · in via Wi-Fi \(wifi0\)( · RTT [\d.]+ ms)?$/.test(s ?? ''), 5_000);
      await page.screenshot({ path: `${ARTIFACTS}/ui-overview-one-way.png`, fullPage: true });
    } finally {
      await mobility.wifi.peer.blockArrivals(false);
      await pings;
    }
  });

  test('no page errors along the way', () => {
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
