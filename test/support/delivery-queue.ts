// Packets in flight on a simulated network, earliest first (ties in the order they were sent):
// a binary heap, so a test that injects tens of thousands of replays costs log n per packet
// instead of a scan of everything still in flight at every step.

export interface Queued {
  deliverAt: number;
  order: number;
}

const before = (a: Queued, b: Queued): boolean => a.deliverAt < b.deliverAt || (a.deliverAt === b.deliverAt && a.order < b.order);

export class DeliveryQueue<T extends Queued> {
  private readonly heap: T[] = [];

  push(item: T): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  /** When the earliest packet is due; undefined when none is in flight. */
  nextAt(): number | undefined {
    return this.heap[0]?.deliverAt;
  }

  /** Takes every packet due at or before `now`, in delivery order. */
  takeDue(now: number): T[] {
    const out: T[] = [];
    while (this.heap.length > 0 && this.heap[0]!.deliverAt <= now) out.push(this.pop());
    return out;
  }

  private pop(): T {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
