// One of our locators as the path manager (path-manager.ts) and the engine use it, and whether
// it can reach a given peer address.

import { toAddr16 } from '../base/addr16.js';
import type { InterfaceKind } from '../../src-shared/vocabulary.js';

/** One of our locators as the engine uses it: where its socket is, and what the monitor says. */
export interface EngineLocator {
  address: string;
  port: number;
  ifname: string;
  kind: InterfaceKind;
  /** Packets may leave from it now (interface up, a route out). */
  operational: boolean;
  /** 0 is the most preferred. */
  preferenceRank: number;
  /** A default route leaves through its interface: it reaches beyond its own subnet. */
  defaultRoute: boolean;
  prefixLength: number;
  /** Its uplink is metered (pair-order.ts: a primary there only as failover). Absent = no. */
  metered?: boolean;
}

/**
 * Whether packets from `l` can reach `remote`: through a default route, or on its own subnet.
 * An address whose default route is not installed yet (DHCP sets the address first, the route
 * a moment later) must not carry a probe or an UPDATE that could only fail (ENETUNREACH) and
 * then wait a whole retransmission timeout.
 */
export function reaches(l: Pick<EngineLocator, 'address' | 'defaultRoute' | 'prefixLength'>, remote: string): boolean {
  if (l.defaultRoute) return true;
  const a = toAddr16(l.address);
  const b = toAddr16(remote);
  if (a === null || b === null) return false;
  const v4 = (x: Uint8Array): boolean => x[10] === 0xff && x[11] === 0xff && x.subarray(0, 10).every((o) => o === 0);
  if (v4(a) !== v4(b)) return false;
  const bits = (v4(a) ? 96 : 0) + l.prefixLength;
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i & 7);
    if ((a[i >> 3]! & mask) !== (b[i >> 3]! & mask)) return false;
  }
  return true;
}
