// The desktop app's settings, in settings.json beside the identity (0600, replaced atomically).
// A file that is missing starts from the defaults; one that fails the schema is not trusted in
// part: its valid fields are kept, the rest fall back to defaults, and the caller is told.
//
// Held here, beside the bridge, until the engine consumes keepalive/failure-detection/
// multihoming itself; then the daemon owns the file and `settings.*` moves into it.

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, settings as settingsSchema, settingsPatch, type Settings, type SettingsPatch } from '../../src-shared/control-api.js';
import type { Checked } from '../../src-shared/validate.js';

export class SettingsStore {
  private constructor(private readonly path: string, private current: Settings) {}

  static async open(stateDirRoot: string, warn: (message: string) => void = () => undefined): Promise<SettingsStore> {
    const path = join(stateDirRoot, 'settings.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SettingsStore(path, { ...DEFAULT_SETTINGS });
      throw err;
    }
    return new SettingsStore(path, recover(text, warn));
  }

  get(): Settings {
    return structuredClone(this.current);
  }

  /** Checks, persists, then applies: an acknowledged change survives a crash right after. */
  async set(patch: unknown): Promise<Checked<Settings>> {
    const checked = settingsPatch.check(patch, 'params');
    if (!checked.ok) return checked;
    const next = settingsSchema.check({ ...this.current, ...checked.value });
    if (!next.ok) return next;
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(next.value, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
    this.current = next.value;
    return { ok: true, value: this.get() };
  }
}

function recover(text: string, warn: (message: string) => void): Settings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    warn('settings.json is not JSON; using the defaults');
    return { ...DEFAULT_SETTINGS };
  }
  const whole = settingsSchema.check(raw);
  if (whole.ok) return whole.value;
  const out: Settings = { ...DEFAULT_SETTINGS };
  if (typeof raw === 'object' && raw !== null) {
    for (const [key, value] of Object.entries(raw)) {
      const one = settingsPatch.check({ [key]: value });
      if (one.ok) Object.assign(out, one.value as SettingsPatch);
      else warn(`settings.json: ${one.error}; using the default`);
    }
  }
  return out;
}
