// The R1 puzzle (RFC 7401 §4.1.2): find #J such that the lowest-order K bits of
// RHASH(#I ‖ HIT-I ‖ HIT-R ‖ #J) are zero. #I and #J are RHASH-length.
// (The cutehip capture orders the hash input differently; that is the codec's deviation to report,
// not something this module accommodates.)

import { hashLength, type CryptoProvider, type HashName } from './provider.js';

/** Whether the last `k` bits (the least significant end of the digest) are all zero. */
function lowBitsZero(digest: Uint8Array, k: number): boolean {
  const fullBytes = k >> 3;
  const rest = k & 7;
  const end = digest.length;
  for (let i = end - fullBytes; i < end; i++) if (digest[i] !== 0) return false;
  if (rest === 0) return true;
  return (digest[end - fullBytes - 1]! & ((1 << rest) - 1)) === 0;
}

function puzzleInput(i: Uint8Array, hitI: Uint8Array, hitR: Uint8Array, jLength: number): Uint8Array {
  const buf = new Uint8Array(i.length + hitI.length + hitR.length + jLength);
  buf.set(i, 0);
  buf.set(hitI, i.length);
  buf.set(hitR, i.length + hitI.length);
  return buf;
}

/** Treats the J region of `buf` as a big-endian counter. */
function increment(buf: Uint8Array, from: number): void {
  for (let p = buf.length - 1; p >= from; p--) {
    buf[p] = (buf[p]! + 1) & 0xff;
    if (buf[p] !== 0) return;
  }
}

export interface SolveOptions {
  /** Give up after this many hashes (default: 2^(K+6), at least 4096, at most 2^32). */
  maxAttempts?: number;
  /** Source of the random starting #J (default: the provider's CSPRNG). */
  random?: (length: number) => Uint8Array;
}

/** #J, or null when `k` is out of range, the inputs have the wrong size, or attempts run out. */
export function solvePuzzle(
  provider: CryptoProvider, rhash: HashName, i: Uint8Array, hitI: Uint8Array, hitR: Uint8Array, k: number,
  opts: SolveOptions = {},
): Uint8Array | null {
  const hLen = hashLength(rhash);
  if (!Number.isInteger(k) || k < 0 || k > 8 * hLen || i.length !== hLen || hitI.length !== 16 || hitR.length !== 16) return null;
  const maxAttempts = opts.maxAttempts ?? Math.min(2 ** 32, Math.max(4096, 2 ** (k + 6)));
  const buf = puzzleInput(i, hitI, hitR, hLen);
  const jStart = buf.length - hLen;
  buf.set((opts.random ?? ((n: number) => provider.randomBytes(n)))(hLen).subarray(0, hLen), jStart);
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (lowBitsZero(provider.hash(rhash, buf), k)) return buf.slice(jStart);
    increment(buf, jStart);
  }
  return null;
}

/** Never throws: wrong sizes or a K beyond the digest simply do not verify. */
export function verifySolution(
  provider: CryptoProvider, rhash: HashName, i: Uint8Array, hitI: Uint8Array, hitR: Uint8Array, j: Uint8Array, k: number,
): boolean {
  const hLen = hashLength(rhash);
  if (!Number.isInteger(k) || k < 0 || k > 8 * hLen) return false;
  if (i.length !== hLen || j.length !== hLen || hitI.length !== 16 || hitR.length !== 16) return false;
  const buf = puzzleInput(i, hitI, hitR, hLen);
  buf.set(j, buf.length - hLen);
  return lowBitsZero(provider.hash(rhash, buf), k);
}
