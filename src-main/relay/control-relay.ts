// The HIP control relay's decision (RFC 9028 §4.12, after RFC 5770 §4.9), sans-IO: one UDP
// datagram and its source in, at most one datagram to send (or a counted drop) out.
//
// Towards a client: a packet whose receiver HIT holds a live RELAY_UDP_HIP registration goes to
// the client's registered address with RELAY_FROM (the original source address and port) and,
// last, RELAY_HMAC keyed with the relay–client association's key, covering the packet up to
// RELAY_HMAC with the checksum zero and the header length cut to match (as HIP_MAC, RFC 7401
// §5.2.12). The received octets are spliced, never re-encoded, so the sender's signature holds.
// From a client: a packet carrying RELAY_TO and a RELAY_HMAC that verifies with the client's key
// goes to the RELAY_TO address, with that RELAY_HMAC taken off (the peer has no key for it).

import type { CryptoProvider, HashName } from '../hip/crypto/index.js';
import { decodePacket, encodeParam, getParam } from '../hip/wire/codec.js';
import { coveredBytes } from '../hip/wire/covered.js';
import { ParamType, RegistrationType } from '../hip/wire/constants.js';
import { bytes16ToIp, hitToText, ipToBytes16 } from '../hip/wire/address.js';
import type { DecodedPacket, ParamSpan } from '../hip/wire/params.js';
import { endpointKey, type Endpoint, type RegistrationTable } from './registrations.js';
import { fullBucket, refilled, spend, type Bucket } from './token-bucket.js';
import { fixRelayHeader } from './relayed-packet.js';
import { concatBytes, equalBytes } from '../base/bytes.js';

const IPPROTO_UDP = 17;
/** The header length field counts 8-octet units after the first 8, in one octet (RFC 7401 §5.1). */
const MAX_PACKET_LENGTH = (255 + 1) * 8;

export type RelayDropReason =
  | 'malformed' // does not decode, or already carries a relay's RELAY_FROM / RELAY_HMAC
  | 'unknown-receiver' // neither end is a client of this relay
  | 'unregistered' // a client, but not for RELAY_UDP_HIP
  | 'expired' // the registration lapsed
  | 'no-key' // no association key for the client (the association is gone)
  | 'bad-relay-hmac' // a client's packet whose RELAY_HMAC is missing or does not verify
  | 'bad-relay-to' // RELAY_TO names an address the client was not reached from, or no unicast address
  | 'rate-limited'; // the client's token bucket, or the outside source's, is empty

export const RELAY_DROP_REASONS: readonly RelayDropReason[] = [
  'malformed', 'unknown-receiver', 'unregistered', 'expired', 'no-key', 'bad-relay-hmac', 'bad-relay-to', 'rate-limited',
];

export interface RelayKey { hash: HashName; key: Uint8Array }

export interface ControlRelayOptions {
  registrations: RegistrationTable;
  crypto: CryptoProvider;
  /**
   * The integrity key of the relay's HIP association with the client for one direction:
   * 'to-client' keys the RELAY_HMAC the relay adds, 'from-client' the one it checks.
   */
  keyFor(clientHit: string, direction: 'to-client' | 'from-client'): RelayKey | undefined;
  /** The relay's own addresses: RELAY_TO never points back at the relay, at any port. */
  ownAddresses?: readonly string[];
  /**
   * The relay's own sockets: RELAY_TO never points at one. A relay listening on a loopback
   * address serves clients on its own host (tests, local use): loopback RELAY_TO is allowed then.
   */
  ownEndpoints?: readonly Endpoint[];
  /** Per client and direction: burst size and steady packets per second. */
  bucket?: { capacity: number; perSecond: number };
  /** Per outside source address, for packets towards clients; checked before the client's bucket. */
  sourceBucket?: { capacity: number; perSecond: number };
  /** Source addresses whose buckets are kept (least recently seen forgotten first). */
  maxSources?: number;
  /** How long a source relayed to a client stays a permitted RELAY_TO for that client. */
  permitMs?: number;
  /** Permitted RELAY_TO endpoints kept per client (oldest forgotten first). */
  maxPermitsPerClient?: number;
  /**
   * Forward a client's RELAY_TO packet that carries no RELAY_HMAC when it comes from the client's
   * registered address and port, for clients that do not sign what they send through a relay
   * (HIPL forwards such packets). Off by default: a UDP source alone proves little.
   */
  acceptUnsignedFromRegisteredAddress?: boolean;
}

