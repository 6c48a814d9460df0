// What HostCore does with its relays (RFC 8003 registration, RFC 9028 relaying), sans-IO:
// unwraps the peers' HIP packets a relay passes on and wraps ours to peers reached through one,
// sends registrations when relay-clients.ts says they are due (with our data-relay permissions),
// connects to relays, offers a peer new candidates through its relay after the path was lost,
// and tells a peer through its relay when every check of its direct candidates failed.

import { hitKey } from '../../src-shared/vocabulary.js';
import type { AssociationSnapshot, Endpoint, HipHost, Transmit } from '../hip/host.js';
import type { CryptoProvider } from '../hip/crypto/provider.js';
import type { OwnLocator } from '../hip/local-locators.js';
import { ipToBytes16, textToHit } from '../hip/wire/address.js';
import type { PeerPermission } from '../hip/wire/params.js';
import { unwrapRelayed, wrapForRelay } from '../relay/relayed-packet.js';
import type { CoreEvent } from './core-io.js';
import type { InboundSpis } from './inbound-spis.js';
import type { EngineLocator, PathManager } from './path-manager.js';
import { REGISTRATION_RETRY_MS, type RelayClients, type RelayConfig } from './relay-clients.js';

const HIT_SENDER = 8;
const HIT_RECEIVER = 24;
const HIT_LENGTH = 16;

/** Whether a HIP packet is long enough to carry both HITs (a relay's own short packets are not looked into). */
export const carriesHits = (bytes: Uint8Array): boolean => bytes.length >= HIT_RECEIVER + HIT_LENGTH;

/** How a peer's traffic travels: straight to its address, or through one of our relays. */
export type PeerVia = { via: 'direct' } | { via: 'relay'; relay: string; relayHit: string };

export interface RelayAgentContext {
  readonly host: HipHost;
  readonly relays: RelayClients;
  readonly crypto: CryptoProvider;
  readonly paths: Pick<PathManager, 'localLocators' | 'offered'>;
  readonly inbound: InboundSpis;
  readonly events: CoreEvent[];
  association(peerHit: Uint8Array): AssociationSnapshot | undefined;
}

export class RelayAgent {
  /** Relayed control packets refused, by reason (bad RELAY_HMAC, malformed, no key). */
  private readonly drops: Record<string, number> = {};
  /** When a relay whose association is gone is next tried. */
  private readonly retryAt = new Map<string, number>();
  /** Peers whose path was lost: each gets a new offer once the relay it is reached through answers our new registration. */
  private readonly offersDue = new Set<string>();
  /** CONNECTIVITY_CHECKS_FAILED notices: sent through a relay, and taken from peers (held pairs). */
  private readonly checkNotices = { sent: 0, received: 0, heldPairs: 0 };

  constructor(private readonly ctx: RelayAgentContext) {}

  /**
   * A HIP packet from one of our relays: its own, or a peer's it passed on. A passed-on packet's
   * RELAY_HMAC must hold under our association with the relay; then HIP sees the packet as its
   * sender signed it, from the relay, with the original source for the per-source limits.
   */
  fromRelay(now: number, relay: RelayConfig, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const { host, relays } = this.ctx;
    const keys = host.integrityKeys(relay.hit);
    const unwrapped = unwrapRelayed(this.ctx.crypto, bytes, keys && { hash: keys.hash, key: keys.inbound });
    if (!unwrapped.relayed) {
      host.handlePacket(now, bytes, from, to);
      return;
    }
    if (!unwrapped.ok) {
      this.drops[unwrapped.reason] = (this.drops[unwrapped.reason] ?? 0) + 1;
      return;
    }
    const peerHit = unwrapped.bytes.slice(HIT_SENDER, HIT_SENDER + HIT_LENGTH);
    const peer = hitKey(peerHit);
    const relayHit = hitKey(relay.hit);
    const establishedBefore = this.ctx.association(peerHit)?.state === 'ESTABLISHED';
    const dropsBefore = this.hipDrops();
    host.handlePacket(now, unwrapped.bytes, from, to, unwrapped.origin);
    const accepted = this.hipDrops() === dropsBefore;
    // Our answers go back through the relay to where it saw the sender. For a peer we hold an
    // association with, only a packet HIP accepted may move that, and then the relay's
    // permission for the peer's ESP follows; a handshake's answer goes wherever the I1 or I2 came from.
    if (establishedBefore ? accepted : true) {
      if (relays.reachedThrough(peer, relayHit, unwrapped.origin) && this.ctx.association(peerHit)?.state === 'ESTABLISHED') {
        relays.due(now, relayHit);
      }
    }
  }

