// Watching HIP on the wire from a router: how many control packets and ESP packets went to and
// came from one transport address (see hipWatchRuleset).

import type { Host } from './host.js';
import { HIP_WATCH_TABLE, hipWatchRuleset } from './nft.js';

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
    const listed = await this.router.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', HIP_WATCH_TABLE]);
    const json = JSON.parse(listed.stdout) as { nftables?: Array<{ counter?: { name: string; packets: number } }> };
    const packets = (name: string): number => json.nftables?.find((entry) => entry.counter?.name === name)?.counter?.packets ?? 0;
    return { hipTo: packets('hip_to'), hipFrom: packets('hip_from'), espTo: packets('esp_to'), espFrom: packets('esp_from') };
  }
}
