// Watching HIP on the wire from a router: how many control packets and ESP packets went to and
// came from one transport address (see hipWatchRuleset); and what a host sends to an attacker's
// prefix (see egressWatchRuleset).

import type { Host } from './host.js';
import { EGRESS_WATCH_TABLE, HIP_WATCH_TABLE, egressWatchRuleset, hipWatchRuleset } from './nft.js';

export interface HipTraffic {
  /** Control packets (UPDATE, echo requests and responses, …) sent to the address. */
  readonly hipTo: number;
  readonly hipFrom: number;
  readonly espTo: number;
  readonly espFrom: number;
}

export class HipWatch {
  private constructor(
    private readonly router: Host,
    readonly address: string,
    readonly port: number,
  ) {}

  /** Start counting on `router` (replaces an earlier watch there). */
  static async start(router: Host, address: string, port: number): Promise<HipWatch> {
    await router.nft(hipWatchRuleset(address, port));
    return new HipWatch(router, address, port);
  }

  async read(): Promise<HipTraffic> {
    const counters = await readCounters(this.router, HIP_WATCH_TABLE);
    const packets = (name: string): number => counters.get(name)?.packets ?? 0;
    return { hipTo: packets('hip_to'), hipFrom: packets('hip_from'), espTo: packets('esp_to'), espFrom: packets('esp_from') };
  }
}

export interface PacketCount {
  readonly packets: number;
  /** IP packet octets, headers included. */
  readonly bytes: number;
}

/** What a host sends to one prefix (see egressWatchRuleset), counted from start(). */
export class EgressWatch {
  private constructor(private readonly host: Host) {}

  static async start(host: Host, prefix: string): Promise<EgressWatch> {
    await host.nft(egressWatchRuleset(prefix));
    return new EgressWatch(host);
  }

  async read(): Promise<PacketCount> {
    return (await readCounters(this.host, EGRESS_WATCH_TABLE)).get('sent') ?? { packets: 0, bytes: 0 };
  }
}

async function readCounters(host: Host, table: string): Promise<Map<string, PacketCount>> {
  const listed = await host.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', table]);
  const json = JSON.parse(listed.stdout) as { nftables?: Array<{ counter?: { name: string; packets: number; bytes: number } }> };
  const out = new Map<string, PacketCount>();
  for (const entry of json.nftables ?? []) {
    if (entry.counter) out.set(entry.counter.name, { packets: entry.counter.packets, bytes: entry.counter.bytes });
  }
  return out;
}
