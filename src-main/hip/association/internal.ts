// Types and helpers the sub-machines of an association share and its host never sees.

import type { Endpoint } from '../../../src-shared/vocabulary.js';
import type { LocatorPair } from './types.js';
import type { AnnouncedEntry } from '../local-locators.js';

export type Sent = 'I1' | 'I2' | 'UPDATE' | 'PROBE' | 'CLOSE';

/** A liveness probe in flight: UPDATE with SEQ + ECHO_REQUEST_SIGNED (RFC 8046 §5.3). */
export interface Probe { nonce: Uint8Array; updateId: number; attempts: number }

export interface Retransmit { what: Sent; bytes: Uint8Array; attempt: number; max: number; deadline: number }

/** A mobility UPDATE of ours awaiting its ACK. */
export interface Outstanding {
  purpose: 'locators' | 'verify' | 'pair-probe' | 'registration';
  bytes: Uint8Array;
  to: Endpoint;
  from: Endpoint | undefined;
  attempt: number;
  /** Re-sends allowed; 0 for pair probes. */
  max: number;
  deadline: number;
  sentAt: number;
  /** The ECHO_REQUEST_SIGNED opaque the answer must return. */
  echo?: Uint8Array;
  /** verify: the peer address being checked; pair-probe: the pair probed. */
  target?: Endpoint;
  pair?: LocatorPair;
  probeId?: number;
}

/** Our LOCATOR_SET UPDATE in flight and what its ACK completes. */
export type Announcing =
  | { updateId: number; kind: 'gratuitous'; listing: AnnouncedEntry[] }
  | { updateId: number; kind: 'new-sa'; listing: AnnouncedEntry[]; ifname: string; newSpi: number; keymatIndex: number }
  | { updateId: number; kind: 'deprecate'; listing: AnnouncedEntry[]; spi: number };

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What an ESP_INFO in an UPDATE asks for (RFC 8047 §6.2). */
export type EspInfoCase = 'gratuitous' | 'rekey' | 'new-sa' | 'new-sa-answer' | 'deprecate';
