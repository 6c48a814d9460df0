// Debian's Chromium driven by playwright-core, headless, with the flags this machine's closed
// network needs (no background connections that would be refused or looked up at every start).

import assert from 'node:assert/strict';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.HIPVPN_CHROMIUM ?? '/usr/bin/chromium';

export interface Session { browser: Browser; context: BrowserContext; close(): Promise<void> }

/** Playwright gives the browser a fresh, empty profile of its own each launch. */
export async function launchChromium(): Promise<Session> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, colorScheme: 'light' });
  return {
    browser,
    context,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

/** Opens one of the UI's views by its nav link and waits until the page says it is current. */
export async function openView(page: Page, id: string): Promise<void> {
  await page.click(`nav a[href="#/${id}"]`);
  await page.waitForSelector(`nav a[href="#/${id}"][aria-current="page"]`, { timeout: 5_000 });
}

/** Polls `read` until `ok` holds (the UI refreshes each second); returns the last value. */
export async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (performance.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}
