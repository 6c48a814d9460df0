// Flow selectors and the classifier against real packets: the IPv4/IPv6 UDP, TCP and ICMP packets
// below were captured on lo (tshark) as the Linux kernel sent them; the LSI/HIT ones are built
// the way the data plane sees inner packets. What is checked is what the data plane will rely
// on: the right binding for each packet, in each direction, and no binding where none applies.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowClassifier, type PeerInnerAddresses } from '../../src-main/flows/flow-classifier.js';
import { FlowTable, type FlowBinding } from '../../src-main/flows/flow-table.js';
import { packetTuple } from '../../src-main/base/packet-tuple.js';
import { parsePrefix, selectorProblem, selectorText } from '../../src-main/flows/traffic-selector.js';
import { ipv6UdpPacket } from '../../src-main/platform/pcap.js';
import { ipv4Packet } from '../support/dataplane-packets.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

// Captured with tshark on lo (Ethernet header stripped).
const UDP4 = hex('45000023803c40004011bc8b7f0000017f0000019c4b9c41000ffe22666c6f772d7634'); // 40011 → 40001 "flow-v4"
const UDP6 = hex('60048ef2000f114000000000000000000000000000000001000000000000000000000000000000019c4c9c41000f0022666c6f772d7636'); // 40012 → 40001
const TCP4_SYN = hex('4500003c96bb40004006a5fe7f0000017f0000019c4d9c42b6a539b200000000a002ffd7fe3000000204ffd70402080a8247942a000000000103030a'); // 40013 → 40002
const TCP6_SYN = hex('600a2a5f0028064000000000000000000000000000000001000000000000000000000000000000019c4e9c421929c53400000000a002ffc4003000000204ffc40402080a80c7baaa000000000103030a'); // 40014 → 40002
const PING4 = hex('45000054845340004001b8537f0000017f00000108006f860c76000162cc066b000000004cf8070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637');
const PING6 = hex('600d070000403a40000000000000000000000000000000010000000000000000000000000000000180006a030c77000162cc066b00000000d9fd070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637');

/** UDP6 with a destination-options header and a (first) fragment header in front of UDP. */
function withExtensionHeaders(p: Uint8Array, fragmentOffset = 0): Uint8Array {
  const dstOpts = [44, 0, 1, 4, 0, 0, 0, 0]; // next = fragment, 8 octets, PadN
  const frag = [17, 0, (fragmentOffset << 3) >> 8, ((fragmentOffset << 3) & 0xff) | 1, 0, 0, 0, 7];
  const out = new Uint8Array(p.length + 16);
  out.set(p.subarray(0, 40));
  out[6] = 60;
  const payload = p.length - 40 + 16;
  out[4] = payload >> 8;
  out[5] = payload & 0xff;
  out.set(dstOpts, 40);
  out.set(frag, 48);
  out.set(p.subarray(40), 56);
  return out;
}

test('packet tuples: addresses, protocol and ports of real kernel packets', () => {
  assert.deepEqual(pick(packetTuple(UDP4)), { family: 4, protocol: 17, srcPort: 40011, dstPort: 40001 });
  assert.deepEqual(pick(packetTuple(UDP6)), { family: 6, protocol: 17, srcPort: 40012, dstPort: 40001 });
  assert.deepEqual(pick(packetTuple(TCP4_SYN)), { family: 4, protocol: 6, srcPort: 40013, dstPort: 40002 });
  assert.deepEqual(pick(packetTuple(TCP6_SYN)), { family: 6, protocol: 6, srcPort: 40014, dstPort: 40002 });
  assert.deepEqual(pick(packetTuple(PING4)), { family: 4, protocol: 1 }, 'ICMP has no ports');
  assert.deepEqual(pick(packetTuple(PING6)), { family: 6, protocol: 58 });
  assert.deepEqual(Array.from(packetTuple(UDP4)!.dst), [127, 0, 0, 1]);
  assert.deepEqual(pick(packetTuple(withExtensionHeaders(UDP6))), { family: 6, protocol: 17, srcPort: 40012, dstPort: 40001 }, 'ports found behind extension headers');
  assert.deepEqual(pick(packetTuple(withExtensionHeaders(UDP6, 185))), { family: 6, protocol: 17 }, 'a later fragment has no ports');
});

