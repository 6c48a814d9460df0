// The engine's side of TUN mode: starts the worker-thread data plane, translates the engine's
// SA and peer changes into worker messages, and turns the worker's reports back into engine
// calls (control datagrams, "peer has our keys", "rekey", "connect this peer") and counters.

import type { SaKeys } from '../hip/host.js';
import { hitToText, textToHit } from '../hip/wire/address.js';
import { DataplaneClient } from '../dataplane/client.js';
import { ipv4ToNumber } from '../dataplane/packet.js';
import type { UdpDatagram, UdpEndpoint } from '../platform/udp.js';
import { DEFAULT_TUN_MTU } from '../dataplane/packet.js';
import { assignTunAddresses } from '../platform/tun.js';
import type { PeerDirectory } from './peers.js';
import { toAddr16 } from '../base/addr16.js';

export interface TunnelLinkOptions {
  hit: Uint8Array;
  lsi: string;
  tun: { name: string; create: boolean; mtu?: number };
  addresses: string[];
  port: number;
  devices: Record<string, string>;
  peers: PeerDirectory;
  onDatagram: (d: UdpDatagram) => void;
  onEspHeard(peerHit: Uint8Array): void;
  /** Authenticated ESP from the peer arrived on another pair than its last packet (`bytes`: that datagram). */
  onEspSource(peerHit: Uint8Array, from: UdpEndpoint, to: UdpEndpoint, bytes: number): void;
  onRekeyNeeded(peerHit: Uint8Array): void;
  onNeedConnect(peerHit: Uint8Array): void;
  onWarning(message: string): void;
  /** How often the data plane reports counters (failure detection reads them). */
  statsIntervalMs?: number;
  /** Fresh counters arrived. */
  onStats?: () => void;
  /** The data plane's sockets changed (mobility), or opening one failed. */
  onLocals?: (locals: UdpEndpoint[], failure?: { address: string; error: string }) => void;
}

export interface TunnelPeerStats { packetsIn: number; bytesIn: number; packetsOut: number; bytesOut: number; lastHeardMs: number | null }

function lsiNumber(lsi: string): number {
  const n = ipv4ToNumber(lsi);
  if (n === null) throw new RangeError(`not an LSI: ${lsi}`);
  return n;
}

export class TunnelLink {
  private constructor(private readonly client: DataplaneClient, private readonly peers: PeerDirectory) {}

  static async start(opts: TunnelLinkOptions): Promise<TunnelLink> {
    // Whoever starts the engine can listen only once start() has returned, so warnings raised
    // while starting (no fast path, slow I/O) are held and delivered right after that.
    const held: string[] = [];
    let holding = true;
    const warn = (message: string): void => {
      if (holding) held.push(message);
      else opts.onWarning(message);
    };
    const release = (): void => {
      setImmediate(() => {
        for (const m of held.splice(0)) opts.onWarning(m);
        holding = false;
      });
    };
    const client = await DataplaneClient.start({
      ownHit: opts.hit,
      ownLsi: lsiNumber(opts.lsi),
      tun: { name: opts.tun.name, mtu: opts.tun.mtu ?? DEFAULT_TUN_MTU },
      addresses: opts.addresses,
      port: opts.port,
      devices: opts.devices,
      onDatagram: opts.onDatagram,
      onEvent: (e) => {
        switch (e.type) {
          case 'esp-heard': return opts.onEspHeard(e.peerHit);
          case 'esp-source': return opts.onEspSource(e.peerHit, e.from, e.to, e.bytes);
          case 'rekey-needed': return opts.onRekeyNeeded(e.peerHit);
          case 'need-connect': return opts.onNeedConnect(e.peerHit);
        }
      },
      onWarning: warn,
      ...(opts.statsIntervalMs === undefined ? {} : { statsIntervalMs: opts.statsIntervalMs }),
      ...(opts.onStats ? { onStats: opts.onStats } : {}),
    });
    client.onLocals = opts.onLocals;
    if (opts.tun.create) {
      // Root, device of our own: give it the HIT and LSI as `hipvpn setup` would have.
      try {
        assignTunAddresses(client.tunName, opts.hit, opts.lsi, opts.tun.mtu ?? DEFAULT_TUN_MTU);
      } catch (err) {
        await client.stop();
        throw err;
      }
    }
    if (client.io === 'node') warn('data plane runs on the slow pure-node path (node:dgram, node:fs TUN reads)');
    const link = new TunnelLink(client, opts.peers);
    link.setRoutes();
    release();
    return link;
  }

