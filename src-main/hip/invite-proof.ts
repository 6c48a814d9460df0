// The proof that an I2 comes from the holder of an invite (hipvpn's own extension, not in any
// RFC): HMAC-SHA-256 keyed with SHA-256(secret) over both HITs, carried in a parameter of the
// private-use range (RFC 7401 §5.2, IANA "HIP Parameter Types": 32768-49151). Its type is even,
// so not critical: a responder that does not know it ignores it (§5.2.1). It sits below
// HIP_MAC and HIP_SIGNATURE, so both cover it; a copy lifted into another host's I2 proves
// nothing, since the HITs it binds are the sender's and the receiver's.

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Param } from './wire/params.js';

export const INVITE_PROOF_TYPE = 40_962;
const LABEL = new TextEncoder().encode('hipvpn invite proof v1');

/** What the inviter keeps of the secret: enough to check a proof, stored instead of the secret itself. */
export function inviteKey(secret: Uint8Array): Uint8Array {
  return sha256(secret);
}

export function inviteProof(key: Uint8Array, initiatorHit: Uint8Array, responderHit: Uint8Array): Uint8Array {
  const msg = new Uint8Array(LABEL.length + 32);
  msg.set(LABEL);
  msg.set(initiatorHit, LABEL.length);
  msg.set(responderHit, LABEL.length + 16);
  return hmac(sha256, key, msg);
}

export function inviteProofParam(proof: Uint8Array): Param {
  return { kind: 'UNKNOWN', type: INVITE_PROOF_TYPE, critical: false, value: proof };
}

/** The proof an I2 carries, if any. */
export function inviteProofIn(params: readonly Param[]): Uint8Array | undefined {
  const p = params.find((x) => x.kind === 'UNKNOWN' && x.type === INVITE_PROOF_TYPE);
  return p?.kind === 'UNKNOWN' && p.value.length === 32 ? p.value : undefined;
}

/** Constant-time equality of two proofs. */
export function sameProof(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The invite hooks a Host uses; the daemon owns the invites themselves. */
export interface InviteHooks {
  /** Initiator: the proof for an I2 to this peer, when we hold an invite from it. */
  proofFor(localHit: Uint8Array, peerHit: Uint8Array): Uint8Array | undefined;
  /** Responder: whether unlisted HITs may get an R1 at all (some invite is pending). */
  pending(): boolean;
  /** Responder: whether this proof matches a pending invite (no state changes). */
  check(localHit: Uint8Array, peerHit: Uint8Array, proof: Uint8Array): boolean;
  /** Responder: the I2 carrying the proof was verified; admit the peer and burn the invite. */
  redeem(localHit: Uint8Array, peerHit: Uint8Array, proof: Uint8Array): void;
}
