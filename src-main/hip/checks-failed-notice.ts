// What a CONNECTIVITY_CHECKS_FAILED NOTIFY (RFC 9028 §5.10) names, so that it speaks of one offer.
// A NOTIFY carries no SEQ and its signature stays valid for as long as the keys do: without a
// binding, a notice recorded where it crosses the relay could be sent again after a new offer and
// stop the checks of candidates nobody has judged. The data names the association (the sender's
// inbound SPI, which the receiver sends to) and the offer (the SEQ of the receiver's LOCATOR_SET
// announcement the sender judged); the receiver acts only on its latest offer, and only once.
// Pure: encoding and decoding only.

/** The SEQ a notice names when the sender judged only the listing of the base exchange (no UPDATE yet). */
export const BASE_EXCHANGE_OFFER = 0xffff_ffff;

export interface ChecksFailedNotice {
  /** The sender's inbound SPI: one of the receiver's outbound SPIs for the association. */
  spi: number;
  /** Update ID of the receiver's LOCATOR_SET the sender judged, or BASE_EXCHANGE_OFFER. */
  offerSeq: number;
}

const NOTICE_LENGTH = 8;

export function encodeChecksFailedNotice(n: ChecksFailedNotice): Uint8Array {
  const out = new Uint8Array(NOTICE_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint32(0, n.spi >>> 0);
  view.setUint32(4, n.offerSeq >>> 0);
  return out;
}

/** Undefined when the data is not a notice of this form. */
export function decodeChecksFailedNotice(data: Uint8Array): ChecksFailedNotice | undefined {
  if (data.length !== NOTICE_LENGTH) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { spi: view.getUint32(0), offerSeq: view.getUint32(4) };
}
