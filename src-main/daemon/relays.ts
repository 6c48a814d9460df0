// Our relays as the daemon handles them: the `relays` setting and `serve --relay` made into one
// list for a run, that list as the engine takes it (HITs as octets), and the engine's view of
// each relay as status reports it.

import type { PeerConfig, RelayConfig, RelayStatus } from '../../src-shared/control-api.js';
import type { RelayConfig as EngineRelay, RelayView } from '../engine/engine.js';
import { UserError } from '../base/errors.js';
import { normalizeRelay, parseHit } from './peer-input.js';

/**
 * The setting's relays, then those of the command line, then those the peers name, each once (by
 * HIT, the first entry keeping its name and place). A peer's relay is ours too: its ESP reaches
 * us through that relay's data relay only while we hold a registration there. Each is checked
 * again (a hand-edited settings file passed the schema, not the platform's address parser).
 */
export function relaysForRun(setting: readonly RelayConfig[], commandLine: readonly RelayConfig[], peers: readonly PeerConfig[] = []): RelayConfig[] {
  const out: RelayConfig[] = [];
  for (const r of [...setting, ...commandLine, ...peers.flatMap((p) => (p.relay ? [p.relay] : []))]) {
    const checked = normalizeRelay(r);
    if (!checked.ok) throw new UserError(`${checked.error}; correct it in the relays setting or --relay`);
    if (!out.some((o) => o.hit === checked.value.hit)) out.push(checked.value);
  }
  return out;
}

export function engineRelays(relays: readonly RelayConfig[]): EngineRelay[] {
  return relays.map((r) => {
    const hit = parseHit(r.hit);
    if (!hit.ok) throw new Error(hit.error); // normalizeRelay ran before; cannot happen
    return { hit: hit.value, endpoint: { address: r.address, port: r.port }, ...(r.name === undefined ? {} : { name: r.name }) };
  });
}

export function relayStatusRows(views: readonly RelayView[]): RelayStatus[] {
  return views.map((v) => ({
    name: v.name, hit: v.hit, address: v.address, port: v.port, registered: v.registered,
    reflexive: v.reflexive, relayed: v.relayed, lifetimeS: v.lifetimeS, expiresInS: v.expiresInS, failed: v.failed,
  }));
}
