// Inner packets as a peer's traffic enters the tunnel (our HIT or LSI to the peer's), for the
// tests that classify them in both data planes.

import { IPPROTO_TCP, IPPROTO_UDP, writeBeetPacket } from '../../src-main/dataplane/packet.js';
import { OWN_HIT, OWN_LSI, PEER_HIT, PEER_LSI } from '../../lab/dataplane-fastpath.js';

/** A TCP or UDP header (other protocols: 8 octets) with these ports, and 6 octets of payload. */
export function transport(proto: number, src: number, dst: number): Uint8Array {
  const h = new Uint8Array((proto === IPPROTO_TCP ? 20 : 8) + 6);
  const v = new DataView(h.buffer);
  v.setUint16(0, src);
  v.setUint16(2, dst);
  if (proto === IPPROTO_UDP) v.setUint16(4, h.length);
  if (proto === IPPROTO_TCP) h[12] = 0x50;
  return h;
}

/** An IPv6 packet from our HIT to the peer's: extension headers (each names the next) then the rest. */
export function v6(firstNh: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const p = new Uint8Array(40 + body.length);
  writeBeetPacket(p, OWN_HIT, PEER_HIT, firstNh, body);
  return p;
}

/** An IPv4 packet from our LSI to the one we gave the peer. */
export function v4(proto: number, body: Uint8Array, fragOffsetUnits = 0, more = false): Uint8Array {
  const p = new Uint8Array(20 + body.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(6, (more ? 0x2000 : 0) | fragOffsetUnits);
  p[8] = 64;
  p[9] = proto;
  v.setUint32(12, OWN_LSI);
  v.setUint32(16, PEER_LSI);
  p.set(body, 20);
  return p;
}
