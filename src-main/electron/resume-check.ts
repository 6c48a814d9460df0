// After the machine wakes up every path may be stale: addresses changed while asleep, NAT
// bindings expired, the peer moved. So on resume (and unlock) the engine re-reads its interfaces
// and every peer that has, or can start, an association is probed at once rather than at the
// next keepalive. Pure of Electron: the caller passes the control API.

import type { ControlMethod, ControlResponse, ParamsOf } from '../../src-shared/control-api.js';

export type Call = <M extends ControlMethod>(method: M, params: ParamsOf<M>) => Promise<ControlResponse<M>>;

export interface ResumeReport {
  interfacesRechecked: boolean;
  probed: string[];
  failed: Array<{ peer: string; reason: string }>;
}

/** Probes at most this many peers at once so a long peer list does not burst. */
const PARALLEL_PROBES = 8;
const PROBE_TIMEOUT_MS = 3000;

export async function recheckAfterResume(call: Call): Promise<ResumeReport> {
  const report: ResumeReport = { interfacesRechecked: false, probed: [], failed: [] };
  const recheck = await call('interfaces.recheck', {});
  report.interfacesRechecked = recheck.ok;
  const status = await call('status', {});
  if (!status.ok) return report;
  const targets = status.result.peers
    .filter((p) => p.name !== null && (p.state !== 'UNASSOCIATED' || p.configuredLocators.length > 0))
    .map((p) => p.name!);
  for (let i = 0; i < targets.length; i += PARALLEL_PROBES) {
    await Promise.all(targets.slice(i, i + PARALLEL_PROBES).map(async (peer) => {
      const r = await call('ping', { peer, timeoutMs: PROBE_TIMEOUT_MS });
      if (r.ok) report.probed.push(peer);
      else report.failed.push({ peer, reason: r.error.message });
    }));
  }
  return report;
}
