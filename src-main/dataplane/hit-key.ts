// A HIT as a map key: the JS core and the fast path hand out distinct arrays for one peer.

export function hitKeyText(hit: Uint8Array): string {
  let s = '';
  for (let i = 0; i < hit.length; i++) s += hit[i]!.toString(16).padStart(2, '0');
  return s;
}
