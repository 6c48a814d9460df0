// Helpers for tests that run real engines over real UDP on loopback.

import { HipEngine, type EngineEvent, type EngineOptions } from '../../src-main/engine/engine.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity } from '../../src-main/hip/identity/host-identity.js';

export async function startEngine(address: string, extra: Partial<EngineOptions> = {}): Promise<HipEngine> {
  return HipEngine.start({
    identity: extra.identity ?? generateIdentity(nodeCrypto, 'ecdsa-p256'),
    crypto: nodeCrypto,
    addresses: [address],
    port: 0,
    ...extra,
  });
}

/** Resolves with the first engine event that matches, or rejects after `ms`. */
export function waitForEvent<T extends EngineEvent['type']>(
  engine: HipEngine,
  type: T,
  match: (e: Extract<EngineEvent, { type: T }>) => boolean = () => true,
  ms = 5000,
): Promise<Extract<EngineEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      engine.off('event', listener);
      reject(new Error(`no '${type}' event within ${ms} ms`));
    }, ms);
    const listener = (e: EngineEvent): void => {
      if (e.type === type && match(e as Extract<EngineEvent, { type: T }>)) {
        clearTimeout(timer);
        engine.off('event', listener);
        resolve(e as Extract<EngineEvent, { type: T }>);
      }
    };
    engine.on('event', listener);
  });
}

/** Collects every payload an engine delivers. */
export function collectPayloads(engine: HipEngine): Array<{ peer: string; nextHeader: number; payload: Uint8Array }> {
  const got: Array<{ peer: string; nextHeader: number; payload: Uint8Array }> = [];
  engine.on('event', (e: EngineEvent) => {
    if (e.type === 'payload') got.push({ peer: e.peer, nextHeader: e.nextHeader, payload: e.payload });
  });
  return got;
}

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
