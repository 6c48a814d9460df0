// The shape of a flow's traffic selector and its address prefixes, below every layer that needs
// them: the flow rules (src-main/flows) classify packets with it, and HIP (src-main/hip) carries
// it to the peer in E-LOCATOR. Always seen from the host that wrote it: "local" is its side of
// the conversation, "remote" the other's. Pure.

import type { TrafficSelector } from './control-api.js';
import { ipv6Text, parseIPv4, parseIPv6 } from './ip-text.js';

export type FlowProtocol = TrafficSelector['protocol'];
export interface PortRange { from: number; to: number }

export interface FlowSelector {
  /** "any" with a port range selects every transport that has ports (TCP, UDP, SCTP, DCCP, UDP-Lite). */
  protocol: FlowProtocol;
  localPorts?: PortRange;
  remotePorts?: PortRange;
  /** "ADDR" or "ADDR/LEN"; the inner address on our side (our LSI or HIT). */
  localPrefix?: string;
  /** The inner address on the peer's side (its LSI or HIT as we know it). */
  remotePrefix?: string;
}

export interface IpPrefix {
  family: 4 | 6;
  /** The network address: host bits are zero. */
  bytes: Uint8Array;
  length: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** "192.0.2.0/24", "2001:20::/28", or one address ("192.0.2.7" = /32). Host bits must be zero. */
export function parsePrefix(text: string): Parsed<IpPrefix> {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addressText);
  const bytes = v4 ? Uint8Array.from(v4) : parseIPv6(addressText);
  if (!bytes) return { ok: false, error: `"${text}" is not an address or prefix (expected ADDR or ADDR/LEN, e.g. 1.0.0.0/8 or 2001:20::/28)` };
  const family = v4 ? 4 : 6;
  const max = bytes.length * 8;
  let length = max;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lengthText) || Number(lengthText) > max) {
      return { ok: false, error: `"${text}": the prefix length is 0..${max} for IPv${family}` };
    }
    length = Number(lengthText);
  }
  const network = maskedPrefix(bytes, length);
  if (!network.every((b, i) => b === bytes[i])) {
    return { ok: false, error: `"${text}" has bits set past its /${length}; did you mean ${prefixText({ family, bytes: network, length })}?` };
  }
  return { ok: true, value: { family, bytes: network, length } };
}

export function prefixText(p: IpPrefix): string {
  const address = p.family === 4 ? Array.from(p.bytes).join('.') : ipv6Text(p.bytes);
  return p.length === p.bytes.length * 8 ? address : `${address}/${p.length}`;
}

/** The address with every bit past `length` cleared. */
export function maskedPrefix(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}
