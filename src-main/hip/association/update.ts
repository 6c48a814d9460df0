// The peer's UPDATEs (RFC 7401 §6.12): refused before any key work when stale, replayed or
// malformed, then authenticated, then handed to the sub-machines they concern (ACKs to rekey,
// probes and readdressing; ESP_INFO to rekey and extra SAs; LOCATOR_SET to the peer's paths),
// and answered once per SEQ, with the answer kept for a re-sent UPDATE.

import { type Endpoint, sameEndpoint } from '../../../src-shared/vocabulary.js';
import { type EspInfoCase } from './internal.js';
import { equalBytes } from '../../base/bytes.js';
import type { SharedState } from './shared-state.js';
import { parseLocatorSet } from '../local-locators.js';
import { buildUpdate } from '../messages.js';
import { decodeProbeReport, decodeProbeSpi, encodeProbeSpi, probeIdFromOpaque } from '../pair-probe.js';
import { answerRegistration, registrationAnswerIn } from '../registration.js';
import { duplicateAnswerSpacing, retransmitDelay } from '../timers.js';
import { UpdateIdWindow } from '../update-window.js';
import { getParam, getParams } from '../wire/codec.js';
import type { DecodedPacket } from '../wire/params.js';

/**
 * How far ahead of the highest processed Update ID a new one may be (RFC 7401 §6.12.1). Pair
 * probes are never re-sent, so a peer probing a dead path for a long time skips many IDs; the
 * bound only keeps a corrupted ID from being taken for a real one before the MAC is checked.
 */
const UPDATE_ID_WINDOW = 1 << 20;

export class UpdateReceiver {
  /** The peer's Update IDs processed, and our answers, re-sent verbatim when an UPDATE is re-sent. */
  private readonly peerUpdates: UpdateIdWindow;
  /** Update ID of the newest peer LOCATOR_SET applied: an older one arriving late must not undo it. */
  lastLocatorSetId: number | undefined;

  constructor(private readonly s: SharedState) {
    this.peerUpdates = new UpdateIdWindow(UPDATE_ID_WINDOW, duplicateAnswerSpacing(s.ctx.timers));
  }

