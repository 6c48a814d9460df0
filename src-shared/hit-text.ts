// A HIT as a person scans it: the first two groups (the ORCHID prefix and its first bits) and
// the last group, which is where two HITs of one deployment differ to the eye. The full text
// stays a hover and a copy away.

export function shortHit(hit: string): string {
  const groups = hit.split(':');
  if (groups.length < 4 || groups.some((g) => g === '')) return hit;
  return `${groups[0]}:${groups[1]}:…:${groups[groups.length - 1]}`;
}
