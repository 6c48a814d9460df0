// When a handover becomes a desktop notification: never while the window has focus (the person
// is looking at the timeline already), never when notifications are off, and at most one per
// interval — a burst (an uplink flapping, many peers moving at once) becomes one summary. Pure:
// the caller passes the clock and shows what `offer`/`flush` return.

import type { HandoverRecord } from '../../src-shared/control-api.js';
import { handoverText } from '../../src-shared/view-models.js';

export interface NotificationText { title: string; body: string }

export interface NotifierOptions {
  /** Minimum time between two notifications. */
  intervalMs: number;
}

export const DEFAULT_NOTIFIER_OPTIONS: NotifierOptions = { intervalMs: 10_000 };

export function notificationFor(handovers: readonly HandoverRecord[]): NotificationText {
  if (handovers.length === 1) {
    const h = handovers[0]!;
    return { title: 'hipvpn handover', body: handoverText(h) };
  }
  const last = handovers[handovers.length - 1]!;
  const peers = new Set(handovers.map((h) => h.peer ?? h.hit));
  return { title: `hipvpn: ${handovers.length} handovers`, body: `${peers.size === 1 ? '' : `${peers.size} peers moved; `}latest ${handoverText(last)}` };
}

export class HandoverNotifier {
  private lastShownAt = -Infinity;
  private held: HandoverRecord[] = [];

  constructor(private readonly opts: NotifierOptions = DEFAULT_NOTIFIER_OPTIONS) {}

  /** A handover happened; returns what to show now, if anything. */
  offer(h: HandoverRecord, ctx: { now: number; focused: boolean; enabled: boolean }): NotificationText | null {
    if (!ctx.enabled || ctx.focused) {
      this.held = [];
      return null;
    }
    this.held.push(h);
    return this.flush(ctx.now);
  }

  /** Held handovers once the interval has passed (call it from a timer at `dueAt`). */
  flush(now: number): NotificationText | null {
    if (this.held.length === 0 || now - this.lastShownAt < this.opts.intervalMs) return null;
    const text = notificationFor(this.held);
    this.held = [];
    this.lastShownAt = now;
    return text;
  }

  /** When held handovers may be shown, or null if none are held. */
  dueAt(): number | null {
    return this.held.length === 0 ? null : this.lastShownAt + this.opts.intervalMs;
  }

  /** The window got focus: whatever was held has been seen. */
  focused(): void {
    this.held = [];
  }
}
