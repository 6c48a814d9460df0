// Recording what crosses a lab host's interface with dumpcap (inside the host's namespace), and
// taking the HIP-over-UDP datagrams (RFC 9028) back out of the capture with our own pcap
// reader: what an attacker on that link could record and send again.
//
//   const capture = await Capture.start(server, 'eth0', 'udp port 10500');
//   ...
//   const datagrams = await capture.stop();
//   const i2 = datagrams.find((d) => hipPacketType(d.payload) === PacketType.I2);

import { readFileSync } from 'node:fs';
import { ipFromFrame, parseIpPacket, readPcap } from '../src-main/platform/pcap.js';
import { sleep } from './hipvpn.js';
import type { Host } from './host.js';
import type { LabProcess } from './process.js';

export interface CapturedDatagram {
  /** Seconds since the epoch, as the capture stamped it. */
  readonly ts: number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  /** The UDP payload: an RFC 9028 HIP packet (four zero octets first) or ESP. */
  readonly payload: Uint8Array;
}

let captures = 0;

/**
 * dumpcap gets packets from the kernel in blocks, each handed over when full or after its
 * read timeout (250 ms in Wireshark's capture code); what still sits in an open block when it
 * is told to stop is lost. Stopping this much later than the last packet of interest keeps it.
 */
const BLOCK_HANDOVER_MS = 750;

export class Capture {
  private constructor(
    private readonly process: LabProcess,
    /** The pcapng dumpcap writes, complete once stop() resolves (for tshark and other readers). */
    readonly file: string,
  ) {}

  /** dumpcap on `ifname` inside `host`, with a capture filter; resolves once it captures. */
  static async start(host: Host, ifname: string, filter: string): Promise<Capture> {
    const file = `${host.scratchDir}/capture-${ifname}-${++captures}.pcapng`;
    const process = host.spawn('dumpcap', ['-q', '-i', ifname, '-f', filter, '-w', file], { label: `${host.name}:dumpcap` });
    // dumpcap says so on stderr once the interface is open and the filter compiled.
    await process.waitForLine(/^Capturing on /, 10_000);
    return new Capture(process, file);
  }

  /**
   * Stops the capture (dumpcap finishes the file on SIGTERM) and returns its IPv4 UDP
   * datagrams, with everything that crossed the interface up to the call.
   */
  async stop(): Promise<CapturedDatagram[]> {
    await sleep(BLOCK_HANDOVER_MS);
    await this.process.stop(3_000);
    const file = readPcap(readFileSync(this.file));
    const out: CapturedDatagram[] = [];
    for (const record of file.records) {
      const ip = ipFromFrame(record.linkType, record.data);
      const parsed = ip === null ? undefined : parseIpPacket(ip);
      if (!parsed?.ok || parsed.packet.udp === undefined || parsed.packet.version !== 4) continue;
      const { src, dst, udp } = parsed.packet;
      out.push({ ts: record.ts, src: src.join('.'), dst: dst.join('.'), sport: udp.sport, dport: udp.dport, payload: udp.payload });
    }
    return out;
  }
}

/** The HIP packet type of an RFC 9028 control datagram (zero marker first), or null for ESP. */
export function hipPacketType(payload: Uint8Array): number | null {
  if (payload.length < 8 || (payload[0]! | payload[1]! | payload[2]! | payload[3]!) !== 0) return null;
  // Octet 2 of the HIP header: a fixed 0 bit, then the 7-bit packet type (RFC 7401 §5.1).
  return payload[4 + 2]! & 0x7f;
}

/** The SPI of an ESP datagram, or null for a HIP control datagram. */
export function espSpi(payload: Uint8Array): number | null {
  if (payload.length < 8) return null;
  const spi = ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
  return spi === 0 ? null : spi;
}
