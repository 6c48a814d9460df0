// The HIP endpoint: one local Host Identity, many associations. It decodes and screens every
// packet once, answers I1 without keeping state, turns a verified I2 into an association,
// routes everything else by HIT pair, and counts every packet it refuses by reason. Sans-IO:
// the engine feeds it bytes and time, and polls it for packets to send and events.

import { equalBytes } from '../base/bytes.js';
import type { CryptoProvider } from './crypto/provider.js';
import { SUPPORTED_DH_GROUPS } from './crypto/dh.js';
import { compareHits } from '../base/hit-order.js';
import { decodePacket, getParam, unknownCriticalTypes } from './wire/codec.js';
import { HipCipher, HitSuite, NotifyType, PacketType } from './wire/constants.js';
import type { DecodedPacket } from './wire/params.js';
import { hasOrchidPrefix } from './identity/hit.js';
import type { LocalHostIdentity } from './identity/host-identity.js';
import { PREFERRED_ESP_SUITES } from '../esp/suites.js';
import { inviteProofIn, type InviteHooks } from './invite-proof.js';
import {
  Association, type AssociationContext, type AssociationSnapshot, type AssociationState, type Endpoint, type HostEvent,
} from './association.js';
import { Responder, hex, type ResponderSnapshot } from './responder.js';
import { buildNotify, checkShape, unsupportedCriticalData } from './messages.js';
import { DEFAULT_PUZZLE_POLICY, DEFAULT_TIMERS, type HipTimers, type PuzzlePolicy } from './timers.js';
import { announceable, buildLocatorSet, type OwnLocator } from './local-locators.js';
import type { MultihomingMode } from './locator-plan.js';
import { DEFAULT_CREDIT_POLICY, type CreditPolicy } from './credit.js';
import { answerRegistration, type RegistrarHooks } from './registration.js';
import type { HashName } from './crypto/provider.js';
import type { LocatorSet, PeerPermission, RegRequest } from './wire/params.js';
import { buildELocator, type AnnouncedFlow } from './flow-announcement.js';

export type {
  AddressChangeCause, AssociationSnapshot, AssociationState, Endpoint, HostEvent, LocatorPair, SaKeys, SaPairView,
} from './association.js';
export type { OwnLocator } from './local-locators.js';
export type { AnnouncedFlow, PeerFlowBinding } from './flow-announcement.js';
export type { MultihomingMode } from './locator-plan.js';

export interface HostConfig {
  identity: LocalHostIdentity;
  crypto: CryptoProvider;
  /** DH groups in preference order (default P-256, P-384). */
  dhGroups?: number[];
  /** HIP_CIPHERs in preference order (default AES-256-CBC, AES-128-CBC; NULL only if listed). */
  hipCiphers?: number[];
  /** ESP suites in preference order (default PREFERRED_ESP_SUITES). */
  espSuites?: number[];
  /** The daemon's allow-list; a refused I1/I2 is counted as 'policy'. Default: everyone. */
  allowPeer?: (hit: Uint8Array) => boolean;
  timers?: Partial<HipTimers>;
  puzzle?: Partial<PuzzlePolicy>;
  /** Fresh inbound SPIs; must never return 0. Default: random, above the reserved 1..255. */
  allocateSpi?: () => number;
  /** Tell peers why we refused them (BLOCKED_BY_POLICY). Default true. */
  notifyBlocked?: boolean;
  /** Invites: a HIT not on the allow-list is admitted by an I2 that proves one (invite-proof.ts). */
  invites?: InviteHooks;
  /**
   * How several local locators are used (seed 000 §4, RFC 8047 §4.1): 'fault-tolerance' (one SA,
   * one pair in use at a time; the default) or 'simultaneous' (an SA pair per interface).
   */
  multihoming?: MultihomingMode;
  /** Credit-based authorization for unverified peer addresses (RFC 8046 §5.6). */
  credit?: Partial<CreditPolicy>;
  /** We are a registrar (a relay): REG_INFO in our R1s, answers to REG_REQUEST (RFC 8003). */
  registrar?: RegistrarHooks;
  /** What to ask of a peer whose R1 offers registration: a REG_REQUEST for our I2, or nothing. */
  registrationRequestFor?: (peerHit: Uint8Array) => RegRequest | undefined;
  /**
   * NAT traversal modes we run, preferred first (RFC 9028 §5.4): offered in our R1s, chosen from
   * a responder's. A relay offers none (seed 000 §5.1.1). Default: none.
   */
  natTraversalModes?: readonly number[];
  /** Send and read E-LOCATOR flow bindings (seed 002). Default true; false behaves as a host that predates it. */
  flowBindings?: boolean;
}

