// Hand-built inner packets for the data-plane tests.

import { IPPROTO_TCP, ipv4HeaderChecksum, ipv4ToNumber, ipv4TransportChecksum } from '../../src-main/dataplane/packet.js';

/** An IPv4 packet with a valid header and transport checksum. */
export function ipv4Packet(src: string, dst: string, proto: number, payload: Uint8Array): Uint8Array {
  const l4 = proto === IPPROTO_TCP ? 20 : 8;
  const p = new Uint8Array(20 + l4 + payload.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = proto;
  const s = ipv4ToNumber(src)!;
  const d = ipv4ToNumber(dst)!;
  for (let i = 0; i < 4; i++) {
    p[12 + i] = (s >>> (24 - 8 * i)) & 0xff;
    p[16 + i] = (d >>> (24 - 8 * i)) & 0xff;
  }
  p[20] = 0x9c; p[21] = 0x40; p[22] = 0x1b; p[23] = 0x58; // ports 40000 → 7000
  if (proto === IPPROTO_TCP) p[32] = 0x50;
  else { p[24] = (8 + payload.length) >> 8; p[25] = (8 + payload.length) & 0xff; }
  p.set(payload, 20 + l4);
  const hc = ipv4HeaderChecksum(p);
  p[10] = hc >> 8; p[11] = hc & 0xff;
  const tc = ipv4TransportChecksum(p);
  const at = proto === IPPROTO_TCP ? 36 : 26;
  p[at] = tc >> 8; p[at + 1] = tc & 0xff;
  return p;
}

export function checksumsValid(p: Uint8Array): boolean {
  const at = p[9] === IPPROTO_TCP ? 36 : 26;
  return ipv4HeaderChecksum(p) === ((p[10]! << 8) | p[11]!) && ipv4TransportChecksum(p) === ((p[at]! << 8) | p[at + 1]!);
}
