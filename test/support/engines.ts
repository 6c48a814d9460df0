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

/**
 * A with two loopback addresses as wifi0 (`a1`) and cell0 (`a2`), and B, both in simultaneous
 * multihoming (RFC 8047), associated from A's wifi0. The caller stops both engines.
 */
export async function startSimultaneousPair(
  a1: string, a2: string, bAddress: string, extraA: Partial<EngineOptions> = {}, extraB: Partial<EngineOptions> = {},
): Promise<{ a: HipEngine; b: HipEngine; gotA: ReturnType<typeof collectPayloads>; gotB: ReturnType<typeof collectPayloads> }> {
  const host = { multihoming: 'simultaneous' as const };
  const a = await startEngine(a1, { addresses: [a1, a2], locators: 'monitor', host, ...extraA });
  const b = await startEngine(bAddress, { host, ...extraB });
  const gotA = collectPayloads(a);
  const gotB = collectPayloads(b);
  try {
    a.setLocalLocators([
      { address: a1, ifname: 'wifi0', kind: 'wifi', available: true, operational: true, preferenceRank: 0 },
      { address: a2, ifname: 'cell0', kind: 'cellular', available: true, operational: true, preferenceRank: 1 },
    ]);
    const up = Promise.all([waitForEvent(a, 'established'), waitForEvent(b, 'established')]);
    a.connect(b.hit, b.locals()[0]!, a.locals().find((l) => l.address === a1));
    await up;
  } catch (err) {
    await Promise.all([a.stop(200), b.stop(200)]);
    throw err;
  }
  return { a, b, gotA, gotB };
}
