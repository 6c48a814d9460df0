// The data plane's counters as the worker reports them: the JS core's and, added in, the native
// fast path's. A peer or flow both sealers carried is one row with both's traffic, heard as
// recently as either heard it.

import type { FastPathStats } from '../platform/native.js';
import type { DataplaneCore } from './core.js';
import type { StrandedDatagrams } from './stranded.js';
import type { DataplaneStats, PacketCounts, WireFlowStats, WirePeerStats } from './messages.js';
import { hitKey } from '../../src-shared/vocabulary.js';

type Traffic = Pick<WirePeerStats, 'packetsIn' | 'bytesIn' | 'packetsOut' | 'bytesOut'>;

export interface StatsSources {
  core: DataplaneCore;
  fast: FastPathStats | undefined;
  /** Packets through the TUN and the sockets, counted where JS moved them. */
  counts: PacketCounts;
  stranded: Pick<StrandedDatagrams, 'expired' | 'copiesHeld' | 'copiesDropped'>;
  /** Datagrams re-sent on a peer's new pair (stranded or held copies). */
  resent: number;
}

/** Both sealers count what they carry; a peer's or a flow's traffic is the sum. */
function addTraffic(into: Traffic, more: Traffic): void {
  into.packetsIn += more.packetsIn;
  into.bytesIn += more.bytesIn;
  into.packetsOut += more.packetsOut;
  into.bytesOut += more.bytesOut;
}

export function combinedStats(s: StatsSources, now: number): DataplaneStats {
  const peers = new Map<string, WirePeerStats>();
  for (const p of s.core.stats()) {
    peers.set(hitKey(p.hit), {
      hit: p.hit, packetsIn: p.packetsIn, bytesIn: p.bytesIn, packetsOut: p.packetsOut, bytesOut: p.bytesOut,
      lastHeardAgoMs: p.lastHeardAt === null ? null : Math.max(0, now - p.lastHeardAt),
    });
  }
  const drops = { ...s.core.drops };
  let spareCopies = s.core.spareCopies;
  if (s.stranded.expired > 0) drops['udp-send-failed'] = (drops['udp-send-failed'] ?? 0) + s.stranded.expired;
  const counts = { ...s.counts };
  const flows = new Map<string, WireFlowStats>();
  for (const c of s.core.flowStats()) flows.set(`${hitKey(c.hit)}/${c.fid}`, { ...c });
  const f = s.fast;
  if (f) {
    for (const c of f.flows) {
      const key = `${hitKey(c.hit)}/${c.fid}`;
      const js = flows.get(key);
      if (!js) {
        flows.set(key, { ...c, hit: new Uint8Array(c.hit) });
        continue;
      }
      addTraffic(js, c);
    }
    for (const p of f.peers) {
      const key = hitKey(p.hit);
      const js = peers.get(key);
      if (!js) {
        peers.set(key, { ...p, hit: new Uint8Array(p.hit) });
        continue;
      }
      addTraffic(js, p);
      if (p.lastHeardAgoMs !== null && (js.lastHeardAgoMs === null || p.lastHeardAgoMs < js.lastHeardAgoMs)) {
        js.lastHeardAgoMs = p.lastHeardAgoMs;
      }
    }
    for (const [k, v] of Object.entries(f.drops)) drops[k] = (drops[k] ?? 0) + v;
    spareCopies += f.spareCopies;
    counts.tunPacketsIn += f.tunPacketsIn;
    counts.tunPacketsOut += f.tunPacketsOut;
    counts.udpPacketsIn += f.udpPacketsIn;
    counts.udpPacketsOut += f.udpPacketsOut;
  }
  const held = { heldCopies: s.stranded.copiesHeld, heldResent: s.resent, heldDropped: s.stranded.copiesDropped };
  if (f) held.heldDropped += f.heldCopiesLost;
  return { peers: [...peers.values()], flows: [...flows.values()], drops, ...counts, spareCopies, ...held };
}
