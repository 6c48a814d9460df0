// One HIP association: the per-peer state machine of RFC 7401 §4.4 (base exchange, CLOSE),
// with UPDATE-based rekeying (RFC 7402 §6.9). It is fed packets the host has already decoded,
// shape-checked and routed by HIT pair, plus time; it answers through its context (packets to
// send, events) and through nextTimeout(). Nothing unauthenticated changes its state, except an
// R1 answering our own I1, which RFC 7401 allows.

import { hashLength, type CryptoProvider, type EcdhKeyPair, type HashName } from './crypto/provider.js';
import { chooseDhGroup, dhGroupCurve } from './crypto/dh.js';
import { Keymat, drawHipKeys, type HipKeys } from './crypto/keymat.js';
import { solvePuzzle } from './crypto/puzzle.js';
import { encryptParam } from './crypto/encrypted.js';
import { encodeParam, getParam, getParams, spanIndexOf } from './wire/codec.js';
import { coveredBytes, mac2Input, signature2Input } from './wire/covered.js';
import { hitToText } from './wire/address.js';
import { NotifyType, ParamType } from './wire/constants.js';
import { encodeParamValue } from './wire/param-codec.js';
import type { DecodedPacket, Param, PeerPermission, RegRequest } from './wire/params.js';
import { answerRegistration, registrationAnswerIn, type RegistrarHooks, type RegistrationAnswer } from './registration.js';
import {
  hostIdParam, identityFromHostId, verifyWith, type HostIdentityPublic, type LocalHostIdentity,
} from './identity/host-identity.js';
import { drawEspKeys, type EspKeyMaterial } from '../esp/keys.js';
import {
  buildClose, buildCloseAck, buildI1, buildI2, buildNotify, buildR2, buildUpdate, TRANSPORT_FORMAT_ESP, type Sealer,
} from './messages.js';
import { duplicateAnswerSpacing, retransmitDelay, type HipTimers, type PuzzlePolicy } from './timers.js';
import type { AcceptedI2 } from './responder.js';
import type { Locator, LocatorSet } from './wire/params.js';
import { compareHits } from '../base/hit-order.js';
import { sameEndpoint, type Endpoint } from '../../src-shared/vocabulary.js';
import { UpdateIdWindow } from './update-window.js';
import { buildLocatorSet, isHostLocator, parseLocatorSet, preferredOf, type AnnouncedEntry, type OwnLocator } from './local-locators.js';
import { listingFingerprint, nextLocatorStep, type InboundSa, type MultihomingMode } from './locator-plan.js';
import { decodeProbeReport, decodeProbeSpi, encodeProbeReport, encodeProbeSpi, probeIdFromOpaque, probeIdOpaque } from './pair-probe.js';
import { CreditAccount, type CreditPolicy } from './credit.js';
import { BASE_EXCHANGE_OFFER, decodeChecksFailedNotice, encodeChecksFailedNotice } from './checks-failed-notice.js';
import { PeerLocatorTable, type AnnouncedLocator, type PeerLocator } from './peer-locators.js';
import { buildWithELocator, FlowBindings, I2_CARRIER, type AnnouncedFlow, type PeerFlowBinding } from './flow-announcement.js';
import {
  REKEY_CONFIRM_MAX_MS, WaitingRekeys, pairNamedByPeer, pairToRekey, samePair, type Rekey, type SaPairSpis, type UnconfirmedAnswer,
} from './sa-rekey.js';

export type { Endpoint } from '../../src-shared/vocabulary.js';

export type AssociationState =
  | 'UNASSOCIATED' | 'I1-SENT' | 'I2-SENT' | 'R2-SENT' | 'ESTABLISHED' | 'CLOSING' | 'CLOSED' | 'E-FAILED';

export interface SaKeys { suite: number; outboundSpi: number; inboundSpi: number; outbound: EspKeyMaterial; inbound: EspKeyMaterial }

export type HostEvent =
  | { type: 'state'; peerHit: Uint8Array; from: AssociationState; to: AssociationState }
  | { type: 'established'; peerHit: Uint8Array; peer: HostIdentityPublic; sa: SaKeys; local: Endpoint; remote: Endpoint; initiator: boolean }
  /**
   * The base SA pair was rekeyed. As the rekey's responder (`confirmed` false) we hold the new
   * pair before the peer does: the old outbound SA keeps sealing until 'sa-rekey-confirmed'.
   */
  | { type: 'rekeyed'; peerHit: Uint8Array; sa: SaKeys; oldInboundSpi: number; oldOutboundSpi: number; confirmed: boolean }
  /**
   * A further SA pair (simultaneous multihoming) was rekeyed: `sa` replaces the pair with these
   * old SPIs. Unless `confirmed`, the peer may not hold the new SAs yet: the old outbound SA
   * keeps sealing until 'sa-rekey-confirmed' names the new one.
   */
  | { type: 'sa-rekeyed'; peerHit: Uint8Array; sa: SaKeys; oldInboundSpi: number; oldOutboundSpi: number; ifname: string | undefined; confirmed: boolean }
  /**
   * The peer acknowledged our answer to its rekey (or REKEY_CONFIRM_MAX_MS passed without the
   * ACK): it holds the new SAs, and `outboundSpi` may carry traffic.
   */
  | { type: 'sa-rekey-confirmed'; peerHit: Uint8Array; outboundSpi: number }
  | { type: 'closed'; peerHit: Uint8Array; byPeer: boolean }
  | { type: 'failed'; peerHit: Uint8Array; reason: string }
  | { type: 'notify'; peerHit: Uint8Array; notifyType: number; data: Uint8Array; authenticated: boolean }
  /** The peer's signed CONNECTIVITY_CHECKS_FAILED (RFC 9028 §5.10): none of its checks toward our candidates worked. */
  | { type: 'peer-checks-failed'; peerHit: Uint8Array }
  /** Our probe's echo came back: `local`/`remote` is the locator pair the answer used. */
  | { type: 'probe-answered'; peerHit: Uint8Array; nonce: Uint8Array; local: Endpoint; remote: Endpoint; retransmissions: number }
  /** Our probe was abandoned: retries exhausted, or a rekey or CLOSE took its place. */
  | { type: 'probe-lost'; peerHit: Uint8Array; nonce: Uint8Array; reason: 'retries-exceeded' | 'superseded' | 'cancelled' }
  /** Everything we know of the peer's locators, after any change; `current` carries our traffic. */
  | { type: 'peer-locators'; peerHit: Uint8Array; locators: PeerLocator[]; current: Endpoint }
  /** The peer's flow bindings (E-LOCATOR) changed: its flows should now reach it where `flows` say. */
  | { type: 'peer-flows'; peerHit: Uint8Array; flows: PeerFlowBinding[] }
  /** Whether the peer holds our current flow bindings changed (snapshot `flowsAcked`). */
  | { type: 'flows-acked'; peerHit: Uint8Array; acked: boolean }
  /** A further SA pair (simultaneous multihoming), keyed from KEYMAT; `ifname` is our interface it serves. */
  | { type: 'sa-added'; peerHit: Uint8Array; sa: SaKeys; ifname: string | undefined; createdBy: 'us' | 'peer' }
  | { type: 'sa-removed'; peerHit: Uint8Array; inboundSpi: number; outboundSpi: number; ifname: string | undefined }
  /** An echo sent to this peer address came back under the association's keys: it may carry data. */
  | { type: 'locator-verified'; peerHit: Uint8Array; locator: Endpoint }
  /**
   * Our traffic to the peer should now go to `to`. Until `verified`, what is sent there is bounded
   * by credit (HipHost.authorizeSend); a 'locator-verified' for `to` lifts that.
   */
  | { type: 'address-changed'; peerHit: Uint8Array; from: Endpoint; to: Endpoint; verified: boolean; cause: AddressChangeCause }
  | { type: 'pair-probe-received'; peerHit: Uint8Array; pair: LocatorPair; probeId: number; report: number[] }
  | { type: 'pair-probe-answered'; peerHit: Uint8Array; pair: LocatorPair; probeId: number; rttMs: number }
  /** A registrar answered our REG_REQUEST (in its R2, or in the UPDATE acknowledging ours). */
  | { type: 'registration'; peerHit: Uint8Array; answer: RegistrationAnswer }
  /** Our registration UPDATE went unanswered through every retransmission. */
  | { type: 'registration-lost'; peerHit: Uint8Array };

/** Why the address our traffic goes to changed. */
export type AddressChangeCause =
  | 'peer-preferred' // the peer's LOCATOR_SET named a new preferred locator (RFC 8047 §6.4)
  | 'locator-deprecated' // the address in use was withdrawn; another was picked
  | 'peer-source-changed' // the peer's packets now come from a new, verified address (seed 000 §3.3)
  | 'verified' // a better address finished verification
  | 'selected'; // the engine chose this pair (pair selection, manual failover)

/** A local and a remote locator: one path between the hosts. */
export interface LocatorPair { local: Endpoint; remote: Endpoint }

/** One SA pair with the peer beyond the base exchange's (simultaneous multihoming). */
export interface SaPairView { inboundSpi: number; outboundSpi: number; ifname: string | undefined; createdBy: 'base' | 'us' | 'peer' }

export interface AssociationSnapshot {
  peerHit: Uint8Array;
  peerHitText: string;
  state: AssociationState;
  initiator: boolean;
  local: Endpoint | undefined;
  remote: Endpoint;
  inboundSpi: number | undefined;
  outboundSpi: number | undefined;
  espSuite: number | undefined;
  hipCipher: number | undefined;
  establishedAt: number | undefined;
  /** Packets re-sent because an answer did not come in time, over the association's life. */
  retransmissions: number;
  rekeys: number;
  multihoming: MultihomingMode;
  /** Every SA pair, the base exchange's (or its rekeyed successor) first. */
  saPairs: SaPairView[];
  peerLocators: PeerLocator[];
  /** The NAT traversal mode the base exchange settled on (RFC 9028 §5.4), if any. */
  natMode: number | undefined;
  /** The peer's flow bindings (E-LOCATOR) from its last fresh, authenticated packet that carried any. */
  peerFlows: PeerFlowBinding[];
  /** The peer acknowledged the packet carrying our current flow bindings. */
  flowsAcked: boolean;
  /** FIDs of our bindings the last announcement had no room for: the peer does not steer their return traffic. */
  flowsLeftOut: number[];
}

/** What an association may use of its host. */
export interface AssociationContext extends Sealer {
  crypto: CryptoProvider;
  identity: LocalHostIdentity;
  timers: HipTimers;
  puzzle: PuzzlePolicy;
  dhGroups: readonly number[];
  hipCiphers: readonly number[];
  espSuites: readonly number[];
  allocateSpi(): number;
  multihoming: MultihomingMode;
  credit: CreditPolicy;
  /** Our locators as last configured, already filtered to those we may announce. */
  localLocators(): readonly OwnLocator[];
  send(bytes: Uint8Array, to: Endpoint, from: Endpoint | undefined): void;
  emit(event: HostEvent): void;
  drop(reason: string): void;
  /** The invite proof for our I2 to this peer, when we hold its invite. */
  inviteProofFor?(peerHit: Uint8Array): Uint8Array | undefined;
  /** We are a registrar: answer REG_REQUESTs in I2 and UPDATE (RFC 8003). */
  registrar?: RegistrarHooks;
  /**
   * NAT traversal modes we run, in preference order (RFC 9028 §5.4 ids), offered in our R1s;
   * an R1 without NAT_TRAVERSAL_MODE (a relay's, seed 000 §5.1.1) gets none in our I2.
   */
  natTraversalModes?: readonly number[];
  /** What to ask of a peer whose R1 offers registration (REG_INFO), if anything: it goes into our I2. */
  registrationRequestFor?(peerHit: Uint8Array): RegRequest | undefined;
  /** Send and read E-LOCATOR (seed 002); false behaves as a host that does not know it. Default true. */
  flowBindings?: boolean;
  /** Our flow bindings for this peer when the association starts (see announceFlows). */
  announcedFlowsFor?(peerHit: Uint8Array): readonly AnnouncedFlow[];
}

/**
 * How far ahead of the highest processed Update ID a new one may be (RFC 7401 §6.12.1). Pair
 * probes are never re-sent, so a peer probing a dead path for a long time skips many IDs; the
 * bound only keeps a corrupted ID from being taken for a real one before the MAC is checked.
 */
const UPDATE_ID_WINDOW = 1 << 20;
/**
 * Our own Update IDs remembered until acknowledged. Above the probes and checks that can be in
 * flight at once; an ACK of an older one is late and carries nothing to act on.
 */
const MAX_UNACKNOWLEDGED = 256;

type Sent = 'I1' | 'I2' | 'UPDATE' | 'PROBE' | 'CLOSE';

/** Octets of a probe nonce: enough that guessing one is hopeless, small enough to echo cheaply. */
const PROBE_NONCE_LENGTH = 16;

