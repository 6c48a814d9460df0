// Per-flow steering in the native fast path (issue 13), through the per-packet code the packet
// threads run: a packet matching a flow route leaves sealed on the route's SA towards the
// route's pair from its socket, everything else on the peer's path; IPv6 extension headers and
// fragments of both families classify as RFC 6088 selectors expect; per-flow counters both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EspInboundSa, EspOutboundSa } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { NativeFastPath, nativeFlowRoute, type NativeFlowRoute } from '../../src-main/dataplane/fastpath.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { loadNativeIo, type NativeIo } from '../../src-main/platform/native.js';
import { openNativeDatagramSocket } from '../../src-main/platform/fast-udp.js';
import { IN_SPI, OUT_SPI, OWN_HIT, OWN_LSI, PEER_HIT, gcmKeys, saInstall } from '../../lab/dataplane-fastpath.js';
import { transport, v4, v6 } from '../support/inner-packets.js';

const SUITE = EspSuite.AES_GCM_16;
const CELL_OUT = 0x5005;
const CELL_IN = 0x6006;
const CELL_ADDR = toAddr16('127.0.0.2')!;
const CELL_PORT = 4600;
const BASE_ADDR = toAddr16('127.0.0.1')!;
const BASE_PORT = 10500;
const IPPROTO_ICMPV6 = 58;

interface Rig {
  io: NativeIo;
  fast: NativeFastPath;
  close(): void;
}

/** Tables only: two sockets (0: the peer's path, 1: the cellular pair), the base pair and a further pair. */
function rig(opts: { cell?: boolean } = {}): Rig {
  const io = loadNativeIo();
  const sockets = [0, 1].map(() => openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 }));
  const fast = NativeFastPath.create(io, {
    tunFd: -1, socketFds: sockets.map((s) => s.nativeFd!), ownHit: OWN_HIT, ownLsi: OWN_LSI, slotSize: 2048, onWake: () => undefined,
  });
  const install = saInstall(SUITE);
  install.remote = { address: '127.0.0.1', port: BASE_PORT };
  install.remoteAddr16 = BASE_ADDR;
  assert.ok(fast.install(install, 0), 'the fast path takes the base pair');
  if (opts.cell !== false) {
    assert.ok(fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }));
  }
  return {
    io, fast,
    close() {
      fast.stop();
      for (const s of sockets) s.close();
    },
  };
}

function route(over: Partial<NativeFlowRoute> = {}): NativeFlowRoute {
  return {
    fid: 1, protocol: 0, localFrom: 0, localTo: 65535, remoteFrom: 0, remoteTo: 65535,
    remoteAddr16: CELL_ADDR, port: CELL_PORT, socketIndex: 1, outboundSpi: CELL_OUT,
    needsPorts: over.localFrom !== undefined || over.localTo !== undefined || over.remoteFrom !== undefined || over.remoteTo !== undefined, ...over,
  };
}

/** An 8-octet Hop-by-Hop or Destination Options header (a PadN option fills it). */
function options(next: number): Uint8Array {
  return Uint8Array.of(next, 0, 1, 4, 0, 0, 0, 0);
}

function fragment(next: number, offsetUnits: number, more: boolean): Uint8Array {
  const f = new Uint8Array(8);
  f[0] = next;
  new DataView(f.buffer).setUint16(2, (offsetUnits << 3) | (more ? 1 : 0));
  f.set([0, 0, 0x12, 0x34], 4);
  return f;
}

interface Sent { spi: number; seq: number; socket: number; port: number; address: number[]; spare?: number }

function send(r: Rig, packet: Uint8Array): Sent {
  const out = r.io.fpProcessTun(r.fast.handle, packet);
  assert.ok('datagram' in out, `the fast path seals the packet: ${JSON.stringify(out)}`);
  const v = new DataView(out.datagram.buffer, out.datagram.byteOffset, out.datagram.byteLength);
  return { spi: v.getUint32(0), seq: v.getUint32(4), socket: out.socket, port: out.port, address: [...out.address], spare: out.spareSocket };
}