export type RelayDecision =
  | { action: 'forward'; direction: 'to-client' | 'from-client'; client: string; to: Endpoint; datagram: Uint8Array }
  | { action: 'drop'; reason: RelayDropReason; detail: string };

// 20 control packets per second sustained with bursts of 40 covers a base exchange, its
// retransmissions and UPDATE bursts on a handover many times over, and caps what one client can
// make the relay send at a few hundred kbit/s.
const DEFAULT_BUCKET = { capacity: 40, perSecond: 20 };
const DEFAULT_PERMIT_MS = 120_000;
const DEFAULT_MAX_PERMITS = 64;
// Half a client's budget: one outside source alone never empties it.
const DEFAULT_SOURCE_BUCKET = { capacity: 20, perSecond: 10 };
const DEFAULT_MAX_SOURCES = 4096;

function isLoopback(b: Uint8Array): boolean {
  if (b.subarray(0, 15).every((v) => v === 0) && b[15] === 1) return true; // ::1
  return b.subarray(0, 10).every((v) => v === 0) && b[10] === 0xff && b[11] === 0xff && b[12] === 127;
}

function isForwardableUnicast(b: Uint8Array, loopbackAllowed: boolean): boolean {
  if (isLoopback(b)) return loopbackAllowed;
  if (b.every((v) => v === 0)) return false; // ::
  if (b[0] === 0xff) return false; // IPv6 multicast
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return false; // link-local: meaningless off the relay's link
  if (b.subarray(0, 10).every((v) => v === 0) && b[10] === 0xff && b[11] === 0xff) {
    const a = b[12]!;
    if (a === 0 || a >= 224) return false; // this-network, multicast and reserved, broadcast
    if (a === 169 && b[13] === 254) return false;
  }
  return true;
}

export class ControlRelay {
  private readonly buckets = new Map<string, Bucket>();
  private readonly sourceBuckets = new Map<string, Bucket>();
  private readonly permits = new Map<string, Map<string, number>>();
  private readonly own: Set<string>;
  private readonly ownEndpoints: Set<string>;
  private readonly onLoopback: boolean;
  readonly drops: Record<RelayDropReason, number> = Object.fromEntries(RELAY_DROP_REASONS.map((r) => [r, 0])) as Record<RelayDropReason, number>;
  /** Rate-limited drops per client, so status can name the one flooding. */
  readonly rateLimitedByClient = new Map<string, number>();
  forwarded = { toClient: 0, fromClient: 0 };

  constructor(private readonly options: ControlRelayOptions) {
    this.own = new Set((options.ownAddresses ?? []).flatMap((a) => {
      const b = ipToBytes16(a);
      return b ? [bytes16ToIp(b)] : [];
    }));
    this.ownEndpoints = new Set((options.ownEndpoints ?? []).map(endpointKey));
    this.onLoopback = (options.ownEndpoints ?? []).some((e) => {
      const b = ipToBytes16(e.address);
      return b !== null && isLoopback(b);
    });
  }

  /** One datagram received on the relay's HIP port from `from`. Never throws on input. */
  handle(datagram: Uint8Array, from: Endpoint, now: number): RelayDecision {
    const decoded = decodePacket(datagram, { udp: true });
    if (!decoded.ok) return this.drop('malformed', `${decoded.reason}: ${decoded.detail}`);
    const pkt = decoded.packet;
    const receiver = hitToText(pkt.receiverHit);
    const sender = hitToText(pkt.senderHit);
    const regs = this.options.registrations;

    // A client's packet naming RELAY_TO goes where it says, even to another client of this relay.
    const hasRelayTo = pkt.spans.some((s) => s.type === ParamType.RELAY_TO);
    if (hasRelayTo && regs.isKnownClient(sender)) return this.fromClient(pkt, sender, from, now);
    if (regs.isKnownClient(receiver)) return this.toClient(pkt, receiver, from, now);
    if (regs.isKnownClient(sender)) return this.fromClient(pkt, sender, from, now);
    return this.drop('unknown-receiver', `neither ${receiver} nor ${sender} is registered here`);
  }

  private drop(reason: RelayDropReason, detail: string): RelayDecision {
    this.drops[reason]++;
    return { action: 'drop', reason, detail };
  }