/** A liveness probe in flight: UPDATE with SEQ + ECHO_REQUEST_SIGNED (RFC 8046 §5.3). */
interface Probe { nonce: Uint8Array; updateId: number; attempts: number }

interface Retransmit { what: Sent; bytes: Uint8Array; attempt: number; max: number; deadline: number }

/** Octets of an address-check nonce. */
const VERIFY_NONCE_LENGTH = 16;
/** Pair probes are never re-sent (pair selection re-probes); one unanswered this long is forgotten. */
const PAIR_PROBE_TTL_MS = 10_000;
/** Bound on pair probes awaiting an answer, so a caller probing dead paths cannot grow memory. */
const MAX_OUTSTANDING_PROBES = 64;

/** A mobility UPDATE of ours awaiting its ACK. */
interface Outstanding {
  purpose: 'locators' | 'verify' | 'pair-probe' | 'registration';
  bytes: Uint8Array;
  to: Endpoint;
  from: Endpoint | undefined;
  attempt: number;
  /** Re-sends allowed; 0 for pair probes. */
  max: number;
  deadline: number;
  sentAt: number;
  /** The ECHO_REQUEST_SIGNED opaque the answer must return. */
  echo?: Uint8Array;
  /** verify: the peer address being checked; pair-probe: the pair probed. */
  target?: Endpoint;
  pair?: LocatorPair;
  probeId?: number;
}

/** Our LOCATOR_SET UPDATE in flight and what its ACK completes. */
type Announcing =
  | { updateId: number; kind: 'gratuitous'; listing: AnnouncedEntry[] }
  | { updateId: number; kind: 'new-sa'; listing: AnnouncedEntry[]; ifname: string; newSpi: number; keymatIndex: number }
  | { updateId: number; kind: 'deprecate'; listing: AnnouncedEntry[]; spi: number };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What an ESP_INFO in an UPDATE asks for (RFC 8047 §6.2). */
