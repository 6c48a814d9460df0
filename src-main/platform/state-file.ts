// The daemon's small JSON state files (peers.json, settings.json, flows.json, tunnel.json):
// written atomically and 0600 (private-file.ts); read back with "missing" and
// "unreadable" told apart, and an unreadable file moved aside rather than overwritten by the
// next save.

import { readFile, rename } from 'node:fs/promises';
import { writePrivateFile } from './private-file.js';
import { errorText } from '../base/errors.js';

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export type JsonRead = { kind: 'missing' } | { kind: 'json'; value: unknown } | { kind: 'unreadable'; reason: string; keptAt: string | null };

/** Reads a JSON file. One that is not JSON is renamed to PATH.unreadable-TIME so it is not lost. */
export async function readJsonFile(path: string): Promise<JsonRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unreadable', reason: errorText(err), keptAt: null };
  }
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    const keptAt = `${path}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const moved = await rename(path, keptAt).then(() => true, () => false);
    return { kind: 'unreadable', reason: 'not JSON', keptAt: moved ? keptAt : null };
  }
}

/**
 * Runs read-modify-write steps one at a time, so two requests arriving together cannot both
 * start from the same old state and have the second write silently drop the first's change.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step, step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
