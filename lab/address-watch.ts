// Watching what one lab host exchanges with one address, by the kernel's counters on the host
// itself (see addressWatchRuleset): e.g. that a server never answers an attacker.

import type { Host } from './host.js';
import { ADDRESS_WATCH_TABLE, addressWatchRuleset } from './nft.js';

export interface AddressTraffic {
  readonly sentPackets: number;
  readonly sentBytes: number;
  readonly receivedPackets: number;
  readonly receivedBytes: number;
}

export class AddressWatch {
  private constructor(
    private readonly host: Host,
    readonly address: string,
    private readonly table: string,
  ) {}

  /** Start counting on `host` (replaces an earlier watch there kept in the same nftables table). */
  static async start(host: Host, address: string, table = ADDRESS_WATCH_TABLE): Promise<AddressWatch> {
    await host.nft(addressWatchRuleset(address, table));
    return new AddressWatch(host, address, table);
  }

  async read(): Promise<AddressTraffic> {
    const listed = await this.host.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', this.table]);
    const json = JSON.parse(listed.stdout) as { nftables?: Array<{ counter?: { name: string; packets: number; bytes: number } }> };
    const counter = (name: string): { packets: number; bytes: number } => json.nftables?.find((e) => e.counter?.name === name)?.counter ?? { packets: 0, bytes: 0 };
    const sent = counter('sent_to');
    const received = counter('received_from');
    return { sentPackets: sent.packets, sentBytes: sent.bytes, receivedPackets: received.packets, receivedBytes: received.bytes };
  }
}
