// Per-flow steering in the JS data plane (seed 002): a packet matching a flow route leaves on
// that route's socket, towards its remote, sealed with its SA; everything else takes the
// peer's path; and each flow's packets and bytes are counted both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneCore, type CoreSink, type FlowRoute, type SaSpec } from '../../src-main/dataplane/core.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { IPPROTO_TCP, IPPROTO_UDP, ipv4ToNumber } from '../../src-main/dataplane/packet.js';
import { ipv4Packet } from '../support/dataplane-packets.js';

function hit(last: number): Uint8Array {
  const h = new Uint8Array(16);
  h.set([0x20, 0x01, 0x00, 0x22]);
  for (let i = 4; i < 16; i++) h[i] = (last * 7 + i) & 0xff;
  return h;
}

const key = (n: number) => ({ encKey: new Uint8Array(16).fill(n), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(n + 1) });
const GCM_128 = 12;
const BASE_OUT: SaSpec = { spi: 0x1000, suite: GCM_128, keys: key(1) };
const BASE_IN: SaSpec = { spi: 0x2000, suite: GCM_128, keys: key(3) };
const CELL_OUT: SaSpec = { spi: 0x1001, suite: GCM_128, keys: key(5) };
const CELL_IN: SaSpec = { spi: 0x2001, suite: GCM_128, keys: key(7) };

interface Sent { local: string; to: string; port: number; spi: number; datagram: Uint8Array }

function sinkInto(sent: Sent[], tun: Uint8Array[]): CoreSink {
  let reserved: Uint8Array | undefined;
  return {
    udp: (local, datagram, addr16, port) => {
      sent.push({ local, to: [...addr16.subarray(12)].join('.'), port, spi: new DataView(datagram.buffer, datagram.byteOffset).getUint32(0), datagram: datagram.slice() });
      return true;
    },
    tunReserve: (n) => (reserved = new Uint8Array(n)),
    tunCommit: (n) => void tun.push(reserved!.subarray(0, n)),
    hip: () => undefined,
    event: () => undefined,
  };
}

const hitA = hit(1);
const hitB = hit(2);
const bInA = ipv4ToNumber('1.5.5.5')!;
const aInB = ipv4ToNumber('1.6.6.6')!;
const WIFI = '10.0.0.1';
const CELL = '10.1.0.1';
const SERVER = { address: '10.9.0.2', port: 10500 };
const SERVER_ALT = { address: '10.9.1.2', port: 10500 };

/** A (two uplinks, a further SA pair for cell) and B, each core's datagrams recorded. */
function hosts() {
  const sentA: Sent[] = [];
  const sentB: Sent[] = [];
  const tunB: Uint8Array[] = [];
  const tunA: Uint8Array[] = [];
  const a = new DataplaneCore(hitA, ipv4ToNumber('1.0.0.10')!, sinkInto(sentA, tunA));
  const b = new DataplaneCore(hitB, ipv4ToNumber('1.0.0.20')!, sinkInto(sentB, tunB));
  a.installSa({ hit: hitB, lsi: bInA, outbound: BASE_OUT, inbound: BASE_IN, remote: SERVER, remoteAddr16: toAddr16(SERVER.address)!, local: WIFI }, 0);
  a.addSas(hitB, CELL_OUT, CELL_IN, 0);
  b.installSa({ hit: hitA, lsi: aInB, outbound: BASE_IN, inbound: BASE_OUT, remote: { address: WIFI, port: 10500 }, remoteAddr16: toAddr16(WIFI)!, local: SERVER.address }, 0);
  b.addSas(hitA, CELL_IN, CELL_OUT, 0);
  return { a, b, sentA, sentB, tunA, tunB };
}

