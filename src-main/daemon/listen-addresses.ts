// Which local addresses the daemon listens on when the user names none: every address of every
// interface that can carry HIP to another host. Excluded: link-local IPv6 (needs a scope the
// engine does not track yet), and our own tunnel's HIT and LSI ranges, so we never try to run
// HIP through our own tunnel. Loopback only when nothing else exists (a bare namespace, tests).

import { networkInterfaces } from 'node:os';

export interface LocalAddress { address: string; device: string; internal: boolean }

function isTunnelAddress(address: string, family: 'IPv4' | 'IPv6'): boolean {
  if (family === 'IPv4') return address.startsWith('1.'); // LSIs, 1.0.0.0/8
  return /^2001:0*2[0-9a-f]:/i.test(address); // HITs, 2001:20::/28
}

export function interfaceAddresses(): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const [device, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv6' && (a.scopeid ?? 0) !== 0) continue;
      if (isTunnelAddress(a.address, a.family)) continue;
      out.push({ address: a.address, device, internal: a.internal });
    }
  }
  return out;
}

export function defaultListenAddresses(): LocalAddress[] {
  const all = interfaceAddresses();
  const external = all.filter((a) => !a.internal);
  return external.length > 0 ? external : all;
}

/** Interface name per address, for binding each socket to its device as well (TUN mode). */
export function devicesFor(addresses: readonly string[]): Record<string, string> {
  const known = new Map(interfaceAddresses().map((a) => [a.address, a.device]));
  const out: Record<string, string> = {};
  for (const a of addresses) {
    const d = known.get(a);
    if (d !== undefined) out[a] = d;
  }
  return out;
}
