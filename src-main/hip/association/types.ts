// What an association shows its host: its states, the events it emits, its snapshot, and the
// context (keys, policies, the send and emit sinks) the host gives it.

import type { Endpoint } from '../../../src-shared/vocabulary.js';
import type { EspKeyMaterial } from '../../esp/keys.js';
import type { CreditPolicy } from '../credit.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { AnnouncedFlow, PeerFlowBinding } from '../flow-announcement.js';
import type { HostIdentityPublic, LocalHostIdentity } from '../identity/host-identity.js';
import type { OwnLocator } from '../local-locators.js';
import type { MultihomingMode } from '../locator-plan.js';
import type { Sealer } from '../messages.js';
import type { PeerLocator } from '../peer-locators.js';
import type { RegistrarHooks, RegistrationAnswer } from '../registration.js';
import type { HipTimers, PuzzlePolicy } from '../timers.js';
import type { RegRequest } from '../wire/params.js';

export type AssociationState =
  | 'UNASSOCIATED' | 'I1-SENT' | 'I2-SENT' | 'R2-SENT' | 'ESTABLISHED' | 'CLOSING' | 'CLOSED' | 'E-FAILED';

export interface SaKeys { suite: number; outboundSpi: number; inboundSpi: number; outbound: EspKeyMaterial; inbound: EspKeyMaterial }

export type HostEvent =
  | { type: 'state'; peerHit: Uint8Array; from: AssociationState; to: AssociationState }
  | { type: 'established'; peerHit: Uint8Array; peer: HostIdentityPublic; sa: SaKeys; local: Endpoint; remote: Endpoint; initiator: boolean }
  /**
   * The base SA pair was rekeyed. As the rekey's responder (`confirmed` false) we hold the new
   * pair before the peer does: the old outbound SA keeps sealing until 'sa-rekey-confirmed'.
   */
  | { type: 'rekeyed'; peerHit: Uint8Array; sa: SaKeys; oldInboundSpi: number; oldOutboundSpi: number; confirmed: boolean }
  /**
   * A further SA pair (simultaneous multihoming) was rekeyed: `sa` replaces the pair with these
   * old SPIs. Unless `confirmed`, the peer may not hold the new SAs yet: the old outbound SA
   * keeps sealing until 'sa-rekey-confirmed' names the new one.
   */
  | { type: 'sa-rekeyed'; peerHit: Uint8Array; sa: SaKeys; oldInboundSpi: number; oldOutboundSpi: number; ifname: string | undefined; confirmed: boolean }
  /**
   * The peer acknowledged our answer to its rekey (or REKEY_CONFIRM_MAX_MS passed without the
   * ACK): it holds the new SAs, and `outboundSpi` may carry traffic.
   */
  | { type: 'sa-rekey-confirmed'; peerHit: Uint8Array; outboundSpi: number }
  | { type: 'closed'; peerHit: Uint8Array; byPeer: boolean }
  | { type: 'failed'; peerHit: Uint8Array; reason: string }
  | { type: 'notify'; peerHit: Uint8Array; notifyType: number; data: Uint8Array; authenticated: boolean }
  /** The peer's signed CONNECTIVITY_CHECKS_FAILED (RFC 9028 §5.10): none of its checks toward our candidates worked. */
  | { type: 'peer-checks-failed'; peerHit: Uint8Array }
  /** Our probe's echo came back: `local`/`remote` is the locator pair the answer used. */
  | { type: 'probe-answered'; peerHit: Uint8Array; nonce: Uint8Array; local: Endpoint; remote: Endpoint; retransmissions: number }
  /** Our probe was abandoned: retries exhausted, or a rekey or CLOSE took its place. */
  | { type: 'probe-lost'; peerHit: Uint8Array; nonce: Uint8Array; reason: 'retries-exceeded' | 'superseded' | 'cancelled' }
  /** Everything we know of the peer's locators, after any change; `current` carries our traffic. */
  | { type: 'peer-locators'; peerHit: Uint8Array; locators: PeerLocator[]; current: Endpoint }
  /** The peer's flow bindings (E-LOCATOR) changed: its flows should now reach it where `flows` say. */
  | { type: 'peer-flows'; peerHit: Uint8Array; flows: PeerFlowBinding[] }
  /** Whether the peer holds our current flow bindings changed (snapshot `flowsAcked`). */
  | { type: 'flows-acked'; peerHit: Uint8Array; acked: boolean }
  /** A further SA pair (simultaneous multihoming), keyed from KEYMAT; `ifname` is our interface it serves. */
  | { type: 'sa-added'; peerHit: Uint8Array; sa: SaKeys; ifname: string | undefined; createdBy: 'us' | 'peer' }
  | { type: 'sa-removed'; peerHit: Uint8Array; inboundSpi: number; outboundSpi: number; ifname: string | undefined }
  /** An echo sent to this peer address came back under the association's keys: it may carry data. */
  | { type: 'locator-verified'; peerHit: Uint8Array; locator: Endpoint }
  /**
   * Our traffic to the peer should now go to `to`. Until `verified`, what is sent there is bounded
   * by credit (HipHost.authorizeSend); a 'locator-verified' for `to` lifts that.
   */
  | { type: 'address-changed'; peerHit: Uint8Array; from: Endpoint; to: Endpoint; verified: boolean; cause: AddressChangeCause }
  | { type: 'pair-probe-received'; peerHit: Uint8Array; pair: LocatorPair; probeId: number; report: number[] }
  | { type: 'pair-probe-answered'; peerHit: Uint8Array; pair: LocatorPair; probeId: number; rttMs: number }
  /** A registrar answered our REG_REQUEST (in its R2, or in the UPDATE acknowledging ours). */
  | { type: 'registration'; peerHit: Uint8Array; answer: RegistrationAnswer }
  /** Our registration UPDATE went unanswered through every retransmission. */
  | { type: 'registration-lost'; peerHit: Uint8Array };

