// Per peer, what load sharing (flow-spread.ts) remembers between plans: the interfaces the
// user failed over away from, and the members last planned (status shows them). HostCore's.
//
// Manual failover in load sharing:
//  - "Fail over now" moves the primary pair off its interface and takes that interface out of
//    the spread too, so the peer's traffic really leaves it (a user fails over because an
//    uplink misbehaves). The interface comes back when the user chooses a pair on it, or when
//    the primary returns to it by itself (pair selection found it the best again).
//  - "Use this pair" (a failover with a target) puts all the peer's unbound traffic on that
//    pair: the spread pauses, as the user asked for one pair. It resumes when the primary
//    leaves that pair by itself (the pair fails, or pair selection prefers another), so a
//    choice never outlives the pair it named.

import type { Endpoint } from '../hip/host.js';
import { planSpread, spreadSalt, type SpreadInput, type SpreadMember } from './flow-spread.js';
import { sameEndpoint } from '../../src-shared/vocabulary.js';

export class FlowSpreads {
  private readonly excluded = new Map<string, Set<string>>();
  private readonly members = new Map<string, SpreadMember[]>();
  private readonly salts = new Map<string, number>();
  /** "Use this pair": the pair, and whether the primary has reached it (leaving it afterwards ends the pin). */
  private readonly pinned = new Map<string, { local: Endpoint; remote: Endpoint; reached: boolean }>();
  /** Per peer, a number that changes whenever its exclusions or its chosen pair do (see `revision`). */
  private readonly revisions = new Map<string, number>();
  private changes = 0;

  constructor(private readonly ownHit: Uint8Array) {}

  /** The user failed over away from `ifname`: out of the peer's spread until chosen again. */
  failedAway(peer: string, ifname: string): void {
    const set = this.excluded.get(peer) ?? new Set<string>();
    set.add(ifname);
    this.excluded.set(peer, set);
    this.changed(peer);
  }

  /** The user chose this pair: all unbound traffic on it until the primary leaves it; its interface is no longer excluded. */
  chosen(peer: string, ifname: string | null, local: Endpoint, remote: Endpoint): void {
    if (ifname !== null) this.excluded.get(peer)?.delete(ifname);
    this.pinned.set(peer, { local: { ...local }, remote: { ...remote }, reached: false });
    this.changed(peer);
  }

  /** Plans the peer's spread and remembers it; `primaryIfname` is the data path's interface. */
  plan(peer: string, peerHit: Uint8Array, primaryIfname: string | null, input: Omit<SpreadInput, 'excluded' | 'salt'>): SpreadMember[] {
    const excluded = this.excluded.get(peer) ?? new Set<string>();
    if (primaryIfname !== null) excluded.delete(primaryIfname);
    let salt = this.salts.get(peer);
    if (salt === undefined) {
      salt = spreadSalt(this.ownHit, peerHit);
      this.salts.set(peer, salt);
    }
    const pin = this.pinned.get(peer);
    if (pin !== undefined && input.dataPath !== undefined) {
      const on = sameEndpoint(pin.local, input.dataPath.local) && sameEndpoint(pin.remote, input.dataPath.remote);
      if (on && !pin.reached) {
        pin.reached = true;
        this.changed(peer);
      } else if (!on && pin.reached) {
        this.pinned.delete(peer);
        this.changed(peer);
      }
    }
    const members = this.pinned.has(peer) ? [] : planSpread({ ...input, excluded, salt });
    this.members.set(peer, members);
    return members;
  }

  /**
   * What the peer's plan is made from besides its pairs and data path: the same revision and
   * the same pairs and data path plan the same members.
   */
  revision(peer: string): number {
    return this.revisions.get(peer) ?? 0;
  }

  /** Peers load sharing has planned: pair tests and uplinks may move their spread. */
  peers(): IterableIterator<string> {
    return this.members.keys();
  }

  /** Whether the pair is one the peer's unbound traffic is spread over now. */
  carries(peer: string, local: Endpoint, remote: Endpoint): boolean {
    return (this.members.get(peer) ?? []).some((m) => sameEndpoint(m.local, local) && sameEndpoint(m.remote, remote));
  }

  /** The peer's spread, as last planned ([]: the primary carries everything unbound). */
  membersOf(peer: string): readonly SpreadMember[] {
    return this.members.get(peer) ?? [];
  }

  forget(peer: string): void {
    this.excluded.delete(peer);
    this.pinned.delete(peer);
    this.members.delete(peer);
    this.salts.delete(peer);
    this.revisions.delete(peer);
  }

  private changed(peer: string): void {
    this.revisions.set(peer, ++this.changes);
  }
}
