// A locator as a person types it, "IP[:PORT]" (IPv6 with a port as "[ADDR]:PORT"), checked
// without node:net so the renderer and the CLI share it.

import type { Endpoint } from './control-api.js';
import { parseIPv4, parseIPv6 } from './ip-text.js';

/** RFC 9028 §5.1: the HIP-over-UDP port, as the CLI assumes too. */
export const DEFAULT_HIP_PORT = 10500;

/** "192.0.2.1", "192.0.2.1:10500", "2001:db8::1", "[2001:db8::1]:10500". */
export function parseLocatorText(text: string): { ok: true; value: Endpoint } | { ok: false; error: string } {
  const t = text.trim();
  const bad = (why: string) => ({ ok: false as const, error: `"${t}": ${why} (expected IP or IP:PORT, IPv6 as [ADDR]:PORT)` });
  let address = t;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (bracketed) {
    address = bracketed[1]!;
    portText = bracketed[2];
  } else if (!parseIPv6(t) && t.includes(':')) {
    const colon = t.lastIndexOf(':');
    address = t.slice(0, colon);
    portText = t.slice(colon + 1);
  }
  if (!parseIPv4(address) && !parseIPv6(address)) return bad('not an IP address');
  let port = DEFAULT_HIP_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return bad(`port "${portText}" is not 1..65535`);
    port = Number(portText);
  }
  return { ok: true, value: { address, port } };
}
