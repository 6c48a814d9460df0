// A relay as a person types it, `HIT@ADDR[:PORT]` (IPv6 as `HIT@[ADDR]:PORT`), for `serve
// --relay`, `peer add --relay` and the UI's fields alike: one parser, one set of messages, each
// saying what a good value looks like.

import { canonicalHitText, type RelayConfig } from './control-api.js';
import { DEFAULT_HIP_PORT, parseLocatorText } from './locator-text.js';
import { isOrchidV2, parseIPv6 } from './ip-text.js';

export const RELAY_SYNTAX = 'HIT@ADDR[:PORT] (IPv6 as HIT@[ADDR]:PORT)';

export function parseRelayText(text: string): { ok: true; value: RelayConfig } | { ok: false; error: string } {
  const t = text.trim();
  const bad = (why: string) => ({ ok: false as const, error: `bad relay ${JSON.stringify(t)}: ${why}; expected ${RELAY_SYNTAX}, port ${DEFAULT_HIP_PORT} when left out` });
  const at = t.indexOf('@');
  if (at < 0) return bad('no "@" between the relay\'s HIT and its address');
  const hitPart = t.slice(0, at);
  const hit = parseIPv6(hitPart);
  if (hit === null || !isOrchidV2(hit)) return bad(`${JSON.stringify(hitPart)} is not a HIT (2001:2x:…; the relay's \`hipvpn identity --hit\` prints it)`);
  const where = parseLocatorText(t.slice(at + 1));
  if (!where.ok) return bad(`its address ${where.error.replace(/ \(expected .*\)$/, '')}`);
  return { ok: true, value: { hit: canonicalHitText(hitPart), address: where.value.address, port: where.value.port } };
}

/** The text parseRelayText reads back. */
export function relayText(r: { hit: string; address: string; port: number }): string {
  return `${r.hit}@${r.address.includes(':') ? `[${r.address}]` : r.address}:${r.port}`;
}