  /**
   * A HIP datagram of ours. One for a peer we reach through a relay, which saw that peer at an
   * address of its own NAT, goes to the relay with RELAY_TO and our RELAY_HMAC.
   */
  toRelay(t: Transmit): Transmit {
    const { host, relays } = this.ctx;
    if (!carriesHits(t.bytes)) return t;
    const relay = relays.atEndpoint(t.to);
    if (relay === undefined) return t;
    const receiver = hitKey(t.bytes.subarray(HIT_RECEIVER, HIT_RECEIVER + HIT_LENGTH));
    const origin = relays.route(receiver)?.origin;
    if (receiver === hitKey(relay.hit) || origin === undefined) return t;
    const keys = host.integrityKeys(relay.hit);
    const wrapped = keys && wrapForRelay(this.ctx.crypto, t.bytes, origin, { hash: keys.hash, key: keys.outbound });
    if (wrapped === undefined) {
      this.drops['relay-unwrappable'] = (this.drops['relay-unwrappable'] ?? 0) + 1;
      return t;
    }
    return { ...t, bytes: wrapped };
  }

  /**
   * Registrations that are due: with each relay we hold an association with, one UPDATE carrying
   * the REG_REQUEST and a PEER_PERMISSION for every peer we reach through it (the data relay
   * forwards their ESP to us only with one); a relay we hold none with gets a base exchange.
   */
  flush(now: number): void {
    const { host, relays } = this.ctx;
    for (const relayHit of relays.dueNow(now)) {
      const hit = textToHit(relayHit)!;
      const state = this.ctx.association(hit)?.state;
      if (state === 'ESTABLISHED' || state === 'R2-SENT') {
        const bridge = relays.registerFrom(now, relayHit);
        const via = bridge !== undefined && this.ctx.paths.localLocators().some((l) => l.operational && l.address === bridge.address) ? bridge : undefined;
        const r = host.register(now, hit, relays.request(), this.permissionsThrough(relayHit), via);
        if (r.ok) relays.sent(now, relayHit, (via ?? this.ctx.association(hit)?.local)?.address);
      } else {
        this.connect(now, relayHit);
        relays.sent(now, relayHit);
      }
    }
  }

  /** Every relay registers again (our locators changed, or a path was lost). */
  renewAll(now: number): void {
    for (const relay of this.ctx.relays.configs()) this.ctx.relays.due(now, hitKey(relay.hit));
  }

  private connect(now: number, relayHit: string): void {
    const relay = this.ctx.relays.config(relayHit);
    const state = relay && this.ctx.association(relay.hit)?.state;
    if (relay === undefined || (state !== undefined && state !== 'CLOSED' && state !== 'E-FAILED' && state !== 'UNASSOCIATED')) return;
    if ((this.retryAt.get(relayHit) ?? 0) > now) return;
    this.retryAt.set(relayHit, now + REGISTRATION_RETRY_MS);
    this.ctx.host.connect(now, relay.hit, relay.endpoint);
  }

  /**
   * The relays to use from now on: with one no longer listed our association is closed, which
   * ends what it relayed for us (its registration lapses, and the relay drops hosts holding none).
   */
  setRelays(now: number, relays: readonly RelayConfig[]): void {
    for (const hit of this.ctx.relays.set(now, relays)) {
      this.retryAt.delete(hit);
      this.ctx.host.close(now, textToHit(hit)!);
    }
  }

  /** The relay a peer is reached through, if it is one of ours. */
  private relayFor(peer: string): RelayConfig | undefined {
    const route = this.ctx.relays.route(peer);
    return route === undefined ? undefined : this.ctx.relays.config(route.relay);
  }

