// Builders for every packet the base exchange, UPDATE, CLOSE and NOTIFY send, and the shape
// check each received packet must pass before any cryptography is spent on it (RFC 7401 §5.3).
// Builders return finished octets: parameters sorted, HIP_MAC and signatures computed over
// exactly what is sent.

import { inviteProofParam } from './invite-proof.js';
import { PacketType, ParamType } from './wire/constants.js';
import { encodePacket, encodeParam, getParam, getParams, sortParams } from './wire/codec.js';
import { coveredBytesForOutgoing, mac2InputForOutgoing, signature2InputForOutgoing } from './wire/covered.js';
import type { DecodedPacket, HipPacket, Param, HostId, LocatorSet } from './wire/params.js';
import type { CryptoProvider, HashName } from './crypto/provider.js';
import { hostIdParam, signWith, signatureAlgorithm, type LocalHostIdentity } from './identity/host-identity.js';

/** RFC 7402 §5.1.3: the TRANSPORT_FORMAT_LIST entry meaning ESP (the ESP_TRANSFORM type). */
export const TRANSPORT_FORMAT_ESP = ParamType.ESP_TRANSFORM;

export const ZERO_HIT = new Uint8Array(16);

export type ShapeResult = { ok: true } | { ok: false; reason: string; detail: string };

const bad = (reason: string, detail: string): ShapeResult => ({ ok: false, reason, detail });

/** Parameters each packet type must carry (RFC 7401 §5.3, RFC 7402 §5.1): missing one is a syntax error. */
const REQUIRED: Partial<Record<number, readonly Param['kind'][]>> = {
  [PacketType.I1]: ['DH_GROUP_LIST'],
  [PacketType.R1]: ['PUZZLE', 'DIFFIE_HELLMAN', 'HIP_CIPHER', 'HOST_ID', 'HIT_SUITE_LIST', 'DH_GROUP_LIST', 'HIP_SIGNATURE_2'],
  [PacketType.I2]: ['SOLUTION', 'DIFFIE_HELLMAN', 'HIP_CIPHER', 'ESP_INFO', 'ESP_TRANSFORM', 'HIP_MAC', 'HIP_SIGNATURE'],
  [PacketType.R2]: ['ESP_INFO', 'HIP_MAC_2', 'HIP_SIGNATURE'],
  [PacketType.UPDATE]: ['HIP_MAC', 'HIP_SIGNATURE'],
  [PacketType.CLOSE]: ['ECHO_REQUEST_SIGNED', 'HIP_MAC', 'HIP_SIGNATURE'],
  [PacketType.CLOSE_ACK]: ['ECHO_RESPONSE_SIGNED', 'HIP_MAC', 'HIP_SIGNATURE'],
  [PacketType.NOTIFY]: ['NOTIFICATION'],
};

/**
 * Structural checks that need no keys: required parameters present, the combinations the RFC
 * demands, and no deviation that would make what we verify ambiguous. Cheap, so it runs before
 * any DH, MAC or signature work.
 */