  /**
   * UPDATE (RFC 7401 §6.12; RFC 7402 §6.9 and RFC 8047 §6.2 for ESP_INFO; RFC 8046 §5.3–5.4 for
   * LOCATOR_SET and the echo). Everything that can be refused without keys is refused first;
   * nothing moves before HIP_MAC and the signature hold.
   */
  onUpdate(now: number, pkt: DecodedPacket, from: Endpoint, to: Endpoint, viaRelay = false): void {
    if (this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') return this.s.ctx.drop('update-out-of-state');
    const seq = getParam(pkt, 'SEQ');
    const ack = getParam(pkt, 'ACK');
    const acked = ack?.updateIds ?? [];
    const espInfo = getParam(pkt, 'ESP_INFO');
    const echoResponse = getParam(pkt, 'ECHO_RESPONSE_SIGNED');
    if (echoResponse !== undefined && !this.expectsEcho(echoResponse.opaque, acked)) {
      // A replayed or forged answer to an echo we no longer have. Without a SEQ there is nothing
      // else in it to act on, so it is refused before any MAC or signature work.
      this.s.ctx.drop('echo-mismatch');
      if (seq === undefined) return;
    }
    const verdict = seq === undefined ? undefined : this.peerUpdates.classify(seq.updateId);
    if (verdict === 'replay') return this.s.ctx.drop('update-replay');
    if (verdict === 'too-far') return this.s.ctx.drop('update-seq-window');
    if (verdict === 'duplicate') return this.onDuplicateUpdate(now, pkt, seq!.updateId, from);
    // Without a SEQ, only an ACK of something we still wait for can be fresh; anything else is
    // refused before the signature check, which is what a flood of recorded packets would buy.
    if (seq === undefined && !this.s.awaitsAck(acked)) return this.s.ctx.drop('update-stale-ack');
    const isNewSeq = verdict === 'new';
    let espCase: EspInfoCase | undefined;
    if (isNewSeq && espInfo !== undefined) {
      espCase = this.s.sas.classifyEspInfo(espInfo, acked);
      if (espCase === undefined) return this.s.ctx.drop('esp-info');
      if (espCase === 'rekey' && this.s.rekeying.rekey?.peerNewSpi !== undefined) return this.s.ctx.drop('rekey-in-progress');
    }
    const authFailure = this.s.authenticate(pkt);
    if (authFailure !== undefined) return this.s.ctx.drop(authFailure);
    // A pair probe, and the answer to one of ours, take the pair under test, not the one the
    // peer sends on: their source says nothing of where the peer is.
    const pairTest = decodeProbeReport(pkt.params) !== undefined || acked.some((id) => this.s.outstanding.get(id)?.purpose === 'pair-probe');

    // Authenticated from here on.
    if (this.s.state === 'R2-SENT') {
      this.s.holdDeadline = undefined;
      this.s.setState('ESTABLISHED');
    }
    this.s.credit?.received(now, pkt.raw.length);
    if (espCase !== undefined && espCase !== 'new-sa-answer' && this.s.rekeying.yieldsSaChange(espCase, espInfo!.oldSpi)) {
      // Both sides are changing SAs at once: the larger HIT's change goes first (it refuses
      // ours until then), so no two SAs are ever keyed from the same KEYMAT octets.
      return this.s.ctx.drop('sa-change-in-progress');
    }
    for (const id of acked) this.s.unacknowledged.delete(id);
    this.s.rekeying.answerAcked(acked);
    if (ack !== undefined && this.s.pendingUpdateId !== undefined && acked.includes(this.s.pendingUpdateId)) {
      this.s.pendingUpdateId = undefined;
      if (this.s.retransmit?.what === 'UPDATE' || this.s.retransmit?.what === 'PROBE') this.s.retransmit = undefined;
      this.s.rekeying.ownUpdateAcked();
    }
    const probe = this.s.probes.probe;
    if (echoResponse !== undefined && probe !== undefined && equalBytes(echoResponse.opaque, probe.nonce) && acked.includes(probe.updateId)) {
      this.s.probes.probe = undefined;
      this.s.ctx.emit({
        type: 'probe-answered', peerHit: this.s.peerHit, nonce: probe.nonce, local: to, remote: from, retransmissions: probe.attempts,
      });
    }
    const answersRegistration = acked.some((id) => this.s.outstanding.get(id)?.purpose === 'registration');
    if (acked.length > 0) this.s.readdressing.onMobilityAck(now, acked, echoResponse?.opaque, espCase === 'new-sa-answer' ? espInfo : undefined);
    if (answersRegistration) {
      const answer = registrationAnswerIn(pkt);
      if (answer !== undefined) this.s.ctx.emit({ type: 'registration', peerHit: this.s.peerHit, answer });
    }
    if (seq !== undefined && isNewSeq) {
      this.peerUpdates.record(seq.updateId);
      this.answerSeq(now, pkt, seq.updateId, espInfo, espCase, from, to);
    }
    // Fresh: a new SEQ, or the first ACK of something we sent (both checked above). A packet a
    // relay of ours passed on comes from the relay, which reaches the peer only if the peer says
    // so (its relayed candidate) or the exchange ran there: the relay's address is no new
    // address of the peer's.
    if (!viaRelay || this.s.peerLocators?.get(from) !== undefined) {
      this.s.paths.noticeSource(now, from, !pairTest);
      // The new pair's request left from the peer's new interface: its source is that interface.
      // So does a probe or an echo's answer naming the SA pair of the interface it left from.
      const named = espCase === 'new-sa' ? espInfo?.newSpi : decodeProbeSpi(pkt.params);
      if (!viaRelay && named !== undefined && this.s.isOutboundSpi(named) && this.s.peerLocators?.bindObserved(from, named) === true) this.s.emitPeerLocators();
    }
    this.s.rekeying.completeRekey(now);
    this.s.rekeying.resumeRekeys(now);
  }

  /**
   * An UPDATE whose SEQ we processed already: our answer was lost, or someone replays a recorded
   * packet. Nothing in it is processed again and its source is not news; only the address it
   * first came from gets our kept answer again, rate-limited, and only for the packet we
   * authenticated (the same HIP_MAC, or one that verifies: a peer may rebuild what it re-sends).
   */
  private onDuplicateUpdate(now: number, pkt: DecodedPacket, id: number, from: Endpoint): void {
    this.s.ctx.drop('update-duplicate');
    const mac = getParam(pkt, 'HIP_MAC')?.hmac;
    const again = this.peerUpdates.reanswer<Endpoint>(
      id, from, now, sameEndpoint, (kept) => mac !== undefined && (equalBytes(mac, kept) || this.s.verifyMac(pkt)),
    );
    if (again !== undefined) this.s.ctx.send(again.bytes, again.to, again.from);
  }

  /** Whether an echo answer matches something we sent: the ping probe, an address check, a pair probe. */
  private expectsEcho(opaque: Uint8Array, acked: readonly number[]): boolean {
    if (this.s.probes.probe !== undefined && equalBytes(opaque, this.s.probes.probe.nonce)) return true;
    return acked.some((id) => {
      const o = this.s.outstanding.get(id);
      return o?.echo !== undefined && equalBytes(o.echo, opaque);
    });
  }

  /**
   * Answers a new SEQ: an ACK (with the echo, if asked), plus our own SEQ and ESP_INFO when the
   * peer's asks us for a new inbound SA. The answer goes back on the pair the UPDATE came on.
   */
  private answerSeq(
    now: number, pkt: DecodedPacket, id: number, espInfo: { keymatIndex: number; oldSpi: number; newSpi: number } | undefined,
    espCase: EspInfoCase | undefined, from: Endpoint, to: Endpoint,
  ): void {
    const macKey = this.s.hipKeys!.outInt;
    const echoRequest = getParam(pkt, 'ECHO_REQUEST_SIGNED')?.opaque;
    const locatorSet = getParam(pkt, 'LOCATOR_SET');
    // ESP_INFO before LOCATOR_SET: a listing may reference the SPI the ESP_INFO introduces.
    let defaultSpi = this.s.outboundSpi!;
    let reply: Parameters<typeof buildUpdate>[5] = { ack: [id], echoResponse: echoRequest };
    let track = false;
    if (espCase === 'rekey' && espInfo !== undefined) {
      // The base pair's old outbound SPI is the peer's old inbound one (pairNamedByPeer).
      if (espInfo.oldSpi === this.s.outboundSpi) defaultSpi = espInfo.newSpi;
      const answer = this.s.rekeying.answerPeerRekey(espInfo);
      if (answer !== undefined) {
        reply = { ...reply, ...answer };
        track = true;
      }
    } else if (espCase === 'new-sa' && espInfo !== undefined) {
      const created = this.s.sas.acceptNewSa(espInfo, to);
      if (created === undefined) return this.s.ctx.drop('keymat-exhausted');
      defaultSpi = espInfo.newSpi;
      reply = { ...reply, seq: this.s.newUpdateId(), espInfo: { keymatIndex: created.proposedIndex, oldSpi: 0, newSpi: created.inboundSpi } };
    } else if (espCase === 'deprecate' && espInfo !== undefined) {
      this.s.sas.removeSaPair(now, (sa) => sa.outboundSpi === espInfo.oldSpi);
    }
    if (locatorSet !== undefined && (this.lastLocatorSetId === undefined || id > this.lastLocatorSetId)) {
      this.lastLocatorSetId = id;
      this.s.paths.applyPeerLocatorSet(now, locatorSet, from, defaultSpi, to);
    }
    // E-LOCATOR binds flows to locators of the LOCATOR_SET beside it, or of the last one we have.
    const listedNow = locatorSet !== undefined ? parseLocatorSet(locatorSet, from.port, defaultSpi).locators : this.s.peerLocators?.list() ?? [];
    if (this.s.flows.fromPeer(id, getParams(pkt, 'E_LOCATOR'), from.port, listedNow, (r) => this.s.ctx.drop(r))) this.s.peerFlowsChanged();
    const report = echoRequest === undefined ? undefined : decodeProbeReport(pkt.params);
    const probeId = echoRequest === undefined ? undefined : probeIdFromOpaque(echoRequest);
    if (report !== undefined && probeId !== undefined) {
      this.s.ctx.emit({ type: 'pair-probe-received', peerHit: this.s.peerHit, pair: { local: to, remote: from }, probeId, report });
    }
    const registration = answerRegistration(this.s.ctx.registrar, pkt, this.s.peerHit, from, to, now);
    if (registration.length > 0) reply = { ...reply, extra: [...(reply.extra ?? []), ...registration] };
    // An echo answered from one of our interfaces names that interface's SA pair, as our probes do.
    const sourceSpi = echoRequest === undefined ? undefined : this.s.probeSpi(to);
    if (sourceSpi !== undefined) reply = { ...reply, extra: [...(reply.extra ?? []), encodeProbeSpi(sourceSpi)] };
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, macKey, this.s.localHit, this.s.peerHit, reply);
    this.peerUpdates.keepReply(id, bytes, from, to, getParam(pkt, 'HIP_MAC')!.hmac, now);
    if (track && this.s.retransmit === undefined) {
      this.s.pendingUpdateId = reply.seq;
      this.s.retransmit = { what: 'UPDATE', bytes, attempt: 0, max: this.s.ctx.timers.updateRetriesMax, deadline: now + retransmitDelay(this.s.ctx.timers, 0) };
    }
    this.s.ctx.send(bytes, from, to);
  }
}
