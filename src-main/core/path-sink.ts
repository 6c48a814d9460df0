// What the path manager (path-manager.ts) needs from the engine, and the handovers it reports.

import type { Endpoint } from '../hip/host.js';
import type { LocalLossCause } from '../mobility/local-loss.js';
import type { SelectionCause } from '../mobility/pair-selection.js';
import type { PathView } from './path-views.js';

/** Why a peer's data path moved; the daemon maps it onto the `HandoverCause` users are shown (src-shared/vocabulary.ts). */
export type PathMoveCause = SelectionCause | 'peer-moved';

export interface Handover {
  peer: string;
  cause: PathMoveCause;
  from: PathView | null;
  to: PathView;
  gapMs: number;
  /** Why HIP moved on its own ('peer-moved'): the peer's preferred locator, its new source... */
  hipCause?: string;
  /**
   * What the interface monitor said of the local address the traffic left, when that report is
   * what moved it: at once ('pair-deleted'), or once a new pair appeared ('pair-added').
   */
  localCause?: LocalLossCause;
}

/** What the path manager needs from the engine. */
export interface PathSink {
  probePair(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[]): void;
  /** Tell HIP the pair changed (its control packets follow); false when HIP refused it. */
  setActivePair(peerHit: Uint8Array, local: Endpoint, remote: Endpoint): boolean;
  /** Move the peer's outbound ESP (the same SA) to this pair, for `cause`. */
  setDataPath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, cause: PathMoveCause): void;
  /**
   * For `forMs`, send a copy of every ESP packet to the peer on this pair too (the same SA and
   * sequence number: the peer's anti-replay window drops the later copy). 0 stops the copies.
   */
  setSparePath(peerHit: Uint8Array, local: Endpoint, remote: Endpoint, forMs: number): void;
  handover(h: Handover): void;
  /**
   * The peer's pair is in doubt (on: no primary, or a search for one, e.g. data silence was
   * noticed): the data plane keeps copies of the ESP it sends the peer and re-sends them at once
   * on the pair `setDataPath` moves it to. Off (the pair proved itself) discards the copies.
   */
  holdForPeer(peerHit: Uint8Array, on: boolean): void;
  /**
   * Every pair failed for `abandonAfterMs` while we had pairs to try: the peer likely restarted
   * and forgot our SAs. True when the association was given up (the peer is forgotten here);
   * false keeps trying (nobody could build a new one: we do not know where the peer is).
   */
  unreachable(peerHit: Uint8Array): boolean;
  /** Whether this address of the peer's is one of our relays, which the peer is reached through. */
  relayedTo(peerHit: Uint8Array, remote: Endpoint): boolean;
  /**
   * Every direct pair's checks failed for this offer, while the relay carries the peer: tell the
   * peer (RFC 9028 CONNECTIVITY_CHECKS_FAILED, through the relay). Whether the notice went out:
   * asked again at later judgements until it does, then not again for this offer.
   */
  checksFailed?(peerHit: Uint8Array): boolean;
  /**
   * The pair in use stopped answering (keepalives, silence) and no other pair works: gather our
   * candidates again and send the peer a new offer (seed 000 §3.3). Repeated, backing off, while
   * it lasts.
   */
  pathLost?(peerHit: Uint8Array): void;
}
