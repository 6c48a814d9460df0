// A PathManager with one peer established over wifi0, for the sans-IO tests of what it tells
// the data plane. Virtual clock; each test brings the sink that records what it checks.

import { PathManager, type EngineLocator, type PathSink } from '../../src-main/core/path-manager.js';
import type { Endpoint, HostEvent } from '../../src-main/hip/host.js';

export const HIT = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i));
export const PEER: Endpoint = { address: '192.0.2.1', port: 10500 };

function locator(address: string, ifname: string, kind: EngineLocator['kind'], rank: number): EngineLocator {
  return { address, port: 10500, ifname, kind, operational: true, preferenceRank: rank, defaultRoute: true, prefixLength: 24 };
}
export const WIFI = locator('10.1.0.2', 'wifi0', 'wifi', 1);
export const CELL = locator('10.2.0.2', 'cell0', 'cellular', 2);

export interface ProbeLog {
  readonly probes: Array<{ local: string; remote: string; probeId: number }>;
}

/**
 * The peer established over wifi0 only. `answer(now)` answers, at `now` with a 10 ms RTT, every
 * probe the sink logged since the last call.
 */
export function establishedOverWifi(sink: PathSink & ProbeLog, spareWindowMs: number): { pm: PathManager; answer: (now: number) => void } {
  const pm = new PathManager(sink, { abandonAfterMs: 8_000, spareWindowMs });
  pm.setLocalLocators(0, [WIFI]);
  pm.releaseProbes();
  const e = { type: 'established', peerHit: HIT, local: { address: WIFI.address, port: 10500 }, remote: PEER, initiator: true } as unknown as HostEvent;
  const listed = [{ ...PEER, spi: 0x1234, state: 'ACTIVE' as const, preferred: true, source: 'base-exchange' as const, candidate: 'host' as const, lifetimeS: 0xffffffff, verifiedAt: 0 }];
  pm.onHostEvent(0, e, () => listed);
  let answered = 0;
  return {
    pm,
    answer(now: number): void {
      for (const p of sink.probes.slice(answered)) {
        pm.onHostEvent(now, { type: 'pair-probe-answered', peerHit: HIT, pair: { local: { address: p.local, port: 10500 }, remote: { address: p.remote, port: PEER.port } }, probeId: p.probeId, rttMs: 10 }, () => []);
      }
      answered = sink.probes.length;
    },
  };
}
