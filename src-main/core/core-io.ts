// What goes into a HostCore besides datagrams and time, and what comes out of it besides HIP
// datagrams: the data plane's reports, the commands the data plane must carry out, and the
// events its owner shows. Plain data, so a real data plane and a simulated one read the same.

import type { Endpoint, SaKeys } from '../hip/host.js';
import type { AssociationState } from '../hip/host.js';
import type { SelectionCause } from '../mobility/pair-selection.js';
import type { Handover } from './path-manager.js';
import type { PlannedFlowRoute } from './flow-routes.js';

/** What the data plane reports; every report but an ICMP error carries the peer it concerns. */
export type DataplaneReport =
  /**
   * An ICMP destination-unreachable for a datagram we sent from `local` to `remote` (the
   * original destination, not the router that answered). Unauthenticated: only a hint.
   */
  | { type: 'icmp-error'; local: Endpoint; remote: Endpoint }
  /** One authenticated ESP packet from the peer, with the pair it arrived on (the in-process data plane, no TUN). */
  | { type: 'esp'; peerHit: Uint8Array; bytes: number; from: Endpoint; to: Endpoint }
  /** Authenticated ESP from the peer, from the source it was last reported with (a data plane that samples). */
  | { type: 'esp-heard'; peerHit: Uint8Array }
  /**
   * Authenticated ESP from the peer arrived on another pair (`from` → our `to`) than its last
   * packet: a data plane that samples reports the inbound pair only when it changes. `bytes`:
   * that datagram's size.
   */
  | { type: 'esp-source'; peerHit: Uint8Array; from: Endpoint; to: Endpoint; bytes: number }
  /** ESP sent to the peer: `packets` since the last report. */
  | { type: 'sent'; peerHit: Uint8Array; packets: number }
  /** The data plane's running counters per peer (cumulative); failure detection reads what changed. */
  | { type: 'stats'; peers: readonly PeerTrafficStats[] }
  /**
   * An outbound SA is worn out (sequence numbers, bytes or age): a rekey of its pair is due.
   * `spi` names it (the base SA's or a further pair's); without it, the base pair.
   */
  | { type: 'rekey-needed'; peerHit: Uint8Array; spi?: number };

export interface PeerTrafficStats {
  peerHit: Uint8Array;
  packetsOut: number;
  packetsIn: number;
  /** How long ago the peer was last heard, when the data plane knows. */
  lastHeardMs: number | null;
}

/** Why the data plane's path for a peer changes. */
export type PathCause =
  | SelectionCause
  | 'peer-moved'
  /** The SAs or the peer's locators changed: the same pair, another outbound SA. */
  | 'sa-changed'
  /** A data plane that followed a new source on its own is told the path HIP keeps. */
  | 'source-refused'
  /** The same pair; the peer's address on it was verified (or stopped being). */
  | 'verification';

export type DataplaneCommand =
  /**
   * A base exchange's SA pair (or its rekey): outbound traffic uses `activeSpi`. Until `remote`
   * is `verified`, the data plane sends there only within the peer's credit (RFC 8046 §5.6).
   */
  | { type: 'install-sa'; peerHit: Uint8Array; sa: SaKeys; local: Endpoint; remote: Endpoint; activeSpi: number; verified: boolean }
  /** A further SA pair (simultaneous multihoming), beside the base one. */
  | { type: 'add-sas'; peerHit: Uint8Array; sa: SaKeys }
  /** An outbound SA of a further pair is gone. */
  | { type: 'remove-outbound'; peerHit: Uint8Array; spi: number }
  /**
   * The base pair's rekey we answered: its new outbound SA `spi` (installed with add-sas beside
   * the old base SA, which kept the traffic) replaces the base SA, and takes its traffic.
   */
  | { type: 'promote-base'; peerHit: Uint8Array; spi: number }
  /** An inbound SA keeps accepting in-flight packets for `afterMs`, then goes. */
  | { type: 'retire-inbound'; spi: number; afterMs: number }
  /** The association is gone: every SA of the peer goes now. */
  | { type: 'drop-sas'; peerHit: Uint8Array }
  /** The peer's outbound ESP leaves from `local` to `remote` on SA `spi`, from now; within credit until `verified`. */
  | { type: 'set-path'; peerHit: Uint8Array; local: Endpoint; remote: Endpoint; spi: number; verified: boolean; cause: PathCause }
  /** For `forMs`, a copy of every ESP packet to the peer goes on this pair too; 0 stops. */
  | { type: 'set-spare'; peerHit: Uint8Array; local: Endpoint; remote: Endpoint; forMs: number }
  /** The peer's pair is in doubt: keep copies of what is sent, re-send them on the next set-path. */
  | { type: 'set-held'; peerHit: Uint8Array; on: boolean }
  /** Per-flow steering (seed 002): the peer's packets matching a route leave on its pair and SA; [] removes them. */
  | { type: 'set-flow-routes'; peerHit: Uint8Array; routes: PlannedFlowRoute[] }
  /**
   * The peer's addresses HIP verified, each with the SA our traffic there takes: a data plane
   * that follows a held peer's ESP on its own sends to one of these as verified, on that SA.
   */
  | { type: 'set-verified-addresses'; peerHit: Uint8Array; addresses: { remote: Endpoint; spi: number }[] };

/** What the core's owner is told; `peer` is the HIT as text. */
export type CoreEvent =
  | { type: 'association'; peer: string; peerHit: Uint8Array; from: AssociationState; to: AssociationState }
  | { type: 'established'; peer: string; peerHit: Uint8Array; local: Endpoint; remote: Endpoint; initiator: boolean; suite: number }
  | { type: 'rekeyed'; peer: string; peerHit: Uint8Array; inboundSpi: number; outboundSpi: number }
  | { type: 'closed'; peer: string; peerHit: Uint8Array; byPeer: boolean }
  | { type: 'failed'; peer: string; peerHit: Uint8Array; reason: string }
  | { type: 'notify'; peer: string; peerHit: Uint8Array; notifyType: number; authenticated: boolean }
  /** A HIP-level ping (`HostCore.probe`) was answered over this pair. */
  | { type: 'probe-answered'; peer: string; peerHit: Uint8Array; local: Endpoint; remote: Endpoint }
  | { type: 'probe-lost'; peer: string; peerHit: Uint8Array; reason: string }
  /** A peer's traffic moved to another locator pair; `cause` and `localCause` say why. */
  | ({ type: 'handover' } & Handover)
  /**
   * Every pair of the peer failed for the policy's `abandonAfterMs`: it likely restarted and
   * forgot our SAs. The owner may `abandon` it and connect afresh if it knows where the peer is.
   */
  | { type: 'unreachable'; peer: string; peerHit: Uint8Array }
  /** A relay answered our registration: whether peers can reach us through it now. */
  | { type: 'relay-registration'; relay: string; registered: boolean }
  /** A new offer (our LOCATOR_SET as gathered again) went to the peer through this relay (its HIT): its path was lost. */
  | { type: 'offer'; peer: string; peerHit: Uint8Array; relay: string };
