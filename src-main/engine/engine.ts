// The host engine: the one owner of HIP state. It drives the sans-IO HipHost with real UDP
// sockets and a real clock, keeps the ESP security associations the base exchange produced,
// and reports associations, counters and events. Nothing here decides protocol behaviour.

import { EventEmitter } from 'node:events';
import type { CryptoProvider } from '../hip/crypto/provider.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import { HipHost, type HostConfig, type HostEvent, type SaKeys } from '../hip/host.js';
import { hitToText } from '../hip/wire/address.js';
import { EspInboundSa, EspOutboundSa, espSpi } from '../esp/sa.js';
import { UdpTransport, frameHip, type UdpDatagram, type UdpEndpoint } from '../platform/udp.js';
import { monotonicClock, type Clock } from '../platform/clock.js';
import { EngineCounters } from './counters.js';

export interface EngineOptions {
  identity: LocalHostIdentity;
  crypto: CryptoProvider;
  /** Local addresses to listen on (one socket each). */
  addresses: string[];
  /** UDP port; RFC 9028 uses 10500. 0 = ephemeral (tests). */
  port?: number;
  allowPeer?: (hit: Uint8Array) => boolean;
  host?: Partial<Omit<HostConfig, 'identity' | 'crypto' | 'allowPeer'>>;
  clock?: Clock;
  /** Called with every datagram sent or received, for packet captures. */
  tap?: (direction: 'in' | 'out', datagram: Uint8Array, from: UdpEndpoint, to: UdpEndpoint) => void;
  /** How long an inbound SA replaced by a rekey keeps accepting in-flight packets. */
  rekeyOverlapMs?: number;
}

export type EngineEvent =
  | { type: 'association'; peer: string; from: string; to: string }
  | { type: 'established'; peer: string; local: UdpEndpoint; remote: UdpEndpoint; initiator: boolean; suite: number }
  | { type: 'rekeyed'; peer: string; inboundSpi: number; outboundSpi: number }
  | { type: 'closed'; peer: string; byPeer: boolean }
  | { type: 'failed'; peer: string; reason: string }
  | { type: 'notify'; peer: string; notifyType: number; authenticated: boolean }
  | { type: 'payload'; peer: string; peerHit: Uint8Array; nextHeader: number; payload: Uint8Array };

interface OutboundPath { sa: EspOutboundSa; suite: number; remote: UdpEndpoint; local: UdpEndpoint; rekeyRequested: boolean }
interface InboundEntry { sa: EspInboundSa; peerHit: Uint8Array; retireAt?: number }

export interface AssociationView {
  peer: string;
  state: string;
  local?: UdpEndpoint;
  remote?: UdpEndpoint;
  inboundSpi?: number;
  outboundSpi?: number;
  suite?: number;
  espPacketsOut: number;
  espPacketsIn: number;
}

export interface EngineSnapshot {
  hit: string;
  locals: UdpEndpoint[];
  associations: AssociationView[];
  counters: ReturnType<EngineCounters['snapshot']>;
}

export class HipEngine extends EventEmitter {
  readonly hit: Uint8Array;
  readonly hitText: string;
  private readonly host: HipHost;
  private readonly clock: Clock;
  private transport!: UdpTransport;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  private readonly outbound = new Map<string, OutboundPath>();
  private readonly inbound = new Map<number, InboundEntry>();
  private readonly counters = new EngineCounters();
  private stopped = false;

  private constructor(private readonly opts: EngineOptions) {
    super();
    this.clock = opts.clock ?? monotonicClock;
    this.host = new HipHost(
      {
        ...opts.host,
        identity: opts.identity,
        crypto: opts.crypto,
        allowPeer: opts.allowPeer,
        allocateSpi: () => this.allocateSpi(),
      },
      this.clock.now(),
    );
    this.hit = this.host.hit;
    this.hitText = hitToText(this.hit);
  }

  static async start(opts: EngineOptions): Promise<HipEngine> {
    const engine = new HipEngine(opts);
    engine.transport = await UdpTransport.open({
      addresses: opts.addresses,
      port: opts.port ?? 10500,
      onDatagram: (d) => engine.onDatagram(d),
      onError: () => engine.counters.count('udp-error'),
    });
    return engine;
  }

