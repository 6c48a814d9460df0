// Byte strings compared and joined: one definition for every layer.

/**
 * Whether two byte strings are equal. Every octet is read whatever the first difference, so a
 * comparison of a MAC, an echo nonce or a puzzle answer does not tell an attacker, through its
 * timing, how much of a forgery was right.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The byte strings one after another, in a new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
