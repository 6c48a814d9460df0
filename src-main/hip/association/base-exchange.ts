// The base exchange of one association (RFC 7401 §4.4, §6.8–6.11): our I1 and its
// retransmission to a peer that may be elsewhere, the R1 we answer with I2 (puzzle, DH, the
// keys drawn from KEYMAT, our locators and flow bindings), the R2 that keys us as initiator,
// and, as responder, the SAs made from an accepted I2 and our R2 answered again to a re-sent I2.
// Sans-IO: fed packets and `now`, it acts through the association's context.

import { type Endpoint, sameEndpoint } from '../../../src-shared/vocabulary.js';
import { equalBytes } from '../../base/bytes.js';
import type { SharedState } from './shared-state.js';
import { drawEspKeys } from '../../esp/keys.js';
import { chooseDhGroup, dhGroupCurve } from '../crypto/dh.js';
import { encryptParam } from '../crypto/encrypted.js';
import { Keymat, drawHipKeys } from '../crypto/keymat.js';
import { hashLength, type EcdhKeyPair } from '../crypto/provider.js';
import { solvePuzzle } from '../crypto/puzzle.js';
import { buildWithELocator, I2_CARRIER } from '../flow-announcement.js';
import { hostIdParam, identityFromHostId, verifyWith } from '../identity/host-identity.js';
import { buildLocatorSet, isHostLocator, parseLocatorSet, preferredOf, type AnnouncedEntry } from '../local-locators.js';
import { buildI1, buildI2, buildR2, TRANSPORT_FORMAT_ESP } from '../messages.js';
import type { AnnouncedLocator } from '../peer-locators.js';
import { registrationAnswerIn } from '../registration.js';
import { duplicateAnswerSpacing } from '../timers.js';
import { encodeParam, getParam, getParams, spanIndexOf } from '../wire/codec.js';
import { ParamType } from '../wire/constants.js';
import { mac2Input, signature2Input } from '../wire/covered.js';
import type { DecodedPacket, Param, LocatorSet } from '../wire/params.js';
import type { AcceptedI2 } from '../responder.js';
import type { AssociationState } from './types.js';

export class BaseExchange {
  private peerHostIdTlv: Uint8Array | undefined;
  private dhKey: EcdhKeyPair | undefined;
  private r1CounterAnswered: bigint | undefined;
  private r2Bytes: Uint8Array | undefined;
  /** Where that I2 came from, and when our R2 last went there. */
  private i2: { from: Endpoint; to: Endpoint; answeredAt: number } | undefined;
  /** What our I2 listed: the peer's starting view of our locators once the exchange completes. */
  i2Announced: AnnouncedEntry[] = [];
  /** Locators the responder listed in R1, checked once the base exchange completes. */
  private r1Locators: AnnouncedLocator[] = [];

  constructor(private readonly s: SharedState) {}

  /** We want to talk to the peer: send I1 and wait for R1 (UNASSOCIATED → I1-SENT). */
  start(now: number): void {
    this.s.setState('I1-SENT');
    this.s.sendTracked(now, 'I1', buildI1(this.s.localHit, this.s.peerHit, this.s.ctx.dhGroups), this.s.ctx.timers.i1RetriesMax);
  }

  /**
   * A fully verified I2 (see Responder.acceptI2): create the SAs, answer with R2 and wait in
   * R2-SENT. `replacing` is the state of an association this one supersedes (a peer that lost
   * its state and ran a new base exchange), so the state event says where we came from.
   */
  acceptI2(now: number, acc: AcceptedI2, from: Endpoint, to: Endpoint, replacing: AssociationState, r2Extra: readonly Param[]): void {
    this.s.state = replacing;
    this.s.peer = acc.peer;
    this.s.rhash = acc.rhash;
    this.s.keymat = acc.keymat;
    this.s.hipKeys = acc.hipKeys;
    this.s.hipCipher = acc.hipCipher;
    this.s.espSuite = acc.espSuite;
    this.s.espKeymatIndex = acc.keymatIndex;
    this.s.solutionId = acc.solutionId;
    this.s.natMode = acc.natMode;
    this.i2 = { from, to, answeredAt: now };
    this.s.inboundSpi = this.s.ctx.allocateSpi();
    this.s.outboundSpi = acc.peerSpi;
    const esp = drawEspKeys(acc.keymat, acc.keymatIndex, acc.espSuite, this.s.ctx.identity.hit, this.s.peerHit);
    this.s.nextKeymatIndex = esp.nextIndex;
    this.r2Bytes = buildR2(this.s.ctx, acc.rhash, acc.hipKeys.outInt, this.s.ctx.identity.hit, this.s.peerHit, acc.keymatIndex, this.s.inboundSpi, r2Extra);
    this.s.setState('R2-SENT');
    this.s.holdDeadline = now + this.s.ctx.timers.r2SentHoldMs;
    this.s.establishedAt = now;
    this.s.ctx.send(this.r2Bytes, from, to);
    // The SAs exist from here: the engine needs them to open the initiator's first ESP, which
    // is what confirms R2 arrived (RFC 7401 §4.4.2, R2-SENT).
    this.s.ctx.emit({
      type: 'established', peerHit: this.s.peerHit, peer: acc.peer, local: to, remote: from, initiator: false,
      sa: { suite: acc.espSuite, inboundSpi: this.s.inboundSpi, outboundSpi: this.s.outboundSpi, inbound: esp.inbound, outbound: esp.outbound },
    });
    const listed = acc.locatorSet === undefined ? [] : parseLocatorSet(acc.locatorSet, from.port, acc.peerSpi).locators;
    if (this.s.flows.fromPeer(undefined, acc.eLocators, from.port, [from, ...listed], (r) => this.s.ctx.drop(r))) this.s.peerFlowsChanged();
    this.s.readdressing.startMobility(now, listed, from);
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
    if (this.s.state !== 'I1-SENT' || this.s.retransmit === undefined) return;
    this.s.ctx.send(this.s.retransmit.bytes, from, to);
  }

