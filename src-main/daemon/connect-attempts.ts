// Per peer HIT, the base exchange under way or last failed, until one succeeds: what status's
// `attempt` reports for a peer that is not connected yet.

import type { ConnectAttempt, PeerStatus } from '../../src-shared/control-api.js';

/** States in which the peer has keys: no attempt to report. */
export const KEYED_STATES: readonly string[] = ['ESTABLISHED', 'R2-SENT'];

interface Attempt { startedAt: number; answered: boolean; failedAt?: number; reason?: string }

export class ConnectAttempts {
  private readonly byHit = new Map<string, Attempt>();

  /** A first I1 starts an attempt (a retry after a failure starts a new one); an R1 answers it. */
  stateChanged(hit: string, to: string, now: number): void {
    const attempt = this.byHit.get(hit);
    if (to === 'I1-SENT' && (attempt === undefined || attempt.failedAt !== undefined)) this.byHit.set(hit, { startedAt: now, answered: false });
    else if (to === 'I2-SENT' && attempt) attempt.answered = true;
  }

  /** The attempt failed: the first failure is the one reported. */
  failed(hit: string, reason: string, now: number): void {
    const attempt = this.byHit.get(hit);
    if (attempt && attempt.failedAt === undefined) Object.assign(attempt, { failedAt: now, reason });
  }

  /** It succeeded, the association closed, or the peer is gone: nothing to report. */
  forget(hit: string): void {
    this.byHit.delete(hit);
  }

  /** The attempt as status reports it: only for a peer that is not connected, and only one we know where to. */
  status(hit: string, state: string, remote: PeerStatus['remote'], now: number): ConnectAttempt | undefined {
    const a = this.byHit.get(hit);
    if (!a || remote === undefined || KEYED_STATES.includes(state)) return undefined;
    const out: ConnectAttempt = { remote, sinceMs: Math.round(now - a.startedAt), answered: a.answered };
    if (a.failedAt !== undefined) out.failedAgoMs = Math.round(now - a.failedAt);
    if (a.reason !== undefined && /^[a-z0-9][a-z0-9-]{0,63}$/.test(a.reason)) out.reason = a.reason;
    return out;
  }
}
