// Typed HIP parameters: the in-memory form of every TLV the codec understands.
// Field names follow the RFC figures. Addresses are always 16 octets (IPv4 as
// IPv4-mapped IPv6, ::ffff:a.b.c.d), as they are on the wire.

import type { ParamKind } from './constants.js';

export interface EspInfo { kind: 'ESP_INFO'; keymatIndex: number; oldSpi: number; newSpi: number }
export interface R1Counter { kind: 'R1_COUNTER'; counter: bigint }

export interface Locator {
  trafficType: number; // 0 both, 1 HIP signalling, 2 data (RFC 8046 §4)
  locatorType: number; // LocatorType
  preferred: boolean; // the P bit
  lifetime: number; // seconds
  address: Uint8Array; // 16 octets
  spi?: number; // types 1 and 2
  port?: number; // type 2
  protocol?: number; // type 2 (17 = UDP)
  candidateKind?: number; // type 2, CandidateKind
  priority?: number; // type 2
  /** Locator octets of a type this codec does not interpret; kept so it re-encodes identically. */
  raw?: Uint8Array;
}
export interface LocatorSet { kind: 'LOCATOR_SET'; locators: Locator[] }
/**
 * A locator of an E-LOCATOR (seed 002 §4): a LOCATOR_SET locator followed, when its F flag is
 * set, by one RFC 6089 Flow Identification option naming the flow bound to it.
 */
export interface FlowLocator extends Locator {
  /** The option's octets (type, length, body, its own padding to 4 octets); its meaning is flow-identification.ts's. */
  flowOption?: Uint8Array;
}
export interface ELocator { kind: 'E_LOCATOR'; locators: FlowLocator[] }

export interface Puzzle { kind: 'PUZZLE'; k: number; lifetime: number; opaque: number; i: Uint8Array }
export interface Solution { kind: 'SOLUTION'; k: number; opaque: number; i: Uint8Array; j: Uint8Array }
export interface Seq { kind: 'SEQ'; updateId: number }
export interface Ack { kind: 'ACK'; updateIds: number[] }
export interface DhGroupList { kind: 'DH_GROUP_LIST'; groups: number[] }
export interface DiffieHellman { kind: 'DIFFIE_HELLMAN'; groupId: number; publicValue: Uint8Array }
export interface HipCipherList { kind: 'HIP_CIPHER'; ciphers: number[] }
export interface NatTraversalModeParam { kind: 'NAT_TRAVERSAL_MODE'; modes: number[] }
export interface TransactionPacing { kind: 'TRANSACTION_PACING'; minTa: number }
/** Everything after the 4 reserved octets: IV (cipher-dependent length) ‖ ciphertext. */
export interface Encrypted { kind: 'ENCRYPTED'; data: Uint8Array }
export interface HostId { kind: 'HOST_ID'; algorithm: number; hi: Uint8Array; diType: number; di: Uint8Array }
export interface HitSuiteList { kind: 'HIT_SUITE_LIST'; suites: number[] } // suite IDs (1, 2, 5), not the nibble-shifted octets
export interface Cert { kind: 'CERT'; group: number; count: number; id: number; certType: number; cert: Uint8Array }
export interface Notification { kind: 'NOTIFICATION'; notifyType: number; data: Uint8Array }
export interface EchoRequestSigned { kind: 'ECHO_REQUEST_SIGNED'; opaque: Uint8Array }
export interface EchoResponseSigned { kind: 'ECHO_RESPONSE_SIGNED'; opaque: Uint8Array }
export interface EchoRequestUnsigned { kind: 'ECHO_REQUEST_UNSIGNED'; opaque: Uint8Array }
export interface EchoResponseUnsigned { kind: 'ECHO_RESPONSE_UNSIGNED'; opaque: Uint8Array }
export interface RegInfo { kind: 'REG_INFO'; minLifetime: number; maxLifetime: number; regTypes: number[] }
export interface RegRequest { kind: 'REG_REQUEST'; lifetime: number; regTypes: number[] }
export interface RegResponse { kind: 'REG_RESPONSE'; lifetime: number; regTypes: number[] }
export interface RegFailed { kind: 'REG_FAILED'; failureType: number; regTypes: number[] }
/** REG_FROM, RELAYED_ADDRESS, MAPPED_ADDRESS, RELAY_FROM, RELAY_TO share this layout. */
export interface TransportAddress<K extends ParamKind> { kind: K; port: number; protocol: number; address: Uint8Array }
export interface TransportFormatList { kind: 'TRANSPORT_FORMAT_LIST'; formats: number[] }
export interface EspTransform { kind: 'ESP_TRANSFORM'; suites: number[] }
export interface PeerPermission {
  kind: 'PEER_PERMISSION'; port: number; protocol: number; address: Uint8Array; peerHit: Uint8Array; connectedSpi: number
}
export interface CandidatePriority { kind: 'CANDIDATE_PRIORITY'; priority: number }
export interface Nominate { kind: 'NOMINATE' }
export interface HipMac { kind: 'HIP_MAC'; hmac: Uint8Array }
export interface HipMac2 { kind: 'HIP_MAC_2'; hmac: Uint8Array }
export interface HipSignature { kind: 'HIP_SIGNATURE'; algorithm: number; signature: Uint8Array }
export interface HipSignature2 { kind: 'HIP_SIGNATURE_2'; algorithm: number; signature: Uint8Array }
export interface From { kind: 'FROM'; address: Uint8Array }
export interface RvsHmac { kind: 'RVS_HMAC'; hmac: Uint8Array }
export interface RelayHmac { kind: 'RELAY_HMAC'; hmac: Uint8Array }
export interface ViaRvs { kind: 'VIA_RVS'; addresses: Uint8Array[] }
/** A parameter type this codec does not interpret. Critical ones make the packet unacceptable. */
export interface UnknownParam { kind: 'UNKNOWN'; type: number; critical: boolean; value: Uint8Array }

