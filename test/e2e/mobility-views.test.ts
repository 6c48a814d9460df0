// The mobility views (locator pairs, flow bindings, interfaces, handover timeline) in Chromium,
// fed by a scripted engine through Playwright's WebSocket routing: the page is the shipped UI
// served by `hipvpn web`, only the socket's far end is a fixture. Until the engine reports
// mobility (issue 4) this is where those views are exercised; every request the page sends is
// checked against the schema, and the buttons must send exactly the request they promise.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page, WebSocketRoute } from 'playwright-core';
import {
  DEFAULT_SETTINGS, decodeRequestValue,
  type ControlRequest, type DaemonStatus, type HandoverRecord, type Settings,
} from '../../src-shared/control-api.js';
import { REPO_ROOT } from '../../lab/hipvpn.js';
import { launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

const ARTIFACTS = `${REPO_ROOT}test/artifacts`;
const WIFI = { address: '10.1.0.1', port: 10500 };
const CELL = { address: '10.2.0.1', port: 10500 };
const BOB = { address: '10.9.0.2', port: 10500 };
const BOB_HIT = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';

function handover(seq: number, from: 'wifi' | 'cell', gapMs: number | null): HandoverRecord {
  const wifi = { local: WIFI, remote: BOB, interface: 'wlan0', kind: 'wifi' as const };
  const cell = { local: CELL, remote: BOB, interface: 'wwan0', kind: 'cellular' as const };
  return { seq, at: Date.UTC(2026, 10, 25, 10, seq), peer: 'bob', hit: BOB_HIT, cause: from === 'wifi' ? 'interface-down' : 'better-path', from: from === 'wifi' ? wifi : cell, to: from === 'wifi' ? cell : wifi, gapMs };
}

/** A scripted engine: answers the schema, counts bytes up each status, records what the page asked. */
class FakeEngine {
  readonly requests: ControlRequest[] = [];
  readonly refused: string[] = [];
  settings: Settings = { ...DEFAULT_SETTINGS };
  private bytes = 0;
  private socket: WebSocketRoute | undefined;

  attach(ws: WebSocketRoute): void {
    this.socket = ws;
    ws.send(JSON.stringify({ event: { type: 'daemon', running: true } }));
    ws.onMessage((message) => {
      const decoded = decodeRequestValue(JSON.parse(String(message)));
      if (!decoded.ok) {
        this.refused.push(decoded.error.message);
        ws.send(JSON.stringify({ id: decoded.id ?? 0, ok: false, error: decoded.error }));
        return;
      }
      this.requests.push(decoded.request);
      ws.send(JSON.stringify({ id: decoded.request.id, ...this.answer(decoded.request) }));
    });
  }

  push(event: unknown): void {
    this.socket?.send(JSON.stringify({ event }));
  }

  sent(method: string): ControlRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  private answer(req: ControlRequest): { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } } {
    switch (req.method) {
      case 'status': return { ok: true, result: this.status() };
      case 'settings.get': return { ok: true, result: this.settings };
      case 'settings.set':
        this.settings = { ...this.settings, ...req.params };
        return { ok: true, result: this.settings };
      case 'handover.list': return { ok: true, result: { handovers: [handover(1, 'wifi', 140), handover(2, 'cell', 35)] } };
      case 'pair.use': return { ok: true, result: { handover: handover(3, 'wifi', null) } };
      case 'failover': return { ok: true, result: { handovers: [] } };
      case 'flow.set': return { ok: true, result: { flow: req.params, replaced: true } };
      default: return { ok: false, error: { code: 'not-supported', message: `${req.method} is not scripted` } };
    }
  }

  private status(): DaemonStatus {
    this.bytes += 250_000;
    return {
      version: 1, identity: { hit: '2001:22:6a27:bc4:956:ab04:ad12:a0c4', lsi: '1.5.211.105' }, listening: [WIFI, CELL], tun: 'hip0', acceptAny: false, uptimeMs: 60_000, tunnelUp: true,
      peers: [{
        name: 'bob', hit: BOB_HIT, lsi: '1.30.79.19', state: 'ESTABLISHED', configuredLocators: [BOB], local: WIFI, remote: BOB, lastHeardMs: 120, upMs: 59_000,
        counters: { espPacketsIn: 1000 + this.bytes / 1000, espPacketsOut: 900 + this.bytes / 1000, espBytesIn: this.bytes, espBytesOut: this.bytes / 4 },
        pairs: [
          { local: CELL, remote: BOB, interface: 'wwan0', kind: 'cellular', remoteState: 'ACTIVE', state: 'operational', primary: false, spiIn: 0x1a2b3c4d, spiOut: 0x5e6f7081, rttMs: 48, lastHeardMs: 900 },
          { local: WIFI, remote: BOB, interface: 'wlan0', kind: 'wifi', remoteState: 'ACTIVE', state: 'operational', primary: true, spiIn: 0x11223344, spiOut: 0x55667788, rttMs: 9 + (this.bytes / 250_000) % 5, lastHeardMs: 120 },
        ],
      }],
      interfaces: [
        { name: 'wlan0', kind: 'wifi', up: true, addresses: [{ address: '10.1.0.1', prefixLength: 24, state: 'ACTIVE' }], preference: 1 },
        { name: 'wwan0', kind: 'cellular', up: true, metered: true, addresses: [{ address: '10.2.0.1', prefixLength: 24, state: 'ACTIVE' }], preference: 2 },
        { name: 'eth0', kind: 'ethernet', up: false, addresses: [], preference: 0 },
      ],
      flows: [
        { binding: { fid: 7, peer: 'bob', selector: { protocol: 'udp', remotePorts: { from: 5060, to: 5061 } }, interface: 'wlan0' }, state: 'bound', enforced: true, packetsOut: 1200, bytesOut: 240000, packetsIn: 1100, bytesIn: 220000, local: WIFI, remote: BOB },
        { binding: { fid: 8, peer: 'bob', selector: { protocol: 'tcp' }, interface: 'eth0' }, state: 'fallback', reason: 'eth0 is down', enforced: false, packetsOut: 3, bytesOut: 180, packetsIn: 0, bytesIn: 0, local: WIFI, remote: BOB },
        // carol left the peer list; her binding is kept and flagged (a pair here would be stale).
        { binding: { fid: 9, peer: 'carol', selector: { protocol: 'tcp', localPorts: { from: 5004, to: 5004 } }, interface: null }, state: 'fallback', peerRemoved: true, enforced: false, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0, local: WIFI, remote: BOB },
      ],
      counters: { hipIn: 40, hipOut: 41, espIn: 1000, espOut: 900, dropped: {}, droppedTotal: 0 },
    };
  }
}