  /**
   * Our I1 again, at once, where the others went: the relay we sent them to has just taken a
   * registration, and the peer's may be new there (the relay drops I1s for an unregistered HIT).
   */
  resendI1(): void {
    if (this.s.state === 'I1-SENT' && this.s.retransmit !== undefined) this.s.ctx.send(this.s.retransmit.bytes, this.s.remote, this.s.local);
  }

  /**
   * R1 (RFC 7401 §6.8). Only an R1 to an I1 we still stand behind is processed: in I1-SENT, or
   * in I2-SENT when its R1_COUNTER is newer than the R1 we answered.
   */
  onR1(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    const { crypto, identity } = this.s.ctx;
    if (this.s.state !== 'I1-SENT' && this.s.state !== 'I2-SENT') return this.s.ctx.drop('r1-out-of-state');
    const counter = getParam(pkt, 'R1_COUNTER')?.counter;
    if (this.s.state === 'I2-SENT' && (counter === undefined || this.r1CounterAnswered === undefined || counter <= this.r1CounterAnswered)) {
      return this.s.ctx.drop('r1-stale');
    }
    const hostId = getParam(pkt, 'HOST_ID')!;
    const parsed = identityFromHostId(crypto, hostId.algorithm, hostId.hi);
    if (!parsed.ok) return this.s.ctx.drop('bad-host-id');
    const peer = parsed.identity;
    if (!equalBytes(peer.hit, this.s.peerHit)) return this.s.ctx.drop('hit-mismatch');
    const sig = getParam(pkt, 'HIP_SIGNATURE_2')!;
    const sigInput = signature2Input(pkt, spanIndexOf(pkt, ParamType.HIP_SIGNATURE_2));
    if (sig.algorithm !== peer.algorithm || !verifyWith(crypto, peer, sigInput, sig.signature)) return this.s.ctx.drop('bad-signature');

    if (!getParam(pkt, 'HIT_SUITE_LIST')!.suites.includes(identity.suite)) return this.s.ctx.drop('unsupported-hit-suite');
    const dhParam = getParam(pkt, 'DIFFIE_HELLMAN')!;
    // The group must be the one our I1's list, in our preference order, leads to given the
    // responder's signed list; anything else is a downgrade (RFC 7401 §5.2.6, §6.8).
    const expected = chooseDhGroup(getParam(pkt, 'DH_GROUP_LIST')!.groups, this.s.ctx.dhGroups);
    if (expected === null) return this.s.ctx.drop('no-common-dh-group');
    if (dhParam.groupId !== expected) return this.s.ctx.drop('dh-downgrade');
    const curve = dhGroupCurve(dhParam.groupId);
    if (curve === null) return this.s.ctx.drop('no-common-dh-group');
    const hipCipher = getParam(pkt, 'HIP_CIPHER')!.ciphers.find((c) => this.s.ctx.hipCiphers.includes(c));
    if (hipCipher === undefined) return this.s.ctx.drop('no-common-hip-cipher');
    const espSuite = getParam(pkt, 'ESP_TRANSFORM')?.suites.find((s) => this.s.ctx.espSuites.includes(s));
    if (espSuite === undefined) return this.s.ctx.drop('no-common-esp-transform');
    const formats = getParam(pkt, 'TRANSPORT_FORMAT_LIST')?.formats;
    if (formats !== undefined && !formats.includes(TRANSPORT_FORMAT_ESP)) return this.s.ctx.drop('no-common-transport-format');

    const rhash = peer.rhash;
    const puzzle = getParam(pkt, 'PUZZLE')!;
    if (puzzle.k > this.s.ctx.puzzle.maxSolvableK) return this.s.ctx.drop('puzzle-too-hard');
    if (puzzle.i.length !== hashLength(rhash)) return this.s.ctx.drop('puzzle-bad-length');
    const j = solvePuzzle(crypto, rhash, puzzle.i, this.s.localHit, this.s.peerHit, puzzle.k);
    if (j === null) return this.s.ctx.drop('puzzle-unsolved');

    if (this.dhKey === undefined || this.dhKey.curve !== curve) this.dhKey = crypto.ecdhGenerate(curve);
    const kij = crypto.ecdhCompute(this.dhKey, dhParam.publicValue);
    if (kij === null) return this.s.ctx.drop('dh-invalid');
    const keymat = new Keymat(crypto, rhash, kij, this.s.localHit, this.s.peerHit, puzzle.i, j);
    const hipKeys = drawHipKeys(keymat, hipCipher, rhash, this.s.localHit, this.s.peerHit);
    this.s.inboundSpi ??= this.s.ctx.allocateSpi();
    // The responder's locators (RFC 8047 §4.5): a new preferred one gets the I2 directly, the
    // others are checked once the exchange completes.
    const r1Set = getParam(pkt, 'LOCATOR_SET');
    const r1Locators = r1Set === undefined ? [] : parseLocatorSet(r1Set, from.port, 0).locators;
    const redirect = r1Locators.find((l) => l.preferred && !sameEndpoint(l, from));
    const i2Listing = this.i2Listing(to);
    const i2Flows = this.s.flows.eLocator(this.s.listedLocators(), i2Listing);

    const spi = this.s.inboundSpi;
    const dhPublic = this.dhKey.publicKey;
    const encryptedHostId = encryptParam(crypto, hipCipher, hipKeys.outEnc, encodeParam(hostIdParam(identity)));
    const { bytes: i2, leftOut } = buildWithELocator(i2Flows, (eLocator) => buildI2(this.s.ctx, rhash, hipKeys.outInt, {
      localHit: this.s.localHit,
      peerHit: this.s.peerHit,
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
      inviteProof: this.s.ctx.inviteProofFor?.(this.s.peerHit),
      extra: [...this.registrationRequest(pkt), ...this.natModeChoice(pkt), ...(eLocator === undefined ? [] : [eLocator])],
    }));
    this.s.flows.sentIn(I2_CARRIER, leftOut);
    if (this.s.flows.fromPeer(undefined, getParams(pkt, 'E_LOCATOR'), from.port, [from, ...r1Locators], (r) => this.s.ctx.drop(r))) this.s.peerFlowsChanged();
    this.s.peer = peer;
    this.peerHostIdTlv = encodeParam(hostId);
    this.s.rhash = rhash;
    this.s.keymat = keymat;
    this.s.hipKeys = hipKeys;
    this.s.hipCipher = hipCipher;
    this.s.espSuite = espSuite;
    this.s.espKeymatIndex = hipKeys.nextIndex;
    this.r1CounterAnswered = counter ?? 0n;
    this.s.remote = redirect !== undefined ? { address: redirect.address, port: redirect.port } : from;
    this.r1Locators = r1Locators.filter((l) => !sameEndpoint(l, this.s.remote));
    this.s.local = to;
    this.s.setState('I2-SENT');
    this.s.sendTracked(now, 'I2', i2, this.s.ctx.timers.i2RetriesMax);
  }