export type Param =
  | EspInfo | R1Counter | LocatorSet | ELocator | Puzzle | Solution | Seq | Ack | DhGroupList | DiffieHellman
  | HipCipherList | NatTraversalModeParam | TransactionPacing | Encrypted | HostId | HitSuiteList
  | Cert | Notification | EchoRequestSigned | EchoResponseSigned | EchoRequestUnsigned
  | EchoResponseUnsigned | RegInfo | RegRequest | RegResponse | RegFailed
  | TransportAddress<'REG_FROM'> | TransportAddress<'RELAYED_ADDRESS'> | TransportAddress<'MAPPED_ADDRESS'>
  | TransportAddress<'RELAY_FROM'> | TransportAddress<'RELAY_TO'>
  | TransportFormatList | EspTransform | PeerPermission | CandidatePriority | Nominate
  | HipMac | HipMac2 | HipSignature | HipSignature2 | From | RvsHmac | RelayHmac | ViaRvs
  | UnknownParam;

export type ParamOf<K extends Param['kind']> = Extract<Param, { kind: K }>;

/** A HIP packet as the protocol logic sees it. */
export interface HipPacket {
  packetType: number; // PacketType
  version?: number; // defaults to HIP_VERSION when encoding
  controls: number;
  senderHit: Uint8Array; // 16 octets
  receiverHit: Uint8Array; // 16 octets; all zero = opportunistic
  params: Param[]; // encoded in the order given; the builder sorts
}

/** Where a decoded parameter sat in the packet, so signatures and MACs can be checked over the exact octets received. */
export interface ParamSpan { type: number; start: number; end: number /* exclusive, after padding */ }

/**
 * Something a lenient parse accepted that the RFC does not allow. Reported, never silently fixed,
 * so interop tests can name an implementation's quirks and the association can refuse them.
 */
export interface Deviation { code: DeviationCode; detail: string }
export type DeviationCode =
  | 'param-order' // parameters not in ascending type order (RFC 7401 §5.2)
  | 'param-duplicate' // a non-repeatable parameter appears twice
  | 'dh-public-value-length' // DIFFIE_HELLMAN's public value length disagrees with the parameter length
  | 'nonzero-padding' // padding octets not zero
  | 'nonzero-reserved' // reserved fields not zero
  | 'header-checksum'; // checksum present where it must be zero, or wrong over the pseudo-header

export interface DecodedPacket extends HipPacket {
  version: number;
  /** The exact octets that were parsed (header ‖ parameters), for signature and MAC input. */
  raw: Uint8Array;
  spans: ParamSpan[]; // parallel to params
  deviations: Deviation[];
}

export type DecodeResult =
  | { ok: true; packet: DecodedPacket }
  | { ok: false; reason: DecodeError; detail: string };

export type DecodeError =
  | 'truncated' // shorter than the header or the header length says
  | 'bad-next-header'
  | 'bad-header-length'
  | 'bad-version'
  | 'bad-fixed-bit' // RFC 7401: the fixed bits of the header
  | 'bad-param-length' // a parameter runs past the end, or its length is wrong for its type
  | 'bad-param-value'; // a field holds a value its type cannot have
