// One HIP association: the per-peer state machine of RFC 7401 §4.4 (base exchange, CLOSE),
// with UPDATE-based rekeying (RFC 7402 §6.9), readdressing (RFC 8046) and further SA pairs
// (RFC 8047). It is fed packets the host has already decoded, shape-checked and routed by HIT
// pair, plus time; it answers through its context (packets to send, events) and through
// nextTimeout(). Nothing unauthenticated changes its state, except an R1 answering our own I1,
// which RFC 7401 allows.
//
// This class is the coordinator: it owns the shared state (association/shared-state.ts) and
// hands each packet, timer and request to the sub-machine whose job it is, each in its own
// module under association/ (base exchange, retransmission, rekey, extra SAs, readdressing,
// the peer's paths, UPDATE reception, probes, CLOSE, NOTIFY).

import type { HashName } from './crypto/provider.js';
import type { AcceptedI2 } from './responder.js';
import type { AnnouncedFlow } from './flow-announcement.js';
import type { DecodedPacket, Param, PeerPermission, RegRequest } from './wire/params.js';
import type { Endpoint } from '../../src-shared/vocabulary.js';
import { SharedState } from './association/shared-state.js';
import type { AssociationContext, AssociationSnapshot, AssociationState } from './association/types.js';

export type { Endpoint } from '../../src-shared/vocabulary.js';
export type {
  AddressChangeCause, AssociationContext, AssociationSnapshot, AssociationState, HostEvent, LocatorPair, SaKeys, SaPairView,
} from './association/types.js';

export class Association {
  private readonly s: SharedState;

  private constructor(ctx: AssociationContext, readonly peerHit: Uint8Array, remote: Endpoint, local: Endpoint | undefined, initiator: boolean) {
    this.s = new SharedState(ctx, peerHit, remote, local, initiator);
  }

  get state(): AssociationState {
    return this.s.state;
  }

  /** Set once the host should forget this association (UNASSOCIATED again). */
  get gone(): boolean {
    return this.s.gone;
  }

  get initiator(): boolean {
    return this.s.initiator;
  }

  get local(): Endpoint | undefined {
    return this.s.local;
  }

  get remote(): Endpoint {
    return this.s.remote;
  }

  /** Identifies the I2 this responder-side association was created from. */
  get solutionId(): string | undefined {
    return this.s.solutionId;
  }

  // -------------------------------------------------------------------------------------------
  // Base exchange (association/base-exchange.ts)

  /** We want to talk to `peerHit`: send I1 and wait for R1 (UNASSOCIATED → I1-SENT). */
  static initiate(ctx: AssociationContext, now: number, peerHit: Uint8Array, remote: Endpoint, local: Endpoint | undefined): Association {
    const a = new Association(ctx, peerHit, remote, local, true);
    a.s.exchange.start(now);
    return a;
  }

  /**
   * A fully verified I2 (see Responder.acceptI2): create the SAs, answer with R2 and wait in
   * R2-SENT. `replacing` is the state of an association this one supersedes.
   */
  static fromI2(
    ctx: AssociationContext, now: number, acc: AcceptedI2, peerHit: Uint8Array, from: Endpoint, to: Endpoint, replacing: AssociationState,
    r2Extra: readonly Param[] = [],
  ): Association {
    const a = new Association(ctx, peerHit, from, to, false);
    a.s.exchange.acceptI2(now, acc, from, to, replacing, r2Extra);
    return a;
  }

  /** The peer's own I1 arrived while ours waits and the peer answers ours: ours goes where its came from. */
  peerInitiatingFrom(from: Endpoint, to: Endpoint): void {
    this.s.exchange.peerInitiatingFrom(from, to);
  }

  /** Our I1 again, at once, where the others went (a relay just took a registration). */
  resendI1(): void {
    this.s.exchange.resendI1();
  }

  onR1(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    this.s.exchange.onR1(now, pkt, from, to);
  }

  onR2(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    this.s.exchange.onR2(now, pkt, from, to);
  }

  /** The same I2 again: our R2 was lost. Answer with the very same R2, create nothing. */
  resendR2(now: number, from: Endpoint): void {
    this.s.exchange.resendR2(now, from);
  }

  /** The engine opened ESP from this peer with our keys (with `packet`: its size and source). */
  espAuthenticated(now: number, packet?: { bytes: number; from: Endpoint }): void {
    this.s.exchange.espAuthenticated(now, packet);
  }

  // -------------------------------------------------------------------------------------------
  // Time (association/retransmit.ts)

  nextTimeout(): number | undefined {
    return this.s.retransmission.nextTimeout();
  }

  onTimeout(now: number): void {
    this.s.retransmission.onTimeout(now);
  }

  /** The engine's liveness probe went unanswered: failed locally, so a new base exchange may replace it. */
  abandon(now: number, reason: string): void {
    this.s.retransmission.abandon(now, reason);
  }

