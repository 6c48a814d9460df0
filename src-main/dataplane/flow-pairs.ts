// Each peer's flow routes as the control plane last gave them, and each flow's own pair: a flow
// given another pair takes along what was stranded on its old one (sends that failed with the
// old interface gone), and only what it sent, each datagram classified under the routes it was
// sent with. A flow left without a route takes its datagrams to the peer's path.

import { same16 } from '../base/addr16.js';
import type { FlowRoute } from './core.js';
import type { SealedFlows } from './sealed-flows.js';
import type { SendPath, StrandedDatagrams } from './stranded.js';

export class FlowPairs {
  /** Each peer's flow routes as last given, to tell which flow a stranded datagram was sent as. */
  private readonly routes = new Map<string, FlowRoute[]>();
  /** Each flow's pair as its route last gave it, by peer and FID. */
  private readonly paths = new Map<string, SendPath>();

  constructor(private readonly stranded: StrandedDatagrams, private readonly sealedFlows: SealedFlows) {}

  /** Whether the peer's packets from this address arrive on a flow's own pair (seed 002), not the peer moving. */
  isFlowRemote(peer: string, addr16: Uint8Array, port: number): boolean {
    return this.routes.get(peer)?.some((r) => r.drop !== true && r.remote.port === port && same16(r.remoteAddr16, addr16)) === true;
  }

  /**
   * The peer's routes are now `routes`: returns what was stranded on a moved flow's old pair,
   * with where to re-send it. The rest stay for their own move (the peer's path moving).
   */
  setRoutes(peer: string, routes: readonly FlowRoute[], peerPath: SendPath | undefined, now: number): { to: SendPath; datagram: Uint8Array }[] {
    const previous = this.routes.get(peer) ?? [];
    if (routes.length > 0) this.routes.set(peer, routes.map((r) => ({ ...r })));
    else this.routes.delete(peer);
    const before = new Map<string, SendPath>();
    for (const [key, path] of this.paths) {
      if (!key.startsWith(`${peer}/`)) continue;
      before.set(key, path);
      this.paths.delete(key);
    }
    for (const r of routes) {
      // A spread member is no flow; what strands on it is the peer's path's to move.
      if (r.spreadKey !== undefined) continue;
      const key = `${peer}/${r.fid}`;
      if (!this.paths.has(key)) this.paths.set(key, { local: r.local, addr16: r.remoteAddr16, port: r.remote.port });
    }
    const resend: { to: SendPath; datagram: Uint8Array }[] = [];
    for (const [key, from] of before) {
      const to = this.paths.get(key) ?? peerPath;
      if (!to) continue;
      const fid = Number(key.slice(peer.length + 1));
      for (const datagram of this.stranded.moved(from, to, now, (d) => this.sealedFlows.fidOf(d, previous) === fid)) resend.push({ to, datagram });
    }
    return resend;
  }

  forget(peer: string): void {
    for (const f of this.paths.keys()) if (f.startsWith(`${peer}/`)) this.paths.delete(f);
    this.routes.delete(peer);
  }
}