  /**
   * Every check toward the peer's direct candidates failed while the relay carries it: the peer
   * hears so through the relay (seed 000 §5.1.2, RFC 9028 §5.10), signed, so that it stops
   * spending checks on the same pairs.
   */
  notifyChecksFailed(peerHit: Uint8Array): boolean {
    const relay = this.relayFor(hitKey(peerHit));
    if (relay === undefined || !this.ctx.host.notifyChecksFailed(peerHit, relay.endpoint)) return false;
    this.checkNotices.sent++;
    return true;
  }

  /** A peer's notice that its checks of our candidates failed: pair selection held this many pairs. */
  checksFailedHeard(heldPairs: number): void {
    this.checkNotices.received++;
    this.checkNotices.heldPairs += heldPairs;
  }

  /**
   * The pair in use stopped answering and no other works (seed 000 §3.3): register with every
   * relay again, which tells us where each sees us now (REG_FROM: a NAT that forgot our mapping
   * moved us) and where peers reach us, and once the relay the peer is reached through has
   * answered, send the peer a new offer through it (see `registered`).
   */
  gatherAgain(now: number, peerHit: Uint8Array): void {
    const peer = hitKey(peerHit);
    if (this.ctx.relays.isRelay(peer) || this.relayFor(peer) === undefined) return;
    this.offersDue.add(peer);
    this.renewAll(now);
  }

  /**
   * The relay answered our registration: peers waiting for a new offer through it get one now,
   * and our I1s sent through it before it had our registration go again (see `retryThroughRelay`).
   */
  registered(now: number, relayHit: string): void {
    for (const peer of [...this.offersDue]) {
      const relay = this.relayFor(peer);
      if (relay === undefined) {
        this.offersDue.delete(peer);
        continue;
      }
      if (hitKey(relay.hit) !== relayHit) continue;
      this.offersDue.delete(peer);
      const peerHit = textToHit(peer)!;
      if (!this.ctx.host.offer(now, peerHit, relay.endpoint)) continue;
      this.ctx.paths.offered(now, peerHit);
      this.ctx.events.push({ type: 'offer', peer, peerHit, relay: relayHit });
    }
    this.retryThroughRelay(relayHit);
  }

  /** Our data-relay permissions at this relay: per peer reached through it, our inbound SPIs. */
  private permissionsThrough(relayHit: string): PeerPermission[] {
    const out: PeerPermission[] = [];
    for (const peer of this.ctx.relays.peersThrough(relayHit)) {
      const peerHit = textToHit(peer)!;
      const origin = this.ctx.relays.route(peer)?.origin;
      // Without the address the relay saw the peer at, the relay matches the peer's own registration.
      const address = (origin && ipToBytes16(origin.address)) || new Uint8Array(16);
      for (const spi of this.ctx.inbound.activeOf(peer)) {
        out.push({ kind: 'PEER_PERMISSION', port: origin?.port ?? 0, protocol: 17, address, peerHit, connectedSpi: spi });
      }
    }
    return out;
  }

  /**
   * A new association: with a relay, register (its R2 may have answered already; a relay that
   * restarted and ran the exchange itself has not); with a peer reached through a relay, that
   * relay needs our permission for the peer's ESP.
   */
  established(now: number, peer: string, remote: Endpoint): void {
    const { relays } = this.ctx;
    if (relays.isRelay(peer)) {
      this.retryAt.delete(peer);
      relays.due(now + 1, peer);
      return;
    }
    const relay = relays.atEndpoint(remote);
    if (relay === undefined) return;
    const relayHit = hitKey(relay.hit);
    relays.reachedThrough(peer, relayHit, undefined);
    relays.due(now, relayHit);
  }

  /** The peer's SAs changed: the relay it is reached through needs our new permissions. */
  permissionsChanged(now: number, peer: string): void {
    const route = this.ctx.relays.route(peer);
    if (route !== undefined) this.ctx.relays.due(now, route.relay);
  }

