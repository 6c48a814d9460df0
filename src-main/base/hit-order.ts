// The order of two HITs as unsigned 128-bit numbers. HIP's KEYMAT (RFC 7401 §6.5), the
// simultaneous-opening rule (§4.4.2) and the direction of ESP keys (RFC 7402 §7) all use it, so it
// sits below both hip/ and esp/.

/** Unsigned big-endian comparison of two HITs (RFC 7401 §6.5). */
export function compareHits(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}
