// Inner-packet surgery: LSI rewriting keeps every checksum valid, BEET rebuilds the IPv6
// header the receiver's stack expects, and the tunnel MTU keeps outer packets within 1500.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_TUN_MTU, IPPROTO_TCP, IPPROTO_UDP, beetPayload, innerDestination, ipv4ToNumber,
  outerPacketLength, rewriteIpv4Addresses, tunnelMtu, writeBeetPacket,
} from '../../src-main/dataplane/packet.js';
import { checksumsValid, ipv4Packet } from '../support/dataplane-packets.js';

test('rewriting LSIs keeps the IPv4, TCP and UDP checksums valid', () => {
  for (const proto of [IPPROTO_TCP, IPPROTO_UDP]) {
    for (let i = 0; i < 200; i++) {
      const payload = Uint8Array.from({ length: i * 7 }, (_, k) => (k * 31 + i) & 0xff);
      const p = ipv4Packet('1.16.238.216', '1.97.85.185', proto, payload);
      assert.ok(checksumsValid(p), 'the test packet starts valid');
      rewriteIpv4Addresses(p, ipv4ToNumber(`1.${i}.2.3`)!, ipv4ToNumber('1.200.0.1')!);
      assert.deepEqual([...p.subarray(12, 20)], [1, i, 2, 3, 1, 200, 0, 1]);
      assert.ok(checksumsValid(p), `checksums valid after rewrite (proto ${proto}, ${payload.length} octets)`);
    }
  }
});

test('a UDP packet without a checksum keeps none', () => {
  const p = ipv4Packet('1.1.1.1', '1.2.2.2', IPPROTO_UDP, new Uint8Array(10));
  p[26] = 0; p[27] = 0;
  rewriteIpv4Addresses(p, ipv4ToNumber('1.3.3.3')!, ipv4ToNumber('1.4.4.4')!);
  assert.equal((p[26] << 8) | p[27], 0);
});

test('TUN packets are classified by destination: HIT, LSI or not ours', () => {
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  v6.set([0x20, 0x01, 0x00, 0x2a], 24);
  assert.deepEqual(innerDestination(v6, v6.length), { kind: 'hit', at: 24 });
  v6[27] = 0x40; // 2001:40::/28 is not ORCHIDv2
  assert.deepEqual(innerDestination(v6, v6.length), { kind: 'other', reason: 'not-hip' });
  const v4 = ipv4Packet('1.1.1.1', '1.9.8.7', IPPROTO_UDP, new Uint8Array(4));
  assert.deepEqual(innerDestination(v4, v4.length), { kind: 'lsi', lsi: ipv4ToNumber('1.9.8.7') });
  const other = ipv4Packet('1.1.1.1', '10.0.0.1', IPPROTO_UDP, new Uint8Array(4));
  assert.deepEqual(innerDestination(other, other.length), { kind: 'other', reason: 'not-hip' });
  assert.deepEqual(innerDestination(v4, 10), { kind: 'other', reason: 'truncated' });
});

test('BEET carries the transport payload and rebuilds the header from the HITs', () => {
  const src = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 1 : i === 3 ? 0x22 : i));
  const dst = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 1 : i === 3 ? 0x22 : 100 + i));
  const body = Uint8Array.from({ length: 30 }, (_, i) => i);
  const pkt = new Uint8Array(40 + body.length);
  writeBeetPacket(pkt, src, dst, 58, body);
  pkt[7] = 3; // the sender's hop limit is not carried
  const beet = beetPayload(pkt, pkt.length);
  assert.ok(beet, 'a well-formed IPv6 packet has a BEET payload');
  assert.equal(beet.nextHeader, 58);
  assert.deepEqual([...beet.payload], [...body]);
  const rebuilt = new Uint8Array(40 + beet.payload.length);
  writeBeetPacket(rebuilt, dst, src, beet.nextHeader, beet.payload);
  assert.deepEqual([...rebuilt.subarray(8, 24)], [...dst]);
  assert.deepEqual([...rebuilt.subarray(24, 40)], [...src]);
  assert.equal(rebuilt[7], 64);
  assert.equal(beetPayload(pkt, 39), null);
});

test('the default TUN MTU keeps the outer packet within a 1500-octet link for every suite', () => {
  assert.ok(outerPacketLength(DEFAULT_TUN_MTU) <= 1500, `outer ${outerPacketLength(DEFAULT_TUN_MTU)} fits 1500`);
  assert.ok(tunnelMtu(1500) >= DEFAULT_TUN_MTU, 'the default is within the computed maximum');
  assert.ok(outerPacketLength(tunnelMtu(1500) + 1) > 1500, 'tunnelMtu is the largest that fits');
});
