// Further SA pairs with the peer (RFC 8047 simultaneous multihoming): what an ESP_INFO asks for
// (§6.2), the pair the peer asks us to key, and the removal of a deprecated pair, the base one
// included (the next pair takes its place).

import type { Endpoint } from '../../../src-shared/vocabulary.js';
import type { EspInfoCase } from './internal.js';
import type { SharedState } from './shared-state.js';
import type { SaPairView } from './types.js';
import { drawEspKeys } from '../../esp/keys.js';

export class ExtraSas {
  constructor(private readonly s: SharedState) {}

  /** RFC 8047 §6.2: the four meanings of OLD SPI / NEW SPI, or undefined for a protocol error. */
  classifyEspInfo(e: { oldSpi: number; newSpi: number }, acked: readonly number[]): EspInfoCase | undefined {
    const known = (spi: number): boolean => spi === this.s.outboundSpi || this.s.extraSas.some((sa) => sa.outboundSpi === spi);
    if (e.oldSpi !== 0 && e.oldSpi === e.newSpi) return known(e.oldSpi) ? 'gratuitous' : undefined;
    if (e.oldSpi === 0) {
      if (e.newSpi === 0 || known(e.newSpi)) return undefined;
      const a = this.s.readdressing.announcing;
      return a?.kind === 'new-sa' && acked.includes(a.updateId) ? 'new-sa-answer' : 'new-sa';
    }
    if (e.newSpi === 0) return known(e.oldSpi) && this.s.extraSas.length > 0 ? 'deprecate' : undefined;
    // Any pair is rekeyed this way, the base one and further ones alike (sa-rekey.ts).
    return known(e.oldSpi) && !known(e.newSpi) ? 'rekey' : undefined;
  }

  /** The peer asks for a new SA pair (ESP_INFO OLD SPI 0): key it and name our inbound SPI. */
  acceptNewSa(espInfo: { keymatIndex: number; newSpi: number }, to: Endpoint): { inboundSpi: number; proposedIndex: number } | undefined {
    const proposedIndex = this.s.nextKeymatIndex;
    let esp: ReturnType<typeof drawEspKeys>;
    try {
      esp = drawEspKeys(this.s.keymat!, Math.max(proposedIndex, espInfo.keymatIndex), this.s.espSuite!, this.s.localHit, this.s.peerHit);
    } catch {
      return undefined;
    }
    this.s.nextKeymatIndex = esp.nextIndex;
    const inboundSpi = this.s.ctx.allocateSpi();
    // RFC 8047 §4.1: the UPDATE's destination is the local address the new SA is meant for.
    const ifname = this.s.ctx.localLocators().find((l) => l.address === to.address)?.ifname;
    this.s.extraSas.push({ inboundSpi, outboundSpi: espInfo.newSpi, ifname, createdBy: 'peer' });
    this.s.ctx.emit({
      type: 'sa-added', peerHit: this.s.peerHit, ifname, createdBy: 'peer', sa: this.s.saKeys(this.s.espSuite!, inboundSpi, espInfo.newSpi, esp),
    });
    return { inboundSpi, proposedIndex };
  }

  /** Removes one SA pair; if it was the base pair, the next takes its place. The last pair stays. */
  removeSaPair(now: number, match: (sa: { inboundSpi: number; outboundSpi: number }) => boolean): void {
    let removed: SaPairView;
    if (match({ inboundSpi: this.s.inboundSpi!, outboundSpi: this.s.outboundSpi! })) {
      const next = this.s.extraSas.shift();
      if (next === undefined) return;
      removed = { inboundSpi: this.s.inboundSpi!, outboundSpi: this.s.outboundSpi!, ifname: this.s.baseIfname, createdBy: 'base' };
      this.s.inboundSpi = next.inboundSpi;
      this.s.outboundSpi = next.outboundSpi;
      this.s.baseIfname = next.ifname;
    } else {
      const at = this.s.extraSas.findIndex(match);
      if (at < 0) return;
      removed = this.s.extraSas.splice(at, 1)[0]!;
    }
    // Peer addresses still listed stay reachable over the remaining SAs; the peer's complete
    // listing, processed next, deprecates those it withdrew.
    this.s.peerLocators?.rebindSpi(removed.outboundSpi, this.s.outboundSpi!);
    this.s.ctx.emit({ type: 'sa-removed', peerHit: this.s.peerHit, inboundSpi: removed.inboundSpi, outboundSpi: removed.outboundSpi, ifname: removed.ifname });
    this.s.emitPeerLocators();
    this.s.paths.reselect(now, 'locator-deprecated');
  }
}
