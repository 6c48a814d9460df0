// The Electron main process: one instance, the engine hosted in-process, the window, the tray,
// handover notifications, suspend/resume hooks and start-at-login. Everything it knows about the
// engine comes through the control API's handler map (ControlBridge), as the renderer's requests do.

import { app, dialog, ipcMain, Notification, powerMonitor, type BrowserWindow } from 'electron';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlEvent, ControlSession, DaemonStatus, HandoverRecord, Settings } from '../../src-shared/control-api.js';
import { serveValue } from '../../src-shared/control-dispatch.js';
import { ControlBridge } from '../web/control-bridge.js';
import { logLine } from '../daemon/event-log.js';
import { errorText } from '../base/errors.js';
import { autostartEntry, autostartPath } from './autostart.js';
import { HandoverNotifier } from './handover-notifier.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL, isTrustedSenderUrl } from './ipc-channels.js';
import { hostEngine, type HostedEngine } from '../web/engine-host.js';
import { recheckAfterResume } from './resume-check.js';
import { AppTray } from './tray.js';
import type { TrayAction } from './tray-model.js';
import { createWindow, registerAppScheme, serveRenderer } from './window.js';

const STATUS_POLL_MS = 2000;
/** The window gets every event (send); its `subscribe` changes nothing. */
const WINDOW_SUBSCRIBED: ControlSession = { subscribe: () => undefined };
const log = (line: string): void => void process.stdout.write(`${line}\n`);

let window: BrowserWindow | null = null;
let tray: AppTray | null = null;
let bridge: ControlBridge | null = null;
let engine: HostedEngine | null = null;
let quitting = false;
let status: DaemonStatus | null = null;
let settings: Settings | null = null;
const notifier = new HandoverNotifier();
let notifyTimer: NodeJS.Timeout | undefined;

function uiDir(): string {
  return fileURLToPath(new URL('../../renderer', import.meta.url));
}

function showWindow(view?: string): void {
  if (!window || window.isDestroyed()) {
    window = createWindow({
      onClose: (e) => {
        if (quitting) return;
        e.preventDefault();
        window?.hide();
      },
    });
    window.on('focus', () => notifier.focused());
  }
  if (view) void window.webContents.executeJavaScript(`location.hash = ${JSON.stringify(`#/${view}`)}`);
  window.show();
  window.focus();
}

function send(e: ControlEvent): void {
  if (window && !window.isDestroyed()) window.webContents.send(EVENT_CHANNEL, e);
}

function showNotification(text: { title: string; body: string } | null): void {
  if (!text || !Notification.isSupported()) return;
  new Notification({ title: text.title, body: text.body, silent: true }).show();
}

function onHandover(h: HandoverRecord): void {
  const focused = window !== null && !window.isDestroyed() && window.isFocused();
  showNotification(notifier.offer(h, { now: Date.now(), focused, enabled: settings?.notifications ?? true }));
  const due = notifier.dueAt();
  clearTimeout(notifyTimer);
  if (due !== null) notifyTimer = setTimeout(() => showNotification(notifier.flush(Date.now())), Math.max(0, due - Date.now()));
}

/** Start at login: the OS login item on macOS and Windows, an XDG autostart entry on Linux. */
async function applyStartAtLogin(enabled: boolean): Promise<void> {
  if (process.platform !== 'linux') {
    app.setLoginItemSettings({ openAtLogin: enabled, args: ['--hidden'] });
    return;
  }
  const path = autostartPath(process.env);
  if (!enabled) {
    await rm(path, { force: true });
    return;
  }
  // An AppImage moves with its file; APPIMAGE names it, process.execPath the mount point.
  const exe = process.env.APPIMAGE ?? process.execPath;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, autostartEntry([exe, '--hidden']), { mode: 0o644 });
}

function applySettings(next: Settings): void {
  const loginChanged = settings?.startAtLogin !== next.startAtLogin;
  settings = next;
  if (loginChanged) void applyStartAtLogin(next.startAtLogin).catch((err: unknown) => log(logLine('autostart-failed', { error: errorText(err) })));
}

