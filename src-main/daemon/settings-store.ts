// The user's settings, owned by the daemon so the Electron app, `hipvpn web` and the CLI all read
// and change one copy: settings.json in the state dir (0600, replaced atomically). A file that
// is missing starts from the defaults; one that fails the schema is not trusted in part: its
// valid fields are kept, the rest fall back to the defaults, and the caller is told which.
//
// A change is checked as a whole (a bad value refuses the whole patch, naming what is allowed),
// persisted, then applied; listeners (the daemon's event broadcast, the engine tuning) hear it
// after the file is written, so an acknowledged change survives a crash right after.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, settings as settingsSchema, settingsPatch, type Settings } from '../../src-shared/control-api.js';
import type { Checked } from '../../src-shared/validate.js';
import { errorText } from '../base/errors.js';
import { SerialQueue, readJsonFile, writeJsonAtomic } from '../platform/state-file.js';

export type SettingsListener = (next: Settings, previous: Settings) => void;

export function settingsPath(stateDirRoot: string): string {
  return join(stateDirRoot, 'settings.json');
}

export class SettingsStore {
  private readonly listeners = new Set<SettingsListener>();
  private readonly writes = new SerialQueue();

  private constructor(private readonly path: string, private current: Settings, private readonly onListenerError: (err: unknown) => void) {}

  static async open(stateDirRoot: string, warn: (message: string) => void = () => undefined): Promise<SettingsStore> {
    const path = settingsPath(stateDirRoot);
    const read = await readJsonFile(path);
    const onListenerError = (err: unknown) => warn(`a settings listener failed: ${errorText(err)}`);
    if (read.kind === 'missing') return new SettingsStore(path, { ...DEFAULT_SETTINGS }, onListenerError);
    if (read.kind === 'unreadable') {
      warn(`${path}: ${read.reason}${read.keptAt ? `; kept as ${read.keptAt}` : ''}; using the defaults`);
      return new SettingsStore(path, { ...DEFAULT_SETTINGS }, onListenerError);
    }
    return new SettingsStore(path, settingsFromJson(read.value, (m) => warn(`${path}: ${m}`)), onListenerError);
  }

  get(): Settings {
    return structuredClone(this.current);
  }

  /** Hears every applied change (not refused ones, not a patch that changed nothing). */
  subscribe(listener: SettingsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks, persists, then applies. `patch` is untrusted: anything may arrive here. */
  set(patch: unknown): Promise<Checked<{ settings: Settings; changed: boolean }>> {
    return this.writes.run(() => this.apply(patch));
  }

  private async apply(patch: unknown): Promise<Checked<{ settings: Settings; changed: boolean }>> {
    const checked = settingsPatch.check(patch, 'params');
    if (!checked.ok) return checked;
    const next = settingsSchema.check({ ...this.current, ...checked.value });
    if (!next.ok) return next;
    const previous = this.current;
    if (JSON.stringify(next.value) === JSON.stringify(previous)) return { ok: true, value: { settings: this.get(), changed: false } };
    await writeJsonAtomic(this.path, next.value);
    this.current = next.value;
    for (const l of this.listeners) {
      try {
        l(this.get(), structuredClone(previous));
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return { ok: true, value: { settings: this.get(), changed: true } };
  }
}

/** Settings from a parsed settings.json: all of it if valid, else its valid fields over the defaults. */
export function settingsFromJson(raw: unknown, warn: (message: string) => void): Settings {
  const whole = settingsSchema.check(raw);
  if (whole.ok) return whole.value;
  const out: Settings = { ...DEFAULT_SETTINGS };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    warn('not an object of settings; using the defaults');
    return out;
  }
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const one = settingsPatch.check({ [key]: value });
    if (one.ok) Object.assign(out, one.value);
    else warn(`${one.error}; using the default`);
  }
  return out;
}

/**
 * The settings as the file says now, for a reader that does not own the file (a UI bridge while
 * no daemon runs): never writes, never moves a bad file aside.
 */
export async function readSettingsFile(stateDirRoot: string, warn: (message: string) => void = () => undefined): Promise<Settings> {
  const path = settingsPath(stateDirRoot);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`cannot read ${path}: ${errorText(err)}; showing the defaults`);
    return { ...DEFAULT_SETTINGS };
  }
  try {
    return settingsFromJson(JSON.parse(text) as unknown, (m) => warn(`${path}: ${m}`));
  } catch {
    warn(`${path} is not JSON; showing the defaults`);
    return { ...DEFAULT_SETTINGS };
  }
}
