// The app window: the renderer served from app://hipvpn (a privileged standard scheme, not
// file://) with a strict CSP on every response, a sandboxed renderer without Node, and no way to
// navigate or open windows elsewhere. Closing hides to the tray; quitting is the tray's.

import { BrowserWindow, protocol, shell } from 'electron';
import { fileURLToPath } from 'node:url';
import { staticFile } from '../web/static-files.js';
import { APP_ORIGIN, APP_ENTRY } from './ipc-channels.js';

export const APP_SCHEME = 'app';

/** Electron's page needs no network: everything comes from app:// and IPC. */
export const ELECTRON_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'none'",
  "font-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'",
].join('; ');

/** Must run before app 'ready'. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

export function serveRenderer(uiDir: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== new URL(APP_ORIGIN).host) return new Response('not found', { status: 404 });
    const file = await staticFile(uiDir, url.pathname);
    const headers = { 'Content-Security-Policy': ELECTRON_CSP, 'X-Content-Type-Options': 'nosniff' };
    if (file.status !== 200) return new Response('not found', { status: file.status, headers });
    return new Response(new Uint8Array(file.body), { status: 200, headers: { ...headers, 'Content-Type': file.type } });
  });
}

export function preloadPath(): string {
  // Bundled by `npm run build:electron` next to the compiled main process.
  return fileURLToPath(new URL('../../electron/preload.cjs', import.meta.url));
}

export function createWindow(opts: { onClose: (e: Electron.Event) => void }): BrowserWindow {
  const win = new BrowserWindow({
    width: 1180,
    height: 780,
    minWidth: 720,
    minHeight: 480,
    show: false,
    title: 'hipvpn',
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath(),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    // Links out of the app (docs) open in the browser, never in an app window.
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) e.preventDefault();
  });
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());
  win.once('ready-to-show', () => win.show());
  win.on('close', opts.onClose);
  void win.loadURL(APP_ENTRY);
  return win;
}