/** Which pair a packet left on: 'cell' (the route's SA, pair and socket) or 'path' (the peer's). */
function pairOf(s: Sent): string {
  const cell = s.spi === CELL_OUT && s.socket === 1 && s.port === CELL_PORT && s.address.join() === [...CELL_ADDR].join();
  const path = s.spi === OUT_SPI && s.socket === 0 && s.port === BASE_PORT && s.address.join() === [...BASE_ADDR].join();
  return cell ? 'cell' : path ? 'path' : JSON.stringify(s);
}

function flows(r: Rig): Array<{ fid: number; packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }> {
  return r.fast.stats().flows.map((f) => {
    assert.deepEqual([...f.hit], [...PEER_HIT], 'each flow names its peer');
    return { fid: f.fid, packetsOut: f.packetsOut, bytesOut: f.bytesOut, packetsIn: f.packetsIn, bytesIn: f.bytesIn };
  });
}

test('a packet matching a route leaves sealed on the route\'s SA to its pair from its socket; others take the peer\'s path', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route({ protocol: IPPROTO_UDP, remoteFrom: 5000, remoteTo: 5010 })]);
    const udp = (src: number, dst: number): Uint8Array => v6(IPPROTO_UDP, transport(IPPROTO_UDP, src, dst));
    const matched = send(r, udp(40000, 5000));
    assert.equal(pairOf(matched), 'cell');
    assert.equal(matched.seq, 1, 'the route\'s SA counts its own sequence numbers');
    assert.equal(pairOf(send(r, udp(40000, 5010))), 'cell', 'the range is inclusive');
    assert.equal(pairOf(send(r, udp(40000, 5011))), 'path', 'a port past the range');
    assert.equal(pairOf(send(r, udp(5000, 40000))), 'path', 'the remote port, not the local one');
    assert.equal(pairOf(send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 40000, 5000)))), 'path', 'TCP is not the route\'s protocol');
    const peerCell = new EspInboundSa({ spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 });
    const again = r.io.fpProcessTun(r.fast.handle, udp(40001, 5005));
    assert.ok('datagram' in again && peerCell.open(again.datagram, 0).ok, 'the peer opens it with the further SA\'s keys');
  } finally {
    r.close();
  }
});

test('routes are tried in order; protocol 0 with no ports takes every packet; local port ranges match the source', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [
      route({ fid: 7, outboundSpi: OUT_SPI, socketIndex: 0, remoteAddr16: BASE_ADDR, port: 9999, protocol: IPPROTO_TCP, localFrom: 6000, localTo: 6000 }),
      route({ fid: 8 }),
    ]);
    const tcp = send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 6000, 80)));
    assert.deepEqual([tcp.spi, tcp.port], [OUT_SPI, 9999], 'the first route, on the base SA but its own port');
    assert.equal(pairOf(send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 6001, 80)))), 'cell', 'the second route takes the rest');
    assert.equal(pairOf(send(r, v6(IPPROTO_ICMPV6, Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1)))), 'cell', 'ICMPv6 too');
    assert.equal(pairOf(send(r, v4(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'cell', 'and IPv4 to the peer\'s LSI');
  } finally {
    r.close();
  }
});

test('among 40 routes each packet takes the first that matches and can carry it, wherever it stands', () => {
  const r = rig();
  try {
    const many = Array.from({ length: 40 }, (_, i) => route({ fid: 100 + i, protocol: IPPROTO_UDP, remoteFrom: 6000 + i, remoteTo: 6000 + i, port: 5000 + i }));
    // Matches everything but names an SA the peer does not have: as if absent.
    many.unshift(route({ fid: 99, outboundSpi: 0x9999 }));
    // Behind the one for 6021: never reached for that port.
    many.push(route({ fid: 200, protocol: IPPROTO_UDP, remoteFrom: 6021, remoteTo: 6021, port: 4999 }));
    r.fast.setFlowRoutes(PEER_HIT, many);
    const ports = Array.from({ length: 40 }, (_, i) => send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 6000 + i))).port);
    assert.deepEqual(ports, Array.from({ length: 40 }, (_, i) => 5000 + i), 'each remote port on its own route');
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 6040)))), 'path', 'a port no route names');
    assert.equal(flows(r).find((f) => f.fid === 121)?.packetsOut, 1);
    assert.equal(flows(r).find((f) => f.fid === 200)?.packetsOut, 0, 'the later route with the same selector got nothing');
  } finally {
    r.close();
  }
});

