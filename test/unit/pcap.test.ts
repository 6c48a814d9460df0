import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapFormatError, PcapWriter, ipFromFrame, ipv4Packet, ipv4UdpPacket, ipv6Packet,
  ipv6UdpPacket, parseIpPacket, readPcap,
} from '../../src-main/platform/pcap.js';
import { internetChecksum } from '../../src-main/hip/wire/checksum.js';
import { encodePacket, hipChecksum } from '../../src-main/hip/wire/codec.js';
import { HIT_I, HIT_R, bytes } from '../fixtures/wire-samples.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hipI1 = encodePacket({ packetType: 1, controls: 0, senderHit: HIT_I, receiverHit: HIT_R, params: [{ kind: 'DH_GROUP_LIST', groups: [7] }] });
const udpHip = () => Uint8Array.from([0, 0, 0, 0, ...hipI1]); // RFC 9028 §5.1: 32 zero bits, then HIP

function parsed(ip: Uint8Array) {
  const r = parseIpPacket(ip);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.packet;
}

test('IPv4/UDP packets carry correct IP and UDP checksums and parse back', () => {
  const ip = ipv4UdpPacket('192.0.2.1', '192.0.2.2', 10500, 40000, udpHip());
  assert.equal(internetChecksum(ip.subarray(0, 20)), 0, 'a valid IPv4 header sums to zero');
  const p = parsed(ip);
  assert.equal(p.version, 4);
  assert.equal(toHex(p.src), 'c0000201');
  assert.equal(p.protocol, 17);
  assert.deepEqual(p.udp && { ...p.udp, payload: toHex(p.udp.payload) }, { sport: 10500, dport: 40000, payload: toHex(udpHip()), checksumOk: true });
  const corrupt = ip.slice();
  corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0x10;
  assert.equal(parsed(corrupt).udp?.checksumOk, false);
});

test('IPv6/UDP packets parse back, with extension headers skipped', () => {
  const ip = ipv6UdpPacket('2001:db8::1', '2001:db8::2', 10500, 10500, udpHip());
  const p = parsed(ip);
  assert.equal(p.version, 6);
  assert.equal(p.udp?.checksumOk, true);
  assert.equal(toHex(p.udp.payload), toHex(udpHip()));
  // the same datagram behind a hop-by-hop options header
  const withExt = ipv6Packet('2001:db8::1', '2001:db8::2', 0, Uint8Array.from([17, 0, 1, 4, 0, 0, 0, 0, ...ip.subarray(40)]));
  const q = parsed(withExt);
  assert.equal(q.protocol, 17);
  assert.equal(q.udp?.checksumOk, true);
});

test('raw IP protocol 139 packets give the HIP packet, whose checksum validates', () => {
  const hip = hipI1.slice();
  const sum = hipChecksum(hip, Uint8Array.from([10, 0, 0, 1]), Uint8Array.from([10, 0, 0, 2]));
  hip[4] = sum >> 8;
  hip[5] = sum & 0xff;
  const p = parsed(ipv4Packet('10.0.0.1', '10.0.0.2', 139, hip));
  assert.equal(p.protocol, 139);
  assert.equal(toHex(p.payload), toHex(hip));
  assert.equal(hipChecksum(p.payload, p.src, p.dst), sum);
});

test('truncated or inconsistent IP packets are refused, not thrown on', () => {
  const ip = ipv4UdpPacket('192.0.2.1', '192.0.2.2', 1, 2, bytes(20));
  for (const bad of [ip.subarray(0, 10), ip.subarray(0, ip.length - 1), new Uint8Array(0), Uint8Array.from([0x50, 0, 0])]) {
    assert.equal(parseIpPacket(bad).ok, false);
  }
  // Ethernet padding after the IPv4 total length is not payload
  const padded = parsed(Uint8Array.from([...ip, 0, 0, 0, 0]));
  assert.equal(padded.udp?.payload.length, 20);
});

test('the writer\'s files read back: both link types, microsecond timestamps', () => {
  for (const linkType of [LINKTYPE_RAW, LINKTYPE_ETHERNET] as const) {
    const w = new PcapWriter({ linkType });
    const packets = [ipv4UdpPacket('192.0.2.1', '192.0.2.2', 10500, 10500, udpHip()), ipv6UdpPacket('2001:db8::1', '2001:db8::2', 10500, 10500, udpHip())];
    w.writeIp(packets[0]!, 1_700_000_000_123.456);
    w.writeIp(packets[1]!, 1_700_000_000_200);
    const file = readPcap(w.toBytes());
    assert.equal(file.linkType, linkType);
    assert.equal(file.records.length, 2);
    assert.ok(Math.abs(file.records[0]!.ts - 1_700_000_000.123456) < 1e-6);
    assert.ok(Math.abs(file.records[1]!.ts - 1_700_000_000.2) < 1e-6);
    file.records.forEach((r, n) => assert.equal(toHex(ipFromFrame(r.linkType, r.data)!), toHex(packets[n]!)));
  }
});

test('a writer given a path leaves the same bytes on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hipvpn-pcap-'));
  try {
    const path = join(dir, 'x.pcap');
    const w = new PcapWriter({ path });
    w.write(ipv4UdpPacket('192.0.2.1', '192.0.2.2', 1, 2, bytes(3)), 1000);
    w.close();
    assert.equal(toHex(readFileSync(path)), toHex(w.toBytes()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('classic files in big-endian and nanosecond flavours are read', () => {
  const data = bytes(5);
  const be = Buffer.alloc(24 + 16 + data.length);
  be.writeUInt32BE(0xa1b23c4d, 0); // nanosecond magic, big-endian
  be.writeUInt16BE(2, 4);
  be.writeUInt16BE(4, 6);
  be.writeUInt32BE(65535, 16);
  be.writeUInt32BE(LINKTYPE_RAW, 20);
  be.writeUInt32BE(10, 24);
  be.writeUInt32BE(500_000_000, 28);
  be.writeUInt32BE(data.length, 32);
  be.writeUInt32BE(data.length + 7, 36);
  Buffer.from(data).copy(be, 40);
  const f = readPcap(be);
  assert.equal(f.linkType, LINKTYPE_RAW);
  assert.deepEqual(f.records, [{ ts: 10.5, data, origLength: data.length + 7, linkType: LINKTYPE_RAW }]);
});

test('pcapng captures (as tshark writes them) are read', () => {
  const f = readPcap(readFileSync(new URL('../fixtures/cutehip-hipv2-bex-esp.pcap', import.meta.url)));
  assert.equal(f.linkType, LINKTYPE_ETHERNET);
  assert.equal(f.records.length, 10);
  const first = f.records[0]!;
  assert.equal(first.data.length, 90);
  assert.ok(Math.abs(f.records[9]!.ts - first.ts - 3.046385) < 1e-6);
  assert.equal(parsed(ipFromFrame(first.linkType, first.data)!).protocol, 139);
});

test('files that are not captures, or are cut short, raise PcapFormatError', () => {
  const w = new PcapWriter();
  w.write(bytes(40), 0);
  const good = w.toBytes();
  assert.throws(() => readPcap(bytes(30)), PcapFormatError);
  assert.throws(() => readPcap(good.subarray(0, good.length - 1)), PcapFormatError);
  assert.throws(() => readPcap(good.subarray(0, 30)), PcapFormatError);
});
