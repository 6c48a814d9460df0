// Per peer, the SAs the data plane holds and the path its traffic leaves on, and the commands
// that keep the data plane so: installing, adding and retiring SAs, the make-before-break
// hand-over of a rekey, the SA each pair takes, and which of the peer's addresses HIP verified.
// HostCore feeds it HIP's events and pair selection's moves; sans-IO.

import { hitKey } from '../../src-shared/vocabulary.js';
import type { AssociationSnapshot, Endpoint, SaKeys } from '../hip/host.js';

import type { DataplaneCommand, PathCause } from './core-io.js';
import { InboundSpis } from './inbound-spis.js';
import { OutboundSas } from './outbound-sas.js';

export interface DataplaneSasContext {
  /** Where the commands go, in order. */
  readonly commands: DataplaneCommand[];
  association(peerHit: Uint8Array): AssociationSnapshot | undefined;
  isVerified(peerHit: Uint8Array, remote: Endpoint): boolean;
  /** Our interface with this address, as pair selection knows it. */
  ifnameOf(address: string): string | undefined;
}

export class DataplaneSas {
  readonly outbound = new OutboundSas();
  readonly inbound: InboundSpis;
  /** Per peer, the verified addresses the data plane was last told of (set-verified-addresses), as a key. */
  private readonly verifiedTold = new Map<string, string>();

  constructor(private readonly ctx: DataplaneSasContext, randomBytes: (n: number) => Uint8Array, private readonly overlapMs: number) {
    this.inbound = new InboundSpis(randomBytes);
  }

  install(peer: string, peerHit: Uint8Array, sa: SaKeys, local: Endpoint, remote: Endpoint): void {
    const verified = this.ctx.isVerified(peerHit, remote);
    const activeSpi = this.outbound.install(peer, sa.outboundSpi, sa.suite, local, remote, verified);
    this.inbound.use(sa.inboundSpi, peer);
    this.ctx.commands.push({ type: 'install-sa', peerHit, sa, local, remote, activeSpi, verified });
    this.tellVerifiedAddresses(peer, peerHit);
  }

  /**
   * The base pair was rekeyed: the new pair replaces it, or waits for the peer's confirmation.
   * False while the data plane holds no SA of the peer's.
   */
  rekeyed(now: number, peer: string, peerHit: Uint8Array, sa: SaKeys, oldInboundSpi: number, oldOutboundSpi: number, confirmed: boolean): boolean {
    const out = this.outbound.get(peer);
    if (!out) return false;
    this.retireInbound(now, oldInboundSpi);
    if (confirmed) this.install(peer, peerHit, sa, out.local, out.remote);
    else this.addBaseSuccessor(peer, peerHit, sa, oldOutboundSpi);
    return true;
  }