/** An IPv4 packet from our LSI to the peer's, with these ports. */
function packet(proto: number, srcPort: number, dstPort: number, from = '1.0.0.10', to = '1.5.5.5', body = 100): Uint8Array {
  const p = ipv4Packet(from, to, proto, new Uint8Array(body));
  p[20] = srcPort >> 8; p[21] = srcPort & 0xff; p[22] = dstPort >> 8; p[23] = dstPort & 0xff;
  return p;
}

const cellRoute = (over: Partial<FlowRoute> = {}): FlowRoute => ({
  fid: 7, protocol: IPPROTO_UDP, localPorts: null, remotePorts: { from: 5000, to: 5010 },
  remote: SERVER_ALT, remoteAddr16: toAddr16(SERVER_ALT.address)!, local: CELL, outboundSpi: CELL_OUT.spi, ...over,
});

test('a packet matching a flow route leaves on its socket and SA; the rest on the peer\'s path', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [cellRoute()]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 1);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 443), 2);
  x.a.fromTun(packet(IPPROTO_TCP, 40000, 5004), 3);
  assert.deepEqual(x.sentA.map((s) => [s.local, s.to, s.spi]), [
    [CELL, SERVER_ALT.address, CELL_OUT.spi],
    [WIFI, SERVER.address, BASE_OUT.spi],
    [WIFI, SERVER.address, BASE_OUT.spi],
  ]);
  // Each opens at B with the SA it was sealed with.
  for (const s of x.sentA) x.b.fromUdp(s.datagram, toAddr16(s.local)!, 0, 10500, SERVER, 4);
  assert.equal(x.tunB.length, 3, `B opened all three; drops ${JSON.stringify(x.b.drops)}`);
  const flows = x.a.flowStats();
  assert.deepEqual(flows.map((f) => [f.fid, f.packetsOut, f.bytesOut]), [[7, 1, 128]]);
});

test('the lower FID wins where routes overlap; "any" protocol with ports takes only packets that have ports', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [
    cellRoute({ fid: 3, protocol: 0, remotePorts: { from: 5004, to: 5004 }, local: WIFI, remote: SERVER, remoteAddr16: toAddr16(SERVER.address)!, outboundSpi: BASE_OUT.spi }),
    cellRoute({ fid: 7, protocol: 0, remotePorts: null }),
  ]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 1);
  x.a.fromTun(packet(IPPROTO_TCP, 40000, 80), 2);
  const icmp = packet(1, 0, 0);
  x.a.fromTun(icmp, 3);
  assert.deepEqual(x.sentA.map((s) => s.local), [WIFI, CELL, CELL]);
  assert.deepEqual(x.a.flowStats().map((f) => [f.fid, f.packetsOut]).sort((p, q) => p[0]! - q[0]!), [[3, 1], [7, 2]]);
});

test('the peer\'s packets of a flow count in under the mirrored selector (its source port is the remote port)', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [cellRoute()]);
  // B sends from its port 5004 to our 40000: a return packet of flow 7.
  x.b.fromTun(packet(IPPROTO_UDP, 5004, 40000, '1.0.0.20', '1.6.6.6'), 1);
  x.b.fromTun(packet(IPPROTO_UDP, 40000, 5004, '1.0.0.20', '1.6.6.6'), 2);
  for (const s of x.sentB) x.a.fromUdp(s.datagram, toAddr16(SERVER.address)!, 0, 10500, { address: WIFI, port: 10500 }, 3);
  assert.equal(x.tunA.length, 2);
  const [f] = x.a.flowStats();
  assert.deepEqual([f?.packetsIn, f?.bytesIn, f?.packetsOut], [1, 128, 0]);
});

