// Per peer, the outbound SAs the data plane holds and the one its traffic is sealed with: the
// base SA (the base exchange's, or its rekey), further SAs of simultaneous multihoming, and the
// pair the traffic leaves on. The SPI for a pair is sa-choice.ts's answer when that SA is
// installed, the base SA's otherwise.

import type { AssociationSnapshot, Endpoint } from '../hip/host.js';
import { pairSpis } from './sa-choice.js';

export interface OutboundState {
  baseSpi: number;
  /** The ESP transform of the base SA (RFC 7402 suite ID). */
  suite: number;
  extra: Set<number>;
  /**
   * An SA rekeyed before the peer confirmed it holds the successor: the successor's SPI → the
   * old SA's, which keeps carrying that pair's traffic until then. For the base pair the old SA
   * is `baseSpi` and the successor waits in `extra` until promoted.
   */
  standIn: Map<number, number>;
  activeSpi: number;
  local: Endpoint;
  remote: Endpoint;
  /** Whether HIP has verified `remote`: the data plane was told with the path. */
  verified: boolean;
}

export class OutboundSas {
  private readonly peers = new Map<string, OutboundState>();

  get(peer: string): OutboundState | undefined {
    return this.peers.get(peer);
  }

  /**
   * A base SA (or its rekey) on this pair. A rekey replaces the base SA; further SAs stay, and
   * so does one of them in use. Returns the SPI the traffic takes.
   */
  install(peer: string, spi: number, suite: number, local: Endpoint, remote: Endpoint, verified: boolean): number {
    const prev = this.peers.get(peer);
    const keepActive = prev !== undefined && prev.extra.has(prev.activeSpi);
    const activeSpi = keepActive ? prev.activeSpi : spi;
    this.peers.set(peer, { baseSpi: spi, suite, extra: prev?.extra ?? new Set(), standIn: prev?.standIn ?? new Map<number, number>(), activeSpi, local: { ...local }, remote: { ...remote }, verified });
    return activeSpi;
  }

  drop(peer: string): void {
    this.peers.delete(peer);
  }

  /**
   * The SA to send on from `local` towards `remote`: in simultaneous multihoming the one of
   * that pair, when installed; the base SA otherwise.
   */
  spiFor(out: OutboundState, a: AssociationSnapshot | undefined, ifname: string | undefined, remote: Endpoint): number {
    if (a?.multihoming !== 'simultaneous') return out.baseSpi;
    const installed = (spi: number | undefined): spi is number => spi !== undefined && (spi === out.baseSpi || out.extra.has(spi));
    const standIn = (s: number | undefined): number | undefined => (s === undefined ? undefined : (out.standIn.get(s) ?? s));
    const spi = standIn(pairSpis(a, ifname, remote).spiOut);
    if (installed(spi)) return spi;
    // The association's base pair (after a deprecation, the pair that took the base's place).
    const base = standIn(a.outboundSpi);
    return installed(base) ? base : out.baseSpi;
  }

  /** The successor of the base SA, confirmed: it is the base SA from now (the old one goes). */
  promoteBase(out: OutboundState, successor: number): void {
    out.standIn.delete(successor);
    out.extra.delete(successor);
    out.baseSpi = successor;
  }
}
