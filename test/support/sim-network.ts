// A deterministic simulated network for sans-IO hosts: a virtual clock, and per-direction links
// that lose, duplicate, delay and reorder packets as a seeded PRNG decides. The same seed gives
// the same run, so a failure can be replayed from the seed a test prints.

import { DeliveryQueue } from './delivery-queue.js';

export interface SimEndpoint { address: string; port: number }

export interface SimTransmit { bytes: Uint8Array; to: SimEndpoint; from?: SimEndpoint }

/** What a simulated host must offer: the sans-IO surface of HipHost. */
export interface SimNode {
  handlePacket(now: number, bytes: Uint8Array, from: SimEndpoint, to: SimEndpoint): void;
  handleTimeout(now: number): void;
  nextTimeout(): number | undefined;
  pollTransmit(): SimTransmit | undefined;
}

export interface LinkProfile {
  delayMs: number;
  /** Uniform extra delay in [0, jitterMs): packets sent close together may swap places. */
  jitterMs: number;
  loss: number; // probability a packet is dropped
  duplicate: number; // probability a second copy is delivered (with its own delay)
}

export const PERFECT_LINK: LinkProfile = { delayMs: 10, jitterMs: 0, loss: 0, duplicate: 0 };

/** mulberry32: tiny, fast, and good enough to drive test randomness reproducibly. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from empty list');
    return item;
  }
}

/** Seed from the environment variable if set (to replay a failure), else from the default. */
export function seedFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback >>> 0;
  const parsed = Number(raw);
  return Number.isFinite(parsed) ? parsed >>> 0 : fallback >>> 0;
}

export interface TraceEntry {
  sentAt: number;
  deliverAt: number | undefined; // undefined: lost
  from: SimEndpoint;
  to: SimEndpoint;
  bytes: Uint8Array;
  duplicate: boolean;
}

/** Returns the bytes to deliver (possibly altered), or undefined to drop the packet. */
export type PacketFilter = (entry: { from: SimEndpoint; to: SimEndpoint; bytes: Uint8Array; now: number }) => Uint8Array | undefined;

interface InFlight { deliverAt: number; order: number; from: SimEndpoint; to: SimEndpoint; bytes: Uint8Array }

const key = (e: SimEndpoint): string => `${e.address}|${e.port}`;

export class SimNetwork {
  now: number;
  readonly prng: Prng;
  readonly trace: TraceEntry[] = [];
  filter: PacketFilter | undefined;
  private readonly nodes = new Map<string, { name: string; endpoint: SimEndpoint; node: SimNode }>();
  private readonly links = new Map<string, LinkProfile>();
  private defaultLink: LinkProfile = PERFECT_LINK;
  private readonly inFlight = new DeliveryQueue<InFlight>();
  private order = 0;

  constructor(seed: number, start = 0) {
    this.prng = new Prng(seed);
    this.now = start;
  }

  addNode(name: string, endpoint: SimEndpoint, node: SimNode): void {
    this.nodes.set(key(endpoint), { name, endpoint, node });
  }

  setDefaultLink(profile: LinkProfile): void {
    this.defaultLink = profile;
  }

  /** Profile for packets from `from` to `to` only: each direction is set on its own. */
  setLink(from: SimEndpoint, to: SimEndpoint, profile: LinkProfile): void {
    this.links.set(`${key(from)}>${key(to)}`, profile);
  }

  /** Hand a packet to the network as if a node had sent it (for injecting forged packets). */
  inject(from: SimEndpoint, to: SimEndpoint, bytes: Uint8Array, delayMs = 0): void {
    this.inFlight.push({ deliverAt: this.now + delayMs, order: this.order++, from, to, bytes });
  }

  private collectTransmits(): void {
    for (const { endpoint, node } of this.nodes.values()) {
      for (let t = node.pollTransmit(); t !== undefined; t = node.pollTransmit()) {
        const from = t.from ?? endpoint;
        let bytes: Uint8Array | undefined = t.bytes;
        if (this.filter !== undefined) bytes = this.filter({ from, to: t.to, bytes, now: this.now });
        const profile = this.links.get(`${key(from)}>${key(t.to)}`) ?? this.defaultLink;
        const copies = this.prng.next() < profile.duplicate ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          const lost = bytes === undefined || this.prng.next() < profile.loss;
          const deliverAt = lost ? undefined : this.now + profile.delayMs + this.prng.next() * profile.jitterMs;
          this.trace.push({ sentAt: this.now, deliverAt, from, to: t.to, bytes: t.bytes, duplicate: c > 0 });
          if (deliverAt !== undefined && bytes !== undefined) {
            this.inFlight.push({ deliverAt, order: this.order++, from, to: t.to, bytes });
          }
        }
      }
    }
  }

  /** Time of the next thing that will happen, or undefined when the network is quiet for good. */
  nextEventTime(): number | undefined {
    let next = this.inFlight.nextAt();
    for (const { node } of this.nodes.values()) {
      const t = node.nextTimeout();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  /** Runs one instant of simulated time. Returns false when nothing is left to happen before `limit`. */
  step(limit = Number.POSITIVE_INFINITY): boolean {
    this.collectTransmits();
    const next = this.nextEventTime();
    if (next === undefined || next > limit) return false;
    this.now = Math.max(this.now, next);
    const due = this.inFlight.takeDue(this.now);
    for (const p of due) {
      const target = this.nodes.get(key(p.to));
      if (target !== undefined) target.node.handlePacket(this.now, p.bytes, p.from, p.to);
    }
    for (const { node } of this.nodes.values()) {
      const t = node.nextTimeout();
      if (t !== undefined && t <= this.now) node.handleTimeout(this.now);
    }
    this.collectTransmits();
    return true;
  }

  /** Steps until `done()` holds or simulated time passes `untilMs`. Returns whether `done()` held. */
  runUntil(done: () => boolean, untilMs: number): boolean {
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (done()) return true;
      if (!this.step(untilMs)) break;
    }
    if (done()) return true;
    this.now = Math.max(this.now, untilMs);
    return done();
  }

  /** Lets `ms` of simulated time pass, processing everything due within it. */
  runFor(ms: number): void {
    const end = this.now + ms;
    while (this.step(end)) {
      /* keep going */
    }
    this.now = Math.max(this.now, end);
  }
}