  /** The responder's first NAT traversal mode that we run, named in our I2; none when it offered none. */
  private natModeChoice(r1: DecodedPacket): Param[] {
    const offered = getParam(r1, 'NAT_TRAVERSAL_MODE')?.modes ?? [];
    const chosen = offered.find((m) => this.s.ctx.natTraversalModes?.includes(m));
    this.s.natMode = chosen;
    return chosen === undefined ? [] : [{ kind: 'NAT_TRAVERSAL_MODE', modes: [chosen] }];
  }

  /** A REG_REQUEST for our I2 when the R1 offers registration and we want some (RFC 8003 §3.2). */
  private registrationRequest(r1: DecodedPacket): Param[] {
    if (getParam(r1, 'REG_INFO') === undefined) return [];
    const request = this.s.ctx.registrationRequestFor?.(this.s.peerHit);
    return request === undefined ? [] : [request];
  }

  /** R2 (RFC 7401 §6.11): the responder's ESP_INFO, HIP_MAC_2 and signature; then ESTABLISHED. */
  onR2(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint): void {
    if (this.s.state !== 'I2-SENT') return this.s.ctx.drop('r2-out-of-state');
    const keymat = this.s.keymat!;
    const hipKeys = this.s.hipKeys!;
    const rhash = this.s.rhash!;
    const espInfo = getParam(pkt, 'ESP_INFO')!;
    if (espInfo.newSpi === 0 || espInfo.oldSpi !== 0 || espInfo.keymatIndex !== this.s.espKeymatIndex) return this.s.ctx.drop('esp-info');
    const mac = getParam(pkt, 'HIP_MAC_2')!;
    const input = mac2Input(pkt, spanIndexOf(pkt, ParamType.HIP_MAC_2), this.peerHostIdTlv!);
    if (!equalBytes(this.s.ctx.crypto.hmac(rhash, hipKeys.inInt, input), mac.hmac)) return this.s.ctx.drop('bad-mac');
    if (!this.s.verifySignature(pkt)) return this.s.ctx.drop('bad-signature');

    const esp = drawEspKeys(keymat, espInfo.keymatIndex, this.s.espSuite!, this.s.localHit, this.s.peerHit);
    this.s.nextKeymatIndex = esp.nextIndex;
    this.s.outboundSpi = espInfo.newSpi;
    this.s.retransmit = undefined;
    this.s.remote = from;
    this.s.local = to;
    this.s.establishedAt = now;
    this.s.setState('ESTABLISHED');
    this.s.ctx.emit({
      type: 'established', peerHit: this.s.peerHit, peer: this.s.peer!, local: to, remote: from, initiator: true,
      sa: this.s.saKeys(this.s.espSuite!, this.s.inboundSpi!, this.s.outboundSpi, esp),
    });
    this.s.flows.ackedBy(I2_CARRIER);
    this.s.readdressing.startMobility(now, this.r1Locators, from);
    const answer = registrationAnswerIn(pkt);
    if (answer !== undefined) this.s.ctx.emit({ type: 'registration', peerHit: this.s.peerHit, answer });
  }