  /**
   * Our I1s sent through this relay before it had our registration were likely dropped there,
   * and so were the peer's if it registered after them: whichever of us registers second sends
   * its I1 again at once, instead of after the retransmission back-off (~1 s).
   */
  private retryThroughRelay(relayHit: string): void {
    const relay = this.ctx.relays.config(relayHit);
    if (relay === undefined) return;
    for (const a of this.ctx.host.associations()) {
      if (a.state === 'I1-SENT' && a.remote.address === relay.endpoint.address && a.remote.port === relay.endpoint.port) this.ctx.host.resendI1(a.peerHit);
    }
  }

  /**
   * What HIP may learn from the peer's ESP: its size always (credit), its source unless that is
   * one of our relays the peer never named: the data relay forwards a peer's ESP to our
   * registration, and its address reaches the peer only as a candidate the peer listed.
   */
  learnable(peerHit: Uint8Array, packet: { bytes: number; from: Endpoint }): { bytes: number; from: Endpoint } {
    if (this.ctx.relays.atEndpoint(packet.from) === undefined) return packet;
    const a = this.ctx.association(peerHit);
    const known = a?.peerLocators.some((l) => l.address === packet.from.address && l.port === packet.from.port);
    return known === true ? packet : { bytes: packet.bytes, from: a?.remote ?? packet.from };
  }

  /**
   * What HIP lists to peers: our host locators `hosts` (those that reach a peer, see
   * path-manager.ts `reaches`), then for each relay that holds our registration the address it
   * sees each uplink at (server reflexive, from the registrations that left from it) and its
   * relayed address, on the uplink our registration is keyed by (seed 000 §4.2 and §5.1.1, RFC
   * 9028 §4.2). A peer behind its own NAT can punch through to the first; the second is the way
   * in when no direct pair works. An uplink keeps its srflx candidate while the registration
   * sits on another.
   */
  candidates(now: number, hosts: readonly EngineLocator[]): OwnLocator[] {
    const { relays } = this.ctx;
    const own: OwnLocator[] = hosts.map((l, i) => ({ address: l.address, port: l.port, ifname: l.ifname, kind: l.kind, preferred: i === 0 }));
    const isOurs = (e: Endpoint): boolean => own.some((l) => l.address === e.address && l.port === e.port);
    for (const r of relays.view(now)) {
      if (!r.registered) continue;
      const local = relays.registeredVia(r.hit) ?? this.ctx.association(textToHit(r.hit)!)?.local?.address;
      const base = hosts.find((l) => l.address === local) ?? hosts[0];
      if (base === undefined) continue;
      const add = (e: Endpoint | null | undefined, candidate: 'srflx' | 'relayed', on: EngineLocator): void => {
        if (e != null && !isOurs(e)) own.push({ address: e.address, port: e.port, ifname: on.ifname, kind: on.kind, preferred: false, candidate });
      };
      for (const l of hosts) add(relays.reflexiveOf(r.hit, l.address) ?? (l === base ? r.reflexive : undefined), 'srflx', l);
      add(r.relayed, 'relayed', base);
    }
    return own;
  }

  /** Whether a peer's traffic to `remote` goes straight to it or through one of our relays. */
  via(peerHit: Uint8Array, remote: Endpoint | undefined): PeerVia {
    const relay = remote && this.ctx.relays.atEndpoint(remote);
    if (relay === undefined || this.ctx.relays.isRelay(hitKey(peerHit))) return { via: 'direct' };
    const relayHit = hitKey(relay.hit);
    return { via: 'relay', relay: relay.name ?? relayHit, relayHit };
  }

  /** CONNECTIVITY_CHECKS_FAILED notices sent and received (signed ones only), and the pairs they held. */
  get checkFailureCounters(): Readonly<{ sent: number; received: number; heldPairs: number }> {
    return { ...this.checkNotices };
  }

  /** Relayed control packets refused, by reason. */
  get counters(): Readonly<Record<string, number>> {
    return { ...this.drops };
  }

  private hipDrops(): number {
    let n = 0;
    for (const v of Object.values(this.ctx.host.counters.dropped)) n += v;
    return n;
  }
}
