// A deterministic world for pair-selection tests: two PairSelection hosts, a virtual clock, and
// paths as a table of which direction (source address → destination address) works and with
// what one-way delay. Probes are answered by the "HIP layer" on the pair they came on, as
// HipHost.probePair does; data is a steady stream, optionally answered packet for packet like
// TCP ACKs. Whether a packet arrives is decided when it is sent.

import { PairSelection } from '../../src-main/mobility/pair-selection.js';
import type { SelectionAction, SelectionTiming } from '../../src-main/mobility/pair-selection.js';
import type { LocatorPair } from '../../src-main/mobility/pair-order.js';

export interface Direction { up: boolean; delayMs: number }

export interface ProbeRecord { at: number; pair: LocatorPair; probeId: number; report: number[] }

export class SimHost {
  readonly sel: PairSelection;
  peer!: SimHost;
  readonly actions: (SelectionAction & { seenAt: number })[] = [];
  readonly probes: ProbeRecord[] = [];
  /** Data packets this host sent, and those of them the peer received, by send time. */
  readonly sent: number[] = [];
  readonly delivered: number[] = [];
  /** Arrival times of the peer's data at this host. */
  readonly arrivals: number[] = [];
  sendEveryMs: number | undefined;
  nextSendAt = Number.POSITIVE_INFINITY;
  /** Answer each data packet received (like a TCP receiver's ACKs). */
  ackEach = false;

  constructor(readonly name: string, readonly world: World, timing: Partial<SelectionTiming>) {
    this.sel = new PairSelection(world.now, timing);
  }

  startSending(everyMs: number): void {
    this.sendEveryMs = everyMs;
    this.nextSendAt = this.world.now;
  }

  stopSending(): void {
    this.sendEveryMs = undefined;
    this.nextSendAt = Number.POSITIVE_INFINITY;
  }

  primaryChanges(): Extract<SelectionAction, { type: 'primary-changed' }>[] {
    return this.actions.filter((a): a is Extract<SelectionAction, { type: 'primary-changed' }> & { seenAt: number } => a.type === 'primary-changed');
  }

  sendData(): void {
    const pair = this.sel.primary;
    if (pair === undefined) return;
    const at = this.world.now;
    this.sel.dataSent(at);
    this.sent.push(at);
    this.world.transmit(pair, () => {
      this.delivered.push(at);
      this.peer.arrivals.push(this.world.now);
      this.peer.sel.dataReceived(this.world.now, { local: pair.remote, remote: pair.local });
      if (this.peer.ackEach) this.peer.sendData();
    });
  }

  drain(): void {
    for (let a = this.sel.pollAction(); a !== undefined; a = this.sel.pollAction()) {
      this.actions.push({ ...a, seenAt: this.world.now });
      if (a.type !== 'probe') continue;
      const sentAt = this.world.now;
      const { pair, probeId, report } = a;
      this.probes.push({ at: sentAt, pair, probeId, report });
      this.world.transmit(pair, () => {
        const back = { local: pair.remote, remote: pair.local };
        this.peer.sel.probeReceived(this.world.now, back, probeId, report);
        // The peer's HIP layer answers on the pair the probe came on.
        this.world.transmit(back, () => this.sel.probeAnswered(this.world.now, probeId, this.world.now - sentAt));
      });
    }
  }
}

interface Scheduled { at: number; seq: number; run: () => void }

export class World {
  now = 0;
  private seq = 0;
  private readonly queue: Scheduled[] = [];
  private readonly paths = new Map<string, Direction>();
  readonly a: SimHost;
  readonly b: SimHost;
  defaultDelayMs = 5;

  constructor(timing: Partial<SelectionTiming> = {}) {
    this.a = new SimHost('A', this, timing);
    this.b = new SimHost('B', this, timing);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  /** Set one direction: packets from `src` to `dst`. */
  path(src: string, dst: string, up: boolean, delayMs = this.defaultDelayMs): void {
    this.paths.set(`${src}>${dst}`, { up, delayMs });
  }

  /** Both directions between two addresses. */
  link(x: string, y: string, up: boolean, delayMs = this.defaultDelayMs): void {
    this.path(x, y, up, delayMs);
    this.path(y, x, up, delayMs);
  }

  transmit(pair: LocatorPair, onArrival: () => void): void {
    const d = this.paths.get(`${pair.local}>${pair.remote}`);
    if (d === undefined || !d.up) return;
    this.at(this.now + d.delayMs, onArrival);
  }

  at(time: number, run: () => void): void {
    this.queue.push({ at: time, seq: this.seq++, run });
    this.queue.sort((x, y) => x.at - y.at || x.seq - y.seq);
  }

  /** Run every event up to and including `until`. */
  runUntil(until: number): void {
    let sameInstant = 0;
    for (;;) {
      this.a.drain();
      this.b.drain();
      const next = Math.min(
        this.queue[0]?.at ?? Number.POSITIVE_INFINITY,
        this.a.sel.nextTimeout() ?? Number.POSITIVE_INFINITY,
        this.b.sel.nextTimeout() ?? Number.POSITIVE_INFINITY,
        this.a.nextSendAt,
        this.b.nextSendAt,
      );
      if (next > until) {
        this.now = until;
        return;
      }
      if (next < this.now) throw new Error(`time went backwards: ${next} < ${this.now}`);
      sameInstant = next === this.now ? sameInstant + 1 : 0;
      if (sameInstant > 10_000) throw new Error(`a timer keeps firing at ${next} ms without progress`);
      this.now = next;
      while (this.queue.length > 0 && this.queue[0]!.at <= this.now) this.queue.shift()!.run();
      for (const h of [this.a, this.b]) {
        if (h.nextSendAt <= this.now) {
          h.sendData();
          h.nextSendAt = this.now + h.sendEveryMs!;
        }
        const t = h.sel.nextTimeout();
        if (t !== undefined && t <= this.now) h.sel.handleTimeout(this.now);
      }
    }
  }
}

/** Local locator helper: `rank` is the interface preference (0 best). */
export function local(address: string, ifname: string, kind: 'ethernet' | 'wifi' | 'cellular', rank: number, operational = true) {
  return { address, ifname, kind, operational, preferenceRank: rank };
}

export function peer(address: string, preferred = false) {
  return { address, preferred };
}
