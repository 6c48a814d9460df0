// Recording what a host really sent, the way an attacker on the path would: dumpcap on one of
// its interfaces, read back with our own pcap reader. The recorded HIP and ESP datagrams are what
// the hardening test and bench:attack replay.

import { readFileSync } from 'node:fs';
import { getParam, decodePacket } from '../src-main/hip/wire/codec.js';
import { bytes16ToIp } from '../src-main/hip/wire/address.js';
import { PacketType } from '../src-main/hip/wire/constants.js';
import { ipFromFrame, parseIpPacket, readPcap } from '../src-main/platform/pcap.js';
import type { Host } from './host.js';
import { sleep } from './hipvpn.js';

export interface CapturedUdp {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** The UDP payload: HIP after its 4-octet zero marker, or ESP. */
  readonly payload: Uint8Array;
}

/**
 * Captures UDP matching `filter` (a capture filter, e.g. "udp and src port 10501") on `ifname`
 * of `host` while `during` runs, and returns the datagrams in order.
 */
export async function captureUdp(host: Host, ifname: string, filter: string, during: () => Promise<void>): Promise<CapturedUdp[]> {
  const path = `${host.scratchDir}/capture-${Date.now()}.pcapng`;
  const dumpcap = host.spawn('dumpcap', ['-q', '-i', ifname, '-f', filter, '-w', path], { label: `${host.name}:dumpcap` });
  try {
    await dumpcap.waitForLine(/^Capturing on/, 10_000);
    await during();
    // dumpcap writes what the kernel handed it when it stops; give the last packets time to reach it.
    await sleep(300);
  } finally {
    await dumpcap.stop(3_000);
  }
  const file = readPcap(readFileSync(path));
  const out: CapturedUdp[] = [];
  for (const record of file.records) {
    const ip = ipFromFrame(record.linkType, record.data);
    const parsed = ip ? parseIpPacket(ip) : undefined;
    if (!parsed?.ok || !parsed.packet.udp) continue;
    const { src, dst, udp } = parsed.packet;
    out.push({ src: addressText(src), sport: udp.sport, dst: addressText(dst), dport: udp.dport, payload: udp.payload });
  }
  return out;
}

function addressText(bytes: Uint8Array): string {
  return bytes.length === 4 ? bytes.join('.') : bytes16ToIp(bytes);
}

/** A HIP control datagram (zero marker) of this packet type, parsed, or undefined. */
function hipOfType(datagram: CapturedUdp, type: number): ReturnType<typeof decodePacket> | undefined {
  const p = datagram.payload;
  if (p.length < 44 || (p[0]! | p[1]! | p[2]! | p[3]!) !== 0 || (p[6]! & 0x7f) !== type) return undefined;
  return decodePacket(p.subarray(4), { udp: true });
}

/** UPDATEs that carry a SEQ (they ask for an ACK: locator announcements, probes, echo requests). */
export function updatesWithSeq(datagrams: readonly CapturedUdp[]): CapturedUdp[] {
  return datagrams.filter((d) => {
    const decoded = hipOfType(d, PacketType.UPDATE);
    return decoded?.ok === true && getParam(decoded.packet, 'SEQ') !== undefined;
  });
}

/** ESP datagrams (a non-zero SPI where HIP has its zero marker). */
export function espDatagrams(datagrams: readonly CapturedUdp[]): CapturedUdp[] {
  return datagrams.filter((d) => d.payload.length >= 8 && (d.payload[0]! | d.payload[1]! | d.payload[2]! | d.payload[3]!) !== 0);
}