  locals(): UdpEndpoint[] {
    return this.transport.locals();
  }

  /** Starts a base exchange with a peer we know by HIT at a locator. */
  connect(peerHit: Uint8Array, remote: UdpEndpoint, local?: UdpEndpoint): void {
    this.host.connect(this.clock.now(), peerHit, remote, local ?? this.transport.localFor(remote));
    this.drive();
  }

  close(peerHit: Uint8Array): void {
    this.host.close(this.clock.now(), peerHit);
    this.drive();
  }

  rekey(peerHit: Uint8Array): void {
    this.host.rekey(this.clock.now(), peerHit);
    this.drive();
  }

  /** Protects a payload with the peer's outbound SA. False when there is no established path. */
  send(peerHit: Uint8Array, payload: Uint8Array, nextHeader: number): boolean {
    const key = hitToText(peerHit);
    const path = this.outbound.get(key);
    if (!path) {
      this.counters.count('esp-out-no-sa');
      return false;
    }
    const now = this.clock.now();
    const packet = path.sa.seal(payload, nextHeader, now);
    this.emitDatagram(packet, path.remote, path.local);
    this.counters.espOut++;
    if (!path.rekeyRequested && path.sa.needsRekey(now)) {
      path.rekeyRequested = true;
      this.host.rekey(now, peerHit);
      this.drive();
    }
    return true;
  }

  snapshot(): EngineSnapshot {
    const associations = this.host.associations().map((a) => {
      const peer = hitToText(a.peerHit);
      const path = this.outbound.get(peer);
      const inboundSpi = a.inboundSpi;
      const inEntry = inboundSpi === undefined ? undefined : this.inbound.get(inboundSpi);
      return {
        peer,
        state: a.state,
        local: path?.local ?? a.local,
        remote: path?.remote ?? a.remote,
        inboundSpi,
        outboundSpi: a.outboundSpi,
        suite: path?.suite,
        espPacketsOut: path?.sa.packets ?? 0,
        espPacketsIn: inEntry?.sa.counters.accepted ?? 0,
      };
    });
    return { hit: this.hitText, locals: this.locals(), associations, counters: this.counters.snapshot(this.host.counters) };
  }

