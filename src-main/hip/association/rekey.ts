// Rekeying of SA pairs with UPDATE (RFC 7402 §6.9; every pair in simultaneous multihoming,
// see sa-rekey.ts): ours, the peer's, both at once, one change at a time, the rekeys that wait
// for another change, and the responder's wait for the ACK that confirms the new pair.

import type { EspInfoCase } from './internal.js';
import type { SharedState } from './shared-state.js';
import { compareHits } from '../../base/hit-order.js';
import { drawEspKeys } from '../../esp/keys.js';
import { buildUpdate } from '../messages.js';
import { REKEY_CONFIRM_MAX_MS, WaitingRekeys, pairNamedByPeer, pairToRekey, samePair, type Rekey, type UnconfirmedAnswer } from '../sa-rekey.js';

interface EspInfo { keymatIndex: number; oldSpi: number; newSpi: number }

export class Rekeying {
  rekey: Rekey | undefined;
  /** Rekeys asked for while another SA change ran (sa-rekey.ts). */
  private readonly waitingRekeys = new WaitingRekeys();
  /** Our rekey of one pair, set aside while we answer the peer's of another; its UPDATE stays in flight. */
  private yieldedRekey: Rekey | undefined;
  /** A pair we rekeyed as responder, until the initiator acknowledges our answer (or the bound passes). */
  rekeyUnconfirmed: UnconfirmedAnswer | undefined;

  constructor(private readonly s: SharedState) {}

  /** No rekey runs any more, nor one set aside (the association fails or closes). */
  stop(): void {
    this.rekey = undefined;
    this.yieldedRekey = undefined;
  }