  /** What the engine sends HIP control packets through. */
  get transport(): Pick<DataplaneClient, 'locals' | 'localFor' | 'send' | 'close'> {
    return {
      locals: () => this.client.locals(),
      localFor: (to, from) => this.client.localFor(to, from),
      send: (d, to, from) => this.client.send(d, to, from),
      // The engine stops the worker itself (awaiting it) once associations are closed.
      close: () => undefined,
    };
  }

  /** Re-sends the configured peers and their LSIs, so their traffic can trigger a connect. */
  setRoutes(): void {
    this.client.commands.setRoutes(this.peers.all().map((p) => ({ hit: p.hit, lsi: lsiNumber(this.peers.lsiOf(p.hit)) })));
  }

  installSa(peerHit: Uint8Array, sa: SaKeys, remote: UdpEndpoint, local: UdpEndpoint): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (!remoteAddr16) return;
    this.client.commands.installSa({
      hit: peerHit, lsi: lsiNumber(this.peers.lsiOf(peerHit)),
      outbound: { spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound },
      inbound: { spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound },
      remote, remoteAddr16, local: local.address,
    });
  }

  /**
   * Moves a peer's outbound ESP to another locator pair (mobility), on `outboundSpi`'s SA when
   * given; to an address not `verified`, only within the peer's credit.
   */
  setPath(peerHit: Uint8Array, remote: UdpEndpoint, local: UdpEndpoint, verified: boolean, outboundSpi?: number): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (remoteAddr16) this.client.commands.setPath(peerHit, remote, remoteAddr16, local.address, verified, outboundSpi);
  }

  /** A further SA pair with the peer (simultaneous multihoming). */
  addSas(peerHit: Uint8Array, sa: SaKeys): void {
    this.client.commands.addSas(
      peerHit,
      { spi: sa.outboundSpi, suite: sa.suite, keys: sa.outbound },
      { spi: sa.inboundSpi, suite: sa.suite, keys: sa.inbound },
    );
  }

  removeOutbound(peerHit: Uint8Array, spi: number): void {
    this.client.commands.removeOutbound(peerHit, spi);
  }

  /** For `forMs`, every ESP packet to the peer also goes out on this pair (0 stops it). */
  setSpare(peerHit: Uint8Array, remote: UdpEndpoint, local: UdpEndpoint, forMs: number): void {
    const remoteAddr16 = toAddr16(remote.address);
    if (remoteAddr16) this.client.commands.setSpare(peerHit, remote, remoteAddr16, local.address, forMs);
  }

  /** The peer's pair is in doubt (on): its ESP is kept for a re-send on the next pair; off discards it. */
  setHeld(peerHit: Uint8Array, on: boolean): void {
    this.client.commands.setHeld(peerHit, on);
  }

  /** Opens a socket for a local address that appeared, bound to its device. */
  openSocket(address: string, device: string | undefined): void {
    this.client.openSocket(address, device);
  }

  closeSocket(address: string): void {
    this.client.closeSocket(address);
  }

  dropSas(peer: string): void {
    const hit = textToHit(peer);
    if (hit) this.client.commands.dropSas(hit);
  }

  retireInbound(spi: number, afterMs: number): void {
    this.client.commands.retireInbound(spi, afterMs);
  }

  sendPayload(peerHit: Uint8Array, payload: Uint8Array, nextHeader: number): void {
    this.client.commands.sendPayload(peerHit, payload, nextHeader);
  }

  peerStats(peerHit: Uint8Array): TunnelPeerStats | undefined {
    const latest = this.client.stats();
    if (!latest) return undefined;
    const key = hitToText(peerHit);
    const p = latest.stats.peers.find((x) => hitToText(x.hit) === key);
    if (!p) return undefined;
    return {
      packetsIn: p.packetsIn, bytesIn: p.bytesIn, packetsOut: p.packetsOut, bytesOut: p.bytesOut,
      lastHeardMs: p.lastHeardAgoMs === null ? null : p.lastHeardAgoMs + latest.ageMs,
    };
  }

  /** Adds the data plane's packet counts and drops (prefixed "dp-") to the engine's counters. */
  addCounters(c: { espIn: number; espOut: number; espSpareCopies: number; espResent: number; dropped: Record<string, number>; droppedTotal: number }): void {
    const latest = this.client.stats();
    if (!latest) return;
    c.espSpareCopies += latest.stats.spareCopies;
    c.espResent += latest.stats.heldResent;
    for (const p of latest.stats.peers) {
      c.espIn += p.packetsIn;
      c.espOut += p.packetsOut;
    }
    for (const [k, v] of Object.entries(latest.stats.drops)) {
      c.dropped[`dp-${k}`] = v;
      c.droppedTotal += v;
    }
  }

  stop(): Promise<void> {
    return this.client.stop();
  }
}
