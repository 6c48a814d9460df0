// Which flow one of our sealed ESP datagrams was sent as, for the few that come back unsent
// (stranded: the interface went down under them). The datagram is opened with a copy of the
// outbound SA's keys and its inner packet classified by the data plane's own route matcher,
// so a flow that moves takes its own datagrams and no other flow's. Costly per datagram (one
// decryption), which is why it runs only on datagrams that failed to leave.

import { EspInboundSa } from '../esp/index.js';
import type { FlowRoute, SaSpec } from './core-contract.js';
import { matchRoute } from './flow-match.js';

/** Base SAs kept per peer: the one in use and the one a rekey just replaced (its datagrams may still strand). */
const BASE_SAS_KEPT = 2;

export class SealedFlows {
  /** Our outbound SAs' key material, by SPI, with the peer's key. */
  private readonly sas = new Map<number, SaSpec & { peer: string }>();
  /** Per peer, its base SAs' SPIs, newest last. */
  private readonly bases = new Map<string, number[]>();

  add(peer: string, sa: SaSpec, base: boolean): void {
    this.sas.set(sa.spi, { ...sa, peer });
    if (!base) return;
    const list = [...(this.bases.get(peer) ?? []).filter((spi) => spi !== sa.spi), sa.spi];
    while (list.length > BASE_SAS_KEPT) this.sas.delete(list.shift()!);
    this.bases.set(peer, list);
  }

  remove(spi: number): void {
    this.sas.delete(spi);
  }

  forget(peer: string): void {
    for (const [spi, sa] of this.sas) if (sa.peer === peer) this.sas.delete(spi);
    this.bases.delete(peer);
  }

  /**
   * The FID of the first of `routes` the datagram's inner packet matches (as it left: outbound),
   * null when it matches none; undefined when it cannot be opened (an SA we hold no keys of).
   */
  fidOf(datagram: Uint8Array, routes: readonly FlowRoute[]): number | null | undefined {
    if (datagram.length < 8) return undefined;
    const spi = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength).getUint32(0);
    const sa = this.sas.get(spi);
    if (sa === undefined) return undefined;
    // A fresh window each time: the datagram was never received, only classified.
    const opened = new EspInboundSa({ spi, suite: sa.suite, keys: sa.keys, createdAt: 0 }).open(datagram, 0);
    if (!opened.ok) return undefined;
    return matchRoute(routes, opened.payload, opened.nextHeader, false)?.fid ?? null;
  }
}
