// A relay on the simulated network, and two hosts behind NATs registered with it: the world the
// relay and direct-path tests share. The relay runs as `hipvpn relay serve` does (RelayServer),
// the hosts as HostCores with that relay configured.

import assert from 'node:assert/strict';
import { hitToText } from '../../src-main/hip/wire/address.js';
import { RelayServer } from '../../src-main/relay/relay-server.js';
import { DEFAULT_REGISTRAR_POLICY } from '../../src-main/relay/registrations.js';
import type { Endpoint, Transmit } from '../../src-main/hip/host.js';
import { PORT, SimWorld, type SimEspNode, type SimHost } from './sim-hosts.js';
import { natBehaviour, type NatKind } from './sim-nat.js';
import { identity, seededCrypto } from './hip-hosts.js';

export const SEED_VAR = 'SIM_SEED';
export const RELAY_ADDRESS = '198.51.100.50';
export const RELAY_EP: Endpoint = { address: RELAY_ADDRESS, port: PORT };
export const PRIVATE = '192.168.1.10'; // both homes use the same private subnet

/**
 * The relay on the sim's wire, which carries HIP packets without RFC 9028's zero marker. With
 * `carryEsp`, the hosts' data packets reach its data relay as ESP (the SPI first) and leave it
 * unchanged; without, they are dropped there (as in the worlds written before it relayed data).
 */
export class RelayNode implements SimEspNode {
  constructor(public relay: RelayServer, private readonly carryEsp = true) {}
  handlePacket(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const framed = new Uint8Array(bytes.length + 4);
    framed.set(bytes, 4);
    this.relay.handleDatagram(now, framed, from, to);
  }
  handleEsp(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): boolean {
    if (this.carryEsp) this.relay.handleDatagram(now, bytes, from, to);
    return this.carryEsp;
  }

  handleTimeout(now: number): void { this.relay.handleTimeout(now); }
  nextTimeout(): number | undefined { return this.relay.nextTimeout(); }
  /** Everything the relay sends but ESP starts with the zero marker. */
  pollTransmit(): (Transmit & { esp?: boolean }) | undefined {
    const t = this.relay.pollTransmit();
    if (t === undefined) return undefined;
    const esp = (t.bytes[0]! | t.bytes[1]! | t.bytes[2]! | t.bytes[3]!) !== 0;
    return esp ? { ...t, esp } : { ...t, bytes: t.bytes.subarray(4) };
  }
}

export function relayWorld(kindA: NatKind, kindB: NatKind, fallbackSeed: number) {
  const world = new SimWorld(SEED_VAR, fallbackSeed);
  const relayIdentity = identity('ecdsa-p256', 9);
  const relays = [{ hit: relayIdentity.hit, endpoint: RELAY_EP, name: 'relay1' }];
  const natA = world.addNat(`NAT-A ${kindA}`, '203.0.113.1', natBehaviour(kindA));
  const natB = world.addNat(`NAT-B ${kindB}`, '203.0.113.2', natBehaviour(kindB));
  const a = world.addHost('A', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat: natA }], { relays });
  const b = world.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat: natB }], { relays });
  const allowed = new Set([hitToText(a.core.hit), hitToText(b.core.hit)]);
  /** The relay as `hipvpn relay serve` starts it: fresh, or from its registrations.json. */
  const start = (saved?: unknown) => new RelayServer({
    identity: relayIdentity, crypto: seededCrypto(world.seed ^ 0x9e1a ^ world.now),
    policy: { ...DEFAULT_REGISTRAR_POLICY, isAllowed: (hit) => allowed.has(hit) },
    locals: [RELAY_EP], ...(saved === undefined ? {} : { saved }),
  }, world.now);
  const node = new RelayNode(start());
  world.addNode('relay', [{ ifname: 'eth0', kind: 'ethernet', address: RELAY_ADDRESS, delayMs: 5 }], node);
  return { world, a, b, relay: node.relay, node, start };
}

export function runUntil(world: SimWorld, done: () => boolean, ms: number): boolean {
  const deadline = world.now + ms;
  while (!done() && world.now < deadline) world.runFor(10);
  return done();
}

export const registered = (h: SimHost, world: SimWorld): boolean => h.core.relayStatus(world.now).some((r) => r.registered);
export const stateWith = (h: SimHost, peer: SimHost): string | undefined => h.core.associations().find((s) => s.peerHitText === hitToText(peer.core.hit))?.state;

/** A and B each other's peer, both registered, then A reaches B by HIT through the relay: asserted. */
export function connectThroughRelay(world: SimWorld, a: SimHost, b: SimHost): void {
  a.peer = b;
  b.peer = a;
  assert.ok(runUntil(world, () => registered(a, world) && registered(b, world), 5_000), `seed ${world.seed}: both register`);
  a.core.connect(world.now, b.core.hit, RELAY_EP);
  assert.ok(runUntil(world, () => stateWith(a, b) === 'ESTABLISHED' && stateWith(b, a) === 'ESTABLISHED', 5_000), `seed ${world.seed}: established`);
}

export const HOME_PUBLIC = '203.0.113.1';
export const BOB_PUBLIC = '203.0.113.2';
export const CARRIER_PUBLIC = '203.0.113.9';
export const CARRIER_PRIVATE = '100.64.0.10';

/**
 * The NAT lab's mobile world (lab/nat.ts) on the simulated network: A's wifi0 behind a home NAT
 * that keeps one mapping per internal endpoint and filters by remote endpoint (Linux masquerade),
 * her cell0 behind a symmetric carrier NAT; B behind a home NAT like A's; both registered with
 * the relay. cell0 starts without carrier. A reaches B by HIT through the relay, and on Wi-Fi
 * both upgrade to a direct pair; on cellular no direct pair can work and the relay carries it.
 */
export function relayMobileWorld(fallbackSeed: number) {
  const world = new SimWorld(SEED_VAR, fallbackSeed);
  const relayIdentity = identity('ecdsa-p256', 9);
  const relays = [{ hit: relayIdentity.hit, endpoint: RELAY_EP, name: 'relay1' }];
  const home = world.addNat('home NAT', HOME_PUBLIC, natBehaviour('port-restricted-cone'));
  const carrier = world.addNat('carrier NAT', CARRIER_PUBLIC, natBehaviour('symmetric'));
  const bobHome = world.addNat('B home NAT', BOB_PUBLIC, natBehaviour('port-restricted-cone'));
  const a = world.addHost('A', [
    { ifname: 'wifi0', kind: 'wifi', address: PRIVATE, delayMs: 5, nat: home },
    { ifname: 'cell0', kind: 'cellular', address: CARRIER_PRIVATE, delayMs: 25, nat: carrier },
  ], { relays });
  const b = world.addHost('B', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat: bobHome }], { relays });
  const allowed = new Set([hitToText(a.core.hit), hitToText(b.core.hit)]);
  const relay = new RelayServer({
    identity: relayIdentity, crypto: seededCrypto(world.seed ^ 0x9e1a),
    policy: { ...DEFAULT_REGISTRAR_POLICY, isAllowed: (hit) => allowed.has(hit) },
    locals: [RELAY_EP],
  }, world.now);
  world.addNode('relay', [{ ifname: 'eth0', kind: 'ethernet', address: RELAY_ADDRESS, delayMs: 5 }], new RelayNode(relay, true));
  a.linkDown('cell0');
  return { world, a, b, relay, nats: { home, carrier, bobHome } };
}