async function refreshStatus(): Promise<void> {
  if (!bridge) return;
  const r = await bridge.call('status', {});
  status = r.ok ? r.result : null;
  tray?.update(status, bridge.daemonRunning);
}

async function trayAction(a: TrayAction): Promise<void> {
  if (!bridge) return;
  switch (a.kind) {
    case 'open': return showWindow(a.view);
    case 'quit':
      quitting = true;
      app.quit();
      return;
    case 'toggle': {
      const r = await bridge.call('tunnel.set', { up: a.up });
      if (!r.ok) showNotification({ title: 'hipvpn', body: r.error.message });
      break;
    }
    case 'failover': {
      const r = await bridge.call('failover', a.peer === undefined ? {} : { peer: a.peer });
      if (!r.ok) showNotification({ title: 'hipvpn: fail over', body: r.error.message });
      break;
    }
  }
  await refreshStatus();
}

async function start(): Promise<void> {
  const stateDir = process.env.HIPVPN_STATE ?? join(app.getPath('userData'), 'state');
  engine = await hostEngine({ stateDir, tun: process.env.HIPVPN_TUN ?? 'hip0', log });
  // The engine hosted here is called in-process, no socket between; another process's over its socket.
  bridge = await ControlBridge.start({
    stateDir, log: (m) => log(logLine('app', { message: m })), ...(engine.daemon ? { daemon: engine.daemon } : {}),
  });
  applySettings(bridge.settings.get());

  // The trust boundary between the page and this process: each request is checked here, once.
  ipcMain.handle(REQUEST_CHANNEL, async (event, value: unknown) => {
    if (!isTrustedSenderUrl(event.senderFrame?.url) || event.senderFrame !== event.sender.mainFrame) {
      return { id: 0, ok: false, error: { code: 'unauthorized', message: 'not the hipvpn window' } };
    }
    return serveValue(bridge!.handlers, value, WINDOW_SUBSCRIBED, (err) => log(logLine('control-error', { error: errorText(err) })));
  });
  bridge.onEvent((e) => {
    send(e);
    if (e.type === 'handover') onHandover(e.handover);
    if (e.type === 'settings') applySettings(e.settings);
    if (e.type !== 'notify') void refreshStatus();
  });

  serveRenderer(uiDir());
  tray = new AppTray((a) => void trayAction(a).catch((err: unknown) => log(logLine('tray-error', { error: errorText(err) }))));
  setInterval(() => void refreshStatus(), STATUS_POLL_MS).unref();
  await refreshStatus();

  const resumed = (why: string): void => {
    void recheckAfterResume((m, p) => bridge!.call(m, p)).then((r) => log(logLine('resume', {
      why, interfaces: r.interfacesRechecked, probed: r.probed.join(',') || null, failed: r.failed.map((f) => f.peer).join(',') || null,
    })));
  };
  powerMonitor.on('resume', () => resumed('resume'));
  powerMonitor.on('unlock-screen', () => resumed('unlock'));
  powerMonitor.on('suspend', () => log(logLine('suspend')));

  if (!process.argv.includes('--hidden')) showWindow();
  if (engine.warning) showNotification({ title: 'hipvpn: no tunnel device', body: engine.warning });
}

registerAppScheme();
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  // A VPN client lives in the tray: closing the last window does not quit.
  app.on('window-all-closed', () => undefined);
  app.on('before-quit', () => {
    quitting = true;
  });
  app.on('will-quit', (e) => {
    if (!engine?.daemon) return;
    // Close associations cleanly (peers see CLOSE) before the process goes.
    e.preventDefault();
    const daemon = engine.daemon;
    engine.daemon = null;
    bridge?.close();
    tray?.destroy();
    void daemon.stop('quit').finally(() => app.quit());
  });
  app.whenReady().then(start).catch((err: unknown) => {
    log(logLine('startup-failed', { error: errorText(err) }));
    dialog.showErrorBox('hipvpn could not start', errorText(err));
    app.exit(1);
  });
}