  /**
   * Starts a rekey (RFC 7402 §6.9) of the base SA pair, or of the further pair whose outbound
   * SA is `outboundSpi` (RFC 8047): a new inbound SPI, keys from the next KEYMAT index.
   */
  startRekey(now: number, outboundSpi?: number): boolean {
    // R2-SENT counts: the responder holds keys, and the peer accepts UPDATE once it has R2.
    const keyed = this.s.state === 'ESTABLISHED' || this.s.state === 'R2-SENT';
    if (!keyed) return false;
    const base = this.s.basePair();
    const pair = pairToRekey(base, this.s.extraSas, outboundSpi);
    if (pair === undefined) return false;
    const target = pair === base ? 'base' : pair.outboundSpi;
    // One SA change at a time: a rekey or a new SA pair being keyed draws from KEYMAT too. This
    // one starts as soon as that change is done, since the data plane asks for it only once.
    if (this.rekey !== undefined || this.s.readdressing.announcing?.kind === 'new-sa') {
      if (this.rekey === undefined || !samePair(this.rekey.pair, pair)) this.waitingRekeys.add(target);
      return false;
    }
    // Only one UPDATE may be unacknowledged at a time; a probe yields, since fresh keys matter
    // more than one measurement and the engine asks for a rekey only once.
    if (this.s.retransmit?.what === 'PROBE') {
      this.s.retransmit = undefined;
      this.s.pendingUpdateId = undefined;
      this.s.probes.endProbe('superseded');
    }
    if (this.s.retransmit !== undefined) {
      this.waitingRekeys.add(target);
      return false;
    }
    const localNewSpi = this.s.ctx.allocateSpi();
    this.rekey = { role: 'initiator', pair: { ...pair }, localNewSpi, localIndex: this.s.nextKeymatIndex, acked: false };
    const seq = this.s.newUpdateId();
    this.s.pendingUpdateId = seq;
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, {
      seq, espInfo: { keymatIndex: this.s.nextKeymatIndex, oldSpi: pair.inboundSpi, newSpi: localNewSpi },
    });
    this.s.sendTracked(now, 'UPDATE', bytes, this.s.ctx.timers.updateRetriesMax);
    return true;
  }

  /** Starts the rekeys that waited for another SA change, as far as nothing else runs. */
  resumeRekeys(now: number): void {
    for (let n = this.waitingRekeys.size; n > 0 && this.rekey === undefined && this.s.retransmit === undefined; n--) {
      const target = this.waitingRekeys.take()!;
      this.startRekey(now, target === 'base' ? undefined : target);
    }
  }

  /**
   * We have our own SA change in flight and ours goes first (larger HIT). Rekey meeting rekey
   * of the same pair merges instead; `oldSpi` is the peer's ESP_INFO OLD SPI.
   */
  yieldsSaChange(peerCase: EspInfoCase, oldSpi: number): boolean {
    if (peerCase !== 'new-sa' && peerCase !== 'rekey') return false;
    const ownRekey = this.rekey?.role === 'initiator';
    const ownNewSa = this.s.readdressing.announcing?.kind === 'new-sa';
    if (peerCase === 'rekey' && ownRekey && this.rekey!.pair.outboundSpi === oldSpi) return false;
    if (!ownRekey && !ownNewSa) return false;
    return compareHits(this.s.localHit, this.s.peerHit) > 0;
  }

  /**
   * Both new SPIs known and our side confirmed: draw the new ESP keys. Both hosts start from the
   * larger of the two proposed KEYMAT indexes, so they draw the same octets (RFC 7402 §6.9).
   */
  completeRekey(now: number): void {
    const r = this.rekey;
    if (r === undefined || r.peerNewSpi === undefined || r.peerIndex === undefined) return;
    if (!r.acked && r.role !== 'responder') return;
    const index = Math.max(r.localIndex, r.peerIndex);
    let esp: ReturnType<typeof drawEspKeys>;
    try {
      esp = drawEspKeys(this.s.keymat!, index, this.s.espSuite!, this.s.localHit, this.s.peerHit);
    } catch {
      // KEYMAT is finite without a new DH; running out ends the association rather than reusing keys.
      this.rekey = undefined;
      this.s.ctx.emit({ type: 'failed', peerHit: this.s.peerHit, reason: 'keymat-exhausted' });
      return;
    }
    this.rekey = undefined;
    const { inboundSpi: oldInboundSpi, outboundSpi: oldOutboundSpi } = r.pair;
    const sa = this.s.saKeys(this.s.espSuite!, r.localNewSpi, r.peerNewSpi, esp);
    const further = this.s.extraSas.find((p) => samePair(p, r.pair));
    const base = samePair(this.s.basePair(), r.pair);
    if (!base && further === undefined) return; // the pair went (deprecated) while its rekey ran
    // As responder we hold the new SAs before the initiator does (it needs our answer first).
    const confirmed = r.replyId === undefined;
    // A pair completed while an earlier answer waits: the peer went on, so it holds that pair.
    if (this.rekeyUnconfirmed !== undefined) this.rekeyConfirmed();
    if (!confirmed) this.rekeyUnconfirmed = { replyId: r.replyId!, outboundSpi: sa.outboundSpi, deadline: now + REKEY_CONFIRM_MAX_MS };
    if (base) {
      this.s.inboundSpi = sa.inboundSpi;
      this.s.outboundSpi = sa.outboundSpi;
      this.s.ctx.emit({ type: 'rekeyed', peerHit: this.s.peerHit, oldInboundSpi, oldOutboundSpi, sa, confirmed });
    } else {
      further!.inboundSpi = sa.inboundSpi;
      further!.outboundSpi = sa.outboundSpi;
      this.s.ctx.emit({ type: 'sa-rekeyed', peerHit: this.s.peerHit, oldInboundSpi, oldOutboundSpi, ifname: further!.ifname, sa, confirmed });
    }
    this.s.nextKeymatIndex = esp.nextIndex;
    this.s.rekeys++;
    // Locators follow their SA to its new SPI on both sides (RFC 8047 §6.2 case 2).
    this.s.peerLocators?.rebindSpi(oldOutboundSpi, sa.outboundSpi);
    this.s.readdressing.rebindAnnounced(oldInboundSpi, sa.inboundSpi);
    this.s.readdressing.announceNext(now);
  }

  /** The peer holds the pair we answered its rekey of: our traffic may move onto the new outbound SA. */
  rekeyConfirmed(): void {
    const { outboundSpi } = this.rekeyUnconfirmed!;
    this.rekeyUnconfirmed = undefined;
    this.s.ctx.emit({ type: 'sa-rekey-confirmed', peerHit: this.s.peerHit, outboundSpi });
  }

  /**
   * The peer rekeys one pair (ESP_INFO OLD SPI → NEW SPI under a new SEQ): what our ACK carries
   * besides. As its responder, our own new SPI under our own SEQ, which is re-sent until
   * acknowledged; when we rekey that pair too, nothing: each side's ESP_INFO rides on its own SEQ.
   */
  answerPeerRekey(espInfo: EspInfo): { seq: number; espInfo: EspInfo } | undefined {
    const pair = pairNamedByPeer(this.s.basePair(), this.s.extraSas, espInfo.oldSpi)!;
    // Our own rekey of another pair yields to the peer's: the larger HIT refuses ours until its own is done.
    if (this.rekey !== undefined && !samePair(this.rekey.pair, pair)) this.yieldOwnRekey();
    if (this.rekey !== undefined) {
      this.rekey.peerNewSpi = espInfo.newSpi;
      this.rekey.peerIndex = espInfo.keymatIndex;
      return undefined;
    }
    const localNewSpi = this.s.ctx.allocateSpi();
    const replyId = this.s.newUpdateId();
    this.rekey = {
      role: 'responder', pair: { ...pair }, localNewSpi, localIndex: this.s.nextKeymatIndex, acked: false,
      peerNewSpi: espInfo.newSpi, peerIndex: espInfo.keymatIndex, replyId,
    };
    return { seq: replyId, espInfo: { keymatIndex: this.s.nextKeymatIndex, oldSpi: pair.inboundSpi, newSpi: localNewSpi } };
  }

  /** Our UPDATE in flight was acknowledged: a rekey we set aside was taken up by the peer and is ours to finish again. */
  ownUpdateAcked(): void {
    this.rekey ??= this.yieldedRekey;
    this.yieldedRekey = undefined;
    if (this.rekey !== undefined) this.rekey.acked = true;
  }

  /** The peer acknowledged these Update IDs: one may be our answer to its rekey, which it now holds. */
  answerAcked(acked: readonly number[]): void {
    if (this.rekeyUnconfirmed !== undefined && acked.includes(this.rekeyUnconfirmed.replyId)) this.rekeyConfirmed();
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
}