describe('mobility views against a scripted engine', { timeout: 60_000 }, () => {
  let dir: string;
  let web: WebUi;
  let browser: Session;
  let page: Page;
  const engine = new FakeEngine();
  const pageErrors: string[] = [];

  const view = (id: string): Promise<void> => openView(page, id);
  async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!(await ok())) {
      if (performance.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hipvpn-ui-'));
    buildRenderer(join(dir, 'ui'));
    web = await startWebUi(join(dir, 'state'), join(dir, 'ui'));
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.routeWebSocket(/\/control$/, (ws) => engine.attach(ws));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(web.url);
  });
  after(async () => {
    await browser?.close();
    await web?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('locator pairs: by uplink with SPIs and RTT; "use this pair" and "fail over now" send what they say', async () => {
    await view('pairs');
    const rows = page.locator('section[data-peer="bob"] tbody tr');
    await rows.first().waitFor({ timeout: 5_000 });
    assert.equal(await rows.count(), 2);
    const first = (await rows.nth(0).textContent()) ?? '';
    assert.match(first, /10\.1\.0\.1:10500.*Wi-Fi \(wlan0\).*working.*out.*0x11223344 \/ 0x55667788/, 'the wlan0 pair, in use, first (by uplink)');
    assert.equal(await rows.nth(0).locator('button', { hasText: 'Use this pair' }).count(), 0, 'no "use" on the pair in use');
    assert.match(await page.locator('section[data-peer="bob"] thead th', { hasText: 'SPI in / out' }).getAttribute('title') ?? '', /Security Parameter Index/, 'SPI explained on hover');
    await rows.nth(1).locator('button', { hasText: 'Use this pair' }).click();
    await until('pair.use sent', () => engine.sent('pair.use').length === 1);
    assert.deepEqual(engine.sent('pair.use')[0]!.params, { peer: 'bob', local: CELL, remote: BOB });
    await page.click('section[data-peer="bob"] button:has-text("Fail over now")');
    await until('failover sent', () => engine.sent('failover').length === 1);
    assert.deepEqual(engine.sent('failover')[0]!.params, { peer: 'bob' });
    await page.screenshot({ path: `${ARTIFACTS}/ui-mobility-pairs.png`, fullPage: true });
  });

  test('handover timeline lists causes and gaps, newest first, and grows on a handover event', async () => {
    await view('timeline');
    const items = page.locator('[data-testid="handover-timeline"] li');
    await items.first().waitFor({ timeout: 5_000 });
    assert.equal(await items.count(), 2);
    assert.match((await items.nth(1).textContent()) ?? '', /uplink went down.*wlan0 → wwan0.*gap 140 ms/);
    engine.push({ type: 'handover', handover: { ...handover(4, 'wifi', 212), cause: 'pair-failed' } });
    await until('the new handover appears', async () => (await items.count()) === 3);
    assert.match((await items.nth(0).textContent()) ?? '', /path stopped answering.*gap 212 ms/, 'newest first');
    await until('the throughput chart has points', async () => ((await page.locator('.chart path.line.in').first().getAttribute('d')) ?? '').includes('L'));
    await page.screenshot({ path: `${ARTIFACTS}/ui-mobility-timeline.png`, fullPage: true });
  });

  test('interfaces: listed in preference order; moving one up saves the new order', async () => {
    await view('interfaces');
    const names = async (): Promise<string[]> => (await page.locator('.uplinks > li strong').allTextContents()).map((t) => t.replace(/^\d+\. /, ''));
    await until('uplinks listed', async () => (await names()).length === 3);
    assert.deepEqual(await names(), ['eth0', 'wlan0', 'wwan0'], 'the engine\'s preference when the user set none');
    await page.click('button[aria-label="Prefer wwan0 more"]');
    await until('settings.set sent', () => engine.sent('settings.set').length === 1);
    assert.deepEqual(engine.sent('settings.set')[0]!.params, { interfaceOrder: ['eth0', 'wwan0', 'wlan0'] });
    await until('the list follows the saved order', async () => (await names()).join() === 'eth0,wwan0,wlan0');
    await page.screenshot({ path: `${ARTIFACTS}/ui-mobility-interfaces.png`, fullPage: true });
  });

  test('flow bindings: "move to interface" re-binds the flow; the form refuses a bad FID', async () => {
    await view('flows');
    const row = (fid: number) => page.locator(`tr[data-fid="${fid}"]`);
    await row(7).waitFor({ timeout: 5_000 });
    assert.match(await page.locator('thead th', { hasText: 'Flow ID' }).getAttribute('title') ?? '', /Flow identifier \(FID\)/, 'FID explained on hover');
    assert.match((await row(7).textContent()) ?? '', /bound steered.*out 1200 pkts \(234\.4 KiB\), in 1100 pkts \(214\.8 KiB\)/, 'a bound flow seen on its pair, with its counters');
    assert.match((await row(8).textContent()) ?? '', /fallbacketh0 is down.*out 3 pkts \(180 B\)/, 'a flow off its uplink says why');
    await page.selectOption('#move-7', 'wwan0');
    await until('flow.set sent', () => engine.sent('flow.set').length === 1);
    assert.deepEqual(engine.sent('flow.set')[0]!.params, { fid: 7, peer: 'bob', selector: { protocol: 'udp', remotePorts: { from: 5060, to: 5061 } }, interface: 'wwan0' });
    await page.fill('form input[inputmode="numeric"]', '70000');
    await page.click('form button[type="submit"]');
    await page.locator('.field-error').first().waitFor({ timeout: 5_000 });
    assert.equal(engine.sent('flow.set').length, 1, 'nothing sent for a bad form');
    await page.screenshot({ path: `${ARTIFACTS}/ui-mobility-flows.png`, fullPage: true });
  });

  test('a binding the status flags peerRemoved says "peer removed" and shows no pair; Edit keeps its own ports', async () => {
    await view('flows');
    const row = page.locator('tr[data-fid="9"]');
    await row.waitFor({ timeout: 5_000 });
    assert.equal((await row.locator('td[data-label="State"]').textContent())?.trim(), 'peer removed');
    assert.equal((await row.locator('td[data-label="Pair"]').textContent())?.trim(), '–');
    assert.equal((await page.locator('tr[data-fid="7"] td[data-label="State"]').textContent())?.trim(), 'bound steered', 'the flag is per binding');
    await row.locator('button:has-text("Edit")').click();
    assert.equal(await page.getByLabel('Our ports').inputValue(), '5004-5004');
    await page.getByLabel('Our ports').fill('5004-99999');
    await page.click('form button[type="submit"]');
    await until('the field says what is wrong', async () => ((await page.locator('.field-error').allTextContents()).join(' ')).includes('Ports are 1..65535'));
    assert.equal(engine.sent('flow.set').length, 1, 'nothing sent for a bad form');
  });

  test('the flow form\'s policy: "only" without an interface gets the form\'s message; with one it is sent; a metered uplink says so', async () => {
    await view('flows');
    const before = engine.sent('flow.set').length;
    await page.getByLabel('Flow ID (FID)').fill('15');
    await page.getByLabel('Peer', { exact: true }).selectOption('bob');
    await page.getByLabel('Peer ports').fill('');
    await page.getByLabel('Our ports').fill('');
    await page.getByLabel('Interface', { exact: true }).selectOption('');
    await page.getByLabel('Policy').selectOption('only');
    await page.click('form button[type="submit"]');
    await until('the policy field says what is wrong', async () => ((await page.locator('.field-error').allTextContents()).join(' ')).includes('Policy "only" keeps the flow on its interface: choose one.'));
    assert.equal(engine.sent('flow.set').length, before, 'nothing sent for a bad form');
    assert.match((await page.getByLabel('Interface', { exact: true }).textContent()) ?? '', /wwan0 \(cellular, metered\)/);
    await page.getByLabel('Interface', { exact: true }).selectOption('wlan0');
    await page.click('form button[type="submit"]');
    await until('flow.set sent', () => engine.sent('flow.set').length === before + 1);
    const sent = engine.sent('flow.set').at(-1)!.params as { fid: number; peer: string; interface: string | null; policy?: string };
    assert.deepEqual([sent.fid, sent.peer, sent.interface, sent.policy], [15, 'bob', 'wlan0', 'only']);
  });

  test('settings: a checkbox per uplink marks it metered', async () => {
    await view('settings');
    const box = page.locator('#metered-wwan0');
    await box.waitFor({ timeout: 5_000 });
    assert.equal(await box.isChecked(), false);
    const before = engine.sent('settings.set').length;
    // A click, not check(): the box shows the saved setting, so it turns checked only once the daemon answers.
    await box.click();
    await until('settings.set sent', () => engine.sent('settings.set').length === before + 1);
    assert.deepEqual(engine.sent('settings.set').at(-1)!.params, { meteredInterfaces: ['wwan0'] });
    await until('the box shows the saved setting', async () => box.isChecked());
  });

  test('overview names the active uplinks; every request the page sent matched the schema', async () => {
    await view('overview');
    await until('uplinks shown', async () => ((await page.locator('.facts').textContent()) ?? '').includes('wlan0 (wifi), wwan0 (cellular)'));
    await page.screenshot({ path: `${ARTIFACTS}/ui-mobility-overview.png`, fullPage: true });
    assert.deepEqual(engine.refused, [], 'no malformed request');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
