// What users type about peers, turned into what the engine needs: HIT text into 16 octets that
// carry the ORCHIDv2 prefix, "IP[:PORT]" into a UDP endpoint, and a peer list checked for
// duplicates. Every refusal says what was wrong and what a good value looks like.

import { isIPv4, isIPv6 } from 'node:net';
import { hasOrchidPrefix } from '../hip/identity/hit.js';
import { hitToText, textToHit } from '../hip/wire/address.js';
import { peerName, type Endpoint, type PeerConfig, type RelayConfig } from '../../src-shared/control-api.js';

/** RFC 9028 §5.1: the HIP-over-UDP port. */
export const DEFAULT_PORT = 10500;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseHit(text: string): Parsed<Uint8Array> {
  const bytes = textToHit(text);
  if (bytes === null) return { ok: false, error: `malformed HIT ${JSON.stringify(text)}: expected IPv6 text such as 2001:2x:...; \`hipvpn identity\` prints a host's HIT` };
  if (!hasOrchidPrefix(bytes)) return { ok: false, error: `${text} is not a HIT: HIPv2 HITs start with 2001:2 (ORCHIDv2, 2001:20::/28)` };
  return { ok: true, value: bytes };
}

/** A peer name as `peer add` takes it (control-api's peerName). */
export function parsePeerName(text: string): Parsed<string> {
  if (!peerName.check(text).ok) return { ok: false, error: `bad peer name ${JSON.stringify(text)}: use up to 63 letters, digits, ".", "_" or "-", starting with a letter or digit` };
  return { ok: true, value: text };
}

export type PeerRef = { kind: 'name'; name: string } | { kind: 'hit'; hit: string };

/**
 * What a user types to mean a peer (ping, failover, ...): its name, or its HIT in any IPv6
 * spelling (canonical in the result). Names cannot hold ":", so text with one is a HIT and is
 * held to the HIT rules: `ping 2001:zz::1` is the same malformed HIT as `peer add --hit 2001:zz::1`.
 */
export function parsePeerRef(text: string): Parsed<PeerRef> {
  if (text.includes(':')) {
    const hit = canonicalHit(text);
    return hit.ok ? { ok: true, value: { kind: 'hit', hit: hit.value } } : hit;
  }
  const name = parsePeerName(text);
  return name.ok ? { ok: true, value: { kind: 'name', name: name.value } } : name;
}

/** "192.0.2.1", "192.0.2.1:10500", "2001:db8::1", "[2001:db8::1]:10500". */
export function parseLocator(text: string): Parsed<Endpoint> {
  const bad = (why: string): Parsed<Endpoint> => ({ ok: false, error: `bad locator ${JSON.stringify(text)}: ${why}; expected IP or IP:PORT (IPv6 as [ADDR]:PORT)` });
  let address = text.trim();
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(address);
  if (bracketed) {
    address = bracketed[1]!;
    portText = bracketed[2];
  } else if (!isIPv6(address)) {
    const colon = address.lastIndexOf(':');
    if (colon >= 0) {
      portText = address.slice(colon + 1);
      address = address.slice(0, colon);
    }
  }
  if (!isIPv4(address) && !isIPv6(address)) return bad(`${JSON.stringify(address)} is not an IP address`);
  if (address.includes('%')) return bad('zone IDs are not supported');
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return bad(`port ${JSON.stringify(portText)} is not 1..65535`);
    port = Number(portText);
  }
  return { ok: true, value: { address, port } };
}

/** The HIT in canonical text (RFC 5952), so one peer is never listed under two spellings. */
export function canonicalHit(text: string): Parsed<string> {
  const hit = parseHit(text);
  return hit.ok ? { ok: true, value: hitToText(hit.value) } : hit;
}

/**
 * A peer as stored and served: canonical HIT text, locators whose addresses parse. Used for
 * what arrives over the socket and what is read from peers.json alike.
 */
export function normalizePeer(p: PeerConfig): Parsed<PeerConfig> {
  const hit = canonicalHit(p.hit);
  if (!hit.ok) return { ok: false, error: `peer ${p.name}: ${hit.error}` };
  const locators: Endpoint[] = [];
  for (const l of p.locators) {
    if (!isIPv4(l.address) && !isIPv6(l.address)) return { ok: false, error: `peer ${p.name}: locator address ${JSON.stringify(l.address)} is not an IP address` };
    if (l.port < 1) return { ok: false, error: `peer ${p.name}: locator port must be 1..65535` };
    locators.push({ address: l.address, port: l.port });
  }
  if (p.relay === undefined) return { ok: true, value: { name: p.name, hit: hit.value, locators } };
  const relay = normalizeRelay(p.relay);
  if (!relay.ok) return { ok: false, error: `peer ${p.name}: ${relay.error}` };
  if (relay.value.hit === hit.value) return { ok: false, error: `peer ${p.name}: its relay is the peer itself; give the relay server's HIT` };
  return { ok: true, value: { name: p.name, hit: hit.value, locators, relay: relay.value } };
}

/** A relay as stored and served: canonical HIT, an address the platform parses. */
export function normalizeRelay(r: RelayConfig): Parsed<RelayConfig> {
  const hit = canonicalHit(r.hit);
  if (!hit.ok) return { ok: false, error: `relay ${hit.error}` };
  if (!isIPv4(r.address) && !isIPv6(r.address)) return { ok: false, error: `relay address ${JSON.stringify(r.address)} is not an IP address` };
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return { ok: false, error: `relay port ${r.port} is not 1..65535` };
  return { ok: true, value: { ...(r.name === undefined ? {} : { name: r.name }), hit: hit.value, address: r.address, port: r.port } };
}

/** Adds or replaces `peer` by name; refuses a HIT already listed under another name. */
export function withPeer(peers: readonly PeerConfig[], peer: PeerConfig): Parsed<{ peers: PeerConfig[]; replaced: boolean }> {
  const clash = peers.find((p) => p.hit === peer.hit && p.name !== peer.name);
  if (clash) return { ok: false, error: `HIT ${peer.hit} is already peer ${clash.name}; remove it first with \`hipvpn peer remove ${clash.name}\`` };
  const replaced = peers.some((p) => p.name === peer.name);
  const next = replaced ? peers.map((p) => (p.name === peer.name ? peer : p)) : [...peers, peer];
  return { ok: true, value: { peers: next, replaced } };
}

/** A peer by name, or by HIT in any spelling. */
export function findPeer(peers: readonly PeerConfig[], nameOrHit: string): PeerConfig | undefined {
  const ref = parsePeerRef(nameOrHit);
  if (!ref.ok) return undefined;
  const wanted = ref.value;
  return wanted.kind === 'name' ? peers.find((p) => p.name === wanted.name) : peers.find((p) => p.hit === wanted.hit);
}