test('IPv6: ports behind extension headers match; a non-first fragment has no ports and matches only routes without them', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [
      route({ fid: 1, protocol: IPPROTO_UDP, remoteFrom: 5000, remoteTo: 5000 }),
      route({ fid: 2, protocol: IPPROTO_UDP, outboundSpi: OUT_SPI, socketIndex: 0, remoteAddr16: BASE_ADDR, port: 7777 }),
    ]);
    const udp = transport(IPPROTO_UDP, 40000, 5000);
    assert.equal(pairOf(send(r, v6(0, options(60), options(IPPROTO_UDP), udp))), 'cell', 'behind Hop-by-Hop and Destination Options');
    assert.equal(pairOf(send(r, v6(44, fragment(IPPROTO_UDP, 0, true), udp))), 'cell', 'a first fragment carries the ports');
    const later = send(r, v6(44, fragment(IPPROTO_UDP, 185, false), Uint8Array.of(0x13, 0x88, 0x13, 0x88, 1, 2, 3, 4)));
    assert.deepEqual([later.spi, later.port], [OUT_SPI, 7777], 'a later fragment: not the port route, but the UDP route without ports');
    const cut = send(r, v6(0, Uint8Array.of(IPPROTO_UDP, 3, 1, 4, 0, 0, 0, 0), udp));
    assert.equal(pairOf(cut), 'path', 'an extension header longer than the packet classifies as nothing a route names');
  } finally {
    r.close();
  }
});

test('IPv4: ports after the options match; a non-first fragment has no ports', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route({ protocol: IPPROTO_UDP, remoteFrom: 5000, remoteTo: 5000 })]);
    const udp = transport(IPPROTO_UDP, 40000, 5000);
    assert.equal(pairOf(send(r, v4(IPPROTO_UDP, udp))), 'cell');
    assert.equal(pairOf(send(r, v4(IPPROTO_UDP, udp, 0, true))), 'cell', 'the first fragment');
    assert.equal(pairOf(send(r, v4(IPPROTO_UDP, udp, 100))), 'path', 'a later fragment whose first octets look like the ports');
    const withOptions = v4(IPPROTO_UDP, Buffer.concat([Uint8Array.of(1, 1, 1, 1), udp]));
    withOptions[0] = 0x46;
    assert.equal(pairOf(send(r, withOptions)), 'cell', 'IHL 6: the ports after 4 octets of options');
  } finally {
    r.close();
  }
});

