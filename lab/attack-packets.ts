// What the attacker of bench:attack sends: garbage, recorded HIP and ESP datagrams replayed, and
// I1s from made-up HITs, each as a whole IPv4 packet from a forged source address. The sources
// are spread over many /24s of one prefix routed to the attacker's link, so that per-source and
// per-prefix limits in the target are tested as well as its global ones.

import { randomBytes, randomInt } from 'node:crypto';
import { buildI1 } from '../src-main/hip/messages.js';
import { frameHip } from '../src-main/platform/udp.js';
import { ipv4UdpPacket } from '../src-main/platform/pcap.js';
import { SUPPORTED_DH_GROUPS } from '../src-main/hip/crypto/dh.js';
import { HIP_UDP_PORT } from '../src-main/hip/wire/constants.js';
import { formatIpv4, parseSubnet } from './addressing.js';

/** The forged sources: 256 /24s, any host in each, any port. */
export const ATTACKER_PREFIX = '10.200.0.0/16';

export interface Target {
  readonly address: string;
  readonly port?: number;
}

function forgedSource(): { address: string; port: number } {
  const network = parseSubnet(ATTACKER_PREFIX).network;
  return { address: formatIpv4(network + randomInt(0, 256) * 256 + randomInt(1, 255)), port: randomInt(1024, 65536) };
}

/** `payloads` (UDP payloads) to the target, each from a forged source of its own. */
export function fromForgedSources(target: Target, payloads: readonly Uint8Array[]): Uint8Array[] {
  return payloads.map((payload) => {
    const source = forgedSource();
    return ipv4UdpPacket(source.address, target.address, source.port, target.port ?? HIP_UDP_PORT, payload);
  });
}

/**
 * Random datagrams of 64–320 octets: half look like ESP (a random SPI), half like HIP (the zero
 * marker, then noise), so both of the target's receive paths are exercised.
 */
export function garbagePayloads(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const payload = new Uint8Array(randomBytes(randomInt(64, 321)));
    if (i % 2 === 1) payload.fill(0, 0, 4);
    else if ((payload[0]! | payload[1]! | payload[2]! | payload[3]!) === 0) payload[0] = 1;
    return payload;
  });
}

/** I1s to `receiverHit`, each from a different made-up HIT with the receiver's ORCHID prefix. */
export function randomI1Payloads(count: number, receiverHit: Uint8Array): Uint8Array[] {
  return Array.from({ length: count }, () => {
    const sender = new Uint8Array(16);
    sender.set(receiverHit.subarray(0, 4));
    sender.set(randomBytes(12), 4);
    return frameHip(buildI1(sender, receiverHit, [...SUPPORTED_DH_GROUPS]));
  });
}

/** Round-robin of several lists: one of each kind in turn, so any stretch of a flood is a mix. */
export function interleave<T>(...lists: ReadonlyArray<readonly T[]>): T[] {
  const out: T[] = [];
  const longest = Math.max(...lists.map((list) => list.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (list.length > 0) out.push(list[i % list.length]!);
  return out;
}
