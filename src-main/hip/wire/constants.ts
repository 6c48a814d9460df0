// Numeric identifiers of HIPv2 and its extensions, as registered with IANA.
// Sources: RFC 7401 (base), 7402 (ESP), 8046/8047 (mobility, multihoming),
// 8003/8004 (registration, rendezvous), 9028 (native NAT traversal), 9374 (EdDSA).

export const HIP_VERSION = 2;
/** IPv6 "no next header": a HIP packet carries nothing after its parameters. */
export const HIP_NEXT_HEADER = 59;
export const HIP_HEADER_LENGTH = 40;
export const IPPROTO_HIP = 139;
export const IPPROTO_ESP = 50;
export const HIP_UDP_PORT = 10500;

export const PacketType = {
  I1: 1,
  R1: 2,
  I2: 3,
  R2: 4,
  UPDATE: 16,
  NOTIFY: 17,
  CLOSE: 18,
  CLOSE_ACK: 19,
  HDRR: 20,
  HIP_DATA: 32,
} as const;
export type PacketTypeName = keyof typeof PacketType;

/** Header "controls" bits (RFC 7401 §5.1.1). A (anonymous) is the only one defined. */
export const CONTROL_ANONYMOUS = 0x0001;

export const ParamType = {
  ESP_INFO: 65,
  R1_COUNTER: 129,
  LOCATOR_SET: 193,
  PUZZLE: 257,
  SOLUTION: 321,
  SEQ: 385,
  ACK: 449,
  DH_GROUP_LIST: 511,
  DIFFIE_HELLMAN: 513,
  HIP_CIPHER: 579,
  NAT_TRAVERSAL_MODE: 608,
  TRANSACTION_PACING: 610,
  ENCRYPTED: 641,
  HOST_ID: 705,
  HIT_SUITE_LIST: 715,
  CERT: 768,
  NOTIFICATION: 832,
  ECHO_REQUEST_SIGNED: 897,
  REG_INFO: 930,
  REG_REQUEST: 932,
  REG_RESPONSE: 934,
  REG_FAILED: 936,
  REG_FROM: 950,
  ECHO_RESPONSE_SIGNED: 961,
  TRANSPORT_FORMAT_LIST: 2049,
  /**
   * Seed 002's flow-binding LOCATOR (E-LOCATOR). Unregistered: taken at random from the range
   * RFC 7401 §5.2.1 keeps for experiments (32768–49151), and even, so not critical: a host that
   * does not know it ignores it and keeps to the LOCATOR_SET sent alongside.
   */
  E_LOCATOR: 41026,
  ESP_TRANSFORM: 4095,
  RELAYED_ADDRESS: 4650,
  MAPPED_ADDRESS: 4660,
  PEER_PERMISSION: 4680,
  CANDIDATE_PRIORITY: 4700,
  NOMINATE: 4710,
  HIP_MAC: 61505,
  HIP_MAC_2: 61569,
  HIP_SIGNATURE_2: 61633,
  HIP_SIGNATURE: 61697,
  ECHO_RESPONSE_UNSIGNED: 63425,
  ECHO_REQUEST_UNSIGNED: 63661,
  RELAY_FROM: 63998,
  RELAY_TO: 64002,
  FROM: 65498,
  RVS_HMAC: 65500,
  VIA_RVS: 65502,
  RELAY_HMAC: 65520,
} as const;
export type ParamKind = keyof typeof ParamType;

/** The lowest bit of a parameter type says whether a receiver must understand it. */
export function isCriticalParamType(type: number): boolean {
  return (type & 1) === 1;
}

export const NotifyType = {
  UNSUPPORTED_CRITICAL_PARAMETER_TYPE: 1,
  INVALID_SYNTAX: 7,
  NO_DH_PROPOSAL_CHOSEN: 14,
  INVALID_DH_CHOSEN: 15,
  NO_HIP_PROPOSAL_CHOSEN: 16,
  INVALID_HIP_CIPHER_CHOSEN: 17,
  NO_ESP_PROPOSAL_CHOSEN: 18,
  INVALID_ESP_TRANSFORM_CHOSEN: 19,
  UNSUPPORTED_HIT_SUITE: 20,
  AUTHENTICATION_FAILED: 24,
  CHECKSUM_FAILED: 26,
  HIP_MAC_FAILED: 28,
  ENCRYPTION_FAILED: 32,
  INVALID_HIT: 40,
  BLOCKED_BY_POLICY: 42,
  LOCATOR_TYPE_UNSUPPORTED: 46,
  RESPONDER_BUSY_PLEASE_RETRY: 44,
  SIGNALING_TOO_BIG: 48,
  CONNECTIVITY_CHECKS_FAILED: 61,
  MESSAGE_NOT_RELAYED: 62,
  I2_ACKNOWLEDGEMENT: 16384,
  NAT_KEEPALIVE: 16385,
} as const;

/** DIFFIE_HELLMAN group IDs (RFC 7401 §5.2.7). ECDH public values per RFC 5903 (x ‖ y). */
export const DhGroup = {
  MODP_1536: 3,
  MODP_3072: 4,
  NIST_P256: 7,
  NIST_P384: 8,
  NIST_P521: 9,
  SECP160R1: 10,
  MODP_2048: 11,
} as const;

/** Host Identity algorithms (RFC 7401 §5.2.9, RFC 9374). */
export const HiAlgorithm = {
  DSA: 3,
  RSA: 5,
  ECDSA: 7,
  ECDSA_LOW: 9,
  EDDSA: 13,
} as const;

/** ECC curve field of an ECDSA HI (RFC 7401 §5.2.9) and an EdDSA HI (RFC 9374). */
export const EcdsaCurve = { P256: 1, P384: 2 } as const;
export const EddsaCurve = { ED25519: 1, ED448: 2 } as const;

/** HIT suite IDs (RFC 7401 §5.2.10, RFC 9374); carried in the upper nibble on the wire. */
export const HitSuite = {
  RSA_DSA_SHA256: 1,
  ECDSA_SHA384: 2,
  ECDSA_LOW_SHA1: 3,
  EDDSA_CSHAKE128: 5,
} as const;

/** HIP_CIPHER IDs (RFC 7401 §5.2.8): encrypts the ENCRYPTED parameter. */
export const HipCipher = {
  NULL: 1,
  AES_128_CBC: 2,
  AES_256_CBC: 4,
} as const;

export const NatTraversalMode = {
  UDP_ENCAPSULATION: 1,
  ICE_STUN_UDP: 2,
  ICE_HIP_UDP: 3,
} as const;

export const RegistrationType = {
  RENDEZVOUS: 1,
  RELAY_UDP_HIP: 2,
  RELAY_UDP_ESP: 3,
  CANDIDATE_DISCOVERY: 4,
} as const;

/** LOCATOR_SET locator types (RFC 8046 §4, RFC 9028 §5.7). */
export const LocatorType = { ADDRESS: 0, ESP_SPI_ADDRESS: 1, TRANSPORT: 2 } as const;
/** Candidate kinds of a type-2 locator (RFC 9028 §5.7). */
export const CandidateKind = { HOST: 0, SERVER_REFLEXIVE: 1, PEER_REFLEXIVE: 2, RELAYED: 3 } as const;
