// The ports of the peer's addresses as the path manager (path-manager.ts) pairs them: which of
// several listings at one address a pair takes, and which addresses the peer's NAT mapped afresh.
// Pure.

import type { PeerLocator as HipPeerLocator } from '../hip/peer-locators.js';

function livePorts(ls: readonly HipPeerLocator[]): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  for (const l of ls) if (l.state !== 'DEPRECATED') m.set(l.address, (m.get(l.address) ?? new Set()).add(l.port));
  return m;
}

/**
 * The addresses listed before only at other ports: the peer's NAT mapped them afresh. (A
 * symmetric NAT's address may be live at several ports at once: one of them still listed is no
 * move.)
 */
export function movedToNewPort(before: readonly HipPeerLocator[], after: readonly HipPeerLocator[]): Set<string> {
  const previous = livePorts(before);
  const changed = new Set<string>();
  for (const [address, ports] of livePorts(after)) {
    const had = previous.get(address);
    if (had !== undefined && ![...ports].some((p) => had.has(p))) changed.add(address);
  }
  return changed;
}

/**
 * The port the pairs to each address take. Pairs are per address: where the peer has several
 * ports at one address the pair takes a live one over a deprecated listing, the peer's own over
 * a relay sharing its address (one machine), and a verified one over the rest (a symmetric NAT
 * maps each destination to its own port: the one toward us answers, the one toward the relay
 * does not); else the latest.
 */
export function pairPorts(locators: readonly HipPeerLocator[], relayed: (l: HipPeerLocator) => boolean): Map<string, number> {
  const chosen = new Map<string, HipPeerLocator>();
  const rank = (l: HipPeerLocator): number => (l.state === 'DEPRECATED' ? 4 : 0) + (relayed(l) ? 2 : 0) + (l.state === 'ACTIVE' ? 0 : 1);
  for (const l of locators) {
    const seen = chosen.get(l.address);
    if (seen === undefined || rank(l) <= rank(seen)) chosen.set(l.address, l);
  }
  return new Map([...chosen.values()].map((l) => [l.address, l.port]));
}