test('per-flow counters: out on the route, in for the peer\'s packets matching the mirrored selector; they survive a replacement', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route({ fid: 42, protocol: IPPROTO_UDP, localFrom: 40000, localTo: 40000, remoteFrom: 5000, remoteTo: 5000 })]);
    for (let i = 0; i < 3; i++) send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 5000)));
    send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40001, 5000)));
    const payload = transport(IPPROTO_UDP, 0, 0).length;
    assert.deepEqual(flows(r), [{ fid: 42, packetsOut: 3, bytesOut: 3 * payload, packetsIn: 0, bytesIn: 0 }]);
    const peer = r.fast.stats().peers.find((p) => Buffer.from(p.hit).equals(Buffer.from(PEER_HIT)))!;
    assert.equal(peer.packetsOut, 4, 'the peer counts all it sent, steered or not');

    const peerOut = new EspOutboundSa({ spi: IN_SPI, suite: SUITE, keys: gcmKeys(9), createdAt: 0, nextSeq: 1 });
    const back = (src: number, dst: number): void => {
      const res = r.io.fpProcessUdp(r.fast.handle, peerOut.seal(transport(IPPROTO_UDP, src, dst), IPPROTO_UDP, 0));
      assert.ok('inner' in res, JSON.stringify(res));
    };
    back(5000, 40000);
    back(5000, 40000);
    back(40000, 5000);
    assert.deepEqual(flows(r), [{ fid: 42, packetsOut: 3, bytesOut: 3 * payload, packetsIn: 2, bytesIn: 2 * payload }],
      'the return direction mirrors the ports: 2 of 3 are the flow\'s');

    r.fast.setFlowRoutes(PEER_HIT, [route({ fid: 9 }), route({ fid: 42, outboundSpi: OUT_SPI, socketIndex: 0, remoteAddr16: BASE_ADDR, port: BASE_PORT })]);
    assert.deepEqual(flows(r).map((f) => [f.fid, f.packetsOut, f.packetsIn]), [[9, 0, 0], [42, 3, 2]], 'fid 42 moved keeps its counts; fid 9 is new');
  } finally {
    r.close();
  }
});

test('routes cleared with []: every packet on the peer\'s path again, no flows in stats', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route()]);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'cell');
    r.fast.setFlowRoutes(PEER_HIT, []);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'path');
    assert.deepEqual(r.fast.stats().flows, []);
  } finally {
    r.close();
  }
});

test('a route whose SA is not installed is as if absent, until the SA comes; removing the SA falls back again', () => {
  const r = rig({ cell: false });
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route()]);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'path', 'no SA with the route\'s SPI yet');
    assert.ok(r.fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, undefined));
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'cell', 'the SA arrived: the route carries the flow');
    r.fast.removeOutbound(PEER_HIT, CELL_OUT);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'path');
  } finally {
    r.close();
  }
});

test('the spare and the hold stay with the peer\'s path: a steered datagram gets no spare copy', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route({ protocol: IPPROTO_TCP })]);
    r.fast.setSpare(PEER_HIT, toAddr16('127.0.0.3'), 4700, 0, 60_000);
    const path = send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)));
    assert.deepEqual([pairOf(path), path.spare], ['path', 0], 'the path\'s datagram is copied to the spare');
    const steered = send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 1, 2)));
    assert.deepEqual([pairOf(steered), steered.spare], ['cell', undefined], 'the steered one is not');
  } finally {
    r.close();
  }
});

test('a route whose socket is removed sends from another of its family, still on its SA and to its pair', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route()]);
    assert.equal(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2))).socket, 1);
    r.fast.removeSocket(1);
    const after = send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)));
    assert.deepEqual([after.spi, after.socket, after.port], [CELL_OUT, 0, CELL_PORT]);
  } finally {
    r.close();
  }
});

test('malformed routes throw and leave the routes as they were', () => {
  const r = rig();
  try {
    r.fast.setFlowRoutes(PEER_HIT, [route()]);
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ remoteFrom: 6000, remoteTo: 5000 })]), TypeError, 'from above to');
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ localTo: 70_000 })]), TypeError, 'a port beyond 65535');
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ protocol: 256 })]), TypeError, 'protocol 256');
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ fid: 1.5 })]), TypeError, 'a fractional fid');
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ remoteAddr16: new Uint8Array(4) })]), TypeError, 'a 4-octet address');
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2)))), 'cell', 'the earlier route still steers');
  } finally {
    r.close();
  }
});

