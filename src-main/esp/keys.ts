// ESP keys from KEYMAT (RFC 7402 §7). Drawing starts at ESP_INFO's KEYMAT index (right after the
// HIP keys in the base exchange; a new index on UPDATE rekeying) and takes, in order:
//   SA-gl encryption, SA-gl authentication, SA-lg encryption, SA-lg authentication,
// where SA-gl carries traffic from the host with the greater HIT (unsigned 128-bit compare) to
// the lesser one. For AES-GCM the "encryption key" is key ‖ 4-octet salt (RFC 4106 §8.1) and
// there is no authentication key.

import { compareHits } from '../base/hit-order.js';
import { espSuiteInfo } from './suites.js';

export interface EspKeyMaterial {
  encKey: Uint8Array;
  /** HMAC key; empty for AEAD suites. */
  authKey: Uint8Array;
  /** GCM nonce salt; empty for CBC suites. */
  salt: Uint8Array;
}

export interface KeymatSource {
  bytes(offset: number, length: number): Uint8Array;
}

export interface DrawnEspKeys {
  /** Keys of the SA we send on. */
  outbound: EspKeyMaterial;
  /** Keys of the SA we receive on. */
  inbound: EspKeyMaterial;
  /** First KEYMAT octet after these keys: the next rekey's ESP_INFO index if KEYMAT is reused. */
  nextIndex: number;
}

/** KEYMAT octets one direction of a suite consumes. Undefined for an unknown suite. */
export function espKeymatLength(suite: number): number | undefined {
  const info = espSuiteInfo(suite);
  return info && info.encKeyLength + info.saltLength + info.authKeyLength;
}

/**
 * Throws RangeError for a suite we do not implement, or when KEYMAT cannot supply the octets
 * (the caller must then rekey with a fresh Diffie-Hellman exchange).
 */
export function drawEspKeys(
  keymat: KeymatSource,
  keymatIndex: number,
  suite: number,
  localHit: Uint8Array,
  peerHit: Uint8Array,
): DrawnEspKeys {
  const info = espSuiteInfo(suite);
  if (!info) throw new RangeError(`unsupported ESP suite ${suite}`);
  let offset = keymatIndex;
  const draw = (n: number): Uint8Array => {
    const b = n === 0 ? new Uint8Array(0) : keymat.bytes(offset, n);
    offset += n;
    return b;
  };
  const one = (): EspKeyMaterial => {
    const encAndSalt = draw(info.encKeyLength + info.saltLength);
    const authKey = draw(info.authKeyLength);
    return {
      encKey: encAndSalt.slice(0, info.encKeyLength),
      salt: encAndSalt.slice(info.encKeyLength),
      authKey,
    };
  };
  const gl = one();
  const lg = one();
  const weAreGreater = compareHits(localHit, peerHit) > 0;
  return {
    outbound: weAreGreater ? gl : lg,
    inbound: weAreGreater ? lg : gl,
    nextIndex: offset,
  };
}
