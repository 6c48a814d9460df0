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
import { ParamType } from './wire/constants.js';
import type { DecodedPacket } from './wire/params.js';
import {
  hostIdParam, identityFromHostId, verifyWith, type HostIdentityPublic, type LocalHostIdentity,
} from './identity/host-identity.js';
import { drawEspKeys, type EspKeyMaterial } from '../esp/keys.js';
import {
  buildClose, buildCloseAck, buildI1, buildI2, buildR2, buildUpdate, TRANSPORT_FORMAT_ESP, type Sealer,
} from './messages.js';
import { retransmitDelay, type HipTimers, type PuzzlePolicy } from './timers.js';
import type { AcceptedI2 } from './responder.js';

export interface Endpoint { address: string /* IP text, v4 or v6 */; port: number }

export type AssociationState =
  | 'UNASSOCIATED' | 'I1-SENT' | 'I2-SENT' | 'R2-SENT' | 'ESTABLISHED' | 'CLOSING' | 'CLOSED' | 'E-FAILED';

export interface SaKeys { suite: number; outboundSpi: number; inboundSpi: number; outbound: EspKeyMaterial; inbound: EspKeyMaterial }

export type HostEvent =
  | { type: 'state'; peerHit: Uint8Array; from: AssociationState; to: AssociationState }
  | { type: 'established'; peerHit: Uint8Array; peer: HostIdentityPublic; sa: SaKeys; local: Endpoint; remote: Endpoint; initiator: boolean }
  | { type: 'rekeyed'; peerHit: Uint8Array; sa: SaKeys; oldInboundSpi: number; oldOutboundSpi: number }
  | { type: 'closed'; peerHit: Uint8Array; byPeer: boolean }
  | { type: 'failed'; peerHit: Uint8Array; reason: string }
  | { type: 'notify'; peerHit: Uint8Array; notifyType: number; data: Uint8Array; authenticated: boolean }
  /** Our probe's echo came back: `local`/`remote` is the locator pair the answer used. */
  | { type: 'probe-answered'; peerHit: Uint8Array; nonce: Uint8Array; local: Endpoint; remote: Endpoint; retransmissions: number }
  /** Our probe was abandoned: retries exhausted, or a rekey or CLOSE took its place. */
  | { type: 'probe-lost'; peerHit: Uint8Array; nonce: Uint8Array; reason: 'retries-exceeded' | 'superseded' | 'cancelled' };

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
  send(bytes: Uint8Array, to: Endpoint, from: Endpoint | undefined): void;
  emit(event: HostEvent): void;
  drop(reason: string): void;
}

/**
 * How far ahead of the last processed Update ID a new one may be (RFC 7401 §6.12.1). Peers
 * re-send rather than skip IDs, so a large jump means something other than loss.
 */
const UPDATE_ID_WINDOW = 1024;

type Sent = 'I1' | 'I2' | 'UPDATE' | 'PROBE' | 'CLOSE';

/** Octets of a probe nonce: enough that guessing one is hopeless, small enough to echo cheaply. */
const PROBE_NONCE_LENGTH = 16;

/** A liveness probe in flight: UPDATE with SEQ + ECHO_REQUEST_SIGNED (RFC 8046 §5.3). */
interface Probe { nonce: Uint8Array; updateId: number; attempts: number }

interface Retransmit { what: Sent; bytes: Uint8Array; attempt: number; max: number; deadline: number }