export interface Transmit {
  bytes: Uint8Array; // the HIP packet (the engine adds the RFC 9028 zero marker)
  to: Endpoint;
  from?: Endpoint; // local locator to send from; undefined = any
}

export interface HostCounters { received: number; sent: number; dropped: Record<string, number> }

/** HIT suites we can verify, ours first: what R1's HIT_SUITE_LIST offers. */
function hitSuitesFor(own: number): number[] {
  const all = [HitSuite.ECDSA_SHA384, HitSuite.EDDSA_CSHAKE128, HitSuite.RSA_DSA_SHA256];
  return [own, ...all.filter((s) => s !== own)];
}


function isZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

/** Negotiation failures worth telling the initiator about (RFC 7401 §5.2.19); crypto failures stay silent. */
const I2_NOTIFY: Record<string, number> = {
  'hip-cipher': NotifyType.INVALID_HIP_CIPHER_CHOSEN,
  'esp-transform': NotifyType.INVALID_ESP_TRANSFORM_CHOSEN,
  'dh-group': NotifyType.INVALID_DH_CHOSEN,
};

const STRICT_DEVIATIONS = new Set(['header-checksum', 'param-order', 'nonzero-padding']);

export class HipHost {
  readonly hit: Uint8Array;
  readonly counters: HostCounters = { received: 0, sent: 0, dropped: {} };
  private readonly ctx: AssociationContext;
  private readonly responder: Responder;
  private readonly assocs = new Map<string, Association>();
  private readonly transmits: Transmit[] = [];
  private readonly events: HostEvent[] = [];
  private readonly allowPeer: (hit: Uint8Array) => boolean;
  private readonly notifyBlocked: boolean;
  private readonly invites: InviteHooks | undefined;
  /** Solutions of I2s accepted recently: a replayed old I2 must not reset a newer association. */
  private readonly acceptedI2 = new Map<string, number>();
  private lastNotifyAt = Number.NEGATIVE_INFINITY;
  private localLocators: OwnLocator[] = [];
  /** The LOCATOR_SET our R1s carry, and the host-wide flow bindings bound to it. */
  private r1Locators: LocatorSet | undefined;
  private hostWideFlows: AnnouncedFlow[] = [];
  /** Our flow bindings per peer (hex HIT), kept for associations to come. */
  private readonly flowsByPeer = new Map<string, readonly AnnouncedFlow[]>();
  /** Last unexpected exception, for debugging; packets that cause one are counted 'internal-error'. */
  lastError: unknown;

