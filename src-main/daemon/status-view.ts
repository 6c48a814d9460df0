// The daemon's `status` answer: the engine's snapshot read against the peer list, the connect
// attempts and the uplinks, in the control API's terms. Nothing here changes state.

import type { AssociationView, EngineSnapshot, HipEngine, PairView, PathView } from '../engine/engine.js';
import type { MonitoredLocator } from '../mobility/local-addresses.js';
import {
  CONTROL_API_VERSION,
  type AssociationState, type DaemonStatus, type LocatorPair as ApiLocatorPair, type PairRef, type PeerConfig, type PeerStatus, type Uplink,
} from '../../src-shared/control-api.js';
import { parseHit } from './peer-input.js';
import { relayStatusRows } from './relays.js';
import type { ConnectAttempts } from './connect-attempts.js';
import type { SettingsControl } from './settings-control.js';

export interface StatusSources {
  engine: Pick<HipEngine, 'hitText' | 'lsi' | 'lsiOf' | 'isRelay' | 'lastHeardMs'>;
  snap: EngineSnapshot;
  now: number;
  peers: readonly PeerConfig[];
  attempts: ConnectAttempts;
  /** Our uplinks; undefined when the daemon listens on fixed addresses. */
  uplinks: Uplink[] | undefined;
  /** The tunnel switch and the flows (settings-control.ts). */
  settings: Pick<SettingsControl, 'statusFields'>;
  run: { tun: string | null; acceptAny: boolean; uptimeMs: number; socketDrops: number };
}

export function daemonStatus(s: StatusSources): DaemonStatus {
  const { snap, engine } = s;
  const byHit = new Map(snap.associations.map((a) => [a.peer, a]));
  const rows: PeerStatus[] = s.peers.map((p) => peerRow(s, byHit.get(p.hit), p.hit, p));
  // A relay's own association is shown with the relays, not as a peer.
  for (const a of snap.associations) if (!s.peers.some((p) => p.hit === a.peer) && !engine.isRelay(a.peer)) rows.push(peerRow(s, a, a.peer, undefined));
  return {
    ...s.settings.statusFields(rows, s.uplinks, (peer, fid) => {
      const hit = s.peers.find((p) => p.name === peer)?.hit;
      return hit === undefined ? undefined : byHit.get(hit)?.flows?.find((f) => f.fid === fid);
    }),
    version: CONTROL_API_VERSION,
    identity: { hit: engine.hitText, lsi: engine.lsi },
    listening: snap.locals,
    tun: s.run.tun,
    acceptAny: s.run.acceptAny,
    uptimeMs: s.run.uptimeMs,
    peers: rows,
    counters: snap.counters,
    puzzle: snap.puzzle,
    socketDrops: s.run.socketDrops,
    ...(s.uplinks ? { interfaces: s.uplinks } : {}),
    ...(snap.relays.length > 0 ? { relays: relayStatusRows(snap.relays) } : {}),
  };
}

function peerRow(s: StatusSources, a: AssociationView | undefined, hit: string, config: PeerConfig | undefined): PeerStatus {
  const parsed = parseHit(hit);
  const status: PeerStatus = {
    name: config?.name ?? null,
    hit,
    lsi: a?.lsi ?? (parsed.ok ? s.engine.lsiOf(parsed.value) : null),
    state: (a?.state ?? 'UNASSOCIATED') as AssociationState,
    counters: {
      espPacketsIn: a?.espPacketsIn ?? 0, espPacketsOut: a?.espPacketsOut ?? 0,
      espBytesIn: a?.espBytesIn ?? 0, espBytesOut: a?.espBytesOut ?? 0,
    },
    configuredLocators: config?.locators ?? [],
    ...(config?.relay ? { configuredRelay: config.relay } : {}),
  };
  if (a?.local && a.remote) {
    status.local = a.local;
    status.remote = a.remote;
  }
  if (a?.peerFlows) status.peerFlows = a.peerFlows.map((f) => ({ fid: f.fid, selector: { ...f.selector }, locator: { ...f.locator } }));
  if (a?.multihoming !== undefined) status.multihoming = a.multihoming === 'simultaneous' ? 'simultaneous' : 'fault-tolerance';
  if (a?.paths) {
    status.pairs = a.paths.pairs.map((p) => pairRow(p, a));
    const inbound = a.paths.inbound;
    if (inbound) status.inbound = pairRefOf(inbound, s.snap.relays);
  }
  // The engine's one liveness record: it outlives the association, so a peer gone quiet still says when.
  const heard = a?.lastHeardMs ?? (parsed.ok ? s.engine.lastHeardMs(parsed.value) : undefined);
  if (heard !== undefined) status.lastHeardMs = heard;
  const attempt = s.attempts.status(hit, status.state, a?.remote ?? config?.locators[0], s.now);
  if (attempt) status.attempt = attempt;
  const via = a?.via ?? { via: 'direct' as const };
  status.via = via.via;
  if (via.via === 'relay') status.relay = via.relay;
  return status;
}

