// Per peer, what of its ESP traffic HIP and failure detection have been told: the source last
// reported (with the bytes heard since, for credit) and the data plane's counters last read.
// HIP hears every authenticated packet, but its source and size only as a sample: a new source
// at once, otherwise at most every ESP_SOURCE_SAMPLE_MS.

import type { Endpoint } from '../hip/host.js';

/** Authenticated inbound ESP is reported to HIP with its source at most this often per peer. */
export const ESP_SOURCE_SAMPLE_MS = 100;

interface PeerTraffic { packetsOut: number; packetsIn: number; sampledAt: number; from: string; bytes: number }

export class EspTraffic {
  private readonly peers = new Map<string, PeerTraffic>();

  /** One authenticated packet of `bytes` from `from`: the sample to give HIP, if one is due. */
  heard(now: number, peer: string, bytes: number, from: Endpoint): { bytes: number; from: Endpoint } | undefined {
    const t = this.of(peer);
    t.bytes += bytes;
    const source = `${from.address}|${from.port}`;
    if (source === t.from && now - t.sampledAt < ESP_SOURCE_SAMPLE_MS) return undefined;
    const sample = { bytes: t.bytes, from };
    t.from = source;
    t.sampledAt = now;
    t.bytes = 0;
    return sample;
  }

  /** The data plane's cumulative counters: what changed since the last reading. */
  counted(peer: string, packetsOut: number, packetsIn: number): { sent: number; received: number } {
    const t = this.of(peer);
    const delta = { sent: packetsOut - t.packetsOut, received: packetsIn - t.packetsIn };
    t.packetsOut = packetsOut;
    t.packetsIn = packetsIn;
    return delta;
  }

  forget(peer: string): void {
    this.peers.delete(peer);
  }

  private of(peer: string): PeerTraffic {
    let t = this.peers.get(peer);
    if (t === undefined) {
      t = { packetsOut: 0, packetsIn: 0, sampledAt: Number.NEGATIVE_INFINITY, from: '', bytes: 0 };
      this.peers.set(peer, t);
    }
    return t;
  }
}
