// Which DIFFIE_HELLMAN groups hipvpn speaks, and how their public values look on the wire.
// Only the NIST ECDH groups: MODP groups cost a handshake tens of milliseconds for no benefit
// between two hipvpn hosts, and X25519 has no IANA HIP group ID.

import { DhGroup } from '../wire/constants.js';
import { curveFieldLength, type EcCurveName } from './provider.js';

/** Offered in DH_GROUP_LIST in this order (most preferred first); both are always accepted. */
export const SUPPORTED_DH_GROUPS: readonly number[] = [DhGroup.NIST_P256, DhGroup.NIST_P384];

/** The curve behind an ECDH group ID, or null for groups this code does not implement. */
export function dhGroupCurve(groupId: number): EcCurveName | null {
  switch (groupId) {
    case DhGroup.NIST_P256: return 'P-256';
    case DhGroup.NIST_P384: return 'P-384';
    case DhGroup.NIST_P521: return 'P-521';
    default: return null;
  }
}

/** Octets of a DIFFIE_HELLMAN public value for the group (RFC 5903: x ‖ y), or null if unknown. */
export function dhPublicValueLength(groupId: number): number | null {
  const curve = dhGroupCurve(groupId);
  return curve === null ? null : 2 * curveFieldLength(curve);
}

/** The first group of ours that the peer also lists, in our preference order. */
export function chooseDhGroup(peerGroups: readonly number[], ours: readonly number[] = SUPPORTED_DH_GROUPS): number | null {
  for (const group of ours) if (peerGroups.includes(group)) return group;
  return null;
}