function pairRow(p: PairView, a: AssociationView): ApiLocatorPair {
  const row: ApiLocatorPair = {
    local: p.local, remote: p.remote, interface: interfaceOrNull(p.ifname), kind: p.kind,
    // Not tried yet shows as testing: it is next in line for a probe.
    remoteState: p.remoteState, state: p.state === 'untested' ? 'testing' : p.state, primary: p.primary,
    candidate: p.candidate,
  };
  // Fault tolerance: one SA pair serves every locator pair (seed 000 §4); simultaneous
  // multihoming: the engine names each pair's own SAs (RFC 8047 §4.1).
  const spiIn = p.spiIn ?? a.inboundSpi;
  const spiOut = p.spiOut ?? a.outboundSpi;
  if (spiIn !== undefined) row.spiIn = spiIn;
  if (spiOut !== undefined) row.spiOut = spiOut;
  if (p.rttMs !== undefined) row.rttMs = Math.round(p.rttMs * 10) / 10;
  if (p.lastHeardMs !== undefined) row.lastHeardMs = Math.round(p.lastHeardMs);
  if (p.inbound) row.inbound = true;
  if (p.spread) row.spread = true;
  if (p.checksHeld) row.checksHeld = true;
  return row;
}

/** Our uplinks as the interface monitor sees them, best first. */
export function uplinksOf(locators: readonly MonitoredLocator[], meteredInterfaces: readonly string[]): Uplink[] {
  const byName = new Map<string, Uplink>();
  const metered = new Set(meteredInterfaces);
  for (const l of locators) {
    const name = interfaceOrNull(l.ifname);
    if (name === null) continue;
    let uplink = byName.get(name);
    if (!uplink) {
      uplink = { name, kind: l.kind, up: false, addresses: [], preference: l.preferenceRank };
      if (metered.has(name)) uplink.metered = true;
      byName.set(name, uplink);
    }
    uplink.up ||= l.operational;
    uplink.preference = Math.min(uplink.preference, l.preferenceRank);
    const state = !l.available || l.deprecated ? 'DEPRECATED' : l.operational ? 'ACTIVE' : 'UNVERIFIED';
    uplink.addresses.push({ address: l.address, prefixLength: l.prefixLength, state });
  }
  return [...byName.values()].sort((a, b) => a.preference - b.preference);
}

/** An interface name as the control API allows it; anything else is shown as none. */
function interfaceOrNull(ifname: string | null): string | null {
  return ifname !== null && /^[A-Za-z0-9_.:-]{1,15}$/.test(ifname) ? ifname : null;
}

/**
 * A pair as status and handovers name it. The peer's end says how the pair travels; a relayed
 * one through one of our relays also names that relay, so a timeline entry can say "relayed
 * through home" long after the relay's address has changed.
 */
export function pairRefOf(p: PathView, relays: readonly { name: string; address: string; port: number }[]): PairRef {
  const ref: PairRef = { local: p.local, remote: p.remote, interface: interfaceOrNull(p.ifname), kind: p.kind, candidate: p.candidate };
  const relay = p.candidate === 'relayed' ? relays.find((r) => r.address === p.remote.address && r.port === p.remote.port) : undefined;
  if (relay !== undefined) ref.relay = relay.name;
  return ref;
}
