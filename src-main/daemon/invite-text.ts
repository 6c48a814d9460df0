// The text of an invite: what one host hands another (by chat, mail or a QR code) so that a
// single paste makes them peers. `hipvpn-invite:` then base64url of
//   version (1) | inviter HIT (16) | secret (16) | expiry, Unix seconds (4, big-endian)
//   | name length (1) | name (UTF-8) | locator count (1) | per locator: family 4|6 (1), address
//   (4|16), port (2) | relay flag (1) [| relay HIT (16) | relay locator as above]
// Short enough for a QR code and a chat line; the secret is what makes it worth more than the HIT.

import { hitToText, textToHit } from '../hip/wire/address.js';
import { parsePeerName } from './peer-input.js';
import type { Endpoint } from '../../src-shared/control-api.js';
import { isIP } from 'node:net';

export const INVITE_PREFIX = 'hipvpn-invite:';
const VERSION = 1;
export const INVITE_SECRET_LENGTH = 16;
const MAX_LOCATORS = 8;

export interface Invite {
  /** The inviter's HIT, as text. */
  hit: string;
  /** The name the invitee lists the inviter under. */
  name: string;
  locators: Endpoint[];
  /** The relay the inviter is registered with: how to reach it when no locator works. */
  relay?: InviteRelay;
  secret: Uint8Array;
  /** Unix seconds after which the inviter refuses it. */
  expiresAt: number;
}

export interface InviteRelay { hit: string; address: string; port: number }

export type InviteParse = { ok: true; value: Invite } | { ok: false; error: string };

function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return Uint8Array.from(address.split('.').map(Number));
  const hit = textToHit(address);
  if (hit === null) throw new Error(`not an IP address: ${address}`);
  return hit;
}

function ipText(b: Uint8Array): string {
  return b.length === 4 ? [...b].join('.') : hitToText(b);
}

export function encodeInvite(inv: Invite): string {
  const hit = textToHit(inv.hit);
  if (hit === null) throw new Error(`not a HIT: ${inv.hit}`);
  if (inv.secret.length !== INVITE_SECRET_LENGTH) throw new Error(`the secret must be ${INVITE_SECRET_LENGTH} octets`);
  const name = new TextEncoder().encode(inv.name);
  const out: number[] = [VERSION, ...hit, ...inv.secret];
  out.push((inv.expiresAt >>> 24) & 0xff, (inv.expiresAt >>> 16) & 0xff, (inv.expiresAt >>> 8) & 0xff, inv.expiresAt & 0xff);
  out.push(name.length, ...name);
  const locator = (l: Endpoint): void => {
    const a = ipBytes(l.address);
    out.push(a.length === 4 ? 4 : 6, ...a, (l.port >> 8) & 0xff, l.port & 0xff);
  };
  const locators = inv.locators.slice(0, MAX_LOCATORS);
  out.push(locators.length);
  locators.forEach(locator);
  out.push(inv.relay ? 1 : 0);
  if (inv.relay) {
    const relayHit = textToHit(inv.relay.hit);
    if (relayHit === null) throw new Error(`not a HIT: ${inv.relay.hit}`);
    out.push(...relayHit);
    locator(inv.relay);
  }
  return INVITE_PREFIX + Buffer.from(out).toString('base64url');
}

/** Reads an invite; any flaw gives one sentence saying what is wrong with the text. */
export function decodeInvite(text: string): InviteParse {
  const fail = (why: string): InviteParse => ({ ok: false, error: `not a usable invite: ${why}` });
  const trimmed = text.trim();
  if (!trimmed.startsWith(INVITE_PREFIX)) return fail(`it must start with "${INVITE_PREFIX}"`);
  const body = trimmed.slice(INVITE_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return fail('after the prefix only letters, digits, "-" and "_" may follow (was it cut or wrapped?)');
  const b = Buffer.from(body, 'base64url');
  let o = 0;
  const take = (n: number): Uint8Array | null => (o + n <= b.length ? b.subarray((o += n) - n, o) : null);
  const short = fail('it is cut short (copy the whole line)');
  const version = take(1)?.[0];
  if (version === undefined) return short;
  if (version !== VERSION) return fail(`version ${version}; this hipvpn reads version ${VERSION}`);
  const hit = take(16);
  const secret = take(INVITE_SECRET_LENGTH);
  const expiry = take(4);
  const nameLength = take(1)?.[0];
  if (!hit || !secret || !expiry || nameLength === undefined) return short;
  const nameBytes = take(nameLength);
  if (!nameBytes) return short;
  const name = new TextDecoder('utf-8', { fatal: false }).decode(nameBytes);
  const checkedName = parsePeerName(name);
  if (!checkedName.ok) return fail(`its name: ${checkedName.error}`);
  const hitText = hitToText(hit);
  if (!hitText.startsWith('2001:2')) return fail('it does not hold a HIT (2001:20::/28)');
  const readLocator = (): Endpoint | string => {
    const family = take(1)?.[0];
    if (family !== 4 && family !== 6) return family === undefined ? 'cut short' : `a locator of family ${family}`;
    const a = take(family === 4 ? 4 : 16);
    const p = take(2);
    if (!a || !p) return 'cut short';
    return { address: ipText(a), port: (p[0]! << 8) | p[1]! };
  };
  const count = take(1)?.[0];
  if (count === undefined) return short;
  if (count > MAX_LOCATORS) return fail(`${count} locators (at most ${MAX_LOCATORS})`);
  const locators: Endpoint[] = [];
  for (let i = 0; i < count; i++) {
    const l = readLocator();
    if (typeof l === 'string') return l === 'cut short' ? short : fail(l);
    locators.push(l);
  }
  const relayFlag = take(1)?.[0];
  if (relayFlag === undefined) return short;
  let relay: InviteRelay | undefined;
  if (relayFlag === 1) {
    const relayHit = take(16);
    if (!relayHit) return short;
    if (!hitToText(relayHit).startsWith('2001:2')) return fail('its relay has no HIT (2001:20::/28)');
    const l = readLocator();
    if (typeof l === 'string') return l === 'cut short' ? short : fail(l);
    relay = { hit: hitToText(relayHit), ...l };
  } else if (relayFlag !== 0) return fail('a malformed relay field');
  if (o !== b.length) return fail(`${b.length - o} octets after its end`);
  const expiresAt = ((expiry[0]! << 24) | (expiry[1]! << 16) | (expiry[2]! << 8) | expiry[3]!) >>> 0;
  return { ok: true, value: { hit: hitText, name, locators, ...(relay ? { relay } : {}), secret: Uint8Array.from(secret), expiresAt } };
}