  private liveRelayRegistration(client: string, now: number): RelayDecision | Endpoint {
    const found = this.options.registrations.lookup(client, RegistrationType.RELAY_UDP_HIP, now);
    if (found.status === 'unregistered') return this.drop('unregistered', `${client} holds no RELAY_UDP_HIP registration`);
    if (found.status === 'expired') return this.drop('expired', `${client}'s RELAY_UDP_HIP registration lapsed`);
    return found.registration.reflexive;
  }

  private take(client: string, direction: string, now: number): boolean {
    const key = `${client}|${direction}`;
    const b = this.buckets.get(key) ?? fullBucket(this.options.bucket ?? DEFAULT_BUCKET, now);
    this.buckets.set(key, b);
    if (!spend(b, this.options.bucket ?? DEFAULT_BUCKET, now)) {
      this.rateLimitedByClient.set(client, (this.rateLimitedByClient.get(client) ?? 0) + 1);
      return false;
    }
    return true;
  }

  /** One outside source's share of the packets towards clients, so it cannot spend a client's whole budget. */
  private takeSource(source: Endpoint, now: number): boolean {
    const spec = this.options.sourceBucket ?? DEFAULT_SOURCE_BUCKET;
    const key = endpointKey({ address: source.address, port: 0 });
    const b = this.sourceBuckets.get(key) ?? fullBucket(spec, now);
    this.sourceBuckets.delete(key); // re-inserted last: Map order is the eviction order
    this.sourceBuckets.set(key, b);
    const max = this.options.maxSources ?? DEFAULT_MAX_SOURCES;
    while (this.sourceBuckets.size > max) this.sourceBuckets.delete(this.sourceBuckets.keys().next().value!);
    return spend(b, spec, now);
  }

  private toClient(pkt: DecodedPacket, client: string, from: Endpoint, now: number): RelayDecision {
    const target = this.liveRelayRegistration(client, now);
    if ('action' in target) return target;
    // A RELAY_FROM or RELAY_HMAC arriving from outside would sit beside ours and could mislead the client.
    if (pkt.spans.some((s) => s.type === ParamType.RELAY_FROM || s.type === ParamType.RELAY_HMAC)) {
      return this.drop('malformed', 'packet towards a client already carries RELAY_FROM or RELAY_HMAC');
    }
    const source = ipToBytes16(from.address);
    if (!source || !Number.isInteger(from.port) || from.port < 0 || from.port > 0xffff) {
      return this.drop('malformed', `source ${from.address}:${from.port} is not an address and port`);
    }
    const key = this.options.keyFor(client, 'to-client');
    if (!key) return this.drop('no-key', `no association key for ${client}`);
    if (!this.takeSource(from, now)) return this.drop('rate-limited', `${from.address} spent its share of the relay`);
    if (!this.take(client, 'in', now)) return this.drop('rate-limited', `${client}'s inbound relay budget is spent`);

    const relayFrom = encodeParam({ kind: 'RELAY_FROM', port: from.port, protocol: IPPROTO_UDP, address: source });
    // RELAY_FROM goes where ascending type order puts it among the received parameters.
    const after = pkt.spans.find((s) => s.type > ParamType.RELAY_FROM);
    const at = after ? after.start : pkt.raw.length;
    const covered = fixRelayHeader(concatBytes([pkt.raw.subarray(0, at), relayFrom, pkt.raw.subarray(at)]));
    const hmac = this.options.crypto.hmac(key.hash, key.key, covered);
    const relayHmac = encodeParam({ kind: 'RELAY_HMAC', hmac });
    if (covered.length + relayHmac.length > MAX_PACKET_LENGTH) {
      return this.drop('malformed', `${pkt.raw.length} octets leave no room for RELAY_FROM and RELAY_HMAC`);
    }
    const datagram = fixRelayHeader(concatBytes([covered, relayHmac]));

    this.permit(client, from, now);
    this.forwarded.toClient++;
    return { action: 'forward', direction: 'to-client', client, to: { ...target }, datagram };
  }

