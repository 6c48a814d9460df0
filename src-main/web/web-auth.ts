// Who may use the WebSocket of `hipvpn web`: a page this server served (Host and Origin name
// 127.0.0.1 or localhost at our port, which stops DNS rebinding and other sites' pages) holding
// the token (a subprotocol, since a browser's WebSocket cannot set headers). Pure.

import { timingSafeEqual } from 'node:crypto';

/** The subprotocol the server answers with; the token rides in a second one. */
export const WS_PROTOCOL = 'hipvpn.v1';
export const TOKEN_PROTOCOL_PREFIX = 'hipvpn.token.';

/** base64url: valid in a subprotocol token and a URL fragment. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

export function hostAllowed(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).has(host.toLowerCase());
}

export function originAllowed(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return false;
  return origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
}

export function tokenFromProtocols(header: string | undefined): string | null {
  for (const p of (header ?? '').split(',').map((x) => x.trim())) {
    if (p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return null;
}

export function tokenMatches(given: string | null, expected: string): boolean {
  if (given === null || !TOKEN_PATTERN.test(given)) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export type UpgradeVerdict = { ok: true } | { ok: false; status: 400 | 401 | 403; reason: string };

export function checkUpgrade(headers: { host?: string; origin?: string; protocols?: string }, port: number, token: string): UpgradeVerdict {
  if (!hostAllowed(headers.host, port)) return { ok: false, status: 403, reason: 'Host is not this server' };
  if (!originAllowed(headers.origin, port)) return { ok: false, status: 403, reason: 'Origin is not this server' };
  const protocols = (headers.protocols ?? '').split(',').map((x) => x.trim());
  if (!protocols.includes(WS_PROTOCOL)) return { ok: false, status: 400, reason: `subprotocol ${WS_PROTOCOL} required` };
  if (!tokenMatches(tokenFromProtocols(headers.protocols), token)) return { ok: false, status: 401, reason: 'missing or wrong token' };
  return { ok: true };
}
