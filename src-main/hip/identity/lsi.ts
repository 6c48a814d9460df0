// Local Scope Identifiers: IPv4 stand-ins for peer HITs, so IPv4-only applications can reach a
// peer (RFC 7401 §3.3 leaves the range to the host; hipvpn uses 1.0.0.0/8 like HIPL and
// OpenHIP). An LSI means something only on this host, so it needs to be unique here and
// stable for as long as the peer is known, nothing more.

const RANGE = 1 << 24; // host part of 1.0.0.0/8
const NETWORK = 0; // 1.0.0.0
const BROADCAST = RANGE - 1; // 1.255.255.255

function hitKey(hit: Uint8Array): string {
  let s = '';
  for (const b of hit) s += b.toString(16).padStart(2, '0');
  return s;
}

/** FNV-1a over seed ‖ HIT: cheap, deterministic, spreads HITs over the 24-bit host space. */
function preferredSlot(seed: number, hit: Uint8Array): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  for (const b of hit) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % RANGE;
}

export class LsiAllocator {
  private readonly byHit = new Map<string, number>();
  private readonly bySlot = new Map<number, Uint8Array>();

  /** `seed` varies the HIT → LSI mapping between hosts; the same seed gives the same LSIs. */
  constructor(private readonly seed = 0) {}

  /** The LSI for a peer HIT as a dotted quad; the same HIT gets the same LSI until released. */
  lsiFor(hit: Uint8Array): string {
    const key = hitKey(hit);
    let slot = this.byHit.get(key);
    if (slot === undefined) {
      if (this.bySlot.size >= RANGE - 2) throw new RangeError('LSI space 1.0.0.0/8 exhausted');
      slot = preferredSlot(this.seed, hit);
      while (slot === NETWORK || slot === BROADCAST || this.bySlot.has(slot)) slot = (slot + 1) % RANGE;
      this.byHit.set(key, slot);
      this.bySlot.set(slot, hit.slice());
    }
    return `1.${(slot >> 16) & 0xff}.${(slot >> 8) & 0xff}.${slot & 0xff}`;
  }

  /** The HIT an LSI stands for, if it is allocated (for mapping IPv4 traffic to a peer). */
  hitFor(lsi: string): Uint8Array | null {
    const m = /^1\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(lsi);
    if (!m) return null;
    const [b, c, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (b > 255 || c > 255 || d > 255) return null;
    return this.bySlot.get((b << 16) | (c << 8) | d)?.slice() ?? null;
  }

  /** Frees the peer's LSI for reuse. */
  release(hit: Uint8Array): void {
    const key = hitKey(hit);
    const slot = this.byHit.get(key);
    if (slot === undefined) return;
    this.byHit.delete(key);
    this.bySlot.delete(slot);
  }

  get size(): number {
    return this.byHit.size;
  }
}
