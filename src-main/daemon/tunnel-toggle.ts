// The connect/disconnect switch (`tunnel.set`, the tray click): off closes every association and
// keeps new ones from forming — no connects on demand, none at start, no base exchange accepted —
// until it is turned on again, across daemon restarts (tunnel.json in the state dir).
//
// The engine is switched off through what it already has: an empty peer list means no peer to
// connect to (on demand or otherwise) and none admitted; the daemon keeps its own list, so "on"
// gives the engine every configured peer back and the peers with locators are connected at once.
// With --accept-any the engine admits strangers whatever its list says, so an association that
// comes up while off is closed as soon as it is reported (closeWhileDown).

import { join } from 'node:path';
import { boolean, integer, object } from '../../src-shared/validate.js';
import { SerialQueue, readJsonFile, writeJsonAtomic } from '../platform/state-file.js';

const TUNNEL_FILE_VERSION = 1;
const tunnelFile = object({ version: integer({ min: 1, max: TUNNEL_FILE_VERSION }), up: boolean });

export interface TunnelTarget {
  /** Gives the engine the peers `peersForEngine` allows now. */
  applyPeers(): void;
  /** Closes every association (the peers see CLOSE). */
  closeAll(): void;
}

export class TunnelToggle {
  private readonly writes = new SerialQueue();

  private constructor(private readonly path: string, private isUp: boolean) {}

  static async open(stateDirRoot: string, warn: (message: string) => void = () => undefined): Promise<TunnelToggle> {
    const path = join(stateDirRoot, 'tunnel.json');
    const read = await readJsonFile(path);
    if (read.kind === 'missing') return new TunnelToggle(path, true);
    if (read.kind === 'unreadable') {
      warn(`${path}: ${read.reason}${read.keptAt ? `; kept as ${read.keptAt}` : ''}; the tunnel starts on`);
      return new TunnelToggle(path, true);
    }
    const checked = tunnelFile.check(read.value);
    if (!checked.ok) {
      warn(`${path}: ${checked.error}; the tunnel starts on`);
      return new TunnelToggle(path, true);
    }
    return new TunnelToggle(path, checked.value.up);
  }

  get up(): boolean {
    return this.isUp;
  }

  /** The peers the engine may know: all of them while on, none while off. */
  peersForEngine<T>(peers: readonly T[]): T[] {
    return this.isUp ? [...peers] : [];
  }

  /** Whether an association that just came up must be closed again. */
  get closeWhileDown(): boolean {
    return !this.isUp;
  }

  /**
   * Persists, then switches. Off: the engine loses its peers first (so closing cannot trigger a
   * reconnect), then every association closes. On: the engine gets its peers back and connects.
   */
  set(up: boolean, target: TunnelTarget): Promise<{ up: boolean; changed: boolean }> {
    return this.writes.run(async () => {
      if (up === this.isUp) return { up, changed: false };
      await writeJsonAtomic(this.path, { version: TUNNEL_FILE_VERSION, up });
      this.isUp = up;
      target.applyPeers();
      if (!up) target.closeAll();
      return { up, changed: true };
    });
  }
}
