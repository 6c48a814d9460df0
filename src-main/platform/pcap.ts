// Packet captures for tests and diagnostics: read classic libpcap and pcapng files, write
// classic libpcap that tshark/Wireshark decode, and build or take apart the IPv4/IPv6/UDP
// packets HIP and ESP travel in.

import { concatBytes } from '../base/bytes.js';
import { closeSync, openSync, writeSync } from 'node:fs';
import { internetChecksum, pseudoHeader } from '../hip/wire/checksum.js';
import { ipToBytes16, isIpv4Mapped } from '../hip/wire/address.js';
import { copyOf } from '../hip/wire/bytes.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;

export const IPPROTO_UDP = 17;

export interface PcapRecord {
  /** Seconds since the epoch, with the file's sub-second precision. */
  ts: number;
  data: Uint8Array;
  /** Length on the wire; more than data.length when the capture was cut at the snap length. */
  origLength: number;
  linkType: number;
}
export interface PcapFile { linkType: number; records: PcapRecord[] }

export class PcapFormatError extends Error {
  override name = 'PcapFormatError';
}

// ---------------------------------------------------------------------------------------------
// Reading

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readClassic(bytes: Uint8Array): PcapFile {
  const dv = view(bytes);
  if (bytes.length < 24) throw new PcapFormatError('classic pcap header needs 24 octets');
  const magicBE = dv.getUint32(0, false);
  const little = magicBE === 0xd4c3b2a1 || magicBE === 0x4d3cb2a1;
  const nanos = magicBE === 0xa1b23c4d || magicBE === 0x4d3cb2a1;
  const linkType = dv.getUint32(20, little) & 0x0fffffff; // upper bits carry FCS flags
  const records: PcapRecord[] = [];
  let o = 24;
  while (o < bytes.length) {
    if (bytes.length - o < 16) throw new PcapFormatError(`record header at ${o} truncated`);
    const sec = dv.getUint32(o, little);
    const frac = dv.getUint32(o + 4, little);
    const incl = dv.getUint32(o + 8, little);
    const orig = dv.getUint32(o + 12, little);
    if (o + 16 + incl > bytes.length) throw new PcapFormatError(`record at ${o} claims ${incl} octets past the end`);
    records.push({ ts: sec + frac / (nanos ? 1e9 : 1e6), data: copyOf(bytes, o + 16, o + 16 + incl), origLength: orig, linkType });
    o += 16 + incl;
  }
  return { linkType, records };
}

interface PcapngInterface { linkType: number; tsPerSecond: number }

function readPcapng(bytes: Uint8Array): PcapFile {
  const dv = view(bytes);
  const interfaces: PcapngInterface[] = [];
  const records: PcapRecord[] = [];
  let little = true;
  let o = 0;
  while (o < bytes.length) {
    if (bytes.length - o < 12) throw new PcapFormatError(`block at ${o} truncated`);
    const blockType = dv.getUint32(o, little);
    if (blockType === 0x0a0d0d0a) {
      // each section header announces its own byte order
      const bom = dv.getUint32(o + 8, true);
      if (bom === 0x1a2b3c4d) little = true;
      else if (bom === 0x4d3c2b1a) little = false;
      else throw new PcapFormatError(`section at ${o} has an unknown byte-order magic`);
      interfaces.length = 0;
    }
    const length = dv.getUint32(o + 4, little);
    if (length < 12 || length % 4 !== 0 || o + length > bytes.length) throw new PcapFormatError(`block at ${o} has bad length ${length}`);
    const body = o + 8;
    const bodyEnd = o + length - 4;
    if (blockType === 1) {
      interfaces.push({ linkType: dv.getUint16(body, little), tsPerSecond: interfaceTsResolution(dv, body + 8, bodyEnd, little) });
    } else if (blockType === 6) {
      const iface = interfaces[dv.getUint32(body, little)];
      if (!iface) throw new PcapFormatError(`packet at ${o} names an undeclared interface`);
      const ticks = dv.getUint32(body + 4, little) * 2 ** 32 + dv.getUint32(body + 8, little);
      const captured = dv.getUint32(body + 12, little);
      const orig = dv.getUint32(body + 16, little);
      if (body + 20 + captured > bodyEnd) throw new PcapFormatError(`packet at ${o} overruns its block`);
      records.push({ ts: ticks / iface.tsPerSecond, data: copyOf(bytes, body + 20, body + 20 + captured), origLength: orig, linkType: iface.linkType });
    } else if (blockType === 3) {
      const iface = interfaces[0];
      if (!iface) throw new PcapFormatError(`simple packet at ${o} before any interface`);
      const orig = dv.getUint32(body, little);
      const captured = Math.min(orig, bodyEnd - body - 4);
      records.push({ ts: 0, data: copyOf(bytes, body + 4, body + 4 + captured), origLength: orig, linkType: iface.linkType });
    }
    o += length;
  }
  return { linkType: interfaces[0]?.linkType ?? records[0]?.linkType ?? LINKTYPE_RAW, records };
}