export function checkShape(pkt: DecodedPacket): ShapeResult {
  const dup = pkt.deviations.find((d) => d.code === 'param-duplicate');
  // A second copy of a parameter would let what we act on differ from what a MAC/signature check looked at.
  if (dup !== undefined) return bad('duplicate-param', dup.detail);
  const required = REQUIRED[pkt.packetType];
  if (required === undefined) return bad('unsupported-packet-type', `packet type ${pkt.packetType}`);
  for (const kind of required) {
    if (getParam(pkt, kind) === undefined) return bad('missing-param', `${kind} missing from packet type ${pkt.packetType}`);
  }
  switch (pkt.packetType) {
    case PacketType.I2: {
      if (getParam(pkt, 'ENCRYPTED') === undefined && getParam(pkt, 'HOST_ID') === undefined) {
        return bad('missing-param', 'I2 carries neither ENCRYPTED nor HOST_ID');
      }
      if (getParams(pkt, 'ESP_INFO').length !== 1) return bad('invalid-syntax', 'I2 must carry exactly one ESP_INFO');
      break;
    }
    case PacketType.R2:
      if (getParams(pkt, 'ESP_INFO').length !== 1) return bad('invalid-syntax', 'R2 must carry exactly one ESP_INFO');
      break;
    case PacketType.UPDATE: {
      if (getParam(pkt, 'SEQ') === undefined && getParam(pkt, 'ACK') === undefined) {
        return bad('invalid-syntax', 'UPDATE carries neither SEQ nor ACK');
      }
      // An ESP_INFO asks for new SAs, which must be acknowledged, so it only comes with a SEQ (RFC 7402 §6.9).
      if (getParam(pkt, 'ESP_INFO') !== undefined && getParam(pkt, 'SEQ') === undefined) {
        return bad('invalid-syntax', 'UPDATE with ESP_INFO but no SEQ');
      }
      if (getParams(pkt, 'ESP_INFO').length > 1) return bad('invalid-syntax', 'more than one ESP_INFO in UPDATE');
      break;
    }
    default:
      break;
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Sealing: HIP_MAC, HIP_MAC_2, HIP_SIGNATURE, HIP_SIGNATURE_2 over the octets that will be sent.

export interface Sealer {
  crypto: CryptoProvider;
  identity: LocalHostIdentity;
}

function header(packetType: number, senderHit: Uint8Array, receiverHit: Uint8Array, params: Param[]): HipPacket {
  return { packetType, controls: 0, senderHit, receiverHit, params };
}

/**
 * The octets a MAC or signature placed after `params` covers when we send: the packet holding
 * just these parameters, its length field set to match, checksum zero (RFC 7401 §6.4.1, §6.4.2).
 */
export function coveredOutgoing(pkt: HipPacket, params: Param[]): Uint8Array {
  return coveredBytesForOutgoing(pkt, params);
}

export function hmacOver(crypto: CryptoProvider, rhash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return crypto.hmac(rhash, key, data);
}

/**
 * Adds HIP_MAC then HIP_SIGNATURE to a packet whose other parameters are final, and puts the
 * unsigned trailers (ECHO_*_UNSIGNED) after them. Returns the wire octets.
 */
export function sealMacAndSignature(
  s: Sealer, rhash: HashName, macKey: Uint8Array, pkt: HipPacket, trailers: Param[] = [],
): Uint8Array {
  const body = sortParams(pkt.params);
  const hmac = hmacOver(s.crypto, rhash, macKey, coveredOutgoing(pkt, body));
  const withMac = [...body, { kind: 'HIP_MAC', hmac } as Param];
  const signature = signWith(s.crypto, s.identity, coveredOutgoing(pkt, withMac));
  const params = [...withMac, { kind: 'HIP_SIGNATURE', algorithm: signatureAlgorithm(s.identity), signature } as Param, ...sortParams(trailers)];
  return encodePacket({ ...pkt, params });
}

/** Signature only (NOTIFY: there may be no keys yet). */
export function sealSignature(s: Sealer, pkt: HipPacket): Uint8Array {
  const body = sortParams(pkt.params);
  const signature = signWith(s.crypto, s.identity, coveredOutgoing(pkt, body));
  return encodePacket({ ...pkt, params: [...body, { kind: 'HIP_SIGNATURE', algorithm: signatureAlgorithm(s.identity), signature }] });
}

// ---------------------------------------------------------------------------------------------
// Base exchange

export function buildI1(localHit: Uint8Array, peerHit: Uint8Array, dhGroups: readonly number[]): Uint8Array {
  return encodePacket(header(PacketType.I1, localHit, peerHit, [{ kind: 'DH_GROUP_LIST', groups: [...dhGroups] }]));
}

export interface R1Offer {
  counter: bigint;
  k: number;
  lifetimeExponent: number;
  dhGroupId: number;
  dhPublic: Uint8Array;
  hipCiphers: readonly number[];
  hostId: HostId;
  hitSuites: readonly number[];
  dhGroups: readonly number[];
  espSuites: readonly number[];
  rhashLength: number;
  /** Our locators, covered by the R1 signature (RFC 8047 §4.5). */
  locatorSet?: LocatorSet;
  /** Further signed parameters: the registrar's REG_INFO (RFC 8003 §4.1). */
  extra?: readonly Param[];
}

/**
 * An R1 signed once for any initiator: HIP_SIGNATURE_2 covers it with the receiver HIT, the
 * puzzle's #I and Opaque zeroed (RFC 7401 §5.2.15), so `personalizeR1` may fill those in later
 * without re-signing.
 */
export function buildSignedR1(s: Sealer, offer: R1Offer): HipPacket {
  const params = sortParams([
    { kind: 'R1_COUNTER', counter: offer.counter },
    { kind: 'PUZZLE', k: offer.k, lifetime: offer.lifetimeExponent, opaque: 0, i: new Uint8Array(offer.rhashLength) },
    { kind: 'DIFFIE_HELLMAN', groupId: offer.dhGroupId, publicValue: offer.dhPublic },
    { kind: 'HIP_CIPHER', ciphers: [...offer.hipCiphers] },
    offer.hostId,
    { kind: 'HIT_SUITE_LIST', suites: [...offer.hitSuites] },
    { kind: 'DH_GROUP_LIST', groups: [...offer.dhGroups] },
    { kind: 'TRANSPORT_FORMAT_LIST', formats: [TRANSPORT_FORMAT_ESP] },
    { kind: 'ESP_TRANSFORM', suites: [...offer.espSuites] },
    ...(offer.locatorSet !== undefined && offer.locatorSet.locators.length > 0 ? [offer.locatorSet] : []),
    ...(offer.extra ?? []),
  ]);
  const template = header(PacketType.R1, s.identity.hit, ZERO_HIT, params);
  const signature = signWith(s.crypto, s.identity, signature2InputForOutgoing(template, params));
  return { ...template, params: [...params, { kind: 'HIP_SIGNATURE_2', algorithm: signatureAlgorithm(s.identity), signature }] };
}

export function personalizeR1(signed: HipPacket, receiverHit: Uint8Array, opaque: number, i: Uint8Array): Uint8Array {
  const params = signed.params.map((p): Param => (p.kind === 'PUZZLE' ? { ...p, opaque, i } : p));
  return encodePacket({ ...signed, receiverHit, params });
}

export interface I2Contents {
  localHit: Uint8Array;
  peerHit: Uint8Array;
  keymatIndex: number;
  spi: number;
  r1Counter: bigint | undefined;
  solution: { k: number; opaque: number; i: Uint8Array; j: Uint8Array };
  dhGroupId: number;
  dhPublic: Uint8Array;
  hipCipher: number;
  encryptedHostId: Uint8Array;
  espSuite: number;
  echoSigned: Uint8Array[];
  echoUnsigned: Uint8Array[];
  /** Our locators, signed with the I2 (RFC 8047 §4.5); absent when we have none configured. */
  locatorSet?: LocatorSet;
  /** hipvpn's invite proof (invite-proof.ts), signed with the rest. */
  inviteProof?: Uint8Array | undefined;
  /** Further signed parameters: a REG_REQUEST to a registrar (RFC 8003 §3.2). */
  extra?: readonly Param[];
}

export function buildI2(s: Sealer, rhash: HashName, macKey: Uint8Array, c: I2Contents): Uint8Array {
  const params: Param[] = [
    { kind: 'ESP_INFO', keymatIndex: c.keymatIndex, oldSpi: 0, newSpi: c.spi },
    { kind: 'SOLUTION', ...c.solution },
    { kind: 'DIFFIE_HELLMAN', groupId: c.dhGroupId, publicValue: c.dhPublic },
    { kind: 'HIP_CIPHER', ciphers: [c.hipCipher] },
    { kind: 'ENCRYPTED', data: c.encryptedHostId },
    { kind: 'TRANSPORT_FORMAT_LIST', formats: [TRANSPORT_FORMAT_ESP] },
    { kind: 'ESP_TRANSFORM', suites: [c.espSuite] },
    ...c.echoSigned.map((opaque): Param => ({ kind: 'ECHO_RESPONSE_SIGNED', opaque })),
  ];
  if (c.r1Counter !== undefined) params.push({ kind: 'R1_COUNTER', counter: c.r1Counter });
  if (c.locatorSet !== undefined && c.locatorSet.locators.length > 0) params.push(c.locatorSet);
  if (c.inviteProof !== undefined) params.push(inviteProofParam(c.inviteProof));
  if (c.extra !== undefined) params.push(...c.extra);
  const trailers = c.echoUnsigned.map((opaque): Param => ({ kind: 'ECHO_RESPONSE_UNSIGNED', opaque }));
  return sealMacAndSignature(s, rhash, macKey, header(PacketType.I2, c.localHit, c.peerHit, params), trailers);
}

/**
 * R2: ESP_INFO, HIP_MAC_2, HIP_SIGNATURE. HIP_MAC_2 is computed as if the responder's HOST_ID
 * sat after ESP_INFO (RFC 7401 §5.2.13), binding R2 to the identity the initiator saw in R1.
 */
export function buildR2(
  s: Sealer, rhash: HashName, macKey: Uint8Array, localHit: Uint8Array, peerHit: Uint8Array, keymatIndex: number, spi: number,
  extra: readonly Param[] = [],
): Uint8Array {
  // Extras (a registrar's REG_RESPONSE, REG_FAILED, REG_FROM) sit before HIP_MAC_2, so both it and the signature cover them.
  const pkt = header(PacketType.R2, localHit, peerHit, sortParams([{ kind: 'ESP_INFO', keymatIndex, oldSpi: 0, newSpi: spi }, ...extra]));
  const hmac = hmacOver(s.crypto, rhash, macKey, mac2InputForOutgoing(pkt, pkt.params, encodeParam(hostIdParam(s.identity))));
  const withMac = [...pkt.params, { kind: 'HIP_MAC_2', hmac } as Param];
  const signature = signWith(s.crypto, s.identity, coveredOutgoing(pkt, withMac));
  return encodePacket({ ...pkt, params: [...withMac, { kind: 'HIP_SIGNATURE', algorithm: signatureAlgorithm(s.identity), signature }] });
}

// ---------------------------------------------------------------------------------------------
// UPDATE, CLOSE, CLOSE_ACK, NOTIFY

export interface UpdateContents {
  seq?: number;
  ack?: number[];
  espInfo?: { keymatIndex: number; oldSpi: number; newSpi: number };
  /** Opaque nonce the peer must return (RFC 7401 §5.2.20); covered by HIP_MAC and the signature. */
  echoRequest?: Uint8Array;
  /** The peer's ECHO_REQUEST_SIGNED returned unchanged, beside the ACK of its SEQ (RFC 8046 §5.3). */
  echoResponse?: Uint8Array;
  /** A complete listing of our locators (RFC 8046 §4, RFC 8047 §6.1). */
  locatorSet?: LocatorSet;
  /** Non-critical extras (the pair-probe report, registration parameters); sorted into place by type. */
  extra?: Param[];
}

export function buildUpdate(
  s: Sealer, rhash: HashName, macKey: Uint8Array, localHit: Uint8Array, peerHit: Uint8Array, c: UpdateContents,
): Uint8Array {
  const params: Param[] = [];
  if (c.espInfo !== undefined) params.push({ kind: 'ESP_INFO', ...c.espInfo });
  if (c.seq !== undefined) params.push({ kind: 'SEQ', updateId: c.seq });
  if (c.ack !== undefined && c.ack.length > 0) params.push({ kind: 'ACK', updateIds: [...c.ack] });
  if (c.echoRequest !== undefined) params.push({ kind: 'ECHO_REQUEST_SIGNED', opaque: c.echoRequest });
  if (c.echoResponse !== undefined) params.push({ kind: 'ECHO_RESPONSE_SIGNED', opaque: c.echoResponse });
  if (c.locatorSet !== undefined) params.push(c.locatorSet);
  if (c.extra !== undefined) params.push(...c.extra);
  return sealMacAndSignature(s, rhash, macKey, header(PacketType.UPDATE, localHit, peerHit, params));
}

export function buildClose(s: Sealer, rhash: HashName, macKey: Uint8Array, localHit: Uint8Array, peerHit: Uint8Array, nonce: Uint8Array): Uint8Array {
  return sealMacAndSignature(s, rhash, macKey, header(PacketType.CLOSE, localHit, peerHit, [{ kind: 'ECHO_REQUEST_SIGNED', opaque: nonce }]));
}

export function buildCloseAck(s: Sealer, rhash: HashName, macKey: Uint8Array, localHit: Uint8Array, peerHit: Uint8Array, echo: Uint8Array): Uint8Array {
  return sealMacAndSignature(s, rhash, macKey, header(PacketType.CLOSE_ACK, localHit, peerHit, [{ kind: 'ECHO_RESPONSE_SIGNED', opaque: echo }]));
}

export function buildNotify(s: Sealer, localHit: Uint8Array, peerHit: Uint8Array, notifyType: number, data: Uint8Array): Uint8Array {
  return sealSignature(s, header(PacketType.NOTIFY, localHit, peerHit, [{ kind: 'NOTIFICATION', notifyType, data }]));
}

/** NOTIFY data for UNSUPPORTED_CRITICAL_PARAMETER_TYPE: the offending type, two octets (RFC 7401 §5.2.19). */
export function unsupportedCriticalData(type: number): Uint8Array {
  return Uint8Array.of((type >> 8) & 0xff, type & 0xff);
}
