// CLOSE and CLOSE_ACK (RFC 7401 §6.14–6.15): our close, re-sent until acknowledged, and the
// peer's, answered and held in CLOSED so a re-sent CLOSE still gets its CLOSE_ACK.

import type { Endpoint } from '../../../src-shared/vocabulary.js';
import { equalBytes } from '../../base/bytes.js';
import type { SharedState } from './shared-state.js';
import { buildClose, buildCloseAck } from '../messages.js';
import { getParam } from '../wire/codec.js';
import type { DecodedPacket } from '../wire/params.js';

export class Closing {
  private closeNonce: Uint8Array | undefined;

  constructor(private readonly s: SharedState) {}

  close(now: number): void {
    switch (this.s.state) {
      case 'I2-SENT':
      case 'R2-SENT':
      case 'ESTABLISHED': {
        this.closeNonce = this.s.ctx.crypto.randomBytes(16);
        this.s.pendingUpdateId = undefined;
        this.s.stopChanges();
        this.s.holdDeadline = undefined;
        const bytes = buildClose(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, this.closeNonce);
        this.s.setState('CLOSING');
        this.s.sendTracked(now, 'CLOSE', bytes, this.s.ctx.timers.closeRetriesMax);
        return;
      }
      case 'I1-SENT':
      case 'E-FAILED':
        // Nothing keyed exists yet to close politely.
        this.s.retransmission.forget();
        this.s.ctx.emit({ type: 'closed', peerHit: this.s.peerHit, byPeer: false });
        return;
      default:
        return;
    }
  }

  /** CLOSE (RFC 7401 §6.14): answer with CLOSE_ACK echoing the nonce; → CLOSED. */
  onClose(now: number, pkt: DecodedPacket, from: Endpoint): void {
    const keyed = ['I2-SENT', 'R2-SENT', 'ESTABLISHED', 'CLOSING', 'CLOSED'] as const;
    if (!(keyed as readonly string[]).includes(this.s.state)) return this.s.ctx.drop('close-out-of-state');
    const authFailure = this.s.authenticate(pkt);
    if (authFailure !== undefined) return this.s.ctx.drop(authFailure);
    const echo = getParam(pkt, 'ECHO_REQUEST_SIGNED')!.opaque;
    const ack = buildCloseAck(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, echo);
    this.s.ctx.send(ack, from, this.s.local);
    if (this.s.state === 'CLOSED') return;
    this.s.retransmit = undefined;
    this.s.stopChanges();
    this.s.setState('CLOSED');
    this.s.holdDeadline = now + this.s.ctx.timers.closedHoldMs;
    this.s.ctx.emit({ type: 'closed', peerHit: this.s.peerHit, byPeer: true });
  }

  /** CLOSE_ACK (RFC 7401 §6.15): must echo our nonce; the association is then forgotten. */
  onCloseAck(_now: number, pkt: DecodedPacket): void {
    if (this.s.state !== 'CLOSING') {
      // Both closed at once and we already answered theirs: nothing left to do.
      if (this.s.state === 'CLOSED') return;
      return this.s.ctx.drop('close-ack-out-of-state');
    }
    const echo = getParam(pkt, 'ECHO_RESPONSE_SIGNED')!.opaque;
    if (this.closeNonce === undefined || !equalBytes(echo, this.closeNonce)) return this.s.ctx.drop('bad-echo');
    const authFailure = this.s.authenticate(pkt);
    if (authFailure !== undefined) return this.s.ctx.drop(authFailure);
    this.s.retransmission.forget();
    this.s.ctx.emit({ type: 'closed', peerHit: this.s.peerHit, byPeer: false });
  }
}
