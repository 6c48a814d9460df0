// The association's clock: the one tracked packet (I1, I2, UPDATE, probe, CLOSE) re-sent with
// back-off until answered or out of attempts, the mobility UPDATEs re-sent alike, the hold
// timers of R2-SENT, CLOSED and E-FAILED, and what each deadline does when it passes. Its
// nextTimeout() is the association's deadline; onTimeout(now) runs what is due.

import type { SharedState } from './shared-state.js';
import { retransmitDelay } from '../timers.js';

export class Retransmission {
  constructor(private readonly s: SharedState) {}

  /**
   * The engine's liveness probe went unanswered: the peer has likely restarted and forgotten
   * our SAs. Failed locally, like a failed exchange, so a new base exchange may replace it.
   */
  abandon(now: number, reason: string): void {
    if (this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') return;
    this.fail(now, reason);
  }

  private fail(now: number, reason: string): void {
    this.s.retransmit = undefined;
    this.s.rekeying.rekeyUnconfirmed = undefined;
    this.s.stopChanges();
    this.s.setState('E-FAILED');
    this.s.holdDeadline = now + this.s.ctx.timers.failedHoldMs;
    this.s.ctx.emit({ type: 'failed', peerHit: this.s.peerHit, reason });
  }

  forget(): void {
    this.s.retransmit = undefined;
    this.s.holdDeadline = undefined;
    this.s.setState('UNASSOCIATED');
    this.s.gone = true;
  }

  nextTimeout(): number | undefined {
    let next: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    consider(this.s.retransmit?.deadline);
    consider(this.s.holdDeadline);
    for (const o of this.s.outstanding.values()) consider(o.deadline);
    if (this.s.keyed()) {
      consider(this.s.rekeying.rekeyUnconfirmed?.deadline);
      consider(this.s.peerLocators?.nextDeadline());
      consider(this.s.readdressing.renewalDue());
    }
    return next;
  }

  onTimeout(now: number): void {
    const r = this.s.retransmit;
    if (r !== undefined && r.deadline <= now) {
      if (r.attempt >= r.max) {
        if (r.what === 'CLOSE') {
          // The peer never confirmed; it will time the association out on its own.
          this.forget();
          this.s.ctx.emit({ type: 'closed', peerHit: this.s.peerHit, byPeer: false });
          return;
        }
        if (r.what === 'PROBE') {
          // An unanswered probe is a measurement, not a verdict: whether the path or the peer
          // is gone is for failure detection to decide, so the association stays as it is.
          this.s.retransmit = undefined;
          this.s.pendingUpdateId = undefined;
          this.s.probes.endProbe('retries-exceeded');
          return;
        }
        this.fail(now, `${r.what.toLowerCase()}-retries-exceeded`);
        return;
      }
      r.attempt++;
      r.deadline = now + retransmitDelay(this.s.ctx.timers, r.attempt);
      this.s.retransmissions++;
      if (r.what === 'PROBE' && this.s.probes.probe !== undefined) this.s.probes.probe.attempts++;
      this.s.ctx.send(r.bytes, this.s.remote, this.s.local);
    }
    if (this.s.holdDeadline !== undefined && this.s.holdDeadline <= now) {
      this.s.holdDeadline = undefined;
      if (this.s.state === 'R2-SENT') this.s.setState('ESTABLISHED');
      else if (this.s.state === 'CLOSED' || this.s.state === 'E-FAILED') this.forget();
    }
    this.retransmitOutstanding(now);
    if (!this.s.keyed()) return;
    if (this.s.rekeying.rekeyUnconfirmed !== undefined && this.s.rekeying.rekeyUnconfirmed.deadline <= now) this.s.rekeying.rekeyConfirmed();
    this.s.paths.expireLocators(now);
    const renewal = this.s.readdressing.renewalDue();
    if (renewal !== undefined && renewal <= now) {
      // Counted from now even when nothing goes out (no address to announce), so the
      // deadline moves on instead of firing again at once.
      this.s.readdressing.announcementSentAt = now;
      this.s.readdressing.announceNext(now, true);
    }
  }

  /** Re-sends mobility UPDATEs whose ACK is late; gives up on those out of attempts. */
  private retransmitOutstanding(now: number): void {
    for (const [id, o] of this.s.outstanding) {
      if (o.deadline > now) continue;
      if (o.attempt >= o.max) {
        this.s.outstanding.delete(id);
        if (o.purpose === 'verify' && this.s.peerLocators?.verificationFailed(o.target!)) this.s.emitPeerLocators();
        if (o.purpose === 'registration') this.s.ctx.emit({ type: 'registration-lost', peerHit: this.s.peerHit });
        // An announcement the peer never acknowledged: start over, under a new SEQ, from what it
        // last acknowledged. A peer that is gone for good is the liveness check's to declare.
        if (o.purpose === 'locators' && this.s.readdressing.announcing?.updateId === id) {
          this.s.readdressing.announcing = undefined;
          this.s.rekeying.resumeRekeys(now);
          this.s.readdressing.announceNext(now);
        }
        continue;
      }
      o.attempt++;
      o.deadline = now + retransmitDelay(this.s.ctx.timers, o.attempt);
      this.s.retransmissions++;
      this.s.ctx.send(o.bytes, o.to, o.from);
    }
  }
}
