// Handover as a person sees it in the desktop UI: Debian's Chromium against `hipvpn web` bound to
// the REAL mobile daemon of the two-uplink lab (mobile with wifi0 + cell0, server). The peer
// connects and both uplinks' pairs show; wifi0 going down puts a handover on the timeline and
// makes the cell0 pair primary; "Fail over now" moves the tunnel's packets to the other uplink,
// checked by the kernel's packet counters on the lab links, not by what the page claims.
// Screenshots go to test/artifacts/ui-handover-*.png. Needs root (namespace lab).
//
//   node --import tsx --test test/e2e/desktop-handover.test.ts

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from '../../lab/hipvpn.js';
import type { LinkEnd } from '../../lab/link.js';
import { MobilityLab, startMobilityHipvpn, type MobilityTunnel } from '../../lab/scenarios.js';
import { eventually, launchChromium, openView, type Session } from './browser.js';
import { buildRenderer, startWebUi, type WebUi } from './ui-server.js';

const ARTIFACTS = `${REPO_ROOT}test/artifacts`;
/** Pings sent through the tunnel to see which uplink carries it. */
const PINGS = 40;

describe('handover in the desktop UI against the real mobile daemon', { timeout: 90_000 }, () => {
  let mobility: MobilityLab;
  let tunnel: MobilityTunnel;
  let uiDir: string;
  let web: WebUi;
  let browser: Session;
  let page: Page;
  const pageErrors: string[] = [];

  const pairRows = (): ReturnType<Page['locator']> => page.locator('section[data-peer="server"] tbody tr');
  const timelineItems = (): ReturnType<Page['locator']> => page.locator('[data-testid="handover-timeline"] li');

  const view = (id: 'peers' | 'pairs' | 'timeline'): Promise<void> => openView(page, id);


  /** What the page-side callbacks read of an element: this program has no DOM types to name it. */
  type PageNode = { children: ArrayLike<PageNode>; textContent: string | null };

  /** The pairs table as the page shows it: per row its cells joined by " | ", primary first. */
  async function shownPairs(): Promise<string[]> {
    return pairRows().evaluateAll((rows: PageNode[]) => rows.map((tr) => Array.from(tr.children, (td) => (td.textContent ?? '').replace(/\s+/g, ' ').trim()).join(' | ')));
  }

  /** The uplink named in the page's primary row ("wifi0", "cell0"), or null. */
  async function shownPrimary(): Promise<string | null> {
    const primary = await page.locator('section[data-peer="server"] tbody tr[data-primary="true"]').allTextContents();
    if (primary.length !== 1) return null;
    return /\((wifi0|cell0)\)/.exec(primary[0]!)?.[1] ?? null;
  }

  /** Newest timeline entry as text ('' when there is none). */
  async function newestHandover(): Promise<string> {
    if ((await timelineItems().count()) === 0) return '';
    return timelineItems().first().evaluate((li: PageNode) => Array.from(li.children, (part) => (part.textContent ?? '').replace(/\s+/g, ' ').trim()).join(' | '));
  }

  /** Packets each uplink sent while `PINGS` pings crossed the tunnel. */
  async function uplinkPacketsDuringPings(): Promise<{ wifi0: number; cell0: number; pingOutput: string }> {
    const links: Record<'wifi0' | 'cell0', LinkEnd> = { wifi0: mobility.wifi, cell0: mobility.cell };
    const before = { wifi0: await links.wifi0.counters(), cell0: await links.cell0.counters() };
    const pings = await mobility.mobile.exec('ping', ['-q', '-n', '-c', String(PINGS), '-i', '0.02', '-W', '1', tunnel.serverAddress], { allowFailure: true, timeoutMs: 15_000 });
    const after = { wifi0: await links.wifi0.counters(), cell0: await links.cell0.counters() };
    return {
      wifi0: after.wifi0.txPackets - before.wifi0.txPackets,
      cell0: after.cell0.txPackets - before.cell0.txPackets,
      pingOutput: pings.stdout,
    };
  }

  before(async () => {
    uiDir = await mkdtemp(join(tmpdir(), 'hipvpn-e2e-handover-'));
    // Its own renderer build: desktop-ui.test.ts may be rebuilding dist/renderer at the same time.
    buildRenderer(join(uiDir, 'ui'));
    mobility = await MobilityLab.create({ cell0: 'up' });
    tunnel = await startMobilityHipvpn(mobility);
    web = await startWebUi(tunnel.mobileVpn.stateDir, join(uiDir, 'ui'));
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(web.url);
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await mobility?.teardown();
    if (uiDir) await rm(uiDir, { recursive: true, force: true });
  });

  test('the server appears as a peer and connects', async () => {
    await view('peers');
    await page.locator('tr[data-peer="server"]').waitFor({ timeout: 10_000 });
    await eventually('the server\'s state', async () => (await page.locator('tr[data-peer="server"] td[data-label="State"]').textContent()) ?? '', (t) => t === 'connected');
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-peers.png`, fullPage: true });
  });

  test('both uplinks\' pairs show, tested, with wifi0 primary', async () => {
    await view('pairs');
    const wifi = mobility.wifi.address;
    const cell = mobility.cell.address;
    const rows = await eventually(
      'the server\'s locator pairs',
      shownPairs,
      (r) => r.length === 2 && r.every((row) => row.includes('| working') && /\| [\d.]+ ms \|/.test(row)),
      15_000,
    );
    const wifiRow = rows.find((r) => r.startsWith(`${wifi}:`));
    const cellRow = rows.find((r) => r.startsWith(`${cell}:`));
    assert.ok(wifiRow?.includes('Wi-Fi (wifi0)'), `a pair from wifi0's address ${wifi}, labelled Wi-Fi (wifi0): ${JSON.stringify(rows)}`);
    assert.ok(cellRow?.includes('cellular (cell0)'), `a pair from cell0's address ${cell}, labelled cellular (cell0): ${JSON.stringify(rows)}`);
    assert.equal(await shownPrimary(), 'wifi0', `Wi-Fi is the primary pair: ${JSON.stringify(rows)}`);
    const daemon = await tunnel.mobileVpn.peer('server');
    assert.equal(daemon?.pairs?.find((p) => p.primary)?.local.address, wifi, 'the daemon agrees wifi0 is primary');
    // One SA serves both pairs (fault tolerance): the page shows its SPIs on every row.
    const spis = daemon?.pairs?.map((p) => [p.spiIn, p.spiOut]) ?? [];
    assert.ok(spis.length === 2 && spis.every(([i, o]) => typeof i === 'number' && i > 255 && typeof o === 'number' && o > 255), `SPIs on every pair: ${JSON.stringify(spis)}`);
    for (const [i] of spis) {
      const hex = `0x${i!.toString(16).padStart(8, '0')}`;
      assert.ok(rows.every((r) => r.includes(hex)), `every row shows SPI ${hex}: ${JSON.stringify(rows)}`);
    }
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-pairs.png`, fullPage: true });
  });

  test('wifi0 going down: the timeline shows the handover and cell0 becomes primary', async (t) => {
    await view('timeline');
    const entriesBefore = await timelineItems().count();
    await mobility.takeDownWifi();
    await eventually('a new timeline entry', () => timelineItems().count(), (n) => n > entriesBefore, 10_000);
    const entry = await eventually('the newest handover', newestHandover, (t) => /\| wifi0 → cell0 \|/.test(t), 5_000);
    t.diagnostic(`timeline: ${entry}`);
    assert.match(entry, /\| server \|/, `the entry names the peer: ${entry}`);
    assert.match(entry, /uplink went down/, `wifi0 went down (link down), and the entry says so: ${entry}`);
    assert.match(entry, new RegExp(`${mobility.wifi.address.replace(/\./g, '\\.')}:\\d+ ⇄ \\S+ → ${mobility.cell.address.replace(/\./g, '\\.')}:\\d+ ⇄ `), `the entry shows the pairs: ${entry}`);
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-timeline.png`, fullPage: true });

    await view('pairs');
    await eventually('the primary pair in the page', shownPrimary, (p) => p === 'cell0', 5_000);
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-pairs-after-wifi-down.png`, fullPage: true });
    const moved = await uplinkPacketsDuringPings();
    t.diagnostic(`packets sent during ${PINGS} pings: wifi0 ${moved.wifi0}, cell0 ${moved.cell0}`);
    assert.match(moved.pingOutput, / 0% packet loss/, `pings through the tunnel on cell0:\n${moved.pingOutput}`);
    assert.ok(moved.cell0 >= PINGS, `the tunnel's packets leave by cell0 (${moved.cell0} packets for ${PINGS} pings)`);
  });

  test('wifi0 back: the timeline shows the move back and wifi0 is primary again', async (t) => {
    await view('timeline');
    const entriesBefore = await timelineItems().count();
    await mobility.wifi.restore();
    const entry = await eventually('the move back on the timeline', newestHandover, (e) => /\| cell0 → wifi0 \|/.test(e), 15_000);
    t.diagnostic(`timeline: ${entry}`);
    assert.equal(await timelineItems().count(), entriesBefore + 1, 'one handover for Wi-Fi coming back');
    assert.match(entry, /\| better path available \|/, `Wi-Fi is taken back because it is preferred: ${entry}`);
    await view('pairs');
    await eventually('the primary pair in the page', shownPrimary, (p) => p === 'wifi0', 5_000);
    await eventually('both pairs usable again', shownPairs, (r) => r.length === 2 && r.every((row) => row.includes('| working')), 10_000);
    const moved = await uplinkPacketsDuringPings();
    t.diagnostic(`packets sent during ${PINGS} pings: wifi0 ${moved.wifi0}, cell0 ${moved.cell0}`);
    assert.match(moved.pingOutput, / 0% packet loss/, `pings through the tunnel on wifi0:\n${moved.pingOutput}`);
    assert.ok(moved.wifi0 >= PINGS, `the tunnel's packets leave by wifi0 again (${moved.wifi0} packets for ${PINGS} pings)`);
  });

  test('"Fail over now" moves the traffic from wifi0 to cell0 (packet counters on the links)', async (t) => {
    await view('timeline');
    const entriesBefore = await timelineItems().count();
    await view('pairs');
    await page.click('section[data-peer="server"] button:has-text("Fail over now")');
    await eventually('the primary pair in the page', shownPrimary, (p) => p === 'cell0', 5_000);
    const daemon = await tunnel.mobileVpn.peer('server');
    assert.equal(daemon?.pairs?.find((p) => p.primary)?.local.address, mobility.cell.address, 'the daemon\'s primary pair is on cell0 too');
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-pairs-after-failover.png`, fullPage: true });

    await view('timeline');
    // The entries themselves, so a second, unexpected handover (the choice undone) shows its cause.
    const texts = async (): Promise<string[]> => (await timelineItems().allTextContents()).map((x) => x.replace(/\s+/g, ' ').trim());
    await eventually(`the failover on the timeline (${entriesBefore} entries before)`, texts, (all) => all.length === entriesBefore + 1, 5_000);
    const entry = await newestHandover();
    t.diagnostic(`timeline: ${entry}`);
    assert.match(entry, /\| server \| you chose it \| wifi0 → cell0 \|/, `the failover is recorded as the user's choice: ${entry}`);
    await page.screenshot({ path: `${ARTIFACTS}/ui-handover-timeline-failover.png`, fullPage: true });

    const moved = await uplinkPacketsDuringPings();
    t.diagnostic(`packets sent during ${PINGS} pings: wifi0 ${moved.wifi0}, cell0 ${moved.cell0}`);
    assert.match(moved.pingOutput, / 0% packet loss/, `pings through the tunnel after the failover:\n${moved.pingOutput}`);
    assert.ok(moved.cell0 >= PINGS, `the tunnel's packets leave by cell0 (${moved.cell0} packets for ${PINGS} pings)`);
    // wifi0 still carries the pair tests' probes, a few a second, never the pings.
    assert.ok(moved.wifi0 < PINGS / 2, `wifi0 no longer carries the tunnel (${moved.wifi0} packets during ${PINGS} pings)`);
  });

  test('no page errors along the way', () => {
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
