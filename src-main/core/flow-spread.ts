// Load sharing per flow (issue 13, seed 002 §3.3.3): in simultaneous multihoming ("load
// sharing") a peer's unbound traffic is spread over its working pairs, one per local interface,
// by a rendezvous (highest-random-weight) hash of the inner flow. Each member pair has a key (a
// hash of its interface's name, salted per peer); a packet goes to the member whose key scores
// highest against the packet's flow hash. A member leaving moves only the flows it had, a
// member coming back takes back only those it scores highest, and every packet of a flow
// scores the same, so a TCP flow never splits per packet.
//
// The hash is computed in both data planes per packet (dataplane/core.ts in JS,
// native/src/fastpath_flow.c in C): these functions are the reference both follow bit for bit
// (32-bit arithmetic only; `test/integration/flow-spread-native.test.ts` compares them).
//
// Pure: the plan is fed pairs and answers the members the data plane spreads over.

import { sameEndpoint, type Endpoint } from '../../src-shared/vocabulary.js';
import type { FlowPairView, FlowPlacement, PlannedFlowRoute } from './flow-routes.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** MurmurHash3's 32-bit finalizer: a bijection on 32-bit words that mixes every bit into every other. */
export function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a over the UTF-8 octets of a text (interface names are ASCII). */
export function fnv1a32(text: string | Uint8Array): number {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/**
 * The hash of one packet's flow: its protocol and, for TCP and UDP with their header at hand,
 * both ports (source, destination as the packet leaves). Other protocols (ICMP, ESP, a
 * non-first fragment) hash by protocol alone. The inner addresses of a peer's packets are the
 * two HITs (or the two LSIs) whatever the flow, so they enter once per peer, as the salt of
 * every member key (spreadMemberKey), not per packet.
 */
export function flowHash(protocol: number, srcPort: number, dstPort: number): number {
  const ports = (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) && srcPort >= 0 && dstPort >= 0 ? ((srcPort << 16) | dstPort) : 0;
  return fmix32(fmix32(protocol) ^ ports);
}

/** A member's score for a flow; the highest wins. Distinct keys never tie (fmix32 is a bijection). */
export function spreadScore(flow: number, key: number): number {
  return fmix32(flow ^ key);
}

/** The key of our interface `ifname` towards one peer: salted by both HITs, so peers spread differently. */
export function spreadMemberKey(ifname: string, salt: number): number {
  return (fnv1a32(ifname) ^ salt) >>> 0;
}

/** The per-peer salt: both hosts' identities, the inner addresses of every packet between them. */
export function spreadSalt(ownHit: Uint8Array, peerHit: Uint8Array): number {
  const both = new Uint8Array(ownHit.length + peerHit.length);
  both.set(ownHit);
  both.set(peerHit, ownHit.length);
  return fnv1a32(both);
}

/** Index of the member a flow goes to among `keys` (first on a tie, which distinct keys never have). */
export function chooseMember(flow: number, keys: readonly number[]): number {
  let best = -1;
  let bestScore = -1;
  for (let i = 0; i < keys.length; i++) {
    const s = spreadScore(flow, keys[i]!);
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  }
  return best;
}

/** A pair as the spread needs it: flow placement's view, with what keeps a pair out. */
export interface SpreadPairView extends FlowPairView {
  /** Its uplink is metered: it carries bound flows and failover only. */
  metered: boolean;
  /** It goes through a relay (relay capacity is for reaching the peer, not for sharing load). */
  relayed: boolean;
}

export interface SpreadInput {
  /** Best first, as pair selection ranks them. */
  pairs: readonly SpreadPairView[];
  /** The peer's primary pair and the SA on it; undefined while there is no SA. */
  dataPath: { local: Endpoint; remote: Endpoint; spiOut: number } | undefined;
  /** Our interfaces the user failed over away from: out of the spread until chosen again. */
  excluded: ReadonlySet<string>;
  /** spreadSalt of the two hosts. */
  salt: number;
}

/** One pair of the spread: the data plane seals on `spiOut` and sends from `local` to `remote`. */
export interface SpreadMember {
  key: number;
  ifname: string;
  local: Endpoint;
  remote: Endpoint;
  spiOut: number;
}

function eligible(p: SpreadPairView): boolean {
  return p.state === 'operational' && p.verified && !p.metered && !p.relayed && p.spiOut !== 0;
}

/**
 * The pairs unbound traffic is spread over: the primary pair, and on each other interface not
 * excluded its best working, verified, unmetered, direct pair. Fewer than two: [] (everything
 * stays on the primary). Nothing is spread while the primary itself is not such a pair (a move
 * is under way, or only a metered uplink works): the primary alone carries it then, as in
 * fault tolerance.
 */
export function planSpread(input: SpreadInput): SpreadMember[] {
  const data = input.dataPath;
  if (data === undefined) return [];
  const primary = input.pairs.find((p) => sameEndpoint(p.local, data.local) && sameEndpoint(p.remote, data.remote));
  if (primary === undefined || !eligible(primary)) return [];
  const ifaceOf = (p: SpreadPairView): string => p.ifname ?? p.local.address;
  const chosen = new Map<string, SpreadPairView>([[ifaceOf(primary), primary]]);
  for (const p of input.pairs) {
    const iface = ifaceOf(p);
    if (chosen.has(iface) || input.excluded.has(iface) || !eligible(p)) continue;
    chosen.set(iface, p);
  }
  if (chosen.size < 2) return [];
  // The primary's member seals with the SA the peer's traffic takes now (during a rekey's
  // hand-over that may be a stand-in), so both data planes see it as the peer's own path.
  return [...chosen].map(([ifname, p]) => ({
    key: spreadMemberKey(ifname, input.salt), ifname, local: { ...p.local }, remote: { ...p.remote }, spiOut: p === primary ? data.spiOut : p.spiOut,
  }));
}

/**
 * The spread as data-plane routes: one per member, after the flows' routes, marked with its key
 * (a member matches no selector; `spreadKey` says which pair it is). FID 0, which no binding has.
 */
/**
 * A flow that follows a spread of two or more members has no one pair: each of its transport
 * flows takes the member the hash names, so status names the uplinks instead of the primary.
 */
export function spreadPlacement(f: FlowPlacement, members: readonly SpreadMember[]): FlowPlacement {
  const { local: _local, remote: _remote, ...rest } = f;
  const over = [...new Set(members.map((m) => m.ifname))].join(' and ');
  return { ...rest, reason: f.reason ?? `shared per flow over ${over} with the unbound traffic` };
}

export function spreadRoutes(members: readonly SpreadMember[]): PlannedFlowRoute[] {
  return members.map((m) => ({
    fid: 0, protocol: 0, localPorts: null, remotePorts: null, local: { ...m.local }, remote: { ...m.remote }, outboundSpi: m.spiOut, spreadKey: m.key,
  }));
}
