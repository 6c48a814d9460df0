// Our inbound SPIs (ours to choose): which peer each serves, and when one retired by a rekey or
// a deprecation is free again (after the overlap its SA keeps taking in-flight packets).

export class InboundSpis {
  private readonly spis = new Map<number, { peer: string; retireAt: number | undefined }>();

  constructor(private readonly randomBytes: (n: number) => Uint8Array) {}

  /** A new SPI: random, unique, outside the reserved 0–255. */
  allocate(): number {
    for (;;) {
      const b = this.randomBytes(4);
      const spi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (spi > 255 && !this.spis.has(spi)) return spi;
    }
  }

  use(spi: number, peer: string): void {
    this.spis.set(spi, { peer, retireAt: undefined });
  }

  /** The SPI stops being the peer's; it is free again at `at`. */
  retire(spi: number, at: number): void {
    const entry = this.spis.get(spi);
    if (entry) entry.retireAt = at;
  }

  /** Frees the SPIs whose retirement is over. */
  expire(now: number): void {
    for (const [spi, e] of this.spis) if (e.retireAt !== undefined && e.retireAt <= now) this.spis.delete(spi);
  }

  dropPeer(peer: string): void {
    for (const [spi, e] of this.spis) if (e.peer === peer) this.spis.delete(spi);
  }

  /** The peer's SPIs in use and not retired, oldest first. */
  activeOf(peer: string): number[] {
    const out: number[] = [];
    for (const [spi, e] of this.spis) if (e.peer === peer && e.retireAt === undefined) out.push(spi);
    return out;
  }
}