/** if_tsresol (option 9): 10^-n, or 2^-n when the top bit is set; microseconds by default. */
function interfaceTsResolution(dv: DataView, from: number, to: number, little: boolean): number {
  let o = from;
  while (o + 4 <= to) {
    const code = dv.getUint16(o, little);
    const len = dv.getUint16(o + 2, little);
    if (code === 0) break;
    if (code === 9 && len >= 1) {
      const v = dv.getUint8(o + 4);
      return v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
    }
    o += 4 + ((len + 3) & ~3);
  }
  return 1e6;
}

/** Reads a classic libpcap (either byte order, µs or ns) or pcapng file. Throws PcapFormatError. */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 4) throw new PcapFormatError('not a capture file: too short');
  const magic = view(bytes).getUint32(0, false);
  if (magic === 0x0a0d0d0a) return readPcapng(bytes);
  if ([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(magic)) return readClassic(bytes);
  throw new PcapFormatError(`not a capture file: magic 0x${magic.toString(16)}`);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface PcapWriterOptions {
  linkType?: typeof LINKTYPE_RAW | typeof LINKTYPE_ETHERNET;
  snapLength?: number;
  /** Append records to this file as they come (the file is created or truncated). */
  path?: string;
}

/** Classic little-endian, microsecond libpcap. */
export class PcapWriter {
  readonly linkType: number;
  private readonly snapLength: number;
  private readonly chunks: Uint8Array[] = [];
  private fd: number | null = null;

  constructor(options: PcapWriterOptions = {}) {
    this.linkType = options.linkType ?? LINKTYPE_RAW;
    this.snapLength = options.snapLength ?? 262144;
    const header = new Uint8Array(24);
    const dv = view(header);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setUint32(16, this.snapLength, true);
    dv.setUint32(20, this.linkType, true);
    if (options.path !== undefined) this.fd = openSync(options.path, 'w');
    this.emit(header);
  }

  private emit(b: Uint8Array): void {
    this.chunks.push(b);
    if (this.fd !== null) writeSync(this.fd, b);
  }

  /** One frame of the writer's link type; timestamp in milliseconds since the epoch. */
  write(frame: Uint8Array, timestampMs: number): void {
    const captured = frame.subarray(0, this.snapLength);
    const header = new Uint8Array(16);
    const dv = view(header);
    const micros = Math.round(timestampMs * 1000);
    dv.setUint32(0, Math.floor(micros / 1e6), true);
    dv.setUint32(4, micros % 1e6, true);
    dv.setUint32(8, captured.length, true);
    dv.setUint32(12, frame.length, true);
    this.emit(header);
    this.emit(copyOf(captured));
  }

  /** An IP packet, given a made-up Ethernet header when the link type needs one. */
  writeIp(ipPacket: Uint8Array, timestampMs: number): void {
    if (this.linkType !== LINKTYPE_ETHERNET) return this.write(ipPacket, timestampMs);
    const frame = new Uint8Array(14 + ipPacket.length);
    // locally administered MACs; the type field tells the dissector which IP follows
    frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
    const v6 = ipPacket.length > 0 && ipPacket[0]! >> 4 === 6;
    frame[12] = v6 ? 0x86 : 0x08;
    frame[13] = v6 ? 0xdd : 0x00;
    frame.set(ipPacket, 14);
    this.write(frame, timestampMs);
  }

  toBytes(): Uint8Array {
    return concatBytes(this.chunks);
  }

  close(): void {
    if (this.fd !== null) { closeSync(this.fd); this.fd = null; }
  }
}

// ---------------------------------------------------------------------------------------------
// Building IP packets

export type IpAddressInput = string | Uint8Array;

function addr4(a: IpAddressInput): Uint8Array {
  const b = typeof a === 'string' ? ipToBytes16(a) : a;
  if (b && b.length === 4) return b;
  if (b && isIpv4Mapped(b)) return copyOf(b, 12);
  throw new RangeError(`not an IPv4 address: ${String(a)}`);
}
function addr16(a: IpAddressInput): Uint8Array {
  const b = typeof a === 'string' ? ipToBytes16(a) : a;
  if (b && b.length === 16 && !isIpv4Mapped(b)) return b;
  throw new RangeError(`not an IPv6 address: ${String(a)}`);
}

/** IPv4 header (no options, TTL 64, DF clear) with a correct header checksum. */
export function ipv4Packet(src: IpAddressInput, dst: IpAddressInput, protocol: number, payload: Uint8Array): Uint8Array {
  const total = 20 + payload.length;
  if (total > 0xffff) throw new RangeError('IPv4 packet too long');
  const out = new Uint8Array(total);
  const dv = view(out);
  out[0] = 0x45;
  dv.setUint16(2, total);
  out[8] = 64;
  out[9] = protocol;
  out.set(addr4(src), 12);
  out.set(addr4(dst), 16);
  dv.setUint16(10, internetChecksum(out.subarray(0, 20)));
  out.set(payload, 20);
  return out;
}

/** IPv6 header (hop limit 64) with no extension headers. */
export function ipv6Packet(src: IpAddressInput, dst: IpAddressInput, nextHeader: number, payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffff) throw new RangeError('IPv6 payload too long');
  const out = new Uint8Array(40 + payload.length);
  const dv = view(out);
  out[0] = 0x60;
  dv.setUint16(4, payload.length);
  out[6] = nextHeader;
  out[7] = 64;
  out.set(addr16(src), 8);
  out.set(addr16(dst), 24);
  out.set(payload, 40);
  return out;
}