  // -------------------------------------------------------------------------------------------
  // UPDATE (association/update.ts) and rekeying (association/rekey.ts)

  onUpdate(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint, viaRelay = false): void {
    this.s.updates.onUpdate(now, pkt, from, to, viaRelay);
  }

  /** Starts a rekey of the base SA pair, or of the further pair whose outbound SA is `outboundSpi`. */
  startRekey(now: number, outboundSpi?: number): boolean {
    return this.s.rekeying.startRekey(now, outboundSpi);
  }

  // -------------------------------------------------------------------------------------------
  // Readdressing (association/readdressing.ts) and the peer's paths (association/peer-paths.ts)

  /** Our flow bindings for this peer (seed 002): a changed set goes out with our listing. */
  announceFlows(now: number, flows: readonly AnnouncedFlow[]): void {
    this.s.readdressing.announceFlows(now, flows);
  }

  /** The host's locators changed (HipHost.setLocalLocators): tell the peer. */
  localLocatorsChanged(now: number): void {
    this.s.readdressing.localLocatorsChanged(now);
  }

  /** A new offer (seed 000 §3.3): our whole listing again, sent to `via`. False when nothing went out. */
  offer(now: number, via: Endpoint): boolean {
    return this.s.readdressing.offer(now, via);
  }

  /** Whether the pair our traffic takes is in doubt: then the peer's authenticated packets say where it is. */
  setPathInDoubt(inDoubt: boolean): void {
    this.s.paths.setPathInDoubt(inDoubt);
  }

  /** Credit-based authorization (RFC 8046 §5.6): may `bytes` of data go to `to` now? */
  authorizeSend(now: number, to: Endpoint, bytes: number): boolean {
    return this.s.paths.authorizeSend(now, to, bytes);
  }

  /** Whether `to` is a verified (ACTIVE) address of the peer's (RFC 8046 §5.4). */
  isVerified(to: Endpoint): boolean {
    return this.s.paths.isVerified(to);
  }

  /** Pair selection or a manual failover chose this pair: control traffic follows it too. */
  setActivePair(now: number, local: Endpoint | undefined, remote: Endpoint): boolean {
    return this.s.paths.setActivePair(now, local, remote);
  }

  // -------------------------------------------------------------------------------------------
  // Probes and registration (association/probes.ts)

  /** Registers with (or renews at, or cancels with) this peer as a registrar, and installs data-relay permissions. */
  register(now: number, request: RegRequest | undefined, permissions: readonly PeerPermission[] = [], via?: Endpoint): { ok: true } | { ok: false; reason: string } {
    return this.s.probes.register(now, request, permissions, via);
  }

  /** A locator-pair probe (pair selection), sent from `local` to `remote`; never re-sent. */
  probePair(now: number, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[]): { ok: true } | { ok: false; reason: string } {
    return this.s.probes.probePair(now, local, remote, probeId, report);
  }

  /** Sends a HIP-level ping; the nonce it carries, or why it cannot be sent now. */
  startProbe(now: number): { ok: true; nonce: Uint8Array } | { ok: false; reason: 'not-established' | 'busy' } {
    return this.s.probes.startProbe(now);
  }

  /** Stops re-sending the probe (the caller gave up waiting); a late answer is then refused. */
  cancelProbe(): void {
    this.s.probes.cancelProbe();
  }

  // -------------------------------------------------------------------------------------------
  // CLOSE (association/close.ts) and NOTIFY (association/notify.ts)

  close(now: number): void {
    this.s.closing.close(now);
  }

  onClose(now: number, pkt: DecodedPacket, from: Endpoint): void {
    this.s.closing.onClose(now, pkt, from);
  }

  onCloseAck(now: number, pkt: DecodedPacket): void {
    this.s.closing.onCloseAck(now, pkt);
  }

  onNotify(now: number, pkt: DecodedPacket, from: Endpoint): void {
    this.s.notices.onNotify(now, pkt, from);
  }

  /** Tells the peer, signed, that our checks toward its candidates all failed (RFC 9028 §5.10). */
  notifyChecksFailed(to: Endpoint): boolean {
    return this.s.notices.notifyChecksFailed(to);
  }

  /** Sends the peer a signed NOTIFY to `to` (through a relay when that is the only way left). */
  notifyPeer(notifyType: number, data: Uint8Array, to: Endpoint): boolean {
    return this.s.notices.notifyPeer(notifyType, data, to);
  }

  // -------------------------------------------------------------------------------------------
  // What the host reads

  /** The HIP_MAC keys of the association, once keyed: what a relay's RELAY_HMAC is keyed with. */
  integrityKeys(): { hash: HashName; inbound: Uint8Array; outbound: Uint8Array } | undefined {
    return this.s.integrityKeys();
  }

  snapshot(): AssociationSnapshot {
    return this.s.snapshot();
  }
}
