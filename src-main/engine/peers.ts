// The engine's configured peers: the allow-list for base exchanges, where to reach each peer,
// and the LSI this host gives it. Our own LSI is the allocator's first slot, so it follows
// from the HIT alone and every tool (daemon, `hipvpn identity`) computes the same one.

import { LsiAllocator } from '../hip/identity/lsi.js';
import { hitKey } from '../../src-shared/vocabulary.js';
import type { UdpEndpoint } from '../platform/udp.js';
import type { RelayConfig } from '../core/relay-clients.js';

export interface PeerConfig {
  name: string;
  hit: Uint8Array;
  /** Where to reach the peer; none means it contacts us, or we reach it through a relay. */
  locators: UdpEndpoint[];
  /** The relay the peer registered with, for when it has no locator. */
  relay?: RelayConfig;
}

/** This host's own LSI, derived from its HIT. */
export function ownLsiFor(hit: Uint8Array): string {
  return new LsiAllocator().lsiFor(hit);
}

export class PeerDirectory {
  readonly ownLsi: string;
  private readonly lsis = new LsiAllocator();
  /** By HIT key. */
  private peers = new Map<string, PeerConfig>();

  constructor(ownHit: Uint8Array) {
    this.ownLsi = this.lsis.lsiFor(ownHit);
  }

  /** Replaces the set; returns the peers that are new or whose locators changed. */
  replace(peers: PeerConfig[]): PeerConfig[] {
    const next = new Map<string, PeerConfig>();
    const changed: PeerConfig[] = [];
    for (const p of peers) {
      const key = hitKey(p.hit);
      const copy: PeerConfig = { name: p.name, hit: p.hit.slice(), locators: p.locators.map((l) => ({ ...l })), ...(p.relay ? { relay: { ...p.relay, hit: p.relay.hit.slice(), endpoint: { ...p.relay.endpoint } } } : {}) };
      next.set(key, copy);
      const old = this.peers.get(key);
      if (!old || JSON.stringify([old.locators, old.relay]) !== JSON.stringify([copy.locators, copy.relay])) changed.push(copy);
    }
    this.peers = next;
    return changed;
  }

  get(hit: Uint8Array): PeerConfig | undefined {
    return this.peers.get(hitKey(hit));
  }

  has(hit: Uint8Array): boolean {
    return this.peers.has(hitKey(hit));
  }

  all(): PeerConfig[] {
    return [...this.peers.values()];
  }

  /** The LSI we give a peer (stable while the engine runs; also for peers accepted by --accept-any). */
  lsiOf(hit: Uint8Array): string {
    return this.lsis.lsiFor(hit);
  }

  hitForLsi(lsi: string): Uint8Array | null {
    return this.lsis.hitFor(lsi);
  }
}