function udpDatagram(srcIp: Uint8Array, dstIp: Uint8Array, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const dv = view(out);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, out.length);
  out.set(payload, 8);
  const sum = internetChecksum(pseudoHeader(srcIp, dstIp, IPPROTO_UDP, out.length), out);
  dv.setUint16(6, sum === 0 ? 0xffff : sum); // zero means "no checksum" in UDP
  return out;
}

export function ipv4UdpPacket(src: IpAddressInput, dst: IpAddressInput, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  return ipv4Packet(src, dst, IPPROTO_UDP, udpDatagram(addr4(src), addr4(dst), sport, dport, payload));
}

export function ipv6UdpPacket(src: IpAddressInput, dst: IpAddressInput, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  return ipv6Packet(src, dst, IPPROTO_UDP, udpDatagram(addr16(src), addr16(dst), sport, dport, payload));
}

// ---------------------------------------------------------------------------------------------
// Taking captured packets apart

export interface ParsedIpPacket {
  version: 4 | 6;
  /** 4 octets for IPv4, 16 for IPv6: as in the pseudo-header. */
  src: Uint8Array;
  dst: Uint8Array;
  /** The upper-layer protocol after any IPv6 extension headers (139 HIP, 50 ESP, 17 UDP). */
  protocol: number;
  payload: Uint8Array;
  udp?: { sport: number; dport: number; payload: Uint8Array; checksumOk: boolean };
}
export type IpParseResult = { ok: true; packet: ParsedIpPacket } | { ok: false; reason: string };

