// Sealed ESP datagrams whose send failed because our end of the pair went away (the interface
// went down, its route or address vanished). The monitor tells the control plane within
// milliseconds and the peer's traffic moves to the next pair; these few datagrams then follow it
// instead of being lost. Sans-IO: the runner feeds failures and path moves, and sends what comes
// back. Re-sending a sealed datagram on another pair is sound: the send failed locally, so the
// peer never saw its sequence number, and the peer's inbound SA does not depend on the pair.
//
// The same store keeps copies of datagrams that were sent, while the control plane doubts the
// peer's path (hold): if the path turns out dead and the peer moves, they are re-sent on the new
// pair at once (same SA and sequence numbers: the receiver's anti-replay window drops any it
// already got), so a TCP sender behind us gets its segments through when the path returns
// rather than at its next exponential retransmission; if the peer answers on the same pair,
// they are discarded (release).

import { fromAddr16 } from '../base/addr16.js';

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
/**
 * How long a copy of a datagram sent while its path was in doubt is kept. TCP doubles its
 * retransmission timeout from 200 ms (Linux) or 1 s (RFC 6298) during an outage, so its newest
 * retransmission is at most about half the outage old: 3 s covers outages up to ~6 s, and
 * by 8 s pair selection gives the association up (DEFAULT_PATH_POLICY.abandonAfterMs).
 */
export const HELD_COPY_MS = 3_000;
/**
 * Copies kept at most, oldest dropped first: all of a 3 s outage of a 100 packets/s
 * interactive flow; of a bulk flow, the newest ~1.5 MB (about its window: what TCP re-sends first).
 */
const MAX_HELD_COPIES = 1_024;
const MAX_HELD_COPY_BYTES = 1_500_000;

interface Held { datagram: Uint8Array; from: string; at: number }
interface Move { to: SendPath; at: number }
/** One flow moved off a pair others still use: only the datagrams `only` accepts follow it. */
interface FlowMove extends Move { from: string; only: (datagram: Uint8Array) => boolean }

export function pathKey(p: SendPath): string {
  return `${p.local}|${fromAddr16(p.addr16)}|${p.port}`;
}

export class StrandedDatagrams {
  private held: Held[] = [];
  /** Copies of datagrams that were sent while their path was in doubt, oldest first. */
  private copies: Held[] = [];
  private copyBytes = 0;
  private readonly moves = new Map<string, Move>();
  private flowMoves: FlowMove[] = [];
  /** Datagrams given up: their peer did not move in time, or too many were held. */
  expired = 0;
  /** Copies taken while a path was in doubt (hold), and those dropped unused (too old, too many). */
  copiesHeld = 0;
  copiesDropped = 0;

  /**
   * A copy of a datagram just sent on `path` while that path is in doubt: kept for a re-send on
   * the pair the peer moves to. Where to re-send it now, when the peer already moved off `path`.
   */
  hold(datagram: Uint8Array, path: SendPath, now: number): SendPath | undefined {
    this.expire(now);
    const to = this.redirect(datagram, pathKey(path));
    if (to) return to;
    this.copies.push({ datagram: datagram.slice(), from: pathKey(path), at: now });
    this.copyBytes += datagram.length;
    this.copiesHeld++;
    while (this.copies.length > MAX_HELD_COPIES || this.copyBytes > MAX_HELD_COPY_BYTES) this.dropOldestCopy();
    return undefined;
  }

  /** The path is no longer in doubt (the peer answered on it): its copies are not needed. */
  release(path: SendPath): void {
    if (this.copies.length === 0) return;
    const key = pathKey(path);
    this.copies = this.copies.filter((c) => {
      if (c.from !== key) return true;
      this.copyBytes -= c.datagram.length;
      return false;
    });
  }

  /** Copies held now (for tests and status). */
  get heldCopies(): number {
    return this.copies.length;
  }

  /**
   * A datagram that could not leave on `path`: where to send it now (its peer already moved),
   * or undefined when it is held until the peer moves.
   */
  strand(datagram: Uint8Array, path: SendPath, now: number): SendPath | undefined {
    this.expire(now);
    const to = this.redirect(datagram, pathKey(path));
    if (to) return to;
    if (this.held.length >= MAX_HELD) {
      this.held.shift();
      this.expired++;
    }
    this.held.push({ datagram: datagram.slice(), from: pathKey(path), at: now });
    return undefined;
  }

  /**
   * Traffic moved off `from` onto `to`: the datagrams held for `from`, to send on `to`. With
   * `only`, one flow of several on `from` moved: only the datagrams `only` accepts are taken
   * (and redirected when they fail later); the rest wait for their own move.
   */
  moved(from: SendPath, to: SendPath, now: number, only?: (datagram: Uint8Array) => boolean): Uint8Array[] {
    this.expire(now);
    const fromKey = pathKey(from);
    if (fromKey === pathKey(to)) return [];
    const target = { local: to.local, addr16: to.addr16.slice(), port: to.port };
    if (only === undefined) {
      this.moves.set(fromKey, { to: target, at: now });
      // Anything still redirected to `from` follows on to `to`.
      for (const m of this.moves.values()) if (pathKey(m.to) === fromKey) m.to = target;
      for (const m of this.flowMoves) if (pathKey(m.to) === fromKey) m.to = target;
      this.moves.delete(pathKey(to));
    } else {
      this.flowMoves.push({ from: fromKey, to: target, at: now, only });
    }
    const taken = only ?? (() => true);
    const out: Uint8Array[] = [];
    // Sent copies first: they are older than any failed send (which came after the path died).
    this.copies = this.copies.filter((c) => {
      if (c.from !== fromKey || !taken(c.datagram)) return true;
      this.copyBytes -= c.datagram.length;
      out.push(c.datagram);
      return false;
    });
    this.held = this.held.filter((h) => {
      if (h.from !== fromKey || !taken(h.datagram)) return true;
      out.push(h.datagram);
      return false;
    });
    return out;
  }

  /** Where a datagram for the pair `from` goes now that its traffic (or its flow) moved; undefined: nowhere yet. */
  private redirect(datagram: Uint8Array, from: string): SendPath | undefined {
    const move = this.moves.get(from);
    if (move) return move.to;
    for (let i = this.flowMoves.length - 1; i >= 0; i--) {
      const m = this.flowMoves[i]!;
      if (m.from === from && m.only(datagram)) return m.to;
    }
    return undefined;
  }

  private dropOldestCopy(): void {
    const c = this.copies.shift();
    if (c === undefined) return;
    this.copyBytes -= c.datagram.length;
    this.copiesDropped++;
  }

  private expire(now: number): void {
    if (this.held.length > 0 && now - this.held[0]!.at > STRANDED_HOLD_MS) {
      const before = this.held.length;
      this.held = this.held.filter((h) => now - h.at <= STRANDED_HOLD_MS);
      this.expired += before - this.held.length;
    }
    while (this.copies.length > 0 && now - this.copies[0]!.at > HELD_COPY_MS) this.dropOldestCopy();
    for (const [k, m] of this.moves) if (now - m.at > MOVE_MEMORY_MS) this.moves.delete(k);
    if (this.flowMoves.length > 0) this.flowMoves = this.flowMoves.filter((m) => now - m.at <= MOVE_MEMORY_MS);
  }
}
