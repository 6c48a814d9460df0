// Sealed ESP datagrams whose send failed because our end of the pair went away (the interface
// went down, its route or address vanished). The monitor tells the control plane within
// milliseconds and the peer's traffic moves to the next pair; these few datagrams then follow it
// instead of being lost. Sans-IO: the runner feeds failures and path moves, and sends what comes
// back. Re-sending a sealed datagram on another pair is sound: the send failed locally, so the
// peer never saw its sequence number, and the peer's inbound SA does not depend on the pair.

import { fromAddr16 } from './addr16.js';

/** One end-to-end path as the data plane sends on it: our socket's address, the peer's endpoint. */
export interface SendPath {
  local: string;
  addr16: Uint8Array;
  port: number;
}

/** How long a datagram waits for its peer to move before it is given up (the move takes ~10–50 ms). */
export const STRANDED_HOLD_MS = 250;
/**
 * How long a move is remembered: the fast path's sender may still fail a few datagrams sealed
 * for the old pair after the move was made; those go straight to the new pair.
 */
const MOVE_MEMORY_MS = 1_000;
/** At most this many datagrams are held (a few hundred ms of a busy tunnel; older ones go first). */
const MAX_HELD = 512;

interface Held { datagram: Uint8Array; from: string; at: number }
interface Move { to: SendPath; at: number }

function pathKey(p: SendPath): string {
  return `${p.local}|${fromAddr16(p.addr16)}|${p.port}`;
}

export class StrandedDatagrams {
  private held: Held[] = [];
  private readonly moves = new Map<string, Move>();
  /** Datagrams given up: their peer did not move in time, or too many were held. */
  expired = 0;

  /**
   * A datagram that could not leave on `path`: where to send it now (its peer already moved),
   * or undefined when it is held until the peer moves.
   */
  strand(datagram: Uint8Array, path: SendPath, now: number): SendPath | undefined {
    this.expire(now);
    const move = this.moves.get(pathKey(path));
    if (move) return move.to;
    if (this.held.length >= MAX_HELD) {
      this.held.shift();
      this.expired++;
    }
    this.held.push({ datagram: datagram.slice(), from: pathKey(path), at: now });
    return undefined;
  }

  /** A peer's traffic moved off `from` onto `to`: the datagrams held for `from`, to send on `to`. */
  moved(from: SendPath, to: SendPath, now: number): Uint8Array[] {
    this.expire(now);
    const fromKey = pathKey(from);
    if (fromKey === pathKey(to)) return [];
    const target = { local: to.local, addr16: to.addr16.slice(), port: to.port };
    this.moves.set(fromKey, { to: target, at: now });
    // Anything still redirected to `from` follows on to `to`.
    for (const m of this.moves.values()) if (pathKey(m.to) === fromKey) m.to = target;
    this.moves.delete(pathKey(to));
    const out: Uint8Array[] = [];
    this.held = this.held.filter((h) => {
      if (h.from !== fromKey) return true;
      out.push(h.datagram);
      return false;
    });
    return out;
  }

  private expire(now: number): void {
    if (this.held.length > 0 && now - this.held[0]!.at > STRANDED_HOLD_MS) {
      const before = this.held.length;
      this.held = this.held.filter((h) => now - h.at <= STRANDED_HOLD_MS);
      this.expired += before - this.held.length;
    }
    for (const [k, m] of this.moves) if (now - m.at > MOVE_MEMORY_MS) this.moves.delete(k);
  }
}