/** A rekey in progress (RFC 7402 §6.9): ours, the peer's, or both at once. */
interface Rekey {
  role: 'initiator' | 'responder';
  localNewSpi: number;
  localIndex: number;
  /** Our UPDATE carrying the new SPI was acknowledged (the responder's ESP_INFO came with its ACK). */
  acked: boolean;
  peerNewSpi?: number;
  peerIndex?: number;
}

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
  private establishedAt: number | undefined;
  private retransmissions = 0;
  private rekeys = 0;
  private nextUpdateId = 0;
  private lastPeerUpdateId: number | undefined;
  /** What we answered the peer's last SEQ with, re-sent verbatim when that UPDATE is re-sent. */
  private lastUpdateReply: Uint8Array | undefined;
  private pendingUpdateId: number | undefined;
  private rekey: Rekey | undefined;
  private probe: Probe | undefined;
  private closeNonce: Uint8Array | undefined;

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
   * A fully verified I2 (see Responder.acceptI2): create the SAs, answer with R2 and wait in
   * R2-SENT. `replacing` is the state of an association this one supersedes (a peer that lost
   * its state and ran a new base exchange), so the state event says where we came from.
   */
  static fromI2(
    ctx: AssociationContext, now: number, acc: AcceptedI2, peerHit: Uint8Array, from: Endpoint, to: Endpoint, replacing: AssociationState,
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
    a.inboundSpi = ctx.allocateSpi();
    a.outboundSpi = acc.peerSpi;
    const esp = drawEspKeys(acc.keymat, acc.keymatIndex, acc.espSuite, ctx.identity.hit, peerHit);
    a.nextKeymatIndex = esp.nextIndex;
    a.r2Bytes = buildR2(ctx, acc.rhash, acc.hipKeys.outInt, ctx.identity.hit, peerHit, acc.keymatIndex, a.inboundSpi);
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
    const a = this.retransmit?.deadline;
    const b = this.holdDeadline;
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
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

    const i2 = buildI2(this.ctx, rhash, hipKeys.outInt, {
      localHit: this.localHit,
      peerHit: this.peerHit,
      keymatIndex: hipKeys.nextIndex,
      spi: this.inboundSpi,
      r1Counter: counter,
      solution: { k: puzzle.k, opaque: puzzle.opaque, i: puzzle.i, j },
      dhGroupId: dhParam.groupId,
      dhPublic: this.dhKey.publicKey,
      hipCipher,
      encryptedHostId: encryptParam(crypto, hipCipher, hipKeys.outEnc, encodeParam(hostIdParam(identity))),
      espSuite,
      echoSigned: getParams(pkt, 'ECHO_REQUEST_SIGNED').map((e) => e.opaque),
      echoUnsigned: getParams(pkt, 'ECHO_REQUEST_UNSIGNED').map((e) => e.opaque),
    });
    this.peer = peer;
    this.peerHostIdTlv = encodeParam(hostId);
    this.rhash = rhash;
    this.keymat = keymat;
    this.hipKeys = hipKeys;
    this.hipCipher = hipCipher;
    this.espSuite = espSuite;
    this.espKeymatIndex = hipKeys.nextIndex;
    this.r1CounterAnswered = counter ?? 0n;
    this.remote = from;
    this.local = to;
    this.setState('I2-SENT');
    this.sendTracked(now, 'I2', i2, this.ctx.timers.i2RetriesMax);
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
  }

  // -------------------------------------------------------------------------------------------
  // Responder side after R2

  /** The same I2 again: our R2 was lost. Answer with the very same R2, create nothing. */
  resendR2(from: Endpoint, to: Endpoint): void {
    if (this.r2Bytes !== undefined) this.ctx.send(this.r2Bytes, from, to);
  }

  /** The engine opened ESP from this peer with our keys: the initiator has R2. */
  espAuthenticated(_now: number): void {
    if (this.state === 'R2-SENT') {
      this.holdDeadline = undefined;
      this.setState('ESTABLISHED');
    }
  }

  // -------------------------------------------------------------------------------------------
  // UPDATE and rekeying

  /** Starts a rekey (RFC 7402 §6.9): a new inbound SPI, keys from the next KEYMAT index. */
  startRekey(now: number): boolean {
    // R2-SENT counts: the responder holds keys, and the peer accepts UPDATE once it has R2.
    const keyed = this.state === 'ESTABLISHED' || this.state === 'R2-SENT';
    if (!keyed || this.rekey !== undefined) return false;
    // Only one UPDATE may be unacknowledged at a time; a probe yields, since fresh keys matter
    // more than one measurement and the engine asks for a rekey only once.
    if (this.retransmit?.what === 'PROBE') {
      this.retransmit = undefined;
      this.pendingUpdateId = undefined;
      this.endProbe('superseded');
    }
    if (this.retransmit !== undefined) return false;
    const localNewSpi = this.ctx.allocateSpi();
    this.rekey = { role: 'initiator', localNewSpi, localIndex: this.nextKeymatIndex, acked: false };
    const seq = this.nextUpdateId++;
    this.pendingUpdateId = seq;
    const bytes = buildUpdate(this.ctx, this.rhash!, this.hipKeys!.outInt, this.localHit, this.peerHit, {
      seq, espInfo: { keymatIndex: this.nextKeymatIndex, oldSpi: this.inboundSpi!, newSpi: localNewSpi },
    });
    this.sendTracked(now, 'UPDATE', bytes, this.ctx.timers.updateRetriesMax);
    return true;
  }

  /** UPDATE (RFC 7401 §6.12; RFC 7402 §6.9 for ESP_INFO; RFC 8046 §5.3 for the echo). */
  onUpdate(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    if (this.state !== 'ESTABLISHED' && this.state !== 'R2-SENT') return this.ctx.drop('update-out-of-state');
    const seq = getParam(pkt, 'SEQ');
    const ack = getParam(pkt, 'ACK');
    const espInfo = getParam(pkt, 'ESP_INFO');
    const echoResponse = getParam(pkt, 'ECHO_RESPONSE_SIGNED');
    const echoMatches = echoResponse !== undefined && this.probe !== undefined && equalBytes(echoResponse.opaque, this.probe.nonce);
    if (echoResponse !== undefined && !echoMatches) {
      // A replayed or forged answer to a probe we no longer have. Without a SEQ there is nothing
      // else in it to act on, so it is refused before any MAC or signature work.
      this.ctx.drop('echo-mismatch');
      if (seq === undefined) return;
    }
    if (seq !== undefined && this.lastPeerUpdateId !== undefined) {
      const id = seq.updateId;
      if (id < this.lastPeerUpdateId) return this.ctx.drop('update-replay');
      if (id > this.lastPeerUpdateId + UPDATE_ID_WINDOW) return this.ctx.drop('update-seq-window');
    }
    const isNewSeq = seq !== undefined && seq.updateId !== this.lastPeerUpdateId;
    if (isNewSeq && espInfo !== undefined) {
      // The SA being replaced is the one we send on; a new SPI of zero would name no SA.
      if (espInfo.oldSpi !== this.outboundSpi || espInfo.newSpi === 0) return this.ctx.drop('esp-info');
      if (this.rekey?.peerNewSpi !== undefined) return this.ctx.drop('rekey-in-progress');
    }
    const authFailure = this.authenticate(pkt);
    if (authFailure !== undefined) return this.ctx.drop(authFailure);

    // Authenticated from here on.
    if (this.state === 'R2-SENT') {
      this.holdDeadline = undefined;
      this.setState('ESTABLISHED');
    }
    if (ack !== undefined && this.pendingUpdateId !== undefined && ack.updateIds.includes(this.pendingUpdateId)) {
      this.pendingUpdateId = undefined;
      if (this.retransmit?.what === 'UPDATE' || this.retransmit?.what === 'PROBE') this.retransmit = undefined;
      if (this.rekey !== undefined) this.rekey.acked = true;
    }
    const probe = this.probe;
    if (echoMatches && probe !== undefined && ack?.updateIds.includes(probe.updateId) === true) {
      this.probe = undefined;
      this.ctx.emit({
        type: 'probe-answered', peerHit: this.peerHit, nonce: probe.nonce, local: to, remote: from, retransmissions: probe.attempts,
      });
    }
    if (seq !== undefined) {
      if (!isNewSeq) {
        // A re-sent UPDATE: our answer was lost. Re-send it; process nothing twice.
        if (this.lastUpdateReply !== undefined) this.ctx.send(this.lastUpdateReply, this.remote, this.local);
      } else {
        this.lastPeerUpdateId = seq.updateId;
        // RFC 7401 §6.12.1: an ECHO_REQUEST_SIGNED is returned in the UPDATE that acknowledges its SEQ.
        this.answerSeq(now, seq.updateId, espInfo, getParam(pkt, 'ECHO_REQUEST_SIGNED')?.opaque);
      }
    }
    this.completeRekey();
  }

  private answerSeq(
    now: number, id: number, espInfo: { keymatIndex: number; newSpi: number } | undefined, echoRequest: Uint8Array | undefined,
  ): void {
    const macKey = this.hipKeys!.outInt;
    if (espInfo !== undefined && this.rekey === undefined) {
      // The peer rekeys: our own new SPI goes back with the ACK, under our own SEQ.
      const localNewSpi = this.ctx.allocateSpi();
      this.rekey = {
        role: 'responder', localNewSpi, localIndex: this.nextKeymatIndex, acked: false,
        peerNewSpi: espInfo.newSpi, peerIndex: espInfo.keymatIndex,
      };
      const seq = this.nextUpdateId++;
      const reply = buildUpdate(this.ctx, this.rhash!, macKey, this.localHit, this.peerHit, {
        seq, ack: [id], espInfo: { keymatIndex: this.nextKeymatIndex, oldSpi: this.inboundSpi!, newSpi: localNewSpi },
        echoResponse: echoRequest,
      });
      this.lastUpdateReply = reply;
      if (this.retransmit === undefined) {
        this.pendingUpdateId = seq;
        this.sendTracked(now, 'UPDATE', reply, this.ctx.timers.updateRetriesMax);
      } else {
        this.ctx.send(reply, this.remote, this.local);
      }
      return;
    }
    if (espInfo !== undefined && this.rekey !== undefined) {
      // Both sides rekey at once: each side's ESP_INFO rides on its own SEQ; just acknowledge.
      this.rekey.peerNewSpi = espInfo.newSpi;
      this.rekey.peerIndex = espInfo.keymatIndex;
    }
    const reply = buildUpdate(this.ctx, this.rhash!, macKey, this.localHit, this.peerHit, { ack: [id], echoResponse: echoRequest });
    this.lastUpdateReply = reply;
    this.ctx.send(reply, this.remote, this.local);
  }

  /**
   * Both new SPIs known and our side confirmed: draw the new ESP keys. Both hosts start from the
   * larger of the two proposed KEYMAT indexes, so they draw the same octets (RFC 7402 §6.9).
   */
  private completeRekey(): void {
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
    const oldInboundSpi = this.inboundSpi!;
    const oldOutboundSpi = this.outboundSpi!;
    this.inboundSpi = r.localNewSpi;
    this.outboundSpi = r.peerNewSpi;
    this.nextKeymatIndex = esp.nextIndex;
    this.rekey = undefined;
    this.rekeys++;
    this.ctx.emit({
      type: 'rekeyed', peerHit: this.peerHit, oldInboundSpi, oldOutboundSpi,
      sa: this.saKeys(this.espSuite!, this.inboundSpi, this.outboundSpi, esp),
    });
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
    const updateId = this.nextUpdateId++;
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
   * NOTIFY (RFC 7401 §6.13) only ever becomes an event. It counts as authenticated when it is
   * signed by the peer's known Host Identity; a signature that fails is a forgery and dropped.
   */
  onNotify(_now: number, pkt: DecodedPacket): void {
    let authenticated = false;
    if (this.peer !== undefined && getParam(pkt, 'HIP_SIGNATURE') !== undefined) {
      if (!this.verifySignature(pkt)) return this.ctx.drop('bad-signature');
      authenticated = true;
    }
    for (const n of getParams(pkt, 'NOTIFICATION')) {
      this.ctx.emit({ type: 'notify', peerHit: this.peerHit, notifyType: n.notifyType, data: n.data, authenticated });
    }
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
    };
  }
}
