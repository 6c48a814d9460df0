// The two crypto providers. The engine picks `nodeCrypto` once; tests run every vector through
// both and cross-check them.

import type { CryptoProvider } from './provider.js';
import { nodeProvider } from './node-provider.js';
import { nobleProvider } from './noble-provider.js';

export const nodeCrypto: CryptoProvider = nodeProvider;
export const nobleCrypto: CryptoProvider = nobleProvider;
export const providers: readonly CryptoProvider[] = [nodeCrypto, nobleCrypto];

export type { CryptoProvider, HashName, EcCurveName, SigningKey, VerifyingKey, EcdhKeyPair, SigningKeyKind } from './provider.js';
export { hashLength, curveFieldLength } from './provider.js';
