// Per peer, what load sharing (flow-spread.ts) remembers between plans: the interfaces the
// user failed over away from, and the members last planned (status shows them). HostCore's.
//
// Manual failover in load sharing: "Fail over now" moves the primary pair off its interface
// and takes that interface out of the spread too, so the peer's traffic really leaves it (a
// user fails over because an uplink misbehaves). The interface comes back when the user
// chooses a pair on it ("Use this pair", a failover with a target), or when the primary
// returns to it by itself (pair selection found it the best again).

import type { Endpoint } from '../hip/host.js';
import { planSpread, spreadSalt, type SpreadInput, type SpreadMember } from './flow-spread.js';

export class FlowSpreads {
  private readonly excluded = new Map<string, Set<string>>();
  private readonly members = new Map<string, SpreadMember[]>();
  private readonly salts = new Map<string, number>();

  constructor(private readonly ownHit: Uint8Array) {}

  /** The user failed over away from `ifname`: out of the peer's spread until chosen again. */
  failedAway(peer: string, ifname: string): void {
    const set = this.excluded.get(peer) ?? new Set<string>();
    set.add(ifname);
    this.excluded.set(peer, set);
  }

  /** The user chose a pair on `ifname`: it may share the load again. */
  chosen(peer: string, ifname: string): void {
    this.excluded.get(peer)?.delete(ifname);
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
    const members = planSpread({ ...input, excluded, salt });
    this.members.set(peer, members);
    return members;
  }

  /** Peers load sharing has planned: pair tests and uplinks may move their spread. */
  peers(): IterableIterator<string> {
    return this.members.keys();
  }

  /** Whether the pair is one the peer's unbound traffic is spread over now. */
  carries(peer: string, local: Endpoint, remote: Endpoint): boolean {
    return (this.members.get(peer) ?? []).some((m) => m.local.address === local.address && m.local.port === local.port
      && m.remote.address === remote.address && m.remote.port === remote.port);
  }

  /** The peer's spread, as last planned ([]: the primary carries everything unbound). */
  membersOf(peer: string): readonly SpreadMember[] {
    return this.members.get(peer) ?? [];
  }

  forget(peer: string): void {
    this.excluded.delete(peer);
    this.members.delete(peer);
    this.salts.delete(peer);
  }
}
