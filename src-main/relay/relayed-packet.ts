// A relay client's side of the HIP control relay (RFC 9028 §4.12, after RFC 5770 §4.9), sans-IO:
// a packet the relay passed on carries RELAY_FROM (the original source) and, last, RELAY_HMAC
// keyed with our association with the relay; once the HMAC holds, both come off and the packet is
// exactly what its sender signed. A reply going back through the relay gets RELAY_TO (where the
// relay must send it) and a RELAY_HMAC of our own. The octets are spliced, never re-encoded.

import { concatBytes, equalBytes } from '../base/bytes.js';
import type { HashName, CryptoProvider } from '../hip/crypto/index.js';
import { decodePacket, encodeParam, getParam } from '../hip/wire/codec.js';
import { coveredBytes, rewriteHeader } from '../hip/wire/covered.js';
import { ParamType } from '../hip/wire/constants.js';
import { bytes16ToIp, ipToBytes16 } from '../hip/wire/address.js';
import type { Endpoint } from './registrations.js';

const IPPROTO_UDP = 17;
/** The header length field counts 8-octet units after the first 8, in one octet (RFC 7401 §5.1). */
const MAX_PACKET_LENGTH = (255 + 1) * 8;

export interface RelayHmacKey { hash: HashName; key: Uint8Array }

export type Unwrapped =
  | { relayed: false }
  | { relayed: true; ok: true; bytes: Uint8Array; origin: Endpoint }
  | { relayed: true; ok: false; reason: 'relay-hmac-bad' | 'relay-malformed' | 'relay-no-key' };

/** The same octets, changed in place: header length set to cover them, checksum zero (UDP, RFC 9028 §5.1). */
export function fixRelayHeader(bytes: Uint8Array): Uint8Array {
  rewriteHeader(bytes, bytes.length);
  return bytes;
}

/**
 * A HIP packet from our relay: not relayed (no RELAY_FROM), or relayed and checked. `key` is the
 * inbound HIP_MAC key of our association with the relay (undefined when we hold none).
 */
export function unwrapRelayed(crypto: CryptoProvider, bytes: Uint8Array, key: RelayHmacKey | undefined): Unwrapped {
  const decoded = decodePacket(bytes, { udp: true });
  if (!decoded.ok) return { relayed: false };
  const pkt = decoded.packet;
  const fromIndex = pkt.spans.findIndex((s) => s.type === ParamType.RELAY_FROM);
  if (fromIndex < 0) return { relayed: false };
  const hmacIndex = pkt.spans.length - 1;
  if (pkt.spans[hmacIndex]!.type !== ParamType.RELAY_HMAC || hmacIndex < fromIndex) return { relayed: true, ok: false, reason: 'relay-malformed' };
  if (key === undefined) return { relayed: true, ok: false, reason: 'relay-no-key' };
  const given = getParam(pkt, 'RELAY_HMAC')!.hmac;
  if (!equalBytes(crypto.hmac(key.hash, key.key, coveredBytes(pkt, hmacIndex)), given)) {
    return { relayed: true, ok: false, reason: 'relay-hmac-bad' };
  }
  const from = getParam(pkt, 'RELAY_FROM')!;
  if (from.protocol !== IPPROTO_UDP || from.port === 0) return { relayed: true, ok: false, reason: 'relay-malformed' };
  const span = pkt.spans[fromIndex]!;
  const inner = fixRelayHeader(concatBytes([
    pkt.raw.subarray(0, span.start), pkt.raw.subarray(span.end, pkt.spans[hmacIndex]!.start),
  ]));
  return { relayed: true, ok: true, bytes: inner, origin: { address: bytes16ToIp(from.address), port: from.port } };
}

/**
 * Our HIP packet for a peer we reach through the relay: RELAY_TO names the peer's address as the
 * relay saw it, and RELAY_HMAC (our outbound key with the relay) proves it is ours. Undefined
 * when the address is no IP address or the packet would outgrow the header's length field.
 */
export function wrapForRelay(crypto: CryptoProvider, bytes: Uint8Array, to: Endpoint, key: RelayHmacKey): Uint8Array | undefined {
  const address = ipToBytes16(to.address);
  if (!address) return undefined;
  const relayTo = encodeParam({ kind: 'RELAY_TO', port: to.port, protocol: IPPROTO_UDP, address });
  const covered = fixRelayHeader(concatBytes([bytes, relayTo]));
  const relayHmac = encodeParam({ kind: 'RELAY_HMAC', hmac: crypto.hmac(key.hash, key.key, covered) });
  if (covered.length + relayHmac.length > MAX_PACKET_LENGTH) return undefined;
  return fixRelayHeader(concatBytes([covered, relayHmac]));
}