test('packet tuples: truncated or malformed packets give null, never an exception', () => {
  assert.equal(packetTuple(new Uint8Array(0)), null, 'empty');
  assert.equal(packetTuple(UDP4.subarray(0, 19)), null, 'IPv4 shorter than its header');
  assert.equal(packetTuple(UDP6.subarray(0, 50)), null, 'IPv6 shorter than its payload length says');
  const badIhl = UDP4.slice();
  badIhl[0] = 0x44;
  assert.equal(packetTuple(badIhl), null, 'IHL below 5');
  const loop = withExtensionHeaders(UDP6);
  loop[48] = 60; // the "fragment" header points at destination options again and again
  assert.equal(packetTuple(loop.subarray(0, 56)), null, 'an extension header chain running past the packet');
  for (let n = 0; n < TCP6_SYN.length; n++) packetTuple(TCP6_SYN.subarray(0, n)); // every truncation, no throw
  assert.equal(packetTuple(hex('50000000')), null, 'not IP');
});

function pick(t: ReturnType<typeof packetTuple>): Record<string, number> | null {
  if (!t) return null;
  const out: Record<string, number> = { family: t.family, protocol: t.protocol };
  if (t.srcPort !== undefined) out.srcPort = t.srcPort;
  if (t.dstPort !== undefined) out.dstPort = t.dstPort;
  return out;
}

test('prefixes: parsed strictly, host bits refused with the prefix meant', () => {
  assert.deepEqual(parsePrefix('1.0.0.0/8'), { ok: true, value: { family: 4, bytes: Uint8Array.from([1, 0, 0, 0]), length: 8 } });
  assert.equal((parsePrefix('2001:20::/28') as { ok: true; value: { length: number } }).value.length, 28);
  assert.equal((parsePrefix('192.0.2.7') as { ok: true; value: { length: number } }).value.length, 32, 'one address is a /32');
  assert.deepEqual(parsePrefix('192.0.2.7/24'), { ok: false, error: '"192.0.2.7/24" has bits set past its /24; did you mean 192.0.2.0/24?' });
  assert.deepEqual(parsePrefix('10.0.0.0/33'), { ok: false, error: '"10.0.0.0/33": the prefix length is 0..32 for IPv4' });
  assert.match((parsePrefix('lan') as { error: string }).error, /^"lan" is not an address or prefix/);
  assert.match((parsePrefix('2001:db8::/064') as { error: string }).error, /prefix length is 0\.\.128/);
});

test('selectors: every rule refuses with a message saying what is allowed', () => {
  assert.equal(selectorProblem({ protocol: 'tcp', remotePorts: { from: 443, to: 443 } }), null);
  assert.equal(selectorProblem({ protocol: 'icmp', remotePorts: { from: 1, to: 2 } }), 'ICMP has no ports: remove the port range, or choose tcp or udp');
  assert.equal(selectorProblem({ protocol: 'udp', localPorts: { from: 9000, to: 8000 } }), 'local ports: the range ends (8000) before it starts (9000)');
  assert.equal(selectorProblem({ protocol: 'udp', remotePorts: { from: 0, to: 10 } }), 'peer ports are 1..65535, got 0-10');
  assert.equal(selectorProblem({ protocol: 'sctp' as 'tcp' }), 'protocol is one of any, tcp, udp, icmp, not "sctp"');
  assert.equal(selectorProblem({ protocol: 'any', localPrefix: '1.0.0.1', remotePrefix: '2001:20::/28' }), 'the local and peer prefixes are of different address families (one IPv4, one IPv6), so no packet can match both');
  assert.equal(selectorText({ protocol: 'udp', localPorts: { from: 5004, to: 5004 }, remotePrefix: '1.0.0.2', remotePorts: { from: 5004, to: 5010 } }), 'udp from port 5004 to 1.0.0.2 ports 5004-5010');
});

const OUR_LSI = '1.0.0.1';
const BOB: PeerInnerAddresses = { name: 'bob', hit: hex('20010020000000000000000000000b0b'), lsi: Uint8Array.from([1, 0, 0, 2]) };
const CAROL: PeerInnerAddresses = { name: 'carol', hit: hex('200100200000000000000000000ca201'), lsi: Uint8Array.from([1, 0, 0, 3]) };
const OUR_HIT = hex('2001002000000000000000000000a11c');

function table(bindings: FlowBinding[]): FlowTable {
  const { table: t, refused } = FlowTable.fromList(bindings, ['bob', 'carol', 'lo']);
  assert.deepEqual(refused, [], 'test bindings are valid');
  return t;
}