test('routes replaced keep a FID\'s counters; a route whose SA is not installed steers nothing; [] removes them', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [cellRoute()]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 1);
  x.a.setFlowRoutes(hitB, [cellRoute({ local: WIFI, remote: SERVER, remoteAddr16: toAddr16(SERVER.address)!, outboundSpi: BASE_OUT.spi })]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 2);
  assert.deepEqual(x.a.flowStats().map((f) => [f.fid, f.packetsOut]), [[7, 2]]);
  x.a.setFlowRoutes(hitB, [cellRoute({ outboundSpi: 0xdead })]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 3);
  x.a.setFlowRoutes(hitB, []);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 4);
  assert.deepEqual(x.sentA.map((s) => s.local), [CELL, WIFI, WIFI, WIFI]);
  assert.deepEqual(x.sentA.map((s) => s.spi), [CELL_OUT.spi, BASE_OUT.spi, BASE_OUT.spi, BASE_OUT.spi]);
  assert.deepEqual(x.a.flowStats(), []);
  assert.equal(x.a.stats()[0]?.packetsOut, 4, 'the peer\'s own counters take every packet');
});

test('a drop route (an "only" flow held) sends nothing of its flow, on no pair, and counts each packet as flow-held; the rest still flows', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [cellRoute({ drop: true, local: WIFI, remote: SERVER, remoteAddr16: toAddr16(SERVER.address)!, outboundSpi: 0 })]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 1);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5006), 2);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 443), 3);
  assert.deepEqual(x.sentA.map((s) => [s.local, s.spi]), [[WIFI, BASE_OUT.spi]], 'only the unmatched packet left');
  assert.equal(x.a.drops['flow-held'], 2);
  // The flow's interface back: the same FID routed again carries its packets.
  x.a.setFlowRoutes(hitB, [cellRoute()]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 5004), 4);
  assert.deepEqual(x.sentA.map((s) => s.local), [WIFI, CELL]);
  assert.equal(x.a.drops['flow-held'], 2);
});

test('protocol and ports as the routes see them: an ICMP route takes pings only; a later IPv4 fragment has no ports, so only a route without ports takes it', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [
    cellRoute({ fid: 1, protocol: 1, remotePorts: null }),
    cellRoute({ fid: 2, protocol: IPPROTO_UDP, remotePorts: { from: 7000, to: 7000 } }),
    cellRoute({ fid: 3, protocol: IPPROTO_TCP, remotePorts: null }),
  ]);
  x.a.fromTun(packet(1, 0, 0), 1);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 7000), 2);
  const laterFragment = packet(IPPROTO_UDP, 40000, 7000);
  laterFragment[6] = 0x00; laterFragment[7] = 0xb9; // fragment offset 185 (×8 octets): no UDP header here
  x.a.fromTun(laterFragment, 3);
  const tcpFragment = packet(IPPROTO_TCP, 40000, 7000);
  tcpFragment[6] = 0x00; tcpFragment[7] = 0xb9;
  x.a.fromTun(tcpFragment, 4);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 7001), 5);
  assert.deepEqual(x.sentA.map((s) => s.local), [CELL, CELL, WIFI, CELL, WIFI]);
  assert.deepEqual(x.a.flowStats().map((f) => [f.fid, f.packetsOut]).sort((p, q) => p[0]! - q[0]!), [[1, 1], [2, 1], [3, 1]],
    'the ping, the first UDP datagram, the TCP fragment; the UDP fragment and the other port took the path');
});

test('a route naming ports 0..65535 still needs ports: ICMP and a later fragment take the path, as in the fast path; SCTP ports are read', () => {
  const x = hosts();
  x.a.setFlowRoutes(hitB, [cellRoute({ protocol: 0, localPorts: { from: 0, to: 65535 }, remotePorts: { from: 0, to: 65535 } })]);
  x.a.fromTun(packet(IPPROTO_UDP, 40000, 53), 1);
  x.a.fromTun(packet(1, 0, 0), 2);
  const laterFragment = packet(IPPROTO_UDP, 40000, 53);
  laterFragment[6] = 0x00; laterFragment[7] = 0xb9;
  x.a.fromTun(laterFragment, 3);
  x.a.fromTun(packet(132, 40000, 5060), 4);
  assert.deepEqual(x.sentA.map((s) => s.local), [CELL, WIFI, WIFI, CELL]);
});
