// What a UI bridge (`hipvpn web`, the Electron main process) knows of the daemon's settings: the
// last copy the daemon sent (a response or a "settings" event), or, while no daemon runs, what
// settings.json says. Read-only: only the daemon writes the file.

import type { Settings } from '../../src-shared/control-api.js';
import { readSettingsFile } from './settings-store.js';

export class SettingsMirror {
  private constructor(private readonly stateDirRoot: string, private current: Settings, private readonly warn: (message: string) => void) {}

  static async open(stateDirRoot: string, warn: (message: string) => void = () => undefined): Promise<SettingsMirror> {
    return new SettingsMirror(stateDirRoot, await readSettingsFile(stateDirRoot, warn), warn);
  }

  get(): Settings {
    return structuredClone(this.current);
  }

  /** The daemon said so. */
  update(settings: Settings): void {
    this.current = structuredClone(settings);
  }

  /** No daemon to ask: the file, as it is now. */
  async reread(): Promise<Settings> {
    this.current = await readSettingsFile(this.stateDirRoot, this.warn);
    return this.get();
  }
}
