// NOTIFY both ways (RFC 7401 §6.13): the peer's notices as events, its signed
// CONNECTIVITY_CHECKS_FAILED (RFC 9028 §5.10) acted on once per offer, a signed LOCATOR_SET in
// a NOTIFY taken as information under a rationed number of address checks, and our own signed
// notices (LOCATOR_TYPE_UNSUPPORTED rate-limited, RFC 8047 §6.2).

import { type Endpoint, sameEndpoint } from '../../../src-shared/vocabulary.js';
import type { SharedState } from './shared-state.js';
import { BASE_EXCHANGE_OFFER, decodeChecksFailedNotice, encodeChecksFailedNotice } from '../checks-failed-notice.js';
import { parseLocatorSet } from '../local-locators.js';
import { buildNotify } from '../messages.js';
import { getParam, getParams } from '../wire/codec.js';
import { NotifyType } from '../wire/constants.js';
import { encodeParamValue } from '../wire/param-codec.js';
import type { DecodedPacket, Locator, LocatorSet } from '../wire/params.js';

export class Notices {
  /** The offer whose failed checks the peer told us of and we acted on: a notice counts once. */
  private checksFailedActedOn: number | undefined;
  /** Address checks a NOTIFY's LOCATOR_SET may still start now, and when the bucket was last filled. */
  private notifyVerifyTokens: number | undefined;
  private notifyVerifyRefilledAt = 0;
  /** When our last LOCATOR_TYPE_UNSUPPORTED NOTIFY went out. */
  private lastUnsupportedNotifyAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly s: SharedState) {}

  /**
   * Tells the peer, signed, that our checks toward its candidates all failed (RFC 9028 §5.10),
   * naming this association and the peer's offer we judged (see checks-failed-notice.ts).
   */
  notifyChecksFailed(to: Endpoint): boolean {
    if (!this.s.keyed()) return false;
    const data = encodeChecksFailedNotice({ spi: this.s.inboundSpi!, offerSeq: this.s.updates.lastLocatorSetId ?? BASE_EXCHANGE_OFFER });
    return this.notifyPeer(NotifyType.CONNECTIVITY_CHECKS_FAILED, data, to);
  }

  /** Sends the peer a signed NOTIFY to `to` (through a relay when that is the only way left). */
  notifyPeer(notifyType: number, data: Uint8Array, to: Endpoint): boolean {
    if (!this.s.keyed()) return false;
    this.s.ctx.send(buildNotify(this.s.ctx, this.s.localHit, this.s.peerHit, notifyType, data), to, this.s.local);
    return true;
  }

  /**
   * The peer prefers a locator of a type we do not support: RFC 8047 §6.2 says it SHOULD hear so,
   * by a NOTIFY LOCATOR_TYPE_UNSUPPORTED carrying the locators we could not process. Only a
   * fresh, authenticated UPDATE leads here, and the answer goes back where it came from, at most
   * once per unsupportedLocatorNotifyMinMs: each costs a signature.
   */
  notifyUnsupportedLocator(now: number, locators: Locator[], peer: Endpoint, via: Endpoint): void {
    if (now - this.lastUnsupportedNotifyAt < this.s.ctx.timers.unsupportedLocatorNotifyMinMs) {
      return this.s.ctx.drop('locator-unsupported-notify-limited');
    }
    this.lastUnsupportedNotifyAt = now;
    const data = encodeParamValue({ kind: 'LOCATOR_SET', locators });
    this.s.ctx.send(buildNotify(this.s.ctx, this.s.localHit, this.s.peerHit, NotifyType.LOCATOR_TYPE_UNSUPPORTED, data), peer, via);
  }

  /**
   * NOTIFY (RFC 7401 §6.13): each notice becomes an event. It counts as authenticated when it is
   * signed by the peer's known Host Identity; a signature that fails is a forgery and dropped.
   * A LOCATOR_SET in it (RFC 8047) is taken only when signed, and only as information (see
   * learnFromNotify): a NOTIFY has no SEQ, so it may be a recorded one replayed.
   */
  onNotify(now: number, pkt: DecodedPacket, from: Endpoint): void {
    let authenticated = false;
    if (this.s.peer !== undefined && getParam(pkt, 'HIP_SIGNATURE') !== undefined) {
      if (!this.s.verifySignature(pkt)) return this.s.ctx.drop('bad-signature');
      authenticated = true;
    }
    for (const n of getParams(pkt, 'NOTIFICATION')) {
      this.s.ctx.emit({ type: 'notify', peerHit: this.s.peerHit, notifyType: n.notifyType, data: n.data, authenticated });
      if (n.notifyType !== NotifyType.CONNECTIVITY_CHECKS_FAILED) continue;
      // Acting on it stops checks: only the peer may say so, never whoever can write its HIT.
      if (!authenticated || !this.s.keyed()) this.s.ctx.drop('checks-failed-notify-unsigned');
      else this.onChecksFailedNotice(n.data);
    }
    const locatorSet = getParam(pkt, 'LOCATOR_SET');
    if (locatorSet === undefined) return;
    if (!authenticated) return this.s.ctx.drop('notify-locator-set-unsigned');
    this.learnFromNotify(now, locatorSet, from);
  }

  /**
   * A signed CONNECTIVITY_CHECKS_FAILED is acted on only when it names one of our SAs with the
   * peer and our latest offer, and only once per offer: a recorded notice replayed after a new
   * offer, or into another association, would otherwise stop checks nobody has judged.
   */
  private onChecksFailedNotice(data: Uint8Array): void {
    const notice = decodeChecksFailedNotice(data);
    if (notice === undefined) return this.s.ctx.drop('checks-failed-notify-malformed');
    const ours = notice.spi === this.s.outboundSpi || this.s.extraSas.some((sa) => sa.outboundSpi === notice.spi);
    if (!ours) return this.s.ctx.drop('checks-failed-notify-unknown-spi');
    const offer = this.s.readdressing.latestAnnouncementId ?? BASE_EXCHANGE_OFFER;
    if (notice.offerSeq !== offer) return this.s.ctx.drop('checks-failed-notify-stale-offer');
    if (this.checksFailedActedOn === offer) return this.s.ctx.drop('checks-failed-notify-repeated');
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
    for (const [id, o] of this.s.outstanding) {
      if (o.purpose !== 'verify' || o.target === undefined) continue;
      if (this.s.peerLocators?.get(o.target)?.candidate === 'relayed') continue;
      if (sameEndpoint(o.target, this.s.remote)) continue;
      this.s.outstanding.delete(id);
    }
    this.s.ctx.emit({ type: 'peer-checks-failed', peerHit: this.s.peerHit });
  }

  /**
   * A signed LOCATOR_SET from a NOTIFY: addresses new to us are added UNVERIFIED and checked;
   * nothing known changes (no DEPRECATED locator revived, no lifetime renewed, no preference
   * followed, nothing deprecated), and no traffic moves. The checks are rationed by a token
   * bucket (notifyVerifyBurst, one more per notifyVerifyIntervalMs), so replaying the NOTIFY
   * costs a bounded number of UPDATEs, each counted notify-verify-limited beyond it.
   */
  private learnFromNotify(now: number, param: LocatorSet, from: Endpoint): void {
    const table = this.s.peerLocators;
    if (table === undefined || !this.s.keyed()) return this.s.ctx.drop('notify-locator-set-out-of-state');
    const parsed = parseLocatorSet(param, from.port, this.s.outboundSpi!);
    for (let i = 0; i < parsed.refused; i++) this.s.ctx.drop('locator-refused');
    const known = (spi: number): boolean => spi === this.s.outboundSpi || this.s.extraSas.some((sa) => sa.outboundSpi === spi);
    const usable = parsed.locators.filter((l) => known(l.spi));
    for (let i = usable.length; i < parsed.locators.length; i++) this.s.ctx.drop('locator-unknown-spi');
    const outcome = table.applyInformational(usable);
    for (const l of outcome.toVerify) {
      if (this.s.paths.verifying(l)) continue;
      if (!this.takeNotifyVerifyToken(now)) {
        this.s.ctx.drop('notify-verify-limited');
        continue;
      }
      this.s.paths.startVerify(now, l);
    }
    if (outcome.changed) this.s.emitPeerLocators();
  }

  private takeNotifyVerifyToken(now: number): boolean {
    const { notifyVerifyBurst: burst, notifyVerifyIntervalMs: interval } = this.s.ctx.timers;
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
}