  constructor(config: HostConfig, now: number) {
    const timers = { ...DEFAULT_TIMERS, ...config.timers };
    const puzzle = { ...DEFAULT_PUZZLE_POLICY, ...config.puzzle };
    const crypto = config.crypto;
    const identity = config.identity;
    this.hit = identity.hit;
    this.allowPeer = config.allowPeer ?? (() => true);
    this.notifyBlocked = config.notifyBlocked ?? true;
    this.invites = config.invites;
    const dhGroups = config.dhGroups ?? [...SUPPORTED_DH_GROUPS];
    const hipCiphers = config.hipCiphers ?? [HipCipher.AES_256_CBC, HipCipher.AES_128_CBC];
    const espSuites = config.espSuites ?? [...PREFERRED_ESP_SUITES];
    const allocateSpi = config.allocateSpi ?? (() => {
      const b = crypto.randomBytes(4);
      const spi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      return spi < 256 ? spi + 256 : spi;
    });
    this.ctx = {
      crypto, identity, timers, puzzle, dhGroups, hipCiphers, espSuites, allocateSpi,
      multihoming: config.multihoming ?? 'fault-tolerance',
      credit: { ...DEFAULT_CREDIT_POLICY, ...config.credit },
      localLocators: () => this.localLocators,
      send: (bytes, to, from) => this.transmit(bytes, to, from),
      emit: (event) => this.events.push(event),
      drop: (reason) => this.drop(reason),
      inviteProofFor: (peerHit) => this.invites?.proofFor(this.hit, peerHit),
      registrar: config.registrar,
      registrationRequestFor: config.registrationRequestFor,
      natTraversalModes: config.natTraversalModes,
      flowBindings: config.flowBindings,
      announcedFlowsFor: (peerHit) => this.flowsByPeer.get(hex(peerHit)) ?? [],
    };
    this.responder = new Responder(
      {
        crypto, identity, dhGroups, hipCiphers, espSuites, hitSuites: hitSuitesFor(identity.suite), timers, puzzle,
        r1Extra: [
          ...(config.natTraversalModes !== undefined && config.natTraversalModes.length > 0
            ? [{ kind: 'NAT_TRAVERSAL_MODE' as const, modes: [...config.natTraversalModes] }] : []),
          ...(config.registrar === undefined ? [] : [config.registrar.offer()]),
        ],
      },
      now,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Engine-facing API

  connect(now: number, peerHit: Uint8Array, remote: Endpoint, local?: Endpoint): void {
    if (equalBytes(peerHit, this.hit) || peerHit.length !== 16) {
      this.events.push({ type: 'failed', peerHit, reason: 'invalid-peer-hit' });
      return;
    }
    const existing = this.assocs.get(hex(peerHit));
    const busy: AssociationState[] = ['I1-SENT', 'I2-SENT', 'R2-SENT', 'ESTABLISHED'];
    if (existing !== undefined && busy.includes(existing.state)) return;
    this.assocs.set(hex(peerHit), Association.initiate(this.ctx, now, peerHit.slice(), remote, local));
  }

  close(now: number, peerHit: Uint8Array): void {
    this.withAssoc(peerHit, (a) => a.close(now));
  }

  /** Rekeys the base SA pair, or the further pair whose outbound SA is `outboundSpi` (RFC 8047). */
  rekey(now: number, peerHit: Uint8Array, outboundSpi?: number): void {
    this.withAssoc(peerHit, (a) => a.startRekey(now, outboundSpi));
  }

  /**
   * Sends a HIP-level probe to an established peer. Its outcome arrives as a 'probe-answered'
   * or 'probe-lost' event; only one probe (or other UPDATE) is in flight per association.
   */
  probe(now: number, peerHit: Uint8Array): { ok: true; nonce: Uint8Array } | { ok: false; reason: 'no-association' | 'not-established' | 'busy' } {
    const a = this.assocs.get(hex(peerHit));
    if (a === undefined) return { ok: false, reason: 'no-association' };
    return a.startProbe(now);
  }

  cancelProbe(_now: number, peerHit: Uint8Array): void {
    this.withAssoc(peerHit, (a) => a.cancelProbe());
  }

  /** Gives up on a peer that stopped answering (see Association.abandon). */
  abandon(now: number, peerHit: Uint8Array, reason: string): void {
    this.withAssoc(peerHit, (a) => a.abandon(now, reason));
  }

  /**
   * The engine opened an ESP packet from this peer. With `packet` (its size and source), it also
   * earns credit for sending to unverified addresses, and a new source address gets verified.
   */
  espAuthenticated(now: number, peerHit: Uint8Array, packet?: { bytes: number; from: Endpoint }): void {
    this.withAssoc(peerHit, (a) => a.espAuthenticated(now, packet));
  }

  /**
   * Pair selection doubts the pair our traffic to this peer takes (no primary, or searching):
   * authenticated ESP from a new source of the peer's is then followed at once, under credit,
   * rather than after its address check (see Association.setPathInDoubt).
   */
  setPathInDoubt(peerHit: Uint8Array, inDoubt: boolean): void {
    this.withAssoc(peerHit, (a) => a.setPathInDoubt(inDoubt));
  }

  /**
   * Our locators now: a complete listing (the interface monitor's view). Link-local, multicast,
   * broadcast and unspecified addresses are never announced. Every association tells its peer
   * (UPDATE with LOCATOR_SET), and R1s list them from now on.
   */
  setLocalLocators(now: number, locators: readonly OwnLocator[]): void {
    const previous = this.localLocators;
    this.localLocators = announceable(locators);
    const listing = (ls: readonly OwnLocator[]): string => ls.map((l) => `${l.address}|${l.port}|${l.candidate ?? 'host'}`).join(',');
    // R1s are signed ahead of time: re-sign only when what they would list changed.
    if (listing(previous) !== listing(this.localLocators)) {
      this.r1Locators = this.localLocators.length === 0 ? undefined
        : buildLocatorSet(
          this.localLocators.map((l) => ({ locator: { address: l.address, port: l.port }, spi: 0, preferred: false, ...(l.candidate === undefined ? {} : { candidate: l.candidate }) })),
          this.ctx.timers.locatorLifetimeMs / 1000,
        );
      this.responder.setLocatorSet(this.r1Locators);
      this.signHostWideFlows();
    }
    for (const a of [...this.assocs.values()]) this.guarded(() => a.localLocatorsChanged(now));
    this.sweep();
  }

  /**
   * Our flow bindings for this peer (seed 002): an established association sends them at once
   * (UPDATE with LOCATOR_SET and E-LOCATOR), a new one in its I2 or first UPDATE.
   */
  announceFlows(now: number, peerHit: Uint8Array, flows: readonly AnnouncedFlow[]): void {
    this.flowsByPeer.set(hex(peerHit), flows.map((f) => ({ ...f })));
    this.withAssoc(peerHit, (a) => this.guarded(() => a.announceFlows(now, flows)));
  }

  /**
   * Flow bindings every initiator hears in our R1 (seed 002 §3.2). Only host-wide ones belong
   * there: R1s are signed ahead of time, the same for everyone.
   */
  setHostWideFlows(flows: readonly AnnouncedFlow[]): void {
    this.hostWideFlows = flows.map((f) => ({ ...f }));
    this.signHostWideFlows();
  }

  private signHostWideFlows(): void {
    const on = this.ctx.flowBindings !== false && this.hostWideFlows.length > 0 && this.r1Locators !== undefined;
    this.responder.setHostWideFlows(on ? buildELocator(this.hostWideFlows, this.localLocators, this.r1Locators!).param : undefined);
  }

  /** Probes one locator pair of an established peer (pair selection); see Association.probePair. */
  probePair(
    now: number, peerHit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[],
  ): { ok: true } | { ok: false; reason: string } {
    const a = this.assocs.get(hex(peerHit));
    if (a === undefined) return { ok: false, reason: 'no-association' };
    return a.probePair(now, local, remote, probeId, report);
  }

  /** Credit-based authorization: may `bytes` of ESP go to `to` now? (RFC 8046 §5.6) */
  authorizeSend(now: number, peerHit: Uint8Array, to: Endpoint, bytes: number): boolean {
    return this.assocs.get(hex(peerHit))?.authorizeSend(now, to, bytes) ?? false;
  }

  /** Whether `to` is a verified address of the peer: data may go there without credit. */
  isVerified(peerHit: Uint8Array, to: Endpoint): boolean {
    return this.assocs.get(hex(peerHit))?.isVerified(to) ?? false;
  }

  /**
   * Registers with a registrar peer, renews, or installs data-relay permissions (see
   * Association.register); `via`: from this local endpoint instead of the active pair's.
   */
  register(now: number, peerHit: Uint8Array, request: RegRequest | undefined, permissions: readonly PeerPermission[] = [], via?: Endpoint): { ok: true } | { ok: false; reason: string } {
    const a = this.assocs.get(hex(peerHit));
    if (a === undefined) return { ok: false, reason: 'no-association' };
    return a.register(now, request, permissions, via);
  }

  /** Sends our pending I1 to this peer again now (see Association.resendI1). */
  resendI1(peerHit: Uint8Array): void {
    this.assocs.get(hex(peerHit))?.resendI1();
  }

  /** The HIP_MAC keys of an established association (RELAY_HMAC uses them), or undefined. */
  integrityKeys(peerHit: Uint8Array): { hash: HashName; inbound: Uint8Array; outbound: Uint8Array } | undefined {
    return this.assocs.get(hex(peerHit))?.integrityKeys();
  }

  /** A new offer to the peer through `via` (see Association.offer); false when nothing went out. */
  offer(now: number, peerHit: Uint8Array, via: Endpoint): boolean {
    return this.assocs.get(hex(peerHit))?.offer(now, via) ?? false;
  }

  /** A signed NOTIFY to an established peer, sent to `to`; false without a keyed association. */
  notifyPeer(peerHit: Uint8Array, notifyType: number, data: Uint8Array, to: Endpoint): boolean {
    return this.assocs.get(hex(peerHit))?.notifyPeer(notifyType, data, to) ?? false;
  }

  /** A signed CONNECTIVITY_CHECKS_FAILED to the peer, bound to its latest offer we judged; false when none went out. */
  notifyChecksFailed(peerHit: Uint8Array, to: Endpoint): boolean {
    return this.assocs.get(hex(peerHit))?.notifyChecksFailed(to) ?? false;
  }

  /** Moves a peer's traffic (and its control packets) to this pair: pair selection, manual failover. */
  setActivePair(now: number, peerHit: Uint8Array, local: Endpoint | undefined, remote: Endpoint): boolean {
    const a = this.assocs.get(hex(peerHit));
    return a === undefined ? false : a.setActivePair(now, local, remote);
  }

  /**
   * One HIP packet from `from` to our `to`. A packet a relay passed on comes from the relay;
   * `origin` is then the original source the relay reported (RELAY_FROM), which the per-source
   * limits (I1 load, puzzle difficulty, R1 and NOTIFY rations) count instead of the relay.
   */
  handlePacket(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint, origin?: Endpoint): void {
    this.counters.received++;
    try {
      this.receive(now, bytes, from, to, origin ?? from, origin !== undefined);
    } catch (err) {
      // A bug, not input: counted so tests and operators see it, never thrown into the event loop.
      this.lastError = err;
      this.drop('internal-error');
    }
    this.sweep();
  }

  handleTimeout(now: number): void {
    for (const a of [...this.assocs.values()]) {
      const t = a.nextTimeout();
      if (t !== undefined && t <= now) {
        try {
          a.onTimeout(now);
        } catch (err) {
          this.lastError = err;
          this.drop('internal-error');
        }
      }
    }
    this.sweep();
    this.pruneAcceptedI2(now);
  }

  nextTimeout(): number | undefined {
    let next: number | undefined;
    for (const a of this.assocs.values()) {
      const t = a.nextTimeout();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): HostEvent | undefined {
    return this.events.shift();
  }

  associations(): AssociationSnapshot[] {
    return [...this.assocs.values()].map((a) => a.snapshot());
  }

  /** Puzzle difficulty, R1 generation and load, for status output and tests. */
  responderStatus(now: number): ResponderSnapshot {
    return this.responder.snapshot(now);
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private transmit(bytes: Uint8Array, to: Endpoint, from: Endpoint | undefined): void {
    this.counters.sent++;
    this.transmits.push(from === undefined ? { bytes, to } : { bytes, to, from });
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  /** Runs association code outside packet handling; a bug is counted, never thrown at the engine. */
  private guarded(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.lastError = err;
      this.drop('internal-error');
    }
  }

  private withAssoc(peerHit: Uint8Array, f: (a: Association) => void): void {
    const a = this.assocs.get(hex(peerHit));
    if (a !== undefined) f(a);
    this.sweep();
  }

  private sweep(): void {
    for (const [key, a] of this.assocs) if (a.gone) this.assocs.delete(key);
  }

  private pruneAcceptedI2(now: number): void {
    const horizon = this.ctx.timers.r1RefreshMs + this.ctx.timers.r1GraceMs;
    for (const [id, at] of this.acceptedI2) if (now - at > horizon) this.acceptedI2.delete(id);
  }

  /** Signed NOTIFY, at most one per notifyMinIntervalMs: junk must not buy signatures. */
  private sendNotify(now: number, peerHit: Uint8Array, to: Endpoint, from: Endpoint, notifyType: number, data: Uint8Array): void {
    if (now - this.lastNotifyAt < this.ctx.timers.notifyMinIntervalMs) return;
    this.lastNotifyAt = now;
    this.transmit(buildNotify(this.ctx, this.hit, peerHit, notifyType, data), to, from);
  }

  private receive(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint, origin: Endpoint, viaRelay: boolean): void {
    // Every HipHost packet arrives over UDP (RFC 9028 §5.1), where the checksum must be zero.
    const decoded = decodePacket(bytes, { udp: true });
    if (!decoded.ok) return this.drop(`decode-${decoded.reason}`);
    const pkt = decoded.packet;
    // Checksum and the signature's own padding are covered by neither MAC nor signature, so they
    // could be changed at will; parameters out of order would make what HIP_MAC covers ambiguous
    // (RFC 7401 §5.2.1). A packet that is not exactly as sent is refused.
    const refused = pkt.deviations.find((d) => STRICT_DEVIATIONS.has(d.code));
    if (refused !== undefined) return this.drop(`decode-${refused.code}`);
    const peerHit = pkt.senderHit;
    if (equalBytes(peerHit, this.hit)) return this.drop('own-hit');
    if (!hasOrchidPrefix(peerHit)) return this.drop('bad-sender-hit');
    const opportunisticI1 = pkt.packetType === PacketType.I1 && isZero(pkt.receiverHit);
    if (!opportunisticI1 && !equalBytes(pkt.receiverHit, this.hit)) return this.drop('wrong-receiver-hit');

    const unknown = unknownCriticalTypes(pkt);
    if (unknown.length > 0) {
      // RFC 7401 §5.2.1: refuse the packet and say which type; never answer a NOTIFY with one.
      if (pkt.packetType !== PacketType.NOTIFY) {
        this.sendNotify(now, peerHit, from, to, NotifyType.UNSUPPORTED_CRITICAL_PARAMETER_TYPE, unsupportedCriticalData(unknown[0]!));
      }
      return this.drop('unknown-critical-param');
    }
    const shape = checkShape(pkt);
    if (!shape.ok) {
      if (pkt.packetType === PacketType.I1 || pkt.packetType === PacketType.I2) {
        this.sendNotify(now, peerHit, from, to, NotifyType.INVALID_SYNTAX, new Uint8Array(0));
      }
      return this.drop(shape.reason);
    }

    const assoc = this.assocs.get(hex(peerHit));
    switch (pkt.packetType) {
      case PacketType.I1:
        return this.onI1(now, pkt, assoc, from, to, origin);
      case PacketType.I2:
        return this.onI2(now, pkt, assoc, from, to, origin);
      default:
        break;
    }
    if (assoc === undefined) return this.drop('no-association');
    switch (pkt.packetType) {
      case PacketType.R1: return assoc.onR1(now, pkt, from, to);
      case PacketType.R2: return assoc.onR2(now, pkt, from, to);
      case PacketType.UPDATE: return assoc.onUpdate(now, pkt, from, to, viaRelay);
      case PacketType.CLOSE: return assoc.onClose(now, pkt, from);
      case PacketType.CLOSE_ACK: return assoc.onCloseAck(now, pkt);
      case PacketType.NOTIFY: return assoc.onNotify(now, pkt, from);
      default: return this.drop('unsupported-packet-type');
    }
  }

  private refusedByPolicy(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint, origin: Endpoint, admitted = false): boolean {
    if (admitted || this.allowPeer(pkt.senderHit)) return false;
    // The source is unauthenticated: the NOTIFY draws on the same per-prefix ration as R1s, so
    // refused I1s forged from a victim's prefix reflect no more at it than an honest R1 would.
    if (this.notifyBlocked && this.responder.mayAnswer(now, origin.address)) {
      this.sendNotify(now, pkt.senderHit, from, to, NotifyType.BLOCKED_BY_POLICY, new Uint8Array(0));
    }
    this.drop('policy');
    return true;
  }

  /**
   * I1 (RFC 7401 §6.7): answered with a pre-signed R1 and forgotten. In I1-SENT both sides are
   * initiating; only the host with the larger HIT answers, so one exchange survives (§4.4.2).
   */
  private onI1(now: number, pkt: DecodedPacket, assoc: Association | undefined, from: Endpoint, to: Endpoint, origin: Endpoint): void {
    // A HIT we would refuse anyway neither raises the puzzle for others nor earns an R1. While
    // an invite is pending, an unlisted HIT may be its holder: it gets the R1, and its I2 must
    // prove the invite.
    if (this.refusedByPolicy(now, pkt, from, to, origin, this.invites?.pending() === true)) return;
    this.responder.noteLoad(now, origin.address);
    if (assoc?.state === 'I1-SENT' && compareHits(this.hit, pkt.senderHit) < 0) {
      assoc.peerInitiatingFrom(from, to);
      return this.drop('simultaneous-i1-lower-hit');
    }
    const r1 = this.responder.r1For(now, pkt, origin.address);
    if (r1 === undefined) return this.drop('r1-rate-limited');
    this.transmit(r1, from, to);
  }

  /**
   * I2 (RFC 7401 §6.9). A retransmission of the I2 that made the current association is
   * answered with the same R2, from where that I2 came only and rate-limited; an old I2
   * replayed is dropped; anything else is verified in full before any state is touched.
   */
  private onI2(now: number, pkt: DecodedPacket, assoc: Association | undefined, from: Endpoint, to: Endpoint, origin: Endpoint): void {
    const invited = this.allowPeer(pkt.senderHit) ? undefined : this.provenInvite(pkt);
    if (this.refusedByPolicy(now, pkt, from, to, origin, invited !== undefined)) return;
    this.responder.noteLoad(now, origin.address);
    const solution = getParam(pkt, 'SOLUTION')!;
    const solutionId = `${hex(solution.i)}:${hex(solution.j)}`;
    if (assoc !== undefined && assoc.solutionId === solutionId && (assoc.state === 'R2-SENT' || assoc.state === 'ESTABLISHED')) {
      assoc.resendR2(now, from);
      return this.drop('i2-replay');
    }
    if (this.acceptedI2.has(solutionId)) return this.drop('i2-replay');
    // Both sent I2: the larger HIT acts as responder, the other waits for its R2 (§4.4.2).
    if (assoc?.state === 'I2-SENT' && compareHits(this.hit, pkt.senderHit) < 0) return this.drop('simultaneous-i2-lower-hit');

    const verdict = this.responder.acceptI2(now, pkt);
    if (!verdict.ok) {
      const notifyType = I2_NOTIFY[verdict.reason];
      if (notifyType !== undefined) this.sendNotify(now, pkt.senderHit, from, to, notifyType, new Uint8Array(0));
      return this.drop(verdict.reason);
    }
    this.acceptedI2.set(solutionId, now);
    const peerHit = pkt.senderHit.slice();
    // The I2's MAC and signature, which cover the proof, are verified: the invite is spent.
    if (invited !== undefined) this.invites!.redeem(this.hit, peerHit, invited);
    // Verified in full above: a REG_REQUEST in it is the client's, and the answer rides in the R2.
    const r2Extra = answerRegistration(this.ctx.registrar, pkt, peerHit, from, to, now);
    const created = Association.fromI2(this.ctx, now, verdict.accepted, peerHit, from, to, assoc?.state ?? 'UNASSOCIATED', r2Extra);
    this.assocs.set(hex(peerHit), created);
  }

  /** The invite proof of an I2 from an unlisted HIT, if it matches a pending invite (counted either way). */
  private provenInvite(pkt: DecodedPacket): Uint8Array | undefined {
    const proof = this.invites === undefined ? undefined : inviteProofIn(pkt.params);
    if (proof === undefined) return undefined;
    if (this.invites!.check(this.hit, pkt.senderHit, proof)) return proof;
    this.drop('invite-refused');
    return undefined;
  }
}