test('classifier: each packet to its peer\'s binding, both directions, lowest FID first', () => {
  const t = table([
    { fid: 10, peer: 'bob', selector: { protocol: 'tcp', remotePorts: { from: 7000, to: 7000 } }, interface: 'wlan0' },
    { fid: 20, peer: 'bob', selector: { protocol: 'tcp' }, interface: 'wwan0' },
    { fid: 30, peer: 'bob', selector: { protocol: 'udp', localPorts: { from: 40000, to: 40100 } }, interface: null },
    { fid: 5, peer: 'carol', selector: { protocol: 'any' }, interface: 'eth0' },
  ]);
  const c = new FlowClassifier(t, [BOB, CAROL]);
  const tcpToBob = ipv4Packet(OUR_LSI, '1.0.0.2', 6, new Uint8Array(0)); // 40000 → 7000
  assert.equal(c.classify(tcpToBob, 'outbound')?.binding.fid, 10, 'port 7000 is the narrower flow 10');
  const tcpFromBob = ipv4Packet('1.0.0.2', OUR_LSI, 6, new Uint8Array(0)); // bob's 40000 → our 7000
  assert.equal(c.classify(tcpFromBob, 'inbound')?.binding.fid, 20, 'inbound: the peer\'s port is the source, so flow 10 does not match');
  const udpToBob = ipv4Packet(OUR_LSI, '1.0.0.2', 17, new Uint8Array(4));
  assert.equal(c.classify(udpToBob, 'outbound')?.binding.fid, 30, 'our source port 40000 is in 40000-40100');
  const udp6ToBob = ipv6UdpPacket(OUR_HIT, BOB.hit, 40050, 53, new Uint8Array(8));
  assert.equal(c.classify(udp6ToBob, 'outbound')?.binding.fid, 30, 'the same flow over the HIT (IPv6)');
  const udp6Outside = ipv6UdpPacket(OUR_HIT, BOB.hit, 50000, 53, new Uint8Array(8));
  assert.equal(c.classify(udp6Outside, 'outbound'), null, 'no binding for bob\'s other UDP: it follows the primary pair');
  assert.equal(c.classify(ipv4Packet(OUR_LSI, '1.0.0.3', 17, new Uint8Array(1)), 'outbound')?.peer, 'carol');
  assert.equal(c.classify(ipv4Packet(OUR_LSI, '1.0.0.9', 6, new Uint8Array(0)), 'outbound'), null, 'an address of no peer');
});

test('classifier: protocol, ICMP family and prefixes on the captured packets', () => {
  const lo: PeerInnerAddresses = { name: 'lo', hit: hex('00000000000000000000000000000001'), lsi: Uint8Array.from([127, 0, 0, 1]) };
  const t = table([
    { fid: 1, peer: 'lo', selector: { protocol: 'icmp' }, interface: 'eth0' },
    { fid: 2, peer: 'lo', selector: { protocol: 'tcp', remotePorts: { from: 40002, to: 40002 }, remotePrefix: '127.0.0.0/8' }, interface: 'eth0' },
    { fid: 3, peer: 'lo', selector: { protocol: 'udp', remotePorts: { from: 40001, to: 40001 } }, interface: 'wlan0' },
    { fid: 4, peer: 'lo', selector: { protocol: 'any', localPorts: { from: 40014, to: 40014 } }, interface: 'wwan0' },
  ]);
  const c = new FlowClassifier(t, [lo]);
  assert.equal(c.classify(PING4, 'outbound')?.binding.fid, 1, 'ICMP echo (IPv4)');
  assert.equal(c.classify(PING6, 'outbound')?.binding.fid, 1, 'ICMPv6 echo is icmp too');
  assert.equal(c.classify(TCP4_SYN, 'outbound')?.binding.fid, 2, 'TCP SYN to 40002 inside 127/8');
  assert.equal(c.classify(TCP6_SYN, 'outbound')?.binding.fid, 4, 'the IPv6 SYN is outside the IPv4 prefix; "any" with our port 40014 takes it');
  assert.equal(c.classify(UDP4, 'outbound')?.binding.fid, 3);
  assert.equal(c.classify(UDP6, 'outbound')?.binding.fid, 3);
  assert.equal(c.classify(withExtensionHeaders(UDP6), 'outbound')?.binding.fid, 3, 'behind extension headers');
  assert.equal(c.classify(withExtensionHeaders(UDP6, 185), 'outbound'), null, 'a later fragment cannot match a port selector');
});
