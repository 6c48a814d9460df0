// Which SA pair a rekey replaces, and the rekeys that wait their turn. RFC 7402 §6.9 rekeys
// with an UPDATE whose ESP_INFO names the sender's inbound SPI being replaced; in simultaneous
// multihoming (RFC 8047) every SA pair has its own sequence space and lifetime, so the same
// UPDATE names a further pair's inbound SPI and replaces that pair alone, keys drawn from
// KEYMAT as for the base pair. Only one SA change runs at a time (two would draw the same
// KEYMAT octets), so a rekey asked for while another change runs waits here: the data plane
// asks once per worn-out SA, and a request dropped would leave that SA to run out.

/** One SA pair by its SPIs: ours to receive on, the peer's to send to. */
export interface SaPairSpis { inboundSpi: number; outboundSpi: number }

/** A rekey in progress (RFC 7402 §6.9): ours, the peer's, or both at once, of one SA pair. */
export interface Rekey {
  role: 'initiator' | 'responder';
  /** The pair being replaced, by its SPIs before the rekey. */
  pair: SaPairSpis;
  localNewSpi: number;
  localIndex: number;
  /** Our UPDATE carrying the new SPI was acknowledged (the responder's ESP_INFO came with its ACK). */
  acked: boolean;
  peerNewSpi?: number;
  peerIndex?: number;
  /** Responder: the SEQ of our answer; its ACK tells us the initiator holds the new SAs. */
  replyId?: number;
}

/**
 * The pair a rekey request means: the one whose outbound SA is `outboundSpi`, the base pair
 * when none is named. Undefined when no pair sends on that SPI (it was replaced or removed).
 */
export function pairToRekey(base: SaPairSpis, further: readonly SaPairSpis[], outboundSpi: number | undefined): SaPairSpis | undefined {
  if (outboundSpi === undefined || outboundSpi === base.outboundSpi) return base;
  return further.find((p) => p.outboundSpi === outboundSpi);
}

/**
 * The pair a peer's rekey UPDATE replaces: its ESP_INFO OLD SPI is the peer's inbound SPI,
 * which is our outbound one of that pair.
 */
export function pairNamedByPeer(base: SaPairSpis, further: readonly SaPairSpis[], oldSpi: number): SaPairSpis | undefined {
  return oldSpi === base.outboundSpi ? base : further.find((p) => p.outboundSpi === oldSpi);
}

export function samePair(a: SaPairSpis, b: SaPairSpis): boolean {
  return a.inboundSpi === b.inboundSpi && a.outboundSpi === b.outboundSpi;
}

/** 'base' follows the base pair through its own rekeys; a number is a further pair's outbound SPI. */
export type RekeyTarget = 'base' | number;

/** Rekeys asked for while another SA change ran, first asked first started, each once. */
export class WaitingRekeys {
  private readonly targets: RekeyTarget[] = [];

  add(target: RekeyTarget): void {
    if (!this.targets.includes(target)) this.targets.push(target);
  }

  get size(): number {
    return this.targets.length;
  }

  /** The next one, taken off the list. */
  take(): RekeyTarget | undefined {
    return this.targets.shift();
  }

  clear(): void {
    this.targets.length = 0;
  }
}

/**
 * How long at most the responder of a rekey keeps sending on the old outbound SA while it waits
 * for the initiator's ACK of its answer (the sign that the initiator holds the new pair). The
 * ACK normally comes one round trip after the answer; 2 s also covers the answer's first
 * retransmission (1 s, HipTimers.initialRetransmitMs) and the ACK of that. It stays well inside
 * the initiator's overlap for its old inbound SA (5 s, HostCoreConfig.rekeyOverlapMs), which the
 * initiator starts when it installs the new pair: what the old SA carries until the switch is
 * still opened there. Past the bound the traffic moves anyway: the initiator asked for the
 * rekey, so once the answer reached it, it holds the new SAs.
 */
export const REKEY_CONFIRM_MAX_MS = 2_000;

/** Our answer to the peer's rekey, waiting for the ACK that tells us the peer holds the new pair. */
export interface UnconfirmedAnswer {
  /** The SEQ of our answer. */
  replyId: number;
  /** Our new outbound SA of the pair: it takes the traffic once confirmed. */
  outboundSpi: number;
  /** When it counts as confirmed without the ACK (REKEY_CONFIRM_MAX_MS after the answer). */
  deadline: number;
}
