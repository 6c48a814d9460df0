// ESP transform suites HIP negotiates in ESP_TRANSFORM (RFC 7402 §5.1.2, IANA "ESP Transform
// Suite IDs"). Only the suites hipvpn implements are listed; an unknown ID is simply unsupported.

/** ESP_TRANSFORM suite IDs (RFC 7402 §5.1.2 / IANA). */
export const EspSuite = {
  AES_128_CBC_HMAC_SHA256: 8,
  AES_256_CBC_HMAC_SHA256: 9,
  AES_GCM_8: 12,
  AES_GCM_16: 13,
} as const;

export interface EspSuiteInfo {
  suite: number;
  name: string;
  /** AES key octets. */
  encKeyLength: number;
  /** HMAC key octets; 0 for AEAD suites, whose integrity comes from the cipher. */
  authKeyLength: number;
  /** Implicit nonce part drawn from KEYMAT right after the AES key (RFC 4106 §8.1); 0 for CBC. */
  saltLength: number;
  /** Explicit IV carried in every packet. */
  ivLength: number;
  /** Integrity Check Value octets at the end of every packet. */
  icvLength: number;
  /** The ciphertext (payload ‖ padding ‖ pad length ‖ next header) is a multiple of this. */
  blockSize: number;
  aead: boolean;
}

// GCM key size: RFC 7402 names the suites only by ICV length. We use AES-128 for both, as the
// HIP ESP suites without a size in their name are 128-bit; both peers must agree, so this is
// the one place to change if interop shows otherwise.
const SUITES: ReadonlyMap<number, EspSuiteInfo> = new Map<number, EspSuiteInfo>([
  // RFC 3602 (AES-CBC, 16-octet random IV) + RFC 4868 (HMAC-SHA-256 with a 256-bit key,
  // truncated to 128 bits).
  [EspSuite.AES_128_CBC_HMAC_SHA256, {
    suite: EspSuite.AES_128_CBC_HMAC_SHA256, name: 'AES-128-CBC with HMAC-SHA-256-128',
    encKeyLength: 16, authKeyLength: 32, saltLength: 0, ivLength: 16, icvLength: 16, blockSize: 16, aead: false,
  }],
  [EspSuite.AES_256_CBC_HMAC_SHA256, {
    suite: EspSuite.AES_256_CBC_HMAC_SHA256, name: 'AES-256-CBC with HMAC-SHA-256-128',
    encKeyLength: 32, authKeyLength: 32, saltLength: 0, ivLength: 16, icvLength: 16, blockSize: 16, aead: false,
  }],
  // RFC 4106: 8-octet explicit IV, 4-octet salt, no block alignment beyond ESP's 4 octets.
  [EspSuite.AES_GCM_8, {
    suite: EspSuite.AES_GCM_8, name: 'AES-128-GCM with an 8-octet ICV',
    encKeyLength: 16, authKeyLength: 0, saltLength: 4, ivLength: 8, icvLength: 8, blockSize: 4, aead: true,
  }],
  [EspSuite.AES_GCM_16, {
    suite: EspSuite.AES_GCM_16, name: 'AES-128-GCM with a 16-octet ICV',
    encKeyLength: 16, authKeyLength: 0, saltLength: 4, ivLength: 8, icvLength: 16, blockSize: 4, aead: true,
  }],
]);

export function espSuiteInfo(suite: number): EspSuiteInfo | undefined {
  return SUITES.get(suite);
}

/** Our ESP_TRANSFORM offer, most preferred first: AEAD (one pass, smaller ICV work) before CBC. */
export const PREFERRED_ESP_SUITES: readonly number[] = [
  EspSuite.AES_GCM_16,
  EspSuite.AES_GCM_8,
  EspSuite.AES_256_CBC_HMAC_SHA256,
  EspSuite.AES_128_CBC_HMAC_SHA256,
];

/**
 * The pick from a peer's ESP_TRANSFORM offer (in HIP the Initiator answers R1's list in I2):
 * the first suite, in the offerer's order of preference, that we also support. Null when nothing
 * matches, which the caller answers with NO_ESP_PROPOSAL_CHOSEN.
 */
export function chooseEspSuite(offered: readonly number[], supported: readonly number[] = PREFERRED_ESP_SUITES): number | null {
  for (const s of offered) if (supported.includes(s) && SUITES.has(s)) return s;
  return null;
}
