// Debian's Chromium driven by playwright-core, headless, with the flags this machine's closed
// network needs (no background connections that would be refused or looked up at every start).

import { chromium, type Browser, type BrowserContext } from 'playwright-core';

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
