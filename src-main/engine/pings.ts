// The engine's HIP-level pings in flight (UPDATE with ECHO_REQUEST_SIGNED, RFC 8046 §5.3): at
// most one per peer, each settled by the core's probe outcome or by its own timeout.

import type { CoreEvent } from '../core/host-core.js';
import { hitKey } from '../../src-shared/vocabulary.js';
import { PingError, type PingResult } from './engine-types.js';

interface PendingPing { sentAt: number; timer: NodeJS.Timeout; resolve(r: PingResult): void; reject(e: PingError): void }

export class PendingPings {
  /** By the peer's HIT key. */
  private readonly byPeer = new Map<string, PendingPing>();

  inFlight(peerHit: Uint8Array): boolean {
    return this.byPeer.has(hitKey(peerHit));
  }

  /** Waits for the answer to a probe sent at `sentAt`; `onTimeout` runs when none came in time. */
  wait(peerHit: Uint8Array, sentAt: number, timeoutMs: number, onTimeout: () => void): Promise<PingResult> {
    const peer = hitKey(peerHit);
    return new Promise<PingResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byPeer.delete(peer);
        onTimeout();
        reject(new PingError('timeout', `no answer from ${peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.byPeer.set(peer, { sentAt, timer, resolve, reject });
    });
  }

  settle(now: number, e: Extract<CoreEvent, { type: 'probe-answered' | 'probe-lost' }>): void {
    const peer = hitKey(e.peerHit);
    const pending = this.byPeer.get(peer);
    if (!pending) return;
    this.byPeer.delete(peer);
    clearTimeout(pending.timer);
    if (e.type === 'probe-answered') pending.resolve({ rttMs: now - pending.sentAt, local: e.local, remote: e.remote });
    else pending.reject(new PingError('lost', `ping to ${peer} abandoned: ${e.reason}`));
  }
}
