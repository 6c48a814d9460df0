// Test scaffolding for HIP hosts: cached identities (RSA key generation is slow), hosts wrapped
// so their events are collected as the simulated network runs, and small lookups over them.

import { equalBytes } from '../../src-main/base/bytes.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import type { CryptoProvider, SigningKeyKind } from '../../src-main/hip/crypto/provider.js';
import { generateIdentity, type LocalHostIdentity } from '../../src-main/hip/identity/host-identity.js';
import { HipHost, type HostConfig, type HostEvent, type Transmit } from '../../src-main/hip/host.js';
import { Prng, SimNetwork, type SimEndpoint, type SimNode } from './sim-network.js';

const identities = new Map<string, LocalHostIdentity>();

/** A host identity of this kind; `slot` tells apart several of one kind. Cached per process. */
export function identity(kind: SigningKeyKind = 'ecdsa-p256', slot = 0): LocalHostIdentity {
  const key = `${kind}/${slot}`;
  let id = identities.get(key);
  if (id === undefined) {
    id = generateIdentity(nodeCrypto, kind);
    identities.set(key, id);
  }
  return id;
}

/** nodeCrypto with randomBytes from a seeded PRNG, so SPIs, nonces and IVs repeat with the seed. */
export function seededCrypto(seed: number): CryptoProvider {
  const prng = new Prng(seed);
  return Object.freeze({ ...nodeCrypto, name: nodeCrypto.name, randomBytes: (n: number) => prng.bytes(n) });
}

export const EP_A: SimEndpoint = { address: '192.0.2.1', port: 10500 };
export const EP_B: SimEndpoint = { address: '198.51.100.2', port: 10500 };

/** A HipHost plus everything it emitted, usable as a simulated network node. */
export class TestHost implements SimNode {
  readonly events: HostEvent[] = [];
  readonly host: HipHost;
  constructor(config: HostConfig, now: number, readonly endpoint: SimEndpoint) {
    this.host = new HipHost(config, now);
  }
  private collect(): void {
    for (let e = this.host.pollEvent(); e !== undefined; e = this.host.pollEvent()) this.events.push(e);
  }
  handlePacket(now: number, bytes: Uint8Array, from: SimEndpoint, to: SimEndpoint): void {
    this.host.handlePacket(now, bytes, from, to);
    this.collect();
  }
  handleTimeout(now: number): void {
    this.host.handleTimeout(now);
    this.collect();
  }
  nextTimeout(): number | undefined {
    return this.host.nextTimeout();
  }
  pollTransmit(): Transmit | undefined {
    this.collect();
    return this.host.pollTransmit();
  }
  /** Runs an API call and collects what it emitted. */
  act(f: (h: HipHost) => void): void {
    f(this.host);
    this.collect();
  }
  /** State of our association with `peer`, or undefined when there is none. */
  state(peer: TestHost): string | undefined {
    return this.host.associations().find((s) => equalBytes(s.peerHit, peer.host.hit))?.state;
  }
  eventsOf<T extends HostEvent['type']>(type: T): Extract<HostEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<HostEvent, { type: T }> => e.type === type);
  }
  dropped(reason: string): number {
    return this.host.counters.dropped[reason] ?? 0;
  }
}

export interface PairOptions {
  seed: number;
  a?: Partial<HostConfig>;
  b?: Partial<HostConfig>;
  kindA?: SigningKeyKind;
  kindB?: SigningKeyKind;
}

/** Two hosts on a simulated network (perfect links until a test changes them). */
export function makePair(opts: PairOptions): { net: SimNetwork; a: TestHost; b: TestHost } {
  const net = new SimNetwork(opts.seed);
  const a = new TestHost({ identity: identity(opts.kindA ?? 'ecdsa-p256', 0), crypto: seededCrypto(opts.seed ^ 0xa), ...opts.a }, net.now, EP_A);
  const b = new TestHost({ identity: identity(opts.kindB ?? 'ecdsa-p256', 1), crypto: seededCrypto(opts.seed ^ 0xb), ...opts.b }, net.now, EP_B);
  net.addNode('A', EP_A, a);
  net.addNode('B', EP_B, b);
  return { net, a, b };
}

export function established(h: TestHost): boolean {
  return h.eventsOf('established').length > 0;
}