  /** A further SA pair (simultaneous multihoming): installed beside the base one. */
  add(peer: string, peerHit: Uint8Array, sa: SaKeys): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    out.extra.add(sa.outboundSpi);
    this.inbound.use(sa.inboundSpi, peer);
    this.ctx.commands.push({ type: 'add-sas', peerHit, sa });
    this.reselect(peer, peerHit);
    this.tellVerifiedAddresses(peer, peerHit);
  }

  /**
   * A further SA pair was rekeyed, make-before-break: the new pair is installed and takes the
   * traffic of the old one before the old outbound SA goes; the old inbound SA keeps taking
   * what is in flight for the overlap. Until the peer is known to hold the new pair
   * (`confirmed`), the old outbound SA stands in for the new one. False while the data plane
   * holds no SA of the peer's.
   */
  replace(now: number, peer: string, peerHit: Uint8Array, sa: SaKeys, oldInboundSpi: number, oldOutboundSpi: number, confirmed: boolean): boolean {
    const out = this.outbound.get(peer);
    if (!out) return false;
    if (!confirmed && out.extra.has(oldOutboundSpi)) out.standIn.set(sa.outboundSpi, oldOutboundSpi);
    this.add(peer, peerHit, sa);
    if (confirmed && out.extra.delete(oldOutboundSpi)) this.ctx.commands.push({ type: 'remove-outbound', peerHit, spi: oldOutboundSpi });
    this.retireInbound(now, oldInboundSpi);
    return true;
  }

  /**
   * The base pair was rekeyed at the peer's request: we hold the new pair before the peer does,
   * so its outbound SA waits beside the old base SA, which keeps the traffic, until the peer is
   * known to hold it (successorConfirmed promotes it). Its inbound SA takes packets at once.
   */
  private addBaseSuccessor(peer: string, peerHit: Uint8Array, sa: SaKeys, oldOutboundSpi: number): void {
    const out = this.outbound.get(peer)!;
    if (out.baseSpi !== oldOutboundSpi) {
      this.install(peer, peerHit, sa, out.local, out.remote);
      return;
    }
    out.standIn.set(sa.outboundSpi, oldOutboundSpi);
    this.add(peer, peerHit, sa);
  }

  /** The SA standing in for a successor that is this outbound SPI: the successor's SPI, if any. */
  successorOf(peer: string, spi: number | undefined): number | undefined {
    return [...(this.outbound.get(peer)?.standIn ?? [])].find(([, old]) => old === spi)?.[0];
  }

  /** The peer holds the successor of a rekeyed SA: the traffic moves onto it, then the old SA goes. */
  successorConfirmed(peer: string, peerHit: Uint8Array, outboundSpi: number): void {
    const out = this.outbound.get(peer);
    const old = out?.standIn.get(outboundSpi);
    if (!out || old === undefined) return;
    if (old === out.baseSpi) {
      this.outbound.promoteBase(out, outboundSpi);
      this.ctx.commands.push({ type: 'promote-base', peerHit, spi: outboundSpi });
      this.reselect(peer, peerHit);
      this.tellVerifiedAddresses(peer, peerHit);
      return;
    }
    out.standIn.delete(outboundSpi);
    this.reselect(peer, peerHit);
    if (out.extra.delete(old)) this.ctx.commands.push({ type: 'remove-outbound', peerHit, spi: old });
  }

  /** An SA pair was deprecated: its outbound half goes now, its inbound half after the overlap. */
  remove(now: number, peer: string, peerHit: Uint8Array, inboundSpi: number, outboundSpi: number): void {
    this.retireInbound(now, inboundSpi);
    const out = this.outbound.get(peer);
    if (!out) return;
    // The base exchange's own pair stays installed when deprecated (only a rekey replaces it);
    // spiFor no longer picks it, as the association's next pair took its place.
    if (out.extra.delete(outboundSpi)) this.ctx.commands.push({ type: 'remove-outbound', peerHit, spi: outboundSpi });
    for (const [successor, old] of out.standIn) if (old === outboundSpi) out.standIn.delete(successor);
    this.reselect(peer, peerHit);
    this.tellVerifiedAddresses(peer, peerHit);
  }

  private retireInbound(now: number, spi: number): void {
    this.inbound.retire(spi, now + this.overlapMs);
    this.ctx.commands.push({ type: 'retire-inbound', spi, afterMs: this.overlapMs });
  }

  drop(peer: string, peerHit: Uint8Array): void {
    this.ctx.commands.push({ type: 'drop-sas', peerHit });
    this.verifiedTold.delete(peer);
    this.outbound.drop(peer);
    this.inbound.dropPeer(peer);
  }

  /**
   * The peer's outbound ESP moves to this pair, on the SA of that pair. False while the data
   * plane holds no SA of the peer's.
   */
  moveTo(peer: string, peerHit: Uint8Array, local: Endpoint, remote: Endpoint, cause: PathCause): boolean {
    const out = this.outbound.get(peer);
    if (!out) return false;
    out.local = { ...local };
    out.remote = { ...remote };
    out.activeSpi = this.spiFor(peer, peerHit, local, remote);
    out.verified = this.ctx.isVerified(peerHit, remote);
    this.ctx.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi: out.activeSpi, verified: out.verified, cause });
    return true;
  }

  /**
   * A data plane holding this peer followed its ESP to a new source `from`; if HIP did not (the
   * address is deprecated or unusable), our path stands and the data plane is told.
   */
  sourceFollowed(peerHit: Uint8Array, path: { local: Endpoint; remote: Endpoint } | undefined, from: Endpoint): void {
    const out = this.outbound.get(hitKey(peerHit));
    if (!path || !out || (path.remote.address === from.address && path.remote.port === from.port)) return;
    const verified = this.ctx.isVerified(peerHit, path.remote);
    this.ctx.commands.push({ type: 'set-path', peerHit, local: path.local, remote: path.remote, spi: out.activeSpi, verified, cause: 'source-refused' });
  }

  /**
   * Copies the peer's data onto a spare pair for a while. Fault tolerance only: with one SA the
   * peer's anti-replay window drops the later copy; simultaneous multihoming has an SA per pair,
   * and copies there would be delivered twice.
   */
  copyTo(peer: string, peerHit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void {
    if (!this.outbound.get(peer)) return;
    if (this.ctx.association(peerHit)?.multihoming === 'simultaneous') return;
    this.ctx.commands.push({ type: 'set-spare', peerHit, local: { ...local }, remote: { ...remote }, forMs });
  }

  /** The SAs or the peer's locators changed: the traffic takes the SA its locator names now. */
  reselect(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    const spi = this.spiFor(peer, peerHit, out.local, out.remote);
    if (spi === out.activeSpi) return;
    out.activeSpi = spi;
    const cause: PathCause = 'sa-changed';
    this.ctx.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi, verified: out.verified, cause });
  }

  /**
   * The data plane follows a held peer's ESP to a new source on its own, before we hear of it;
   * it must know which of the peer's addresses HIP verified, and on which SA each is reached,
   * or it charges the move to credit and may refuse the answer to the very packet it followed.
   */
  private tellVerifiedAddresses(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    const a = this.ctx.association(peerHit);
    if (!out || !a) return;
    const addresses = a.peerLocators
      .filter((l) => l.state === 'ACTIVE')
      .map((l) => ({ remote: { address: l.address, port: l.port }, spi: this.outbound.spiFor(out, a, undefined, l) }));
    const key = addresses.map((x) => `${x.remote.address}|${x.remote.port}|${x.spi}`).join(' ');
    if (this.verifiedTold.get(peer) === key) return;
    this.verifiedTold.set(peer, key);
    this.ctx.commands.push({ type: 'set-verified-addresses', peerHit, addresses });
  }

  /** HIP verified one of the peer's addresses (or the peer's locators changed): the data plane follows. */
  verificationChanged(peer: string, peerHit: Uint8Array): void {
    this.refreshVerified(peer, peerHit);
    this.tellVerifiedAddresses(peer, peerHit);
  }

  /** The peer's address the traffic goes to was verified (or stopped being): the credit limit follows. */
  private refreshVerified(peer: string, peerHit: Uint8Array): void {
    const out = this.outbound.get(peer);
    if (!out) return;
    const verified = this.ctx.isVerified(peerHit, out.remote);
    if (verified === out.verified) return;
    out.verified = verified;
    this.ctx.commands.push({ type: 'set-path', peerHit, local: out.local, remote: out.remote, spi: out.activeSpi, verified, cause: 'verification' });
  }

  private spiFor(peer: string, peerHit: Uint8Array, local: Endpoint, remote: Endpoint): number {
    const out = this.outbound.get(peer)!;
    return this.outbound.spiFor(out, this.ctx.association(peerHit), this.ctx.ifnameOf(local.address), remote);
  }
}