const IPV6_SKIPPABLE = new Set([0, 43, 60]); // hop-by-hop, routing, destination options
const IPV6_FRAGMENT = 44;

/** Strips the link layer of a captured frame. Ethernet (with 802.1Q tags), raw IP, IPv4, IPv6. */
export function ipFromFrame(linkType: number, frame: Uint8Array): Uint8Array | null {
  if (linkType === LINKTYPE_RAW || linkType === LINKTYPE_IPV4 || linkType === LINKTYPE_IPV6) return frame;
  if (linkType !== LINKTYPE_ETHERNET) return null;
  let o = 12;
  while (frame.length >= o + 2) {
    const etherType = (frame[o]! << 8) | frame[o + 1]!;
    if (etherType === 0x8100 || etherType === 0x88a8) { o += 4; continue; }
    return etherType === 0x0800 || etherType === 0x86dd ? frame.subarray(o + 2) : null;
  }
  return null;
}

export function parseIpPacket(b: Uint8Array): IpParseResult {
  if (b.length < 1) return { ok: false, reason: 'empty' };
  const version = b[0]! >> 4;
  let src: Uint8Array;
  let dst: Uint8Array;
  let protocol: number;
  let payload: Uint8Array;
  if (version === 4) {
    const ihl = (b[0]! & 0x0f) * 4;
    if (b.length < 20 || ihl < 20 || b.length < ihl) return { ok: false, reason: 'IPv4 header truncated' };
    const total = (b[2]! << 8) | b[3]!;
    if (total < ihl || total > b.length) return { ok: false, reason: `IPv4 total length ${total} does not fit ${b.length} octets` };
    src = copyOf(b, 12, 16);
    dst = copyOf(b, 16, 20);
    protocol = b[9]!;
    payload = b.subarray(ihl, total); // drops link-layer padding
  } else if (version === 6) {
    if (b.length < 40) return { ok: false, reason: 'IPv6 header truncated' };
    const end = 40 + ((b[4]! << 8) | b[5]!);
    if (end > b.length) return { ok: false, reason: 'IPv6 payload length past the end' };
    src = copyOf(b, 8, 24);
    dst = copyOf(b, 24, 40);
    protocol = b[6]!;
    let o = 40;
    while (IPV6_SKIPPABLE.has(protocol) || protocol === IPV6_FRAGMENT) {
      if (o + 8 > end) return { ok: false, reason: 'IPv6 extension header truncated' };
      const next = b[o]!;
      o += protocol === IPV6_FRAGMENT ? 8 : (b[o + 1]! + 1) * 8;
      protocol = next;
    }
    if (o > end) return { ok: false, reason: 'IPv6 extension header truncated' };
    payload = b.subarray(o, end);
  } else {
    return { ok: false, reason: `IP version ${version}` };
  }
  const packet: ParsedIpPacket = { version, src, dst, protocol, payload: copyOf(payload) };
  if (protocol === IPPROTO_UDP) {
    if (payload.length < 8) return { ok: false, reason: 'UDP header truncated' };
    const udpLength = (payload[4]! << 8) | payload[5]!;
    if (udpLength < 8 || udpLength > payload.length) return { ok: false, reason: `UDP length ${udpLength} does not fit` };
    const datagram = payload.subarray(0, udpLength);
    const stored = (payload[6]! << 8) | payload[7]!;
    const zeroed = copyOf(datagram);
    zeroed[6] = 0;
    zeroed[7] = 0;
    const computed = internetChecksum(pseudoHeader(src, dst, IPPROTO_UDP, udpLength), zeroed);
    packet.udp = {
      sport: (payload[0]! << 8) | payload[1]!,
      dport: (payload[2]! << 8) | payload[3]!,
      payload: copyOf(datagram, 8),
      // IPv4 allows "no checksum" (0); IPv6 does not
      checksumOk: (stored === 0 && version === 4) || stored === (computed === 0 ? 0xffff : computed),
    };
  }
  return { ok: true, packet };
}