test('a JS flow route becomes the fast path\'s: null ranges are any port, the remote endpoint gives the port', () => {
  const r = rig();
  try {
    const js = {
      fid: 5, protocol: IPPROTO_TCP, localPorts: null, remotePorts: { from: 443, to: 443 },
      remote: { address: '127.0.0.2', port: CELL_PORT }, remoteAddr16: CELL_ADDR, local: '127.0.0.1', outboundSpi: CELL_OUT,
    };
    assert.deepEqual(nativeFlowRoute(js, 1), route({ fid: 5, protocol: IPPROTO_TCP, remoteFrom: 443, remoteTo: 443 }));
    assert.equal(nativeFlowRoute({ ...js, remotePorts: null }, 1).needsPorts, false, 'no range: any packet of its protocol');
    r.fast.setFlowRoutes(PEER_HIT, [nativeFlowRoute(js, 1)]);
    assert.equal(pairOf(send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 51000, 443)))), 'cell');
    assert.equal(pairOf(send(r, v6(IPPROTO_TCP, transport(IPPROTO_TCP, 51000, 80)))), 'path');
  } finally {
    r.close();
  }
});

test('a held flow (a JS drop route: SPI 0) is dropped as flow-held, never sent on the peer\'s path; other packets still leave', () => {
  const r = rig();
  try {
    const js = {
      fid: 9, protocol: IPPROTO_UDP, localPorts: null, remotePorts: { from: 5000, to: 5010 },
      remote: { address: '127.0.0.1', port: BASE_PORT }, remoteAddr16: BASE_ADDR, local: '127.0.0.1', outboundSpi: 0, drop: true,
    };
    r.fast.setFlowRoutes(PEER_HIT, [nativeFlowRoute(js, 0)]);
    const held = r.io.fpProcessTun(r.fast.handle, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 5004)));
    assert.deepEqual(held, { drop: 'flow-held' });
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 443)))), 'path', 'a packet of no flow');
    r.fast.setFlowRoutes(PEER_HIT, [nativeFlowRoute({ ...js, drop: false, remote: { port: CELL_PORT }, remoteAddr16: CELL_ADDR, outboundSpi: CELL_OUT }, 1)]);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 5004)))), 'cell', 'released: on its pair again');
  } finally {
    r.close();
  }
});

test('a route naming 0..65535 needs ports as in the JS core: ICMP and later fragments pass it by; SCTP, DCCP and UDP-Lite ports are read', () => {
  const r = rig();
  try {
    const js = {
      fid: 4, protocol: 0, localPorts: { from: 0, to: 65535 }, remotePorts: { from: 0, to: 65535 },
      remote: { address: '127.0.0.2', port: CELL_PORT }, remoteAddr16: CELL_ADDR, local: '127.0.0.1', outboundSpi: CELL_OUT,
    };
    r.fast.setFlowRoutes(PEER_HIT, [nativeFlowRoute(js, 1)]);
    assert.equal(pairOf(send(r, v6(IPPROTO_UDP, transport(IPPROTO_UDP, 40000, 53)))), 'cell', 'UDP has ports');
    assert.equal(pairOf(send(r, v6(IPPROTO_ICMPV6, Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1)))), 'path', 'ICMPv6 has none');
    assert.equal(pairOf(send(r, v4(1, Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1)))), 'path', 'nor has ICMP');
    assert.equal(pairOf(send(r, v4(IPPROTO_UDP, Uint8Array.of(0x13, 0x88, 0x13, 0x88, 1, 2, 3, 4), 185))), 'path', 'nor a later fragment');
    const SCTP = 132;
    r.fast.setFlowRoutes(PEER_HIT, [nativeFlowRoute({ ...js, localPorts: null, remotePorts: { from: 5060, to: 5060 } }, 1)]);
    for (const proto of [33, SCTP, 136]) {
      assert.equal(pairOf(send(r, v6(proto, transport(IPPROTO_UDP, 40000, 5060)))), 'cell', `protocol ${proto}: its ports are read`);
      assert.equal(pairOf(send(r, v6(proto, transport(IPPROTO_UDP, 40000, 5061)))), 'path', `protocol ${proto}: another port`);
    }
    assert.throws(() => r.fast.setFlowRoutes(PEER_HIT, [route({ needsPorts: false, remoteFrom: 5000, remoteTo: 5000 })]), TypeError, 'without ports the ranges must be whole');
  } finally {
    r.close();
  }
});
