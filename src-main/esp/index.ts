// ESP data plane for HIP: suites, key drawing, anti-replay and the SAs themselves.
export { espSuiteInfo, chooseEspSuite, PREFERRED_ESP_SUITES, type EspSuiteInfo } from './suites.js';
export { drawEspKeys, espKeymatLength, type EspKeyMaterial, type KeymatSource, type DrawnEspKeys } from './keys.js';
export { ReplayWindow, DEFAULT_REPLAY_WINDOW, MIN_REPLAY_WINDOW, type ReplayVerdict } from './replay-window.js';
export { ESP_HEADER_LENGTH, type EspImpl } from './transforms.js';
export {
  EspOutboundSa, EspInboundSa, espSpi, isAllowedSpi,
  ESP_SEQ_MAX, ESP_SEQ_REKEY_THRESHOLD, DEFAULT_OUTBOUND_LIFETIME_MS, MIN_ESP_SPI,
  type EspDropReason, type EspOpenResult, type EspOutboundSaOptions, type EspInboundSaOptions,
} from './sa.js';
