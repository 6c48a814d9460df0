// KEYMAT (RFC 7401 §6.5): HKDF (RFC 5869) with RHASH, IKM = Kij (the DH shared secret),
// salt = #I ‖ #J, info = sort(HIT-I ‖ HIT-R) with the numerically smaller HIT first.
// Keys are drawn in sequence from index 0; ESP keys continue where the HIP keys stopped
// (or from ESP_INFO's KEYMAT index on rekeying).

import { concatBytes } from '../../base/bytes.js';
import { compareHits } from '../../base/hit-order.js';
import { HipCipher } from '../wire/constants.js';
import { hashLength, type CryptoProvider, type HashName } from './provider.js';

/** The KEYMAT of one association; blocks are computed only when a draw reaches them. */
export class Keymat {
  /** HKDF can expand to at most 255 blocks; a draw past this is refused. */
  readonly limit: number;
  private readonly prk: Uint8Array;
  private readonly info: Uint8Array;
  private readonly blocks: Uint8Array[] = [];

  constructor(
    private readonly provider: CryptoProvider,
    private readonly rhash: HashName,
    kij: Uint8Array,
    hitI: Uint8Array,
    hitR: Uint8Array,
    i: Uint8Array,
    j: Uint8Array,
  ) {
    this.limit = 255 * hashLength(rhash);
    this.prk = provider.hmac(rhash, concatBytes([i, j]), kij); // HKDF-Extract(salt = I ‖ J, IKM = Kij)
    this.info = compareHits(hitI, hitR) <= 0 ? concatBytes([hitI, hitR]) : concatBytes([hitR, hitI]);
  }

  /** `length` octets of KEYMAT starting at `offset`. Throws RangeError past `limit`. */
  bytes(offset: number, length: number): Uint8Array {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.limit) {
      throw new RangeError(`KEYMAT draw [${offset}, ${offset + length}) outside [0, ${this.limit})`);
    }
    const hLen = hashLength(this.rhash);
    const needBlocks = Math.ceil((offset + length) / hLen);
    while (this.blocks.length < needBlocks) {
      const n = this.blocks.length + 1; // T(n) = HMAC(PRK, T(n-1) ‖ info ‖ n)
      const previous = this.blocks[n - 2] ?? new Uint8Array(0);
      this.blocks.push(this.provider.hmac(this.rhash, this.prk, concatBytes([previous, this.info, Uint8Array.of(n)])));
    }
    const out = new Uint8Array(length);
    for (let k = 0; k < length; k++) {
      const pos = offset + k;
      out[k] = this.blocks[Math.floor(pos / hLen)]![pos % hLen]!;
    }
    return out;
  }
}

/** Key length HIP_CIPHER implies for the ENCRYPTED parameter's key (RFC 7401 §5.2.8). */
export function hipCipherKeyLength(hipCipherId: number): number | null {
  switch (hipCipherId) {
    case HipCipher.NULL: return 0;
    case HipCipher.AES_128_CBC: return 16;
    case HipCipher.AES_256_CBC: return 32;
    default: return null;
  }
}

export interface HipKeyPair { enc: Uint8Array; int: Uint8Array }

export interface HipKeys {
  /** Encrypts our ENCRYPTED parameters / decrypts the peer's. */
  outEnc: Uint8Array;
  /** Keys our HIP_MAC / HIP_MAC_2. */
  outInt: Uint8Array;
  inEnc: Uint8Array;
  inInt: Uint8Array;
  /** Keys of the host with the greater HIT (HOST_g) and of the lesser one, as drawn. */
  gl: HipKeyPair;
  lg: HipKeyPair;
  /** First KEYMAT octet not used by the HIP keys: where ESP keys start. */
  nextIndex: number;
}

/**
 * Draws the four HIP keys in RFC 7401 §6.5 order: HIP-gl encryption, HIP-gl integrity,
 * HIP-lg encryption, HIP-lg integrity. gl keys protect what HOST_g sends.
 */
export function drawHipKeys(keymat: Keymat, hipCipherId: number, rhash: HashName, localHit: Uint8Array, peerHit: Uint8Array): HipKeys {
  const encLen = hipCipherKeyLength(hipCipherId);
  if (encLen === null) throw new RangeError(`unknown HIP_CIPHER ${hipCipherId}`);
  const intLen = hashLength(rhash);
  let offset = 0;
  const draw = (n: number): Uint8Array => { const b = keymat.bytes(offset, n); offset += n; return b; };
  const gl = { enc: draw(encLen), int: draw(intLen) };
  const lg = { enc: draw(encLen), int: draw(intLen) };
  const weAreGreater = compareHits(localHit, peerHit) > 0;
  const out = weAreGreater ? gl : lg;
  const inn = weAreGreater ? lg : gl;
  return { outEnc: out.enc, outInt: out.int, inEnc: inn.enc, inInt: inn.int, gl, lg, nextIndex: offset };
}