  /** Closes every association (waiting briefly for CLOSE_ACKs), then the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    const open = this.host.associations().filter((a) => a.state === 'ESTABLISHED' || a.state === 'R2-SENT');
    for (const a of open) this.host.close(this.clock.now(), a.peerHit);
    this.drive();
    const deadline = this.clock.now() + graceMs;
    while (
      this.clock.now() < deadline &&
      this.host.associations().some((a) => a.state === 'CLOSING')
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.transport.close();
  }

  private onDatagram(d: UdpDatagram): void {
    if (this.stopped) return;
    const now = this.clock.now();
    switch (d.kind) {
      case 'runt':
        this.counters.count('udp-runt');
        return;
      case 'hip':
        this.opts.tap?.('in', frameHip(d.packet), d.from, d.to);
        this.counters.hipIn++;
        this.host.handlePacket(now, d.packet, d.from, d.to);
        this.drive();
        return;
      case 'esp':
        this.opts.tap?.('in', d.packet, d.from, d.to);
        this.onEsp(now, d.packet);
        return;
    }
  }

  private onEsp(now: number, packet: Uint8Array): void {
    this.counters.espIn++;
    const spi = espSpi(packet);
    const entry = spi === null ? undefined : this.inbound.get(spi);
    if (!entry) {
      this.counters.count('esp-unknown-spi');
      return;
    }
    const result = entry.sa.open(packet, now);
    if (!result.ok) {
      this.counters.count(`esp-${result.reason}`);
      return;
    }
    this.host.espAuthenticated(now, entry.peerHit);
    this.drive();
    this.emit('event', {
      type: 'payload',
      peer: hitToText(entry.peerHit),
      peerHit: entry.peerHit,
      nextHeader: result.nextHeader,
      payload: result.payload,
    } satisfies EngineEvent);
  }

  /** Runs the host until it has nothing more to say, then re-arms the one timer. */
  private drive(): void {
    const now = this.clock.now();
    this.retireInbound(now);
    for (let t = this.host.pollTransmit(); t; t = this.host.pollTransmit()) {
      const from = t.from ?? this.transport.localFor(t.to);
      this.emitDatagram(frameHip(t.bytes), t.to, from);
      this.counters.hipOut++;
    }
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) this.onHostEvent(now, e);
    this.arm();
  }

  private emitDatagram(datagram: Uint8Array, to: UdpEndpoint, from: UdpEndpoint | undefined): void {
    const local = this.transport.localFor(to, from);
    if (!local || !this.transport.send(datagram, to, local)) {
      this.counters.count('udp-no-socket');
      return;
    }
    this.opts.tap?.('out', datagram, local, to);
  }

  private onHostEvent(now: number, e: HostEvent): void {
    const peer = hitToText(e.peerHit);
    switch (e.type) {
      case 'state':
        this.emit('event', { type: 'association', peer, from: e.from, to: e.to } satisfies EngineEvent);
        return;
      case 'established':
        this.installSa(now, e.peerHit, e.sa, e.remote, e.local);
        this.emit('event', {
          type: 'established', peer, local: e.local, remote: e.remote, initiator: e.initiator, suite: e.sa.suite,
        } satisfies EngineEvent);
        return;
      case 'rekeyed': {
        const path = this.outbound.get(peer);
        if (!path) return;
        const old = this.inbound.get(e.oldInboundSpi);
        if (old) old.retireAt = now + (this.opts.rekeyOverlapMs ?? 5000);
        this.installSa(now, e.peerHit, e.sa, path.remote, path.local);
        this.emit('event', { type: 'rekeyed', peer, inboundSpi: e.sa.inboundSpi, outboundSpi: e.sa.outboundSpi } satisfies EngineEvent);
        return;
      }
      case 'closed':
      case 'failed':
        this.dropSas(peer);
        this.emit('event', e.type === 'closed'
          ? ({ type: 'closed', peer, byPeer: e.byPeer } satisfies EngineEvent)
          : ({ type: 'failed', peer, reason: e.reason } satisfies EngineEvent));
        return;
      case 'notify':
        this.emit('event', { type: 'notify', peer, notifyType: e.notifyType, authenticated: e.authenticated } satisfies EngineEvent);
        return;
    }
  }

  private installSa(now: number, peerHit: Uint8Array, sa: SaKeys, remote: UdpEndpoint, local: UdpEndpoint): void {
    const peer = hitToText(peerHit);
    this.outbound.set(peer, {
      sa: new EspOutboundSa({ spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound, createdAt: now }),
      suite: sa.suite,
      remote,
      local: this.transport.localFor(remote, local) ?? local,
      rekeyRequested: false,
    });
    this.inbound.set(sa.inboundSpi, {
      sa: new EspInboundSa({ spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound, createdAt: now }),
      peerHit,
    });
  }

  private dropSas(peer: string): void {
    this.outbound.delete(peer);
    for (const [spi, entry] of this.inbound) if (hitToText(entry.peerHit) === peer) this.inbound.delete(spi);
  }

  private retireInbound(now: number): void {
    for (const [spi, entry] of this.inbound) if (entry.retireAt !== undefined && entry.retireAt <= now) this.inbound.delete(spi);
  }

  /** Inbound SPIs are ours to choose: random, unique, outside the reserved 0–255. */
  private allocateSpi(): number {
    for (;;) {
      const b = this.opts.crypto.randomBytes(4);
      const spi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (spi > 255 && !this.inbound.has(spi)) return spi;
    }
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.host.nextTimeout();
    if (next === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDeadline = Infinity;
      return;
    }
    if (this.timer && next >= this.timerDeadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDeadline = next;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDeadline = Infinity;
      this.host.handleTimeout(this.clock.now());
      this.drive();
    }, Math.max(0, next - this.clock.now()));
  }
}
