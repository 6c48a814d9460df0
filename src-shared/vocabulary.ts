// The words every layer shares: where a packet goes (Endpoint), who a peer is (Hit), what kind
// of uplink an address lives on (InterfaceKind), one of our own addresses (LocalLocator), and
// why a handover happened as the user is told (HandoverCause). Defined once here, at the
// bottom; the HIP core, pair selection, the engine, the daemon, the control schema and the
// renderer import them. Pure: no Node built-ins, so the renderer can use it too.

import { ipv6Text, parseIPv6 } from './ip-text.js';

/** A transport address: an IP address in text (v4 or v6) and a UDP port. */
export interface Endpoint { address: string; port: number }

/** The same address text and port. Absent endpoints equal nothing, not even each other. */
export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a !== undefined && b !== undefined && a.address === b.address && a.port === b.port;
}

/** One string per endpoint, for maps and sets; equal keys exactly when `sameEndpoint`. */
export function endpointKey(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

/**
 * A Host Identity Tag as a value: its 16 octets and its canonical key, the RFC 5952 text. Maps
 * keyed by peer use `key` everywhere, so a HIT that arrived as bytes and one typed as text in
 * another spelling land on the same entry.
 */
export class Hit {
  private constructor(readonly bytes: Uint8Array, readonly key: string) {}

  static fromBytes(bytes: Uint8Array): Hit {
    if (bytes.length !== 16) throw new RangeError(`a HIT is 16 octets, not ${bytes.length}`);
    return new Hit(bytes.slice(), ipv6Text(bytes));
  }

  /** Any IPv6 text of a HIT (compressed or not, any case); null when it is not IPv6. */
  static parse(text: string): Hit | null {
    const bytes = parseIPv6(text.trim());
    return bytes === null ? null : new Hit(bytes, ipv6Text(bytes));
  }

  equals(other: Hit): boolean {
    return this.key === other.key;
  }

  toString(): string {
    return this.key;
  }
}

/** The canonical key of a HIT given as bytes (the form the wire and the data plane carry). */
export function hitKey(hit: Uint8Array | Hit): string {
  if (hit instanceof Hit) return hit.key;
  if (hit.length !== 16) throw new RangeError(`a HIT is 16 octets, not ${hit.length}`);
  return ipv6Text(hit);
}

/** What kind of uplink an interface is; 'other' when nothing tells (fixed listen addresses). */
export const INTERFACE_KINDS = ['ethernet', 'wifi', 'cellular', 'virtual', 'other'] as const;
export type InterfaceKind = (typeof INTERFACE_KINDS)[number];

/** One of our own addresses and the interface it lives on. */
export interface LocalLocator {
  address: string;
  ifname: string;
  kind: InterfaceKind;
}

/**
 * Why a handover happened, in the words the UI, the tray and status use. Pair selection has its
 * own, finer reasons for moving a path (core/path-manager.ts `PathMoveCause`); the daemon maps
 * those onto these.
 */
export const HANDOVER_CAUSES = ['interface-down', 'address-lost', 'pair-failed', 'peer-moved', 'better-path', 'user', 'policy'] as const;
export type HandoverCause = (typeof HANDOVER_CAUSES)[number];
