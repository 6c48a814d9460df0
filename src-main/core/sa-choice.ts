// Which SA pair a locator pair uses in simultaneous multihoming (RFC 8047 §4.1/§4.3): each
// host keys a further SA pair per interface of its own and lists each of its locators with the
// SPI it wants used towards it. So towards a peer locator listed with an SPI of its own, that SA;
// towards one listed with the base SPI, the SA pair we created for the interface we send from;
// otherwise the base pair. Inbound mirrors this from the peer's side. Pure: fed the
// association's snapshot.

import type { AssociationSnapshot } from '../hip/association.js';
import type { Endpoint } from '../../src-shared/vocabulary.js';

export interface PairSpis { spiIn: number | undefined; spiOut: number | undefined }

type SaView = Pick<AssociationSnapshot, 'inboundSpi' | 'outboundSpi' | 'saPairs' | 'peerLocators'>;

/** The SPIs of the SA pair serving our `localIfname` → the peer's `remote` address. */
export function pairSpis(a: SaView, localIfname: string | null | undefined, remote: Endpoint): PairSpis {
  const listed = a.peerLocators.filter((l) => l.address === remote.address);
  const peerSpi = (listed.find((l) => l.port === remote.port) ?? listed[0])?.spi;
  // The peer's own further pair for the interface its locator sits on.
  const peers = peerSpi !== undefined && peerSpi !== a.outboundSpi ? a.saPairs.find((s) => s.outboundSpi === peerSpi) : undefined;
  const ours = localIfname ? a.saPairs.find((s) => s.createdBy === 'us' && s.ifname === localIfname) : undefined;
  return {
    spiOut: peers?.outboundSpi ?? ours?.outboundSpi ?? a.outboundSpi,
    spiIn: ours?.inboundSpi ?? peers?.inboundSpi ?? a.inboundSpi,
  };
}
