// The tray icon and its menu, rebuilt from trayModel() whenever status changes (the pure part
// is in tray-model.ts; this file only turns it into Electron objects).

import { Menu, Tray, nativeImage, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import type { DaemonStatus } from '../../src-shared/control-api.js';
import { trayIconBitmap, trayModel, type TrayAction, type TrayIcon, type TrayMenuItem, type TrayModel } from './tray-model.js';

const ICON_SIZE = 32;

function iconImage(icon: TrayIcon): NativeImage {
  const img = nativeImage.createFromBitmap(Buffer.from(trayIconBitmap(icon, ICON_SIZE)), { width: ICON_SIZE, height: ICON_SIZE });
  // Trays draw at 16–22 px on most desktops; give them a crisp small one.
  return process.platform === 'darwin' ? img.resize({ width: 18, height: 18 }) : img;
}

function menuItems(items: TrayMenuItem[], act: (a: TrayAction) => void): MenuItemConstructorOptions[] {
  return items.map((item): MenuItemConstructorOptions => {
    if (item.type === 'separator') return { type: 'separator' };
    if (item.type === 'submenu') return { label: item.label, submenu: menuItems(item.items, act) };
    const action = item.action;
    return { label: item.label, enabled: item.enabled, ...(action ? { click: () => act(action) } : {}) };
  });
}

export class AppTray {
  private readonly tray: Tray;
  private model: TrayModel;
  private readonly icons = new Map<TrayIcon, NativeImage>();

  constructor(private readonly act: (a: TrayAction) => void) {
    this.model = trayModel(null, false);
    this.tray = new Tray(this.icon(this.model.icon));
    this.tray.on('click', () => this.act(this.model.click));
    this.apply(this.model);
  }

  update(status: DaemonStatus | null, daemonRunning: boolean): void {
    const next = trayModel(status, daemonRunning);
    if (JSON.stringify(next) === JSON.stringify(this.model)) return;
    this.apply(next);
  }

  destroy(): void {
    this.tray.destroy();
  }

  private icon(name: TrayIcon): NativeImage {
    let img = this.icons.get(name);
    if (!img) {
      img = iconImage(name);
      this.icons.set(name, img);
    }
    return img;
  }

  private apply(model: TrayModel): void {
    this.model = model;
    this.tray.setImage(this.icon(model.icon));
    this.tray.setToolTip(model.tooltip);
    this.tray.setContextMenu(Menu.buildFromTemplate(menuItems(model.menu, this.act)));
  }
}