  private fromClient(pkt: DecodedPacket, client: string, from: Endpoint, now: number): RelayDecision {
    const registered = this.liveRelayRegistration(client, now);
    if ('action' in registered) return registered;
    const hmacIndex = pkt.spans.findIndex((s: ParamSpan) => s.type === ParamType.RELAY_HMAC);
    const unsignedAccepted = hmacIndex < 0 && this.options.acceptUnsignedFromRegisteredAddress === true
      && endpointKey(from) === endpointKey(registered);
    const relayTo = getParam(pkt, 'RELAY_TO');
    if (!relayTo) return this.drop('unknown-receiver', `${client}'s packet names no RELAY_TO and its receiver is not a client`);
    if (!unsignedAccepted) {
      const given = getParam(pkt, 'RELAY_HMAC');
      const key = this.options.keyFor(client, 'from-client');
      if (!key) return this.drop('no-key', `no association key for ${client}`);
      if (hmacIndex < 0 || !given || hmacIndex !== pkt.spans.length - 1) {
        return this.drop('bad-relay-hmac', `${client}'s packet lacks a final RELAY_HMAC`);
      }
      const want = this.options.crypto.hmac(key.hash, key.key, coveredBytes(pkt, hmacIndex));
      if (!equalBytes(want, given.hmac)) return this.drop('bad-relay-hmac', `RELAY_HMAC from ${client} does not verify`);
    }
    if (!this.take(client, 'out', now)) return this.drop('rate-limited', `${client}'s outbound relay budget is spent`);

    const to: Endpoint = { address: bytes16ToIp(relayTo.address), port: relayTo.port };
    if (relayTo.protocol !== IPPROTO_UDP || to.port === 0 || !isForwardableUnicast(relayTo.address, this.onLoopback)
      || this.own.has(to.address) || this.ownEndpoints.has(endpointKey(to))) {
      return this.drop('bad-relay-to', `RELAY_TO ${to.address}:${to.port} is not a peer's UDP endpoint`);
    }
    if (!this.permitted(client, to, now)) {
      return this.drop('bad-relay-to', `${client} was not reached from ${to.address}:${to.port} and it is no client's address`);
    }
    const datagram = fixRelayHeader(pkt.raw.slice(0, hmacIndex < 0 ? pkt.raw.length : pkt.spans[hmacIndex]!.start));
    this.forwarded.fromClient++;
    return { action: 'forward', direction: 'from-client', client, to, datagram };
  }

  /** Forgets lapsed permits and buckets that have refilled, so clients that left cost nothing. */
  prune(now: number): void {
    const spec = this.options.bucket ?? DEFAULT_BUCKET;
    for (const [key, b] of this.buckets) if (refilled(b, spec, now) >= spec.capacity) this.buckets.delete(key);
    const sourceSpec = this.options.sourceBucket ?? DEFAULT_SOURCE_BUCKET;
    for (const [key, b] of this.sourceBuckets) if (refilled(b, sourceSpec, now) >= sourceSpec.capacity) this.sourceBuckets.delete(key);
    for (const [client, held] of this.permits) {
      for (const [endpoint, until] of held) if (now >= until) held.delete(endpoint);
      if (held.size === 0) this.permits.delete(client);
    }
  }

  /** Entries held for rate limits and permits, for status and for tests that the tables stay bounded. */
  tableSizes(): { buckets: number; sources: number; permits: number } {
    let permits = 0;
    for (const held of this.permits.values()) permits += held.size;
    return { buckets: this.buckets.size, sources: this.sourceBuckets.size, permits };
  }

  private permit(client: string, source: Endpoint, now: number): void {
    const held = this.permits.get(client) ?? new Map<string, number>();
    const key = endpointKey(source);
    held.delete(key); // re-inserted last: Map order is the eviction order
    held.set(key, now + (this.options.permitMs ?? DEFAULT_PERMIT_MS));
    const max = this.options.maxPermitsPerClient ?? DEFAULT_MAX_PERMITS;
    while (held.size > max) held.delete(held.keys().next().value!);
    this.permits.set(client, held);
  }

  /** A client may send through the relay to whoever reached it through the relay lately, or to another client. */
  private permitted(client: string, to: Endpoint, now: number): boolean {
    const until = this.permits.get(client)?.get(endpointKey(to));
    if (until !== undefined && now < until) return true;
    return this.options.registrations.live(now).some((r) => r.hit !== client
      && r.regType === RegistrationType.RELAY_UDP_HIP && endpointKey(r.reflexive) === endpointKey(to));
  }
}