type EspInfoCase = 'gratuitous' | 'rekey' | 'new-sa' | 'new-sa-answer' | 'deprecate';

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export class Association {
  state: AssociationState = 'UNASSOCIATED';
  /** Set once the host should forget this association (UNASSOCIATED again). */
  gone = false;
  initiator: boolean;
  local: Endpoint | undefined;
  remote: Endpoint;

  private peer: HostIdentityPublic | undefined;
  private peerHostIdTlv: Uint8Array | undefined;
  private rhash: HashName | undefined;
  private dhKey: EcdhKeyPair | undefined;
  private r1CounterAnswered: bigint | undefined;
  private keymat: Keymat | undefined;
  private hipKeys: HipKeys | undefined;
  private hipCipher: number | undefined;
  private espSuite: number | undefined;
  private espKeymatIndex: number | undefined;
  private inboundSpi: number | undefined;
  private outboundSpi: number | undefined;
  private nextKeymatIndex = 0;
  private retransmit: Retransmit | undefined;
  private holdDeadline: number | undefined;
  private r2Bytes: Uint8Array | undefined;
  /** Identifies the I2 this responder-side association was created from. */
  solutionId: string | undefined;
  /** Where that I2 came from, and when our R2 last went there. */
  private i2: { from: Endpoint; to: Endpoint; answeredAt: number } | undefined;
  private establishedAt: number | undefined;
  private retransmissions = 0;
  private rekeys = 0;
  private nextUpdateId = 0;
  /** Our recent Update IDs not yet acknowledged: what an ACK-only UPDATE may fresh-ly confirm. */
  private readonly unacknowledged = new Set<number>();
  /** The peer's Update IDs processed, and our answers, re-sent verbatim when an UPDATE is re-sent. */
  private readonly peerUpdates: UpdateIdWindow;
  private pendingUpdateId: number | undefined;
  private rekey: Rekey | undefined;
  private probe: Probe | undefined;
  private closeNonce: Uint8Array | undefined;

  // Mobility and multihoming (RFC 8046, RFC 8047).
  /** The peer's locators; exists once keys do. */
  private peerLocators: PeerLocatorTable | undefined;
  private credit: CreditAccount | undefined;
  /** Pair selection doubts the pair in use (setPathInDoubt). */
  private pathInDoubt = false;
  /** Our interface the base SA pair serves (simultaneous multihoming). */
  private baseIfname: string | undefined;
  private readonly extraSas: SaPairView[] = [];
  /** UPDATEs of ours awaiting an ACK besides `retransmit`: locator announcements, address checks, pair probes. */
  private readonly outstanding = new Map<number, Outstanding>();
  /** Our locator UPDATE in flight, at most one: each is a complete listing and the next builds on it. */
  private announcing: Announcing | undefined;
  /** The listing the peer last acknowledged. */
  private announced: AnnouncedEntry[] | undefined;
  /** When our latest LOCATOR_SET went out: its lifetime, and so our next renewal, count from here. */
  private announcementSentAt: number | undefined;
  /** Update ID of the newest peer LOCATOR_SET applied: an older one arriving late must not undo it. */
  private lastLocatorSetId: number | undefined;
  /** Update ID of our latest LOCATOR_SET announcement: the offer a peer's CONNECTIVITY_CHECKS_FAILED must name. */
  private latestAnnouncementId: number | undefined;
  /** The offer whose failed checks the peer told us of and we acted on: a notice counts once. */
  private checksFailedActedOn: number | undefined;
  /** Address checks a NOTIFY's LOCATOR_SET may still start now, and when the bucket was last filled. */
  private notifyVerifyTokens: number | undefined;
  private notifyVerifyRefilledAt = 0;
  /** When our last LOCATOR_TYPE_UNSUPPORTED NOTIFY went out. */
  private lastUnsupportedNotifyAt = Number.NEGATIVE_INFINITY;
  /** Rekeys asked for while another SA change ran (sa-rekey.ts). */
  private readonly waitingRekeys = new WaitingRekeys();
  /** Our rekey of one pair, set aside while we answer the peer's of another; its UPDATE stays in flight. */
  private yieldedRekey: Rekey | undefined;
  /** A pair we rekeyed as responder, until the initiator acknowledges our answer (or the bound passes). */
  private rekeyUnconfirmed: UnconfirmedAnswer | undefined;
  /** What our I2 listed: the peer's starting view of our locators once the exchange completes. */
  private i2Announced: AnnouncedEntry[] = [];
  /** Locators the responder listed in R1, checked once the base exchange completes. */
  private r1Locators: AnnouncedLocator[] = [];
  /** The NAT traversal mode the base exchange settled on (RFC 9028 §5.4), if any. */
  private natMode: number | undefined;
  private readonly flows: FlowBindings;

  private constructor(
    private readonly ctx: AssociationContext,
    readonly peerHit: Uint8Array,
    remote: Endpoint,
    local: Endpoint | undefined,
    initiator: boolean,
  ) {
    this.remote = remote;
    this.local = local;
    this.initiator = initiator;
    this.peerUpdates = new UpdateIdWindow(UPDATE_ID_WINDOW, duplicateAnswerSpacing(ctx.timers));
    this.flows = new FlowBindings(ctx.flowBindings !== false, ctx.announcedFlowsFor?.(peerHit) ?? [],
      (acked) => this.ctx.emit({ type: 'flows-acked', peerHit: this.peerHit, acked }));
  }

  private get localHit(): Uint8Array {
    return this.ctx.identity.hit;
  }

  // -------------------------------------------------------------------------------------------
  // Creation

  /** We want to talk to `peerHit`: send I1 and wait for R1 (UNASSOCIATED → I1-SENT). */
  static initiate(ctx: AssociationContext, now: number, peerHit: Uint8Array, remote: Endpoint, local: Endpoint | undefined): Association {
    const a = new Association(ctx, peerHit, remote, local, true);
    a.setState('I1-SENT');
    a.sendTracked(now, 'I1', buildI1(ctx.identity.hit, peerHit, ctx.dhGroups), ctx.timers.i1RetriesMax);
    return a;
  }

  /**
   * The peer's own I1 arrived while ours waits (simultaneous opening) and the HIT rule says the
   * peer answers ours. Ours may never have reached it: it came from somewhere we are not sending
   * to (the peer restarted on another port, or we know it by an old address), or our earlier I1s
   * were lost before the peer was there (a relay drops I1s for a peer not yet registered). Ours
   * goes again where the peer's came from, once per I1 of the peer's, so the exchange does not
   * wait out our retransmission back-off.
   */
  peerInitiatingFrom(from: Endpoint, to: Endpoint): void {
    if (this.state !== 'I1-SENT' || this.retransmit === undefined) return;
    this.ctx.send(this.retransmit.bytes, from, to);
  }

  /**
   * Our I1 again, at once, where the others went: the relay we sent them to has just taken a
   * registration, and the peer's may be new there (the relay drops I1s for an unregistered HIT).
   */
  resendI1(): void {
    if (this.state === 'I1-SENT' && this.retransmit !== undefined) this.ctx.send(this.retransmit.bytes, this.remote, this.local);
  }

  /**
   * A fully verified I2 (see Responder.acceptI2): create the SAs, answer with R2 and wait in
   * R2-SENT. `replacing` is the state of an association this one supersedes (a peer that lost
   * its state and ran a new base exchange), so the state event says where we came from.
   */
  static fromI2(
    ctx: AssociationContext, now: number, acc: AcceptedI2, peerHit: Uint8Array, from: Endpoint, to: Endpoint, replacing: AssociationState,
    r2Extra: readonly Param[] = [],
  ): Association {
    const a = new Association(ctx, peerHit, from, to, false);
    a.state = replacing;
    a.peer = acc.peer;
    a.rhash = acc.rhash;
    a.keymat = acc.keymat;
    a.hipKeys = acc.hipKeys;
    a.hipCipher = acc.hipCipher;
    a.espSuite = acc.espSuite;
    a.espKeymatIndex = acc.keymatIndex;
    a.solutionId = acc.solutionId;
    a.natMode = acc.natMode;
    a.i2 = { from, to, answeredAt: now };
    a.inboundSpi = ctx.allocateSpi();
    a.outboundSpi = acc.peerSpi;
    const esp = drawEspKeys(acc.keymat, acc.keymatIndex, acc.espSuite, ctx.identity.hit, peerHit);
    a.nextKeymatIndex = esp.nextIndex;
    a.r2Bytes = buildR2(ctx, acc.rhash, acc.hipKeys.outInt, ctx.identity.hit, peerHit, acc.keymatIndex, a.inboundSpi, r2Extra);
    a.setState('R2-SENT');
    a.holdDeadline = now + ctx.timers.r2SentHoldMs;
    a.establishedAt = now;
    a.ctx.send(a.r2Bytes, from, to);
    // The SAs exist from here: the engine needs them to open the initiator's first ESP, which
    // is what confirms R2 arrived (RFC 7401 §4.4.2, R2-SENT).
    a.ctx.emit({
      type: 'established', peerHit, peer: acc.peer, local: to, remote: from, initiator: false,
      sa: { suite: acc.espSuite, inboundSpi: a.inboundSpi, outboundSpi: a.outboundSpi, inbound: esp.inbound, outbound: esp.outbound },
    });
    const listed = acc.locatorSet === undefined ? [] : parseLocatorSet(acc.locatorSet, from.port, acc.peerSpi).locators;
    if (a.flows.fromPeer(undefined, acc.eLocators, from.port, [from, ...listed], (r) => ctx.drop(r))) a.peerFlowsChanged();
    a.startMobility(now, listed, from);
    return a;
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  private setState(to: AssociationState): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    this.ctx.emit({ type: 'state', peerHit: this.peerHit, from, to });
  }

  private sendTracked(now: number, what: Sent, bytes: Uint8Array, max: number): void {
    this.retransmit = { what, bytes, attempt: 0, max, deadline: now + retransmitDelay(this.ctx.timers, 0) };
    this.ctx.send(bytes, this.remote, this.local);
  }

  /**
   * The engine's liveness probe went unanswered: the peer has likely restarted and forgotten
   * our SAs. Failed locally, like a failed exchange, so a new base exchange may replace it.
   */
  abandon(now: number, reason: string): void {
    if (this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') return;
    this.fail(now, reason);
  }

  private fail(now: number, reason: string): void {
    this.retransmit = undefined;
    this.rekey = undefined;
    this.rekeyUnconfirmed = undefined;
    this.yieldedRekey = undefined;
    this.outstanding.clear();
    this.announcing = undefined;
    this.endProbe('superseded');
    this.setState('E-FAILED');
    this.holdDeadline = now + this.ctx.timers.failedHoldMs;
    this.ctx.emit({ type: 'failed', peerHit: this.peerHit, reason });
  }

  private forget(): void {
    this.retransmit = undefined;
    this.holdDeadline = undefined;
    this.setState('UNASSOCIATED');
    this.gone = true;
  }

  nextTimeout(): number | undefined {
    let next: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    consider(this.retransmit?.deadline);
    consider(this.holdDeadline);
    for (const o of this.outstanding.values()) consider(o.deadline);
    if (this.keyed()) {
      consider(this.rekeyUnconfirmed?.deadline);
      consider(this.peerLocators?.nextDeadline());
      consider(this.renewalDue());
    }
    return next;
  }

  private keyed(): boolean {
    return this.state === 'ESTABLISHED' || this.state === 'R2-SENT';
  }

  /**
   * When our locators must be announced again so their lifetime never runs out at the peer:
   * half a lifetime after the last announcement went out. None while one is in flight.
   */
  private renewalDue(): number | undefined {
    const lifetime = this.ctx.timers.locatorLifetimeMs;
    if (lifetime <= 0 || this.announcing !== undefined || this.announced === undefined || this.announcementSentAt === undefined) return undefined;
    return this.announcementSentAt + lifetime / 2;
  }

  /** Our LOCATOR_SET lifetime field, in whole seconds. */
  private lifetimeS(): number {
    return Math.max(0, Math.floor(this.ctx.timers.locatorLifetimeMs / 1000));
  }

  onTimeout(now: number): void {
    const r = this.retransmit;
    if (r !== undefined && r.deadline <= now) {
      if (r.attempt >= r.max) {
        if (r.what === 'CLOSE') {
          // The peer never confirmed; it will time the association out on its own.
          this.forget();
          this.ctx.emit({ type: 'closed', peerHit: this.peerHit, byPeer: false });
          return;
        }
        if (r.what === 'PROBE') {
          // An unanswered probe is a measurement, not a verdict: whether the path or the peer
          // is gone is for failure detection to decide, so the association stays as it is.
          this.retransmit = undefined;
          this.pendingUpdateId = undefined;
          this.endProbe('retries-exceeded');
          return;
        }
        this.fail(now, `${r.what.toLowerCase()}-retries-exceeded`);
        return;
      }
      r.attempt++;
      r.deadline = now + retransmitDelay(this.ctx.timers, r.attempt);
      this.retransmissions++;
      if (r.what === 'PROBE' && this.probe !== undefined) this.probe.attempts++;
      this.ctx.send(r.bytes, this.remote, this.local);
    }
    if (this.holdDeadline !== undefined && this.holdDeadline <= now) {
      this.holdDeadline = undefined;
      if (this.state === 'R2-SENT') this.setState('ESTABLISHED');
      else if (this.state === 'CLOSED' || this.state === 'E-FAILED') this.forget();
    }
    this.retransmitOutstanding(now);
    if (!this.keyed()) return;
    if (this.rekeyUnconfirmed !== undefined && this.rekeyUnconfirmed.deadline <= now) this.rekeyConfirmed();
    this.expireLocators(now);
    const renewal = this.renewalDue();
    if (renewal !== undefined && renewal <= now) {
      // Counted from now even when nothing goes out (no address to announce), so the
      // deadline moves on instead of firing again at once.
      this.announcementSentAt = now;
      this.announceNext(now, true);
    }
  }

  /**
   * Peer locators past their lifetime become DEPRECATED, then are forgotten (RFC 8046 §4, §5.1);
   * the one in use stays while nothing else is left (counted locator-expired-in-use).
   */
  private expireLocators(now: number): void {
    const table = this.peerLocators;
    if (table === undefined) return;
    const { expired, kept, changed } = table.expire(now);
    for (let i = 0; i < expired; i++) this.ctx.drop('locator-expired');
    for (let i = 0; i < kept; i++) this.ctx.drop('locator-expired-in-use');
    if (expired > 0) this.reselect(now, 'locator-deprecated');
    if (changed) this.emitPeerLocators();
  }

  /** Re-sends mobility UPDATEs whose ACK is late; gives up on those out of attempts. */
  private retransmitOutstanding(now: number): void {
    for (const [id, o] of this.outstanding) {
      if (o.deadline > now) continue;
      if (o.attempt >= o.max) {
        this.outstanding.delete(id);
        if (o.purpose === 'verify' && this.peerLocators?.verificationFailed(o.target!)) this.emitPeerLocators();
        if (o.purpose === 'registration') this.ctx.emit({ type: 'registration-lost', peerHit: this.peerHit });
        // An announcement the peer never acknowledged: start over, under a new SEQ, from what it
        // last acknowledged. A peer that is gone for good is the liveness check's to declare.
        if (o.purpose === 'locators' && this.announcing?.updateId === id) {
          this.announcing = undefined;
          this.resumeRekeys(now);
          this.announceNext(now);
        }
        continue;
      }
      o.attempt++;
      o.deadline = now + retransmitDelay(this.ctx.timers, o.attempt);
      this.retransmissions++;
      this.ctx.send(o.bytes, o.to, o.from);
    }
  }

  private verifyMac(pkt: DecodedPacket): boolean {
    const mac = getParam(pkt, 'HIP_MAC');
    if (mac === undefined || this.hipKeys === undefined || this.rhash === undefined) return false;
    const computed = this.ctx.crypto.hmac(this.rhash, this.hipKeys.inInt, coveredBytes(pkt, spanIndexOf(pkt, ParamType.HIP_MAC)));
    return equalBytes(computed, mac.hmac);
  }

  private verifySignature(pkt: DecodedPacket): boolean {
    const sig = getParam(pkt, 'HIP_SIGNATURE');
    if (sig === undefined || this.peer === undefined || sig.algorithm !== this.peer.algorithm) return false;
    return verifyWith(this.ctx.crypto, this.peer, coveredBytes(pkt, spanIndexOf(pkt, ParamType.HIP_SIGNATURE)), sig.signature);
  }

  /** HIP_MAC then HIP_SIGNATURE; the reason to drop, or undefined when both hold. */
  private authenticate(pkt: DecodedPacket): string | undefined {
    if (!this.verifyMac(pkt)) return 'bad-mac';
    if (!this.verifySignature(pkt)) return 'bad-signature';
    return undefined;
  }

  private saKeys(suite: number, inboundSpi: number, outboundSpi: number, esp: { inbound: EspKeyMaterial; outbound: EspKeyMaterial }): SaKeys {
    return { suite, inboundSpi, outboundSpi, inbound: esp.inbound, outbound: esp.outbound };
  }

  // -------------------------------------------------------------------------------------------
  // Base exchange, initiator side

  /**
   * R1 (RFC 7401 §6.8). Only an R1 to an I1 we still stand behind is processed: in I1-SENT, or
   * in I2-SENT when its R1_COUNTER is newer than the R1 we answered.
   */
  onR1(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    const { crypto, identity } = this.ctx;
    if (this.state !== 'I1-SENT' && this.state !== 'I2-SENT') return this.ctx.drop('r1-out-of-state');
    const counter = getParam(pkt, 'R1_COUNTER')?.counter;
    if (this.state === 'I2-SENT' && (counter === undefined || this.r1CounterAnswered === undefined || counter <= this.r1CounterAnswered)) {
      return this.ctx.drop('r1-stale');
    }
    const hostId = getParam(pkt, 'HOST_ID')!;
    const parsed = identityFromHostId(crypto, hostId.algorithm, hostId.hi);
    if (!parsed.ok) return this.ctx.drop('bad-host-id');
    const peer = parsed.identity;
    if (!equalBytes(peer.hit, this.peerHit)) return this.ctx.drop('hit-mismatch');
    const sig = getParam(pkt, 'HIP_SIGNATURE_2')!;
    const sigInput = signature2Input(pkt, spanIndexOf(pkt, ParamType.HIP_SIGNATURE_2));
    if (sig.algorithm !== peer.algorithm || !verifyWith(crypto, peer, sigInput, sig.signature)) return this.ctx.drop('bad-signature');

    if (!getParam(pkt, 'HIT_SUITE_LIST')!.suites.includes(identity.suite)) return this.ctx.drop('unsupported-hit-suite');
    const dhParam = getParam(pkt, 'DIFFIE_HELLMAN')!;
    // The group must be the one our I1's list, in our preference order, leads to given the
    // responder's signed list; anything else is a downgrade (RFC 7401 §5.2.6, §6.8).
    const expected = chooseDhGroup(getParam(pkt, 'DH_GROUP_LIST')!.groups, this.ctx.dhGroups);
    if (expected === null) return this.ctx.drop('no-common-dh-group');
    if (dhParam.groupId !== expected) return this.ctx.drop('dh-downgrade');
    const curve = dhGroupCurve(dhParam.groupId);
    if (curve === null) return this.ctx.drop('no-common-dh-group');
    const hipCipher = getParam(pkt, 'HIP_CIPHER')!.ciphers.find((c) => this.ctx.hipCiphers.includes(c));
    if (hipCipher === undefined) return this.ctx.drop('no-common-hip-cipher');
    const espSuite = getParam(pkt, 'ESP_TRANSFORM')?.suites.find((s) => this.ctx.espSuites.includes(s));
    if (espSuite === undefined) return this.ctx.drop('no-common-esp-transform');
    const formats = getParam(pkt, 'TRANSPORT_FORMAT_LIST')?.formats;
    if (formats !== undefined && !formats.includes(TRANSPORT_FORMAT_ESP)) return this.ctx.drop('no-common-transport-format');

    const rhash = peer.rhash;
    const puzzle = getParam(pkt, 'PUZZLE')!;
    if (puzzle.k > this.ctx.puzzle.maxSolvableK) return this.ctx.drop('puzzle-too-hard');
    if (puzzle.i.length !== hashLength(rhash)) return this.ctx.drop('puzzle-bad-length');
    const j = solvePuzzle(crypto, rhash, puzzle.i, this.localHit, this.peerHit, puzzle.k);
    if (j === null) return this.ctx.drop('puzzle-unsolved');

    if (this.dhKey === undefined || this.dhKey.curve !== curve) this.dhKey = crypto.ecdhGenerate(curve);
    const kij = crypto.ecdhCompute(this.dhKey, dhParam.publicValue);
    if (kij === null) return this.ctx.drop('dh-invalid');
    const keymat = new Keymat(crypto, rhash, kij, this.localHit, this.peerHit, puzzle.i, j);
    const hipKeys = drawHipKeys(keymat, hipCipher, rhash, this.localHit, this.peerHit);
    this.inboundSpi ??= this.ctx.allocateSpi();
    // The responder's locators (RFC 8047 §4.5): a new preferred one gets the I2 directly, the
    // others are checked once the exchange completes.
    const r1Set = getParam(pkt, 'LOCATOR_SET');
    const r1Locators = r1Set === undefined ? [] : parseLocatorSet(r1Set, from.port, 0).locators;
    const redirect = r1Locators.find((l) => l.preferred && !sameEndpoint(l, from));
    const i2Listing = this.i2Listing(to);
    const i2Flows = this.flows.eLocator(this.listedLocators(), i2Listing);

    const spi = this.inboundSpi;
    const dhPublic = this.dhKey.publicKey;
    const encryptedHostId = encryptParam(crypto, hipCipher, hipKeys.outEnc, encodeParam(hostIdParam(identity)));
    const { bytes: i2, leftOut } = buildWithELocator(i2Flows, (eLocator) => buildI2(this.ctx, rhash, hipKeys.outInt, {
      localHit: this.localHit,
      peerHit: this.peerHit,
      keymatIndex: hipKeys.nextIndex,
      spi,
      r1Counter: counter,
      solution: { k: puzzle.k, opaque: puzzle.opaque, i: puzzle.i, j },
      dhGroupId: dhParam.groupId,
      dhPublic,
      hipCipher,
      encryptedHostId,
      espSuite,
      echoSigned: getParams(pkt, 'ECHO_REQUEST_SIGNED').map((e) => e.opaque),
      echoUnsigned: getParams(pkt, 'ECHO_REQUEST_UNSIGNED').map((e) => e.opaque),
      locatorSet: i2Listing,
      inviteProof: this.ctx.inviteProofFor?.(this.peerHit),
      extra: [...this.registrationRequest(pkt), ...this.natModeChoice(pkt), ...(eLocator === undefined ? [] : [eLocator])],
    }));
    this.flows.sentIn(I2_CARRIER, leftOut);
    if (this.flows.fromPeer(undefined, getParams(pkt, 'E_LOCATOR'), from.port, [from, ...r1Locators], (r) => this.ctx.drop(r))) this.peerFlowsChanged();
    this.peer = peer;
    this.peerHostIdTlv = encodeParam(hostId);
    this.rhash = rhash;
    this.keymat = keymat;
    this.hipKeys = hipKeys;
    this.hipCipher = hipCipher;
    this.espSuite = espSuite;
    this.espKeymatIndex = hipKeys.nextIndex;
    this.r1CounterAnswered = counter ?? 0n;
    this.remote = redirect !== undefined ? { address: redirect.address, port: redirect.port } : from;
    this.r1Locators = r1Locators.filter((l) => !sameEndpoint(l, this.remote));
    this.local = to;
    this.setState('I2-SENT');
    this.sendTracked(now, 'I2', i2, this.ctx.timers.i2RetriesMax);
  }

  /** The responder's first NAT traversal mode that we run, named in our I2; none when it offered none. */
  private natModeChoice(r1: DecodedPacket): Param[] {
    const offered = getParam(r1, 'NAT_TRAVERSAL_MODE')?.modes ?? [];
    const chosen = offered.find((m) => this.ctx.natTraversalModes?.includes(m));
    this.natMode = chosen;
    return chosen === undefined ? [] : [{ kind: 'NAT_TRAVERSAL_MODE', modes: [chosen] }];
  }

  /** A REG_REQUEST for our I2 when the R1 offers registration and we want some (RFC 8003 §3.2). */
  private registrationRequest(r1: DecodedPacket): Param[] {
    if (getParam(r1, 'REG_INFO') === undefined) return [];
    const request = this.ctx.registrationRequestFor?.(this.peerHit);
    return request === undefined ? [] : [request];
  }

  /** R2 (RFC 7401 §6.11): the responder's ESP_INFO, HIP_MAC_2 and signature; then ESTABLISHED. */
  onR2(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    if (this.state !== 'I2-SENT') return this.ctx.drop('r2-out-of-state');
    const keymat = this.keymat!;
    const hipKeys = this.hipKeys!;
    const rhash = this.rhash!;
    const espInfo = getParam(pkt, 'ESP_INFO')!;
    if (espInfo.newSpi === 0 || espInfo.oldSpi !== 0 || espInfo.keymatIndex !== this.espKeymatIndex) return this.ctx.drop('esp-info');
    const mac = getParam(pkt, 'HIP_MAC_2')!;
    const input = mac2Input(pkt, spanIndexOf(pkt, ParamType.HIP_MAC_2), this.peerHostIdTlv!);
    if (!equalBytes(this.ctx.crypto.hmac(rhash, hipKeys.inInt, input), mac.hmac)) return this.ctx.drop('bad-mac');
    if (!this.verifySignature(pkt)) return this.ctx.drop('bad-signature');

    const esp = drawEspKeys(keymat, espInfo.keymatIndex, this.espSuite!, this.localHit, this.peerHit);
    this.nextKeymatIndex = esp.nextIndex;
    this.outboundSpi = espInfo.newSpi;
    this.retransmit = undefined;
    this.remote = from;
    this.local = to;
    this.establishedAt = now;
    this.setState('ESTABLISHED');
    this.ctx.emit({
      type: 'established', peerHit: this.peerHit, peer: this.peer!, local: to, remote: from, initiator: true,
      sa: this.saKeys(this.espSuite!, this.inboundSpi!, this.outboundSpi, esp),
    });
    this.flows.ackedBy(I2_CARRIER);
    this.startMobility(now, this.r1Locators, from);
    const answer = registrationAnswerIn(pkt);
    if (answer !== undefined) this.ctx.emit({ type: 'registration', peerHit: this.peerHit, answer });
  }

  // -------------------------------------------------------------------------------------------
  // Responder side after R2

  /** The same I2 again: our R2 was lost. Answer with the very same R2, create nothing. */
  resendR2(now: number, from: Endpoint): void {
    // A recorded I2 replayed from elsewhere must not aim our R2 anywhere, nor many of them.
    if (this.r2Bytes === undefined || this.i2 === undefined || !sameEndpoint(from, this.i2.from)) return;
    if (now - this.i2.answeredAt < duplicateAnswerSpacing(this.ctx.timers)) return;
    this.i2.answeredAt = now;
    this.ctx.send(this.r2Bytes, this.i2.from, this.i2.to);
  }

  /**
   * The engine opened ESP from this peer with our keys: the initiator has R2. With `packet`, its
   * size earns credit for unverified addresses, and a source address we did not know is checked
   * (site multihoming: the peer's site or NAT changed paths).
   */
  espAuthenticated(now: number, packet?: { bytes: number; from: Endpoint }): void {
    if (this.state === 'R2-SENT') {
      this.holdDeadline = undefined;
      this.setState('ESTABLISHED');
    }
    if (packet === undefined || this.state !== 'ESTABLISHED') return;
    this.credit?.received(now, packet.bytes);
    // The data plane's anti-replay window ran before it reported this packet: it is fresh.
    this.noticeSource(now, packet.from);
  }

  // -------------------------------------------------------------------------------------------
  // UPDATE and rekeying

  /**
   * Starts a rekey (RFC 7402 §6.9) of the base SA pair, or of the further pair whose outbound
   * SA is `outboundSpi` (RFC 8047): a new inbound SPI, keys from the next KEYMAT index.
   */
  startRekey(now: number, outboundSpi?: number): boolean {
    // R2-SENT counts: the responder holds keys, and the peer accepts UPDATE once it has R2.
    const keyed = this.state === 'ESTABLISHED' || this.state === 'R2-SENT';
    if (!keyed) return false;
    const base = this.basePair();
    const pair = pairToRekey(base, this.extraSas, outboundSpi);
    if (pair === undefined) return false;
    const target = pair === base ? 'base' : pair.outboundSpi;
    // One SA change at a time: a rekey or a new SA pair being keyed draws from KEYMAT too. This
    // one starts as soon as that change is done, since the data plane asks for it only once.
    if (this.rekey !== undefined || this.announcing?.kind === 'new-sa') {
      if (this.rekey === undefined || !samePair(this.rekey.pair, pair)) this.waitingRekeys.add(target);
      return false;
    }
    // Only one UPDATE may be unacknowledged at a time; a probe yields, since fresh keys matter
    // more than one measurement and the engine asks for a rekey only once.
    if (this.retransmit?.what === 'PROBE') {
      this.retransmit = undefined;
      this.pendingUpdateId = undefined;
      this.endProbe('superseded');
    }
    if (this.retransmit !== undefined) {
      this.waitingRekeys.add(target);
      return false;
    }
    const localNewSpi = this.ctx.allocateSpi();
    this.rekey = { role: 'initiator', pair: { ...pair }, localNewSpi, localIndex: this.nextKeymatIndex, acked: false };
    const seq = this.newUpdateId();
    this.pendingUpdateId = seq;
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, {
      seq, espInfo: { keymatIndex: this.nextKeymatIndex, oldSpi: pair.inboundSpi, newSpi: localNewSpi },
    });
    this.sendTracked(now, 'UPDATE', bytes, this.ctx.timers.updateRetriesMax);
    return true;
  }

  private basePair(): SaPairSpis {
    return { inboundSpi: this.inboundSpi!, outboundSpi: this.outboundSpi! };
  }

  /** Starts the rekeys that waited for another SA change, as far as nothing else runs. */
  private resumeRekeys(now: number): void {
    for (let n = this.waitingRekeys.size; n > 0 && this.rekey === undefined && this.retransmit === undefined; n--) {
      const target = this.waitingRekeys.take()!;
      this.startRekey(now, target === 'base' ? undefined : target);
    }
  }

  /**
   * UPDATE (RFC 7401 §6.12; RFC 7402 §6.9 and RFC 8047 §6.2 for ESP_INFO; RFC 8046 §5.3–5.4 for
   * LOCATOR_SET and the echo). Everything that can be refused without keys is refused first;
   * nothing moves before HIP_MAC and the signature hold.
   */
  onUpdate(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint, viaRelay = false): void {
    if (this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') return this.ctx.drop('update-out-of-state');
    const seq = getParam(pkt, 'SEQ');
    const ack = getParam(pkt, 'ACK');
    const acked = ack?.updateIds ?? [];
    const espInfo = getParam(pkt, 'ESP_INFO');
    const echoResponse = getParam(pkt, 'ECHO_RESPONSE_SIGNED');
    if (echoResponse !== undefined && !this.expectsEcho(echoResponse.opaque, acked)) {
      // A replayed or forged answer to an echo we no longer have. Without a SEQ there is nothing
      // else in it to act on, so it is refused before any MAC or signature work.
      this.ctx.drop('echo-mismatch');
      if (seq === undefined) return;
    }
    const verdict = seq === undefined ? undefined : this.peerUpdates.classify(seq.updateId);
    if (verdict === 'replay') return this.ctx.drop('update-replay');
    if (verdict === 'too-far') return this.ctx.drop('update-seq-window');
    if (verdict === 'duplicate') return this.onDuplicateUpdate(now, pkt, seq!.updateId, from);
    // Without a SEQ, only an ACK of something we still wait for can be fresh; anything else is
    // refused before the signature check, which is what a flood of recorded packets would buy.
    if (seq === undefined && !this.awaitsAck(acked)) return this.ctx.drop('update-stale-ack');
    const isNewSeq = verdict === 'new';
    let espCase: EspInfoCase | undefined;
    if (isNewSeq && espInfo !== undefined) {
      espCase = this.classifyEspInfo(espInfo, acked);
      if (espCase === undefined) return this.ctx.drop('esp-info');
      if (espCase === 'rekey' && this.rekey?.peerNewSpi !== undefined) return this.ctx.drop('rekey-in-progress');
    }
    const authFailure = this.authenticate(pkt);
    if (authFailure !== undefined) return this.ctx.drop(authFailure);
    // A pair probe, and the answer to one of ours, take the pair under test, not the one the
    // peer sends on: their source says nothing of where the peer is.
    const pairTest = decodeProbeReport(pkt.params) !== undefined || acked.some((id) => this.outstanding.get(id)?.purpose === 'pair-probe');

    // Authenticated from here on.
    if (this.state === 'R2-SENT') {
      this.holdDeadline = undefined;
      this.setState('ESTABLISHED');
    }
    this.credit?.received(now, pkt.raw.length);
    if (espCase !== undefined && espCase !== 'new-sa-answer' && this.yieldsSaChange(espCase, espInfo!.oldSpi)) {
      // Both sides are changing SAs at once: the larger HIT's change goes first (it refuses
      // ours until then), so no two SAs are ever keyed from the same KEYMAT octets.
      return this.ctx.drop('sa-change-in-progress');
    }
    for (const id of acked) this.unacknowledged.delete(id);
    if (this.rekeyUnconfirmed !== undefined && acked.includes(this.rekeyUnconfirmed.replyId)) this.rekeyConfirmed();
    if (ack !== undefined && this.pendingUpdateId !== undefined && acked.includes(this.pendingUpdateId)) {
      this.pendingUpdateId = undefined;
      if (this.retransmit?.what === 'UPDATE' || this.retransmit?.what === 'PROBE') this.retransmit = undefined;
      // The peer took up the rekey we set aside: it is ours to finish again.
      this.rekey ??= this.yieldedRekey;
      this.yieldedRekey = undefined;
      if (this.rekey !== undefined) this.rekey.acked = true;
    }
    const probe = this.probe;
    if (echoResponse !== undefined && probe !== undefined && equalBytes(echoResponse.opaque, probe.nonce) && acked.includes(probe.updateId)) {
      this.probe = undefined;
      this.ctx.emit({
        type: 'probe-answered', peerHit: this.peerHit, nonce: probe.nonce, local: to, remote: from, retransmissions: probe.attempts,
      });
    }
    const answersRegistration = acked.some((id) => this.outstanding.get(id)?.purpose === 'registration');
    if (acked.length > 0) this.onMobilityAck(now, acked, echoResponse?.opaque, espCase === 'new-sa-answer' ? espInfo : undefined);
    if (answersRegistration) {
      const answer = registrationAnswerIn(pkt);
      if (answer !== undefined) this.ctx.emit({ type: 'registration', peerHit: this.peerHit, answer });
    }
    if (seq !== undefined && isNewSeq) {
      this.peerUpdates.record(seq.updateId);
      this.answerSeq(now, pkt, seq.updateId, espInfo, espCase, from, to);
    }
    // Fresh: a new SEQ, or the first ACK of something we sent (both checked above). A packet a
    // relay of ours passed on comes from the relay, which reaches the peer only if the peer says
    // so (its relayed candidate) or the exchange ran there: the relay's address is no new
    // address of the peer's.
    if (!viaRelay || this.peerLocators?.get(from) !== undefined) {
      this.noticeSource(now, from, !pairTest);
      // The new pair's request left from the peer's new interface: its source is that interface.
      // So does a probe or an echo's answer naming the SA pair of the interface it left from.
      const named = espCase === 'new-sa' ? espInfo?.newSpi : decodeProbeSpi(pkt.params);
      if (!viaRelay && named !== undefined && this.isOutboundSpi(named) && this.peerLocators?.bindObserved(from, named) === true) this.emitPeerLocators();
    }
    this.completeRekey(now);
    this.resumeRekeys(now);
  }

  /**
   * An UPDATE whose SEQ we processed already: our answer was lost, or someone replays a recorded
   * packet. Nothing in it is processed again and its source is not news; only the address it
   * first came from gets our kept answer again, rate-limited, and only for the packet we
   * authenticated (the same HIP_MAC, or one that verifies: a peer may rebuild what it re-sends).
   */
  private onDuplicateUpdate(now: number, pkt: DecodedPacket, id: number, from: Endpoint): void {
    this.ctx.drop('update-duplicate');
    const mac = getParam(pkt, 'HIP_MAC')?.hmac;
    const again = this.peerUpdates.reanswer<Endpoint>(
      id, from, now, sameEndpoint, (kept) => mac !== undefined && (equalBytes(mac, kept) || this.verifyMac(pkt)),
    );
    if (again !== undefined) this.ctx.send(again.bytes, again.to, again.from);
  }

  /** Whether any of these Update IDs is one of ours still waiting for its ACK. */
  private awaitsAck(acked: readonly number[]): boolean {
    return acked.some((id) => this.unacknowledged.has(id));
  }

  /** The next SEQ of ours, remembered until acknowledged (the oldest forgotten beyond a bound). */
  private newUpdateId(): number {
    const id = this.nextUpdateId++;
    this.unacknowledged.add(id);
    if (this.unacknowledged.size > MAX_UNACKNOWLEDGED) this.unacknowledged.delete(this.unacknowledged.values().next().value!);
    return id;
  }

  /** Whether an echo answer matches something we sent: the ping probe, an address check, a pair probe. */
  private expectsEcho(opaque: Uint8Array, acked: readonly number[]): boolean {
    if (this.probe !== undefined && equalBytes(opaque, this.probe.nonce)) return true;
    return acked.some((id) => {
      const o = this.outstanding.get(id);
      return o?.echo !== undefined && equalBytes(o.echo, opaque);
    });
  }

  /** RFC 8047 §6.2: the four meanings of OLD SPI / NEW SPI, or undefined for a protocol error. */
  private classifyEspInfo(e: { oldSpi: number; newSpi: number }, acked: readonly number[]): EspInfoCase | undefined {
    const known = (spi: number): boolean => spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === spi);
    if (e.oldSpi !== 0 && e.oldSpi === e.newSpi) return known(e.oldSpi) ? 'gratuitous' : undefined;
    if (e.oldSpi === 0) {
      if (e.newSpi === 0 || known(e.newSpi)) return undefined;
      const a = this.announcing;
      return a?.kind === 'new-sa' && acked.includes(a.updateId) ? 'new-sa-answer' : 'new-sa';
    }
    if (e.newSpi === 0) return known(e.oldSpi) && this.extraSas.length > 0 ? 'deprecate' : undefined;
    // Any pair is rekeyed this way, the base one and further ones alike (sa-rekey.ts).
    return known(e.oldSpi) && !known(e.newSpi) ? 'rekey' : undefined;
  }

  /**
   * We have our own SA change in flight and ours goes first (larger HIT). Rekey meeting rekey
   * of the same pair merges instead; `oldSpi` is the peer's ESP_INFO OLD SPI.
   */
  private yieldsSaChange(peerCase: EspInfoCase, oldSpi: number): boolean {
    if (peerCase !== 'new-sa' && peerCase !== 'rekey') return false;
    const ownRekey = this.rekey?.role === 'initiator';
    const ownNewSa = this.announcing?.kind === 'new-sa';
    if (peerCase === 'rekey' && ownRekey && this.rekey!.pair.outboundSpi === oldSpi) return false;
    if (!ownRekey && !ownNewSa) return false;
    return compareHits(this.localHit, this.peerHit) > 0;
  }

  /**
   * Answers a new SEQ: an ACK (with the echo, if asked), plus our own SEQ and ESP_INFO when the
   * peer's asks us for a new inbound SA. The answer goes back on the pair the UPDATE came on.
   */
  private answerSeq(
    now: number, pkt: DecodedPacket, id: number, espInfo: { keymatIndex: number; oldSpi: number; newSpi: number } | undefined,
    espCase: EspInfoCase | undefined, from: Endpoint, to: Endpoint,
  ): void {
    const macKey = this.hipKeys!.outInt;
    const echoRequest = getParam(pkt, 'ECHO_REQUEST_SIGNED')?.opaque;
    const locatorSet = getParam(pkt, 'LOCATOR_SET');
    // ESP_INFO before LOCATOR_SET: a listing may reference the SPI the ESP_INFO introduces.
    let defaultSpi = this.outboundSpi!;
    let reply: Parameters<typeof buildUpdate>[5] = { ack: [id], echoResponse: echoRequest };
    let track = false;
    if (espCase === 'rekey' && espInfo !== undefined) {
      const pair = pairNamedByPeer(this.basePair(), this.extraSas, espInfo.oldSpi)!;
      if (pair.outboundSpi === this.outboundSpi) defaultSpi = espInfo.newSpi;
      // Our own rekey of another pair yields to the peer's: the larger HIT refuses ours until its own is done.
      if (this.rekey !== undefined && !samePair(this.rekey.pair, pair)) this.yieldOwnRekey();
      if (this.rekey === undefined) {
        // The peer rekeys: our own new SPI goes back with the ACK, under our own SEQ.
        const localNewSpi = this.ctx.allocateSpi();
        const replyId = this.newUpdateId();
        this.rekey = {
          role: 'responder', pair: { ...pair }, localNewSpi, localIndex: this.nextKeymatIndex, acked: false,
          peerNewSpi: espInfo.newSpi, peerIndex: espInfo.keymatIndex, replyId,
        };
        reply = { ...reply, seq: replyId, espInfo: { keymatIndex: this.nextKeymatIndex, oldSpi: pair.inboundSpi, newSpi: localNewSpi } };
        track = true;
      } else {
        // Both sides rekey at once: each side's ESP_INFO rides on its own SEQ; just acknowledge.
        this.rekey.peerNewSpi = espInfo.newSpi;
        this.rekey.peerIndex = espInfo.keymatIndex;
      }
    } else if (espCase === 'new-sa' && espInfo !== undefined) {
      const created = this.acceptNewSa(espInfo, to);
      if (created === undefined) return this.ctx.drop('keymat-exhausted');
      defaultSpi = espInfo.newSpi;
      reply = { ...reply, seq: this.newUpdateId(), espInfo: { keymatIndex: created.proposedIndex, oldSpi: 0, newSpi: created.inboundSpi } };
    } else if (espCase === 'deprecate' && espInfo !== undefined) {
      this.removeSaPair(now, (sa) => sa.outboundSpi === espInfo.oldSpi);
    }
    if (locatorSet !== undefined && (this.lastLocatorSetId === undefined || id > this.lastLocatorSetId)) {
      this.lastLocatorSetId = id;
      this.applyPeerLocatorSet(now, locatorSet, from, defaultSpi, to);
    }
    // E-LOCATOR binds flows to locators of the LOCATOR_SET beside it, or of the last one we have.
    const listedNow = locatorSet !== undefined ? parseLocatorSet(locatorSet, from.port, defaultSpi).locators : this.peerLocators?.list() ?? [];
    if (this.flows.fromPeer(id, getParams(pkt, 'E_LOCATOR'), from.port, listedNow, (r) => this.ctx.drop(r))) this.peerFlowsChanged();
    const report = echoRequest === undefined ? undefined : decodeProbeReport(pkt.params);
    const probeId = echoRequest === undefined ? undefined : probeIdFromOpaque(echoRequest);
    if (report !== undefined && probeId !== undefined) {
      this.ctx.emit({ type: 'pair-probe-received', peerHit: this.peerHit, pair: { local: to, remote: from }, probeId, report });
    }
    const registration = answerRegistration(this.ctx.registrar, pkt, this.peerHit, from, to, now);
    if (registration.length > 0) reply = { ...reply, extra: [...(reply.extra ?? []), ...registration] };
    // An echo answered from one of our interfaces names that interface's SA pair, as our probes do.
    const sourceSpi = echoRequest === undefined ? undefined : this.probeSpi(to);
    if (sourceSpi !== undefined) reply = { ...reply, extra: [...(reply.extra ?? []), encodeProbeSpi(sourceSpi)] };
    const bytes = buildUpdate(this.ctx, this.rhash!, macKey, this.localHit, this.peerHit, reply);
    this.peerUpdates.keepReply(id, bytes, from, to, getParam(pkt, 'HIP_MAC')!.hmac, now);
    if (track && this.retransmit === undefined) {
      this.pendingUpdateId = reply.seq;
      this.retransmit = { what: 'UPDATE', bytes, attempt: 0, max: this.ctx.timers.updateRetriesMax, deadline: now + retransmitDelay(this.ctx.timers, 0) };
    }
    this.ctx.send(bytes, from, to);
  }

  /**
   * Both new SPIs known and our side confirmed: draw the new ESP keys. Both hosts start from the
   * larger of the two proposed KEYMAT indexes, so they draw the same octets (RFC 7402 §6.9).
   */
  private completeRekey(now: number): void {
    const r = this.rekey;
    if (r === undefined || r.peerNewSpi === undefined || r.peerIndex === undefined) return;
    if (!r.acked && r.role !== 'responder') return;
    const index = Math.max(r.localIndex, r.peerIndex);
    let esp: ReturnType<typeof drawEspKeys>;
    try {
      esp = drawEspKeys(this.keymat!, index, this.espSuite!, this.localHit, this.peerHit);
    } catch {
      // KEYMAT is finite without a new DH; running out ends the association rather than reusing keys.
      this.rekey = undefined;
      this.ctx.emit({ type: 'failed', peerHit: this.peerHit, reason: 'keymat-exhausted' });
      return;
    }
    this.rekey = undefined;
    const { inboundSpi: oldInboundSpi, outboundSpi: oldOutboundSpi } = r.pair;
    const sa = this.saKeys(this.espSuite!, r.localNewSpi, r.peerNewSpi, esp);
    const further = this.extraSas.find((p) => samePair(p, r.pair));
    const base = samePair(this.basePair(), r.pair);
    if (!base && further === undefined) return; // the pair went (deprecated) while its rekey ran
    // As responder we hold the new SAs before the initiator does (it needs our answer first).
    const confirmed = r.replyId === undefined;
    // A pair completed while an earlier answer waits: the peer went on, so it holds that pair.
    if (this.rekeyUnconfirmed !== undefined) this.rekeyConfirmed();
    if (!confirmed) this.rekeyUnconfirmed = { replyId: r.replyId!, outboundSpi: sa.outboundSpi, deadline: now + REKEY_CONFIRM_MAX_MS };
    if (base) {
      this.inboundSpi = sa.inboundSpi;
      this.outboundSpi = sa.outboundSpi;
      this.ctx.emit({ type: 'rekeyed', peerHit: this.peerHit, oldInboundSpi, oldOutboundSpi, sa, confirmed });
    } else {
      further!.inboundSpi = sa.inboundSpi;
      further!.outboundSpi = sa.outboundSpi;
      this.ctx.emit({ type: 'sa-rekeyed', peerHit: this.peerHit, oldInboundSpi, oldOutboundSpi, ifname: further!.ifname, sa, confirmed });
    }
    this.nextKeymatIndex = esp.nextIndex;
    this.rekeys++;
    // Locators follow their SA to its new SPI on both sides (RFC 8047 §6.2 case 2).
    this.peerLocators?.rebindSpi(oldOutboundSpi, sa.outboundSpi);
    if (this.announced !== undefined) {
      this.announced = this.announced.map((e) => (e.spi === oldInboundSpi ? { ...e, spi: sa.inboundSpi } : e));
    }
    this.announceNext(now);
  }

  /** The peer holds the pair we answered its rekey of: our traffic may move onto the new outbound SA. */
  private rekeyConfirmed(): void {
    const { outboundSpi } = this.rekeyUnconfirmed!;
    this.rekeyUnconfirmed = undefined;
    this.ctx.emit({ type: 'sa-rekey-confirmed', peerHit: this.peerHit, outboundSpi });
  }

  /**
   * Our rekey gives way to the peer's of another pair. Its UPDATE stays in flight under the
   * same SEQ (the peer may hold it already): the peer answers it once its own rekey is done,
   * and both then draw keys from the larger KEYMAT index proposed, past the peer's pair.
   */
  private yieldOwnRekey(): void {
    this.yieldedRekey = this.rekey;
    this.rekey = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Mobility and multihoming: telling the peer where we are (RFC 8046 §5.1, RFC 8047 §6.1),
  // learning and checking where it is (RFC 8046 §5.4–5.6, RFC 8047 §6.2–6.4), probing pairs.

  /** Keys exist: the peer is known at the address the exchange ran over, plus what it listed. */
  private startMobility(now: number, listed: readonly AnnouncedLocator[], remote: Endpoint): void {
    this.peerLocators = new PeerLocatorTable(now, remote, this.outboundSpi!);
    this.credit = new CreditAccount(now, this.ctx.credit);
    const own = this.listedLocators();
    this.baseIfname = this.baseInterface(own);
    if (this.initiator && this.i2Announced.length > 0) {
      this.announced = this.i2Announced;
      this.announcementSentAt = now;
    }
    if (listed.length > 0) {
      // Addresses listed in R1 or I2 are checked like any other (RFC 8047 §4.5).
      const outbound = this.outboundSpi!;
      const outcome = this.peerLocators.applyLocatorSet(now, listed.map((l) => ({ ...l, spi: l.spi === 0 ? outbound : l.spi })), remote);
      for (const l of outcome.toVerify) this.startVerify(now, l);
      if (outcome.changed) this.emitPeerLocators();
    }
    this.announceNext(now);
  }

  /**
   * Our locators as this peer may hear them. A registrar of ours hears only host candidates: it
   * sees our reflexive address itself, and our relayed address is its own, which it must never
   * take for ours.
   */
  private listedLocators(): readonly OwnLocator[] {
    const own = this.ctx.localLocators();
    return this.ctx.registrationRequestFor?.(this.peerHit) === undefined ? own : own.filter(isHostLocator);
  }

  /** Our locators for the I2 (RFC 8047 §4.5): the P bit on the address the exchange runs over. */
  private i2Entries(via: Endpoint | undefined): AnnouncedEntry[] {
    const own = this.listedLocators();
    const spi = this.inboundSpi;
    if (own.length === 0 || spi === undefined) return [];
    // In simultaneous multihoming the base SA serves one interface; the others get SAs of their own.
    const ifname = own.find((l) => l.address === via?.address)?.ifname ?? preferredOf(own)!.ifname;
    const listed = this.ctx.multihoming === 'simultaneous' ? own.filter((l) => l.ifname === ifname) : own;
    return listed.map((l) => ({
      locator: { address: l.address, port: l.port }, spi, preferred: sameEndpoint(l, via) && isHostLocator(l),
      ...(l.candidate === undefined ? {} : { candidate: l.candidate }),
    }));
  }

  private i2Listing(via: Endpoint): LocatorSet | undefined {
    const entries = this.i2Entries(via);
    this.i2Announced = entries;
    return entries.length === 0 ? undefined : buildLocatorSet(entries, this.lifetimeS());
  }

  /**
   * The interface the base exchange ran over: the one holding our local address. Unknown (and so
   * treated as gone) when that address is no longer ours; the preferred one when we never knew.
   */
  private baseInterface(own: readonly OwnLocator[]): string | undefined {
    if (this.local === undefined) return preferredOf(own)?.ifname;
    return own.find((l) => l.address === this.local!.address)?.ifname;
  }

  /** Our inbound SAs the planner may bind our interfaces to: the base pair and those we created. */
  private inboundSas(): InboundSa[] {
    const sas: InboundSa[] = [{ inboundSpi: this.inboundSpi!, ifname: this.baseIfname }];
    for (const sa of this.extraSas) if (sa.createdBy === 'us') sas.push({ inboundSpi: sa.inboundSpi, ifname: sa.ifname });
    return sas;
  }

  /** The peer's E-LOCATOR changed its bindings: the host's data plane re-plans the flows it sends back. */
  private peerFlowsChanged(): void {
    this.ctx.emit({ type: 'peer-flows', peerHit: this.peerHit, flows: this.flows.peerFlows() });
  }

  /** Our flow bindings for this peer (seed 002): a changed set goes out with our listing, or in the I2 if not yet sent. */
  announceFlows(now: number, flows: readonly AnnouncedFlow[]): void {
    if (this.flows.set(flows)) this.announceNext(now);
  }

  /** The host's locators changed (HipHost.setLocalLocators): tell the peer. */
  localLocatorsChanged(now: number): void {
    if ((this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') || this.peerLocators === undefined) return;
    const own = this.listedLocators();
    const preferred = preferredOf(own);
    if (preferred === undefined) return; // nowhere to be reached: wait for an address (break before make)
    this.baseIfname ??= this.baseInterface(own);
    const stillOurs = (e: Endpoint | undefined): boolean => e !== undefined && own.some((l) => sameEndpoint(l, e));
    // Control traffic leaves from an address we still have.
    if (!stillOurs(this.local)) this.local = { address: preferred.address, port: preferred.port };
    // UPDATEs in flight from an address now gone would be re-sent into the void: move them.
    for (const o of this.outstanding.values()) {
      if (o.purpose === 'pair-probe' || stillOurs(o.from)) continue;
      o.from = this.local;
      o.deadline = now + retransmitDelay(this.ctx.timers, o.attempt);
      this.ctx.send(o.bytes, o.to, o.from);
    }
    this.flows.localsChanged(own);
    this.announceNext(now);
  }

  /**
   * Sends the next LOCATOR_SET UPDATE the plan calls for, if none is in flight. `renew`: the
   * listing the peer has is about to run out, so it goes again even if unchanged.
   */
  private announceNext(now: number, renew = false, to?: Endpoint): void {
    if (this.announcing !== undefined || this.peerLocators === undefined) return;
    if (this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') return;
    const own = this.listedLocators();
    // Flow bindings the peer has not acknowledged go out with our listing even if it is unchanged.
    const announced = this.announced === undefined || renew || this.flows.pending ? undefined : listingFingerprint(this.announced);
    const step = nextLocatorStep(this.ctx.multihoming, own, this.inboundSas(), announced);
    const keymatIndex = this.nextKeymatIndex;
    switch (step.kind) {
      case 'none':
        return;
      case 'gratuitous':
        this.sendAnnouncement(now, { kind: 'gratuitous', listing: step.listing }, { keymatIndex, oldSpi: step.spi, newSpi: step.spi }, this.local, to);
        return;
      case 'deprecate':
        this.sendAnnouncement(now, { kind: 'deprecate', listing: step.listing, spi: step.spi }, { keymatIndex, oldSpi: step.spi, newSpi: 0 }, this.local, to);
        return;
      case 'new-sa': {
        if (this.rekey !== undefined) return; // one SA change at a time; resumed when the rekey completes
        const newSpi = this.ctx.allocateSpi();
        const listing = step.listing(newSpi);
        // RFC 8047 §6.1: sent from the new interface, so the peer learns the pair it will use.
        const from = { address: step.from.address, port: step.from.port };
        this.sendAnnouncement(now, { kind: 'new-sa', listing, ifname: step.ifname, newSpi, keymatIndex }, { keymatIndex, oldSpi: 0, newSpi }, from, to);
        return;
      }
    }
  }

  private sendAnnouncement(
    now: number, what: DistributiveOmit<Announcing, 'updateId'>, espInfo: { keymatIndex: number; oldSpi: number; newSpi: number },
    from: Endpoint | undefined, via?: Endpoint,
  ): void {
    const updateId = this.newUpdateId();
    const locatorSet = buildLocatorSet(what.listing, this.lifetimeS());
    const eLocator = this.flows.eLocator(this.listedLocators(), locatorSet);
    const { bytes, leftOut } = buildWithELocator(eLocator, (fitted) => buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, {
      seq: updateId, espInfo, locatorSet, ...(fitted === undefined ? {} : { extra: [fitted] }),
    }));
    this.flows.sentIn(updateId, leftOut);
    this.announcementSentAt = now;
    this.latestAnnouncementId = updateId;
    const to = via ?? this.remote;
    this.outstanding.set(updateId, {
      purpose: 'locators', bytes, to, from, attempt: 0, max: this.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.ctx.timers, 0), sentAt: now,
    });
    this.announcing = { ...what, updateId };
    this.ctx.send(bytes, to, from);
  }

  /**
   * A new offer (seed 000 §3.3): our whole listing again under a new SEQ, sent to `via` (a relay
   * that reaches the peer) rather than to the pair in use, which is the one that stopped
   * answering. An announcement of a plain listing still in flight there is given up for it; one
   * that creates or removes an SA pair is left to finish. False when nothing went out.
   */
  offer(now: number, via: Endpoint): boolean {
    if (!this.keyed() || this.peerLocators === undefined) return false;
    const inFlight = this.announcing;
    if (inFlight !== undefined) {
      if (inFlight.kind !== 'gratuitous') return false;
      this.outstanding.delete(inFlight.updateId);
      this.announcing = undefined;
    }
    this.announceNext(now, true, via);
    return this.announcing !== undefined;
  }

  /**
   * Tells the peer, signed, that our checks toward its candidates all failed (RFC 9028 §5.10),
   * naming this association and the peer's offer we judged (see checks-failed-notice.ts).
   */
  notifyChecksFailed(to: Endpoint): boolean {
    if (!this.keyed()) return false;
    const data = encodeChecksFailedNotice({ spi: this.inboundSpi!, offerSeq: this.lastLocatorSetId ?? BASE_EXCHANGE_OFFER });
    return this.notifyPeer(NotifyType.CONNECTIVITY_CHECKS_FAILED, data, to);
  }

  /** Sends the peer a signed NOTIFY to `to` (through a relay when that is the only way left). */
  notifyPeer(notifyType: number, data: Uint8Array, to: Endpoint): boolean {
    if (!this.keyed()) return false;
    this.ctx.send(buildNotify(this.ctx, this.localHit, this.peerHit, notifyType, data), to, this.local);
    return true;
  }

  /** ACKs of our mobility UPDATEs: announcements done, addresses verified, probes answered. */
  private onMobilityAck(
    now: number, acked: readonly number[], echo: Uint8Array | undefined, newSaAnswer: { keymatIndex: number; newSpi: number } | undefined,
  ): void {
    for (const id of acked) {
      const o = this.outstanding.get(id);
      if (o === undefined) continue;
      // An ACK without our echo does not prove the peer got what we sent to that address.
      if (o.echo !== undefined && (echo === undefined || !equalBytes(echo, o.echo))) continue;
      this.outstanding.delete(id);
      if (o.purpose === 'verify') {
        this.onVerified(now, o.target!);
      } else if (o.purpose === 'pair-probe') {
        this.ctx.emit({ type: 'pair-probe-answered', peerHit: this.peerHit, pair: o.pair!, probeId: o.probeId!, rttMs: now - o.sentAt });
        this.onVerified(now, o.pair!.remote);
      } else if (this.announcing?.updateId === id) {
        this.completeAnnouncement(now, newSaAnswer);
      }
    }
  }

  private completeAnnouncement(now: number, newSaAnswer: { keymatIndex: number; newSpi: number } | undefined): void {
    const a = this.announcing!;
    this.announcing = undefined;
    this.flows.ackedBy(a.updateId);
    this.resumeRekeys(now);
    if (a.kind === 'new-sa') {
      if (newSaAnswer === undefined) {
        // Acknowledged without an SA of its own: the peer does not do simultaneous multihoming.
        // Our locators stay announced on the SAs it has; the next change tries again.
        this.ctx.drop('new-sa-refused');
        this.announced = a.listing.filter((e) => e.spi !== a.newSpi);
        return;
      }
      // Both sides draw from the larger of the two proposed indexes (as in RFC 7402 §6.9).
      const index = Math.max(a.keymatIndex, newSaAnswer.keymatIndex);
      let esp: ReturnType<typeof drawEspKeys>;
      try {
        esp = drawEspKeys(this.keymat!, index, this.espSuite!, this.localHit, this.peerHit);
      } catch {
        this.ctx.drop('keymat-exhausted');
        return;
      }
      this.nextKeymatIndex = Math.max(this.nextKeymatIndex, esp.nextIndex);
      this.extraSas.push({ inboundSpi: a.newSpi, outboundSpi: newSaAnswer.newSpi, ifname: a.ifname, createdBy: 'us' });
      this.ctx.emit({
        type: 'sa-added', peerHit: this.peerHit, ifname: a.ifname, createdBy: 'us',
        sa: this.saKeys(this.espSuite!, a.newSpi, newSaAnswer.newSpi, esp),
      });
    } else if (a.kind === 'deprecate') {
      this.removeSaPair(now, (sa) => sa.inboundSpi === a.spi);
    }
    this.announced = a.listing;
    this.announceNext(now);
  }

  /** The peer asks for a new SA pair (ESP_INFO OLD SPI 0): key it and name our inbound SPI. */
  private acceptNewSa(espInfo: { keymatIndex: number; newSpi: number }, to: Endpoint): { inboundSpi: number; proposedIndex: number } | undefined {
    const proposedIndex = this.nextKeymatIndex;
    let esp: ReturnType<typeof drawEspKeys>;
    try {
      esp = drawEspKeys(this.keymat!, Math.max(proposedIndex, espInfo.keymatIndex), this.espSuite!, this.localHit, this.peerHit);
    } catch {
      return undefined;
    }
    this.nextKeymatIndex = esp.nextIndex;
    const inboundSpi = this.ctx.allocateSpi();
    // RFC 8047 §4.1: the UPDATE's destination is the local address the new SA is meant for.
    const ifname = this.ctx.localLocators().find((l) => l.address === to.address)?.ifname;
    this.extraSas.push({ inboundSpi, outboundSpi: espInfo.newSpi, ifname, createdBy: 'peer' });
    this.ctx.emit({
      type: 'sa-added', peerHit: this.peerHit, ifname, createdBy: 'peer', sa: this.saKeys(this.espSuite!, inboundSpi, espInfo.newSpi, esp),
    });
    return { inboundSpi, proposedIndex };
  }

  /** Removes one SA pair; if it was the base pair, the next takes its place. The last pair stays. */
  private removeSaPair(now: number, match: (sa: { inboundSpi: number; outboundSpi: number }) => boolean): void {
    let removed: SaPairView;
    if (match({ inboundSpi: this.inboundSpi!, outboundSpi: this.outboundSpi! })) {
      const next = this.extraSas.shift();
      if (next === undefined) return;
      removed = { inboundSpi: this.inboundSpi!, outboundSpi: this.outboundSpi!, ifname: this.baseIfname, createdBy: 'base' };
      this.inboundSpi = next.inboundSpi;
      this.outboundSpi = next.outboundSpi;
      this.baseIfname = next.ifname;
    } else {
      const at = this.extraSas.findIndex(match);
      if (at < 0) return;
      removed = this.extraSas.splice(at, 1)[0]!;
    }
    // Peer addresses still listed stay reachable over the remaining SAs; the peer's complete
    // listing, processed next, deprecates those it withdrew.
    this.peerLocators?.rebindSpi(removed.outboundSpi, this.outboundSpi!);
    this.ctx.emit({ type: 'sa-removed', peerHit: this.peerHit, inboundSpi: removed.inboundSpi, outboundSpi: removed.outboundSpi, ifname: removed.ifname });
    this.emitPeerLocators();
    this.reselect(now, 'locator-deprecated');
  }

  /** A LOCATOR_SET from the peer in a fresh UPDATE, authenticated (RFC 8047 §6.2), which came to our `to`. */
  private applyPeerLocatorSet(now: number, param: LocatorSet, from: Endpoint, defaultSpi: number, to: Endpoint): void {
    const table = this.peerLocators;
    if (table === undefined) return;
    const parsed = parseLocatorSet(param, from.port, defaultSpi);
    for (let i = 0; i < parsed.refused; i++) this.ctx.drop('locator-refused');
    if (parsed.unsupportedPreferred.length > 0) this.notifyUnsupportedLocator(now, parsed.unsupportedPreferred, from, to);
    // A locator must name an SA we have (or the one this UPDATE creates or rekeys to).
    const known = (spi: number): boolean => spi === defaultSpi || spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === spi);
    const usable = parsed.locators.filter((l) => known(l.spi));
    for (let i = usable.length; i < parsed.locators.length; i++) this.ctx.drop('locator-unknown-spi');
    const outcome = table.applyLocatorSet(now, usable, from);
    for (const l of outcome.toVerify) this.startVerify(now, l);
    if (outcome.changed) this.emitPeerLocators();
    // Following the peer's preference, or falling back because the address in use was withdrawn.
    const choice = table.choose();
    const toPreferred = choice !== undefined && table.get(choice.locator)?.preferred === true;
    this.reselect(now, toPreferred ? 'peer-preferred' : 'locator-deprecated');
  }

  /**
   * The peer prefers a locator of a type we do not support: RFC 8047 §6.2 says it SHOULD hear so,
   * by a NOTIFY LOCATOR_TYPE_UNSUPPORTED carrying the locators we could not process. Only a
   * fresh, authenticated UPDATE leads here, and the answer goes back where it came from, at most
   * once per unsupportedLocatorNotifyMinMs: each costs a signature.
   */
  private notifyUnsupportedLocator(now: number, locators: Locator[], peer: Endpoint, via: Endpoint): void {
    if (now - this.lastUnsupportedNotifyAt < this.ctx.timers.unsupportedLocatorNotifyMinMs) {
      return this.ctx.drop('locator-unsupported-notify-limited');
    }
    this.lastUnsupportedNotifyAt = now;
    const data = encodeParamValue({ kind: 'LOCATOR_SET', locators });
    this.ctx.send(buildNotify(this.ctx, this.localHit, this.peerHit, NotifyType.LOCATOR_TYPE_UNSUPPORTED, data), peer, via);
  }

  /** Address verification (RFC 8046 §5.4): an UPDATE with SEQ and a fresh echo, sent to that address. */
  private startVerify(now: number, target: Endpoint): void {
    if (this.verifying(target)) return;
    const echo = this.ctx.crypto.randomBytes(VERIFY_NONCE_LENGTH);
    const updateId = this.newUpdateId();
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, { seq: updateId, echoRequest: echo });
    const to = { address: target.address, port: target.port };
    this.outstanding.set(updateId, {
      purpose: 'verify', bytes, to, from: this.local, attempt: 0, max: this.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.ctx.timers, 0), sentAt: now, echo, target: to,
    });
    this.ctx.send(bytes, to, this.local);
  }

  /** An address check of this address is in flight. */
  private verifying(target: Endpoint): boolean {
    for (const o of this.outstanding.values()) if (o.purpose === 'verify' && sameEndpoint(o.target, target)) return true;
    return false;
  }

  private onVerified(now: number, target: Endpoint): void {
    const table = this.peerLocators;
    if (table === undefined || !table.markVerified(now, target)) return;
    const loc = table.get(target)!;
    this.ctx.emit({ type: 'locator-verified', peerHit: this.peerHit, locator: { address: target.address, port: target.port } });
    if (loc.source === 'observed') {
      // The peer's packets come from here now (its site or NAT changed paths): follow them.
      this.moveTo(now, target, true, 'peer-source-changed');
    } else {
      this.reselect(now, loc.preferred ? 'peer-preferred' : 'verified');
    }
    this.emitPeerLocators();
  }

  /**
   * Whether the pair our traffic takes is in doubt (pair selection has no primary, or is
   * searching because the peer fell silent): then the peer's authenticated packets from
   * elsewhere say where it is now.
   */
  setPathInDoubt(inDoubt: boolean): void {
    this.pathInDoubt = inDoubt;
  }

  /**
   * An authenticated packet from an address the peer never listed: check it (seed 000 §3.3).
   * While our pair works, the address carries data only once checked (site multihoming: the
   * peer is still reachable where it was). While it is in doubt, the data follows the peer's
   * packets at once, as an UNVERIFIED address under credit-based authorization (RFC 8046 §5.6):
   * the old address is most likely dead, and the check still runs. Only a packet that cannot be
   * a replay (`fresh`) moves traffic: a replayed one, sent from a spoofed address, would
   * otherwise aim our data at a victim.
   */
  private noticeSource(now: number, from: Endpoint, mayFollow = true): void {
    const table = this.peerLocators;
    if (table === undefined || this.state !== 'ESTABLISHED') return;
    if (table.observe(from, this.outboundSpi!)) {
      this.emitPeerLocators();
      this.startVerify(now, from);
    }
    // ESP from a locator the peer bound a flow to is that flow's (seed 002), not the peer moving.
    if (!mayFollow || !this.pathInDoubt || sameEndpoint(from, this.remote) || this.flows.peerBound(from)) return;
    const loc = table.get(from);
    if (loc === undefined || loc.state === 'DEPRECATED') return;
    if (loc.state === 'UNVERIFIED') this.startVerify(now, from);
    this.moveTo(now, from, loc.state === 'ACTIVE', 'peer-source-changed');
    this.emitPeerLocators();
  }

  /** Applies the change-of-preferred-locator procedure (RFC 8047 §6.4) to where our traffic goes. */
  private reselect(now: number, cause: AddressChangeCause): void {
    const choice = this.peerLocators?.choose();
    if (choice === undefined || sameEndpoint(choice.locator, this.remote)) return;
    this.moveTo(now, choice.locator, choice.verified, cause);
  }

  private moveTo(_now: number, to: Endpoint, verified: boolean, cause: AddressChangeCause): void {
    if (sameEndpoint(to, this.remote)) return;
    this.peerLocators?.setCurrent(to);
    const from = this.remote;
    this.remote = { address: to.address, port: to.port };
    this.ctx.emit({ type: 'address-changed', peerHit: this.peerHit, from, to: this.remote, verified, cause });
  }

  private emitPeerLocators(): void {
    const table = this.peerLocators;
    if (table === undefined) return;
    this.ctx.emit({ type: 'peer-locators', peerHit: this.peerHit, locators: table.list(), current: this.remote });
  }

  /**
   * A locator-pair probe (pair selection): UPDATE with SEQ + ECHO_REQUEST_SIGNED carrying the
   * probe id, and the report of probe ids we recently received, sent from `local` to `remote`.
   * Never re-sent; its answer becomes 'pair-probe-answered'.
   */
  /**
   * Registers with (or renews at, or cancels with lifetime 0) this peer as a registrar, and
   * installs data-relay permissions: an UPDATE with SEQ, REG_REQUEST and PEER_PERMISSIONs
   * (RFC 8003 §3.3, RFC 9028 §4.12), re-sent until acknowledged. The answer comes as a
   * 'registration' event; an UPDATE still in flight for an earlier request is superseded.
   * `via`: sent from this local endpoint (to the active remote) instead of the active pair's:
   * the registrar keys the registration by the address it sees the request come from, so this
   * is how a registration moves to another uplink while the active pair stays.
   */
  register(now: number, request: RegRequest | undefined, permissions: readonly PeerPermission[] = [], via?: Endpoint): { ok: true } | { ok: false; reason: string } {
    if (!this.keyed() || this.hipKeys === undefined) return { ok: false, reason: 'not-established' };
    for (const [id, o] of this.outstanding) if (o.purpose === 'registration') this.outstanding.delete(id);
    const updateId = this.newUpdateId();
    const extra: Param[] = [...(request === undefined ? [] : [request]), ...permissions];
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys.outInt, this.localHit, this.peerHit, { seq: updateId, extra });
    const from = via === undefined ? this.local : { address: via.address, port: via.port };
    this.outstanding.set(updateId, {
      purpose: 'registration', bytes, to: this.remote, from, attempt: 0, max: this.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.ctx.timers, 0), sentAt: now,
    });
    this.ctx.send(bytes, this.remote, from);
    return { ok: true };
  }

  /** Simultaneous multihoming: the inbound SPI of our SA pair for the interface `local` lives on. */
  private probeSpi(local: Endpoint): number | undefined {
    if (this.ctx.multihoming !== 'simultaneous') return undefined;
    const ifname = this.ctx.localLocators().find((l) => l.address === local.address && l.port === local.port)?.ifname;
    return ifname === undefined ? undefined : this.inboundSas().find((sa) => sa.ifname === ifname)?.inboundSpi;
  }

  /** An SPI of ours towards the peer (the base pair's or a further pair's outbound half). */
  private isOutboundSpi(spi: number): boolean {
    return spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === spi);
  }

  probePair(now: number, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[]): { ok: true } | { ok: false; reason: string } {
    if ((this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') || this.peerLocators === undefined) return { ok: false, reason: 'not-established' };
    // Only addresses the peer gave us or used: a probe must not be aimed at an arbitrary host.
    if (this.peerLocators.get(remote) === undefined) return { ok: false, reason: 'unknown-locator' };
    const probes = [...this.outstanding.entries()].filter(([, o]) => o.purpose === 'pair-probe');
    if (probes.length >= MAX_OUTSTANDING_PROBES) this.outstanding.delete(probes[0]![0]);
    const echo = probeIdOpaque(probeId);
    const updateId = this.newUpdateId();
    const spi = this.probeSpi(local);
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, {
      seq: updateId, echoRequest: echo, extra: [encodeProbeReport(report), ...(spi === undefined ? [] : [encodeProbeSpi(spi)])],
    });
    const pair = { local: { address: local.address, port: local.port }, remote: { address: remote.address, port: remote.port } };
    this.outstanding.set(updateId, {
      purpose: 'pair-probe', bytes, to: pair.remote, from: pair.local, attempt: 0, max: 0,
      deadline: now + PAIR_PROBE_TTL_MS, sentAt: now, echo, pair, probeId,
    });
    this.ctx.send(bytes, pair.remote, pair.local);
    return { ok: true };
  }

  /**
   * Credit-based authorization (RFC 8046 §5.6): may `bytes` of data go to `to` now? Always for
   * an ACTIVE address; for an UNVERIFIED one only within the credit the peer's own traffic
   * earned (and then charged); never for a DEPRECATED or unknown one.
   */
  authorizeSend(now: number, to: Endpoint, bytes: number): boolean {
    const table = this.peerLocators;
    if (table === undefined) return sameEndpoint(to, this.remote);
    const loc = table.get(to);
    if (loc === undefined || loc.state === 'DEPRECATED' || table.isExpired(now, to)) return false;
    if (loc.state === 'ACTIVE') return true;
    return this.credit?.trySpend(now, bytes) ?? false;
  }

  /** Whether `to` is a verified (ACTIVE) address of the peer's (RFC 8046 §5.4). */
  isVerified(to: Endpoint): boolean {
    const table = this.peerLocators;
    if (table === undefined) return sameEndpoint(to, this.remote);
    return table.get(to)?.state === 'ACTIVE';
  }

  /** Pair selection or a manual failover chose this pair: control traffic follows it too. */
  setActivePair(now: number, local: Endpoint | undefined, remote: Endpoint): boolean {
    const loc = this.peerLocators?.get(remote);
    if (loc === undefined || loc.state === 'DEPRECATED') return false;
    if (local !== undefined) this.local = { address: local.address, port: local.port };
    this.moveTo(now, remote, loc.state === 'ACTIVE', 'selected');
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Probe: a HIP-level ping (UPDATE with SEQ + ECHO_REQUEST_SIGNED, answered by ACK +
  // ECHO_RESPONSE_SIGNED, both under HIP_MAC and signature). It proves the peer holds the
  // association's keys and shows which locator pair carries its answer.

  /** Sends a probe; the nonce it carries, or why it cannot be sent now. */
  startProbe(now: number): { ok: true; nonce: Uint8Array } | { ok: false; reason: 'not-established' | 'busy' } {
    if (this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') return { ok: false, reason: 'not-established' };
    if (this.retransmit !== undefined || this.rekey !== undefined) return { ok: false, reason: 'busy' };
    const nonce = this.ctx.crypto.randomBytes(PROBE_NONCE_LENGTH);
    const updateId = this.newUpdateId();
    this.probe = { nonce, updateId, attempts: 0 };
    this.pendingUpdateId = updateId;
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, { seq: updateId, echoRequest: nonce });
    this.sendTracked(now, 'PROBE', bytes, this.ctx.timers.updateRetriesMax);
    return { ok: true, nonce };
  }

  /** Stops re-sending the probe (the caller gave up waiting); a late answer is then refused. */
  cancelProbe(): void {
    if (this.probe === undefined) return;
    if (this.retransmit?.what === 'PROBE') {
      this.retransmit = undefined;
      this.pendingUpdateId = undefined;
    }
    this.endProbe('cancelled');
  }

  private endProbe(reason: 'retries-exceeded' | 'superseded' | 'cancelled'): void {
    const probe = this.probe;
    if (probe === undefined) return;
    this.probe = undefined;
    this.ctx.emit({ type: 'probe-lost', peerHit: this.peerHit, nonce: probe.nonce, reason });
  }

  // -------------------------------------------------------------------------------------------
  // CLOSE

  close(now: number): void {
    switch (this.state) {
      case 'I2-SENT':
      case 'R2-SENT':
      case 'ESTABLISHED': {
        this.closeNonce = this.ctx.crypto.randomBytes(16);
        this.rekey = undefined;
        this.yieldedRekey = undefined;
        this.outstanding.clear();
        this.announcing = undefined;
        this.pendingUpdateId = undefined;
        this.endProbe('superseded');
        this.holdDeadline = undefined;
        const bytes = buildClose(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, this.closeNonce);
        this.setState('CLOSING');
        this.sendTracked(now, 'CLOSE', bytes, this.ctx.timers.closeRetriesMax);
        return;
      }
      case 'I1-SENT':
      case 'E-FAILED':
        // Nothing keyed exists yet to close politely.
        this.forget();
        this.ctx.emit({ type: 'closed', peerHit: this.peerHit, byPeer: false });
        return;
      default:
        return;
    }
  }

  /** CLOSE (RFC 7401 §6.14): answer with CLOSE_ACK echoing the nonce; → CLOSED. */
  onClose(now: number, pkt: DecodedPacket, from: Endpoint): void {
    const keyed = ['I2-SENT', 'R2-SENT', 'ESTABLISHED', 'CLOSING', 'CLOSED'] as const;
    if (!(keyed as readonly string[]).includes(this.state)) return this.ctx.drop('close-out-of-state');
    const authFailure = this.authenticate(pkt);
    if (authFailure !== undefined) return this.ctx.drop(authFailure);
    const echo = getParam(pkt, 'ECHO_REQUEST_SIGNED')!.opaque;
    const ack = buildCloseAck(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, echo);
    this.ctx.send(ack, from, this.local);
    if (this.state === 'CLOSED') return;
    this.retransmit = undefined;
    this.rekey = undefined;
    this.yieldedRekey = undefined;
    this.outstanding.clear();
    this.announcing = undefined;
    this.endProbe('superseded');
    this.setState('CLOSED');
    this.holdDeadline = now + this.ctx.timers.closedHoldMs;
    this.ctx.emit({ type: 'closed', peerHit: this.peerHit, byPeer: true });
  }

  /** CLOSE_ACK (RFC 7401 §6.15): must echo our nonce; the association is then forgotten. */
  onCloseAck(_now: number, pkt: DecodedPacket): void {
    if (this.state !== 'CLOSING') {
      // Both closed at once and we already answered theirs: nothing left to do.
      if (this.state === 'CLOSED') return;
      return this.ctx.drop('close-ack-out-of-state');
    }
    const echo = getParam(pkt, 'ECHO_RESPONSE_SIGNED')!.opaque;
    if (this.closeNonce === undefined || !equalBytes(echo, this.closeNonce)) return this.ctx.drop('bad-echo');
    const authFailure = this.authenticate(pkt);
    if (authFailure !== undefined) return this.ctx.drop(authFailure);
    this.forget();
    this.ctx.emit({ type: 'closed', peerHit: this.peerHit, byPeer: false });
  }

  // -------------------------------------------------------------------------------------------
  // NOTIFY

  /**
   * NOTIFY (RFC 7401 §6.13): each notice becomes an event. It counts as authenticated when it is
   * signed by the peer's known Host Identity; a signature that fails is a forgery and dropped.
   * A LOCATOR_SET in it (RFC 8047) is taken only when signed, and only as information (see
   * learnFromNotify): a NOTIFY has no SEQ, so it may be a recorded one replayed.
   */
  onNotify(now: number, pkt: DecodedPacket, from: Endpoint): void {
    let authenticated = false;
    if (this.peer !== undefined && getParam(pkt, 'HIP_SIGNATURE') !== undefined) {
      if (!this.verifySignature(pkt)) return this.ctx.drop('bad-signature');
      authenticated = true;
    }
    for (const n of getParams(pkt, 'NOTIFICATION')) {
      this.ctx.emit({ type: 'notify', peerHit: this.peerHit, notifyType: n.notifyType, data: n.data, authenticated });
      if (n.notifyType !== NotifyType.CONNECTIVITY_CHECKS_FAILED) continue;
      // Acting on it stops checks: only the peer may say so, never whoever can write its HIT.
      if (!authenticated || !this.keyed()) this.ctx.drop('checks-failed-notify-unsigned');
      else this.onChecksFailedNotice(n.data);
    }
    const locatorSet = getParam(pkt, 'LOCATOR_SET');
    if (locatorSet === undefined) return;
    if (!authenticated) return this.ctx.drop('notify-locator-set-unsigned');
    this.learnFromNotify(now, locatorSet, from);
  }

  /**
   * A signed CONNECTIVITY_CHECKS_FAILED is acted on only when it names one of our SAs with the
   * peer and our latest offer, and only once per offer: a recorded notice replayed after a new
   * offer, or into another association, would otherwise stop checks nobody has judged.
   */
  private onChecksFailedNotice(data: Uint8Array): void {
    const notice = decodeChecksFailedNotice(data);
    if (notice === undefined) return this.ctx.drop('checks-failed-notify-malformed');
    const ours = notice.spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === notice.spi);
    if (!ours) return this.ctx.drop('checks-failed-notify-unknown-spi');
    const offer = this.latestAnnouncementId ?? BASE_EXCHANGE_OFFER;
    if (notice.offerSeq !== offer) return this.ctx.drop('checks-failed-notify-stale-offer');
    if (this.checksFailedActedOn === offer) return this.ctx.drop('checks-failed-notify-repeated');
    this.checksFailedActedOn = offer;
    this.checksFailedByPeer();
  }

  /**
   * The peer's checks toward our candidates all failed, and so did ours toward its: address
   * checks of its direct candidates still being retransmitted stop too (pair selection holds
   * the pair probes). Its relayed candidate is how we reach it, and stays checked, and so does
   * the address our traffic goes to: giving up its check would leave the path in use unproven.
   */
  private checksFailedByPeer(): void {
    for (const [id, o] of this.outstanding) {
      if (o.purpose !== 'verify' || o.target === undefined) continue;
      if (this.peerLocators?.get(o.target)?.candidate === 'relayed') continue;
      if (sameEndpoint(o.target, this.remote)) continue;
      this.outstanding.delete(id);
    }
    this.ctx.emit({ type: 'peer-checks-failed', peerHit: this.peerHit });
  }

  /**
   * A signed LOCATOR_SET from a NOTIFY: addresses new to us are added UNVERIFIED and checked;
   * nothing known changes (no DEPRECATED locator revived, no lifetime renewed, no preference
   * followed, nothing deprecated), and no traffic moves. The checks are rationed by a token
   * bucket (notifyVerifyBurst, one more per notifyVerifyIntervalMs), so replaying the NOTIFY
   * costs a bounded number of UPDATEs, each counted notify-verify-limited beyond it.
   */
  private learnFromNotify(now: number, param: LocatorSet, from: Endpoint): void {
    const table = this.peerLocators;
    if (table === undefined || !this.keyed()) return this.ctx.drop('notify-locator-set-out-of-state');
    const parsed = parseLocatorSet(param, from.port, this.outboundSpi!);
    for (let i = 0; i < parsed.refused; i++) this.ctx.drop('locator-refused');
    const known = (spi: number): boolean => spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === spi);
    const usable = parsed.locators.filter((l) => known(l.spi));
    for (let i = usable.length; i < parsed.locators.length; i++) this.ctx.drop('locator-unknown-spi');
    const outcome = table.applyInformational(usable);
    for (const l of outcome.toVerify) {
      if (this.verifying(l)) continue;
      if (!this.takeNotifyVerifyToken(now)) {
        this.ctx.drop('notify-verify-limited');
        continue;
      }
      this.startVerify(now, l);
    }
    if (outcome.changed) this.emitPeerLocators();
  }

  private takeNotifyVerifyToken(now: number): boolean {
    const { notifyVerifyBurst: burst, notifyVerifyIntervalMs: interval } = this.ctx.timers;
    if (this.notifyVerifyTokens === undefined || now < this.notifyVerifyRefilledAt) {
      this.notifyVerifyTokens = burst;
      this.notifyVerifyRefilledAt = now;
    }
    if (interval > 0) {
      const earned = Math.floor((now - this.notifyVerifyRefilledAt) / interval);
      if (earned > 0) {
        this.notifyVerifyTokens = Math.min(burst, this.notifyVerifyTokens + earned);
        this.notifyVerifyRefilledAt += earned * interval;
      }
    }
    if (this.notifyVerifyTokens <= 0) return false;
    this.notifyVerifyTokens--;
    return true;
  }

  /** The HIP_MAC keys of the association, once keyed: what a relay's RELAY_HMAC is keyed with. */
  integrityKeys(): { hash: HashName; inbound: Uint8Array; outbound: Uint8Array } | undefined {
    if (!this.keyed() || this.hipKeys === undefined || this.rhash === undefined) return undefined;
    return { hash: this.rhash, inbound: this.hipKeys.inInt, outbound: this.hipKeys.outInt };
  }

  snapshot(): AssociationSnapshot {
    return {
      peerHit: this.peerHit,
      peerHitText: hitToText(this.peerHit),
      state: this.state,
      initiator: this.initiator,
      local: this.local,
      remote: this.remote,
      inboundSpi: this.inboundSpi,
      outboundSpi: this.outboundSpi,
      espSuite: this.espSuite,
      hipCipher: this.hipCipher,
      establishedAt: this.establishedAt,
      retransmissions: this.retransmissions,
      rekeys: this.rekeys,
      multihoming: this.ctx.multihoming,
      saPairs: this.inboundSpi === undefined || this.outboundSpi === undefined ? [] : [
        { inboundSpi: this.inboundSpi, outboundSpi: this.outboundSpi, ifname: this.baseIfname, createdBy: 'base' },
        ...this.extraSas.map((sa) => ({ ...sa })),
      ],
      peerLocators: this.peerLocators?.list() ?? [],
      natMode: this.natMode,
      peerFlows: this.flows.peerFlows(),
      flowsAcked: this.flows.acked,
      flowsLeftOut: this.flows.leftOut,
    };
  }
}