  /** The same I2 again: our R2 was lost. Answer with the very same R2, create nothing. */
  resendR2(now: number, from: Endpoint): void {
    // A recorded I2 replayed from elsewhere must not aim our R2 anywhere, nor many of them.
    if (this.r2Bytes === undefined || this.i2 === undefined || !sameEndpoint(from, this.i2.from)) return;
    if (now - this.i2.answeredAt < duplicateAnswerSpacing(this.s.ctx.timers)) return;
    this.i2.answeredAt = now;
    this.s.ctx.send(this.r2Bytes, this.i2.from, this.i2.to);
  }

  /**
   * The engine opened ESP from this peer with our keys: the initiator has R2. With `packet`, its
   * size earns credit for unverified addresses, and a source address we did not know is checked
   * (site multihoming: the peer's site or NAT changed paths).
   */
  espAuthenticated(now: number, packet?: { bytes: number; from: Endpoint }): void {
    if (this.s.state === 'R2-SENT') {
      this.s.holdDeadline = undefined;
      this.s.setState('ESTABLISHED');
    }
    if (packet === undefined || this.s.state !== 'ESTABLISHED') return;
    this.s.credit?.received(now, packet.bytes);
    // The data plane's anti-replay window ran before it reported this packet: it is fresh.
    this.s.paths.noticeSource(now, packet.from);
  }

  /** Our locators for the I2 (RFC 8047 §4.5): the P bit on the address the exchange runs over. */
  private i2Entries(via: Endpoint | undefined): AnnouncedEntry[] {
    const own = this.s.listedLocators();
    const spi = this.s.inboundSpi;
    if (own.length === 0 || spi === undefined) return [];
    // In simultaneous multihoming the base SA serves one interface; the others get SAs of their own.
    const ifname = own.find((l) => l.address === via?.address)?.ifname ?? preferredOf(own)!.ifname;
    const listed = this.s.ctx.multihoming === 'simultaneous' ? own.filter((l) => l.ifname === ifname) : own;
    return listed.map((l) => ({
      locator: { address: l.address, port: l.port }, spi, preferred: sameEndpoint(l, via) && isHostLocator(l),
      ...(l.candidate === undefined ? {} : { candidate: l.candidate }),
    }));
  }

  private i2Listing(via: Endpoint): LocatorSet | undefined {
    const entries = this.i2Entries(via);
    this.i2Announced = entries;
    return entries.length === 0 ? undefined : buildLocatorSet(entries, this.s.lifetimeS());
  }
}