/** Why the address our traffic goes to changed. */
export type AddressChangeCause =
  | 'peer-preferred' // the peer's LOCATOR_SET named a new preferred locator (RFC 8047 §6.4)
  | 'locator-deprecated' // the address in use was withdrawn; another was picked
  | 'peer-source-changed' // the peer's packets now come from a new, verified address (seed 000 §3.3)
  | 'verified' // a better address finished verification
  | 'selected'; // the engine chose this pair (pair selection, manual failover)

/** A local and a remote locator: one path between the hosts. */
export interface LocatorPair { local: Endpoint; remote: Endpoint }

/** One SA pair with the peer beyond the base exchange's (simultaneous multihoming). */
export interface SaPairView { inboundSpi: number; outboundSpi: number; ifname: string | undefined; createdBy: 'base' | 'us' | 'peer' }

export interface AssociationSnapshot {
  peerHit: Uint8Array;
  peerHitText: string;
  state: AssociationState;
  initiator: boolean;
  local: Endpoint | undefined;
  remote: Endpoint;
  inboundSpi: number | undefined;
  outboundSpi: number | undefined;
  espSuite: number | undefined;
  hipCipher: number | undefined;
  establishedAt: number | undefined;
  /** Packets re-sent because an answer did not come in time, over the association's life. */
  retransmissions: number;
  rekeys: number;
  multihoming: MultihomingMode;
  /** Every SA pair, the base exchange's (or its rekeyed successor) first. */
  saPairs: SaPairView[];
  peerLocators: PeerLocator[];
  /** The NAT traversal mode the base exchange settled on (RFC 9028 §5.4), if any. */
  natMode: number | undefined;
  /** The peer's flow bindings (E-LOCATOR) from its last fresh, authenticated packet that carried any. */
  peerFlows: PeerFlowBinding[];
  /** The peer acknowledged the packet carrying our current flow bindings. */
  flowsAcked: boolean;
  /** FIDs of our bindings the last announcement had no room for: the peer does not steer their return traffic. */
  flowsLeftOut: number[];
}

/** What an association may use of its host. */
export interface AssociationContext extends Sealer {
  crypto: CryptoProvider;
  identity: LocalHostIdentity;
  timers: HipTimers;
  puzzle: PuzzlePolicy;
  dhGroups: readonly number[];
  hipCiphers: readonly number[];
  espSuites: readonly number[];
  allocateSpi(): number;
  multihoming: MultihomingMode;
  credit: CreditPolicy;
  /** Our locators as last configured, already filtered to those we may announce. */
  localLocators(): readonly OwnLocator[];
  send(bytes: Uint8Array, to: Endpoint, from: Endpoint | undefined): void;
  emit(event: HostEvent): void;
  drop(reason: string): void;
  /** The invite proof for our I2 to this peer, when we hold its invite. */
  inviteProofFor?(peerHit: Uint8Array): Uint8Array | undefined;
  /** We are a registrar: answer REG_REQUESTs in I2 and UPDATE (RFC 8003). */
  registrar?: RegistrarHooks;
  /**
   * NAT traversal modes we run, in preference order (RFC 9028 §5.4 ids), offered in our R1s;
   * an R1 without NAT_TRAVERSAL_MODE (a relay's, seed 000 §5.1.1) gets none in our I2.
   */
  natTraversalModes?: readonly number[];
  /** What to ask of a peer whose R1 offers registration (REG_INFO), if anything: it goes into our I2. */
  registrationRequestFor?(peerHit: Uint8Array): RegRequest | undefined;
  /** Send and read E-LOCATOR (seed 002); false behaves as a host that does not know it. Default true. */
  flowBindings?: boolean;
  /** Our flow bindings for this peer when the association starts (see announceFlows). */
  announcedFlowsFor?(peerHit: Uint8Array): readonly AnnouncedFlow[];
}
