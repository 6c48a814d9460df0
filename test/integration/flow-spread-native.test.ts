// Load sharing per flow in both data planes (core/flow-spread.ts): the JS core and the native
// fast path, given the same spread, put every packet on the same pair. A peer's packets are
// sealed by either (the fast path punts some to JS: spares, unverified pairs, JS-only
// sockets), so a flow that one of them put elsewhere would be split between pairs. Also: each
// plane keeps a flow on one pair, spreads many flows over both, and lets a bound flow win.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { chooseMember, flowHash, fmix32, spreadMemberKey, spreadSalt } from '../../src-main/core/flow-spread.js';
import { DataplaneCore, type FlowRoute } from '../../src-main/dataplane/core.js';
import { NativeFastPath, nativeFlowRoute } from '../../src-main/dataplane/fastpath.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { openNativeDatagramSocket } from '../../src-main/platform/fast-udp.js';
import { loadNativeIo } from '../../src-main/platform/native.js';
import { OWN_HIT, OWN_LSI, PEER_HIT, RecordingSink, gcmKeys, saInstall } from '../../lab/dataplane-fastpath.js';
import { transport, v4, v6 } from '../support/inner-packets.js';

const SUITE = EspSuite.AES_GCM_16;
const BASE_OUT = 0x1001; // saInstall's outbound SPI
const CELL_OUT = 0x5005;
const CELL_IN = 0x6006;
const BASE = { address: '127.0.0.1', port: 10500 };
const CELL = { address: '127.0.0.2', port: 4600 };
const SALT = spreadSalt(OWN_HIT, PEER_HIT);
const WIFI_KEY = spreadMemberKey('wifi0', SALT);
const CELL_KEY = spreadMemberKey('cell0', SALT);

/** The two members as the engine gives them: wifi0 on the peer's own pair (socket 0), cell0 on its further SA (socket 1). */
function members(): FlowRoute[] {
  return [
    { fid: 0, protocol: 0, localPorts: null, remotePorts: null, remote: BASE, remoteAddr16: toAddr16(BASE.address)!, local: '127.0.0.1', outboundSpi: BASE_OUT, spreadKey: WIFI_KEY },
    { fid: 0, protocol: 0, localPorts: null, remotePorts: null, remote: CELL, remoteAddr16: toAddr16(CELL.address)!, local: '127.0.0.3', outboundSpi: CELL_OUT, spreadKey: CELL_KEY },
  ];
}

const SOCKET_OF: Record<string, number> = { '127.0.0.1': 0, '127.0.0.3': 1 };

/** A JS core and a fast path, both with the base pair and cell0's further pair, and the same routes. */
function planes(routes: FlowRoute[]) {
  const io = loadNativeIo();
  const sockets = [0, 1].map(() => openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 }));
  const fast = NativeFastPath.create(io, { tunFd: -1, socketFds: sockets.map((s) => s.nativeFd!), ownHit: OWN_HIT, ownLsi: OWN_LSI, slotSize: 2048, onWake: () => undefined });
  const install = saInstall(SUITE);
  install.remote = BASE;
  install.remoteAddr16 = toAddr16(BASE.address)!;
  install.local = '127.0.0.1';
  assert.ok(fast.install(install, 0));
  assert.ok(fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }));
  const sink = new RecordingSink();
  const js = new DataplaneCore(OWN_HIT, OWN_LSI, sink);
  js.installSa(install, 0);
  js.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }, 0);
  js.setFlowRoutes(PEER_HIT, routes);
  fast.setFlowRoutes(PEER_HIT, routes.map((r) => nativeFlowRoute(r, SOCKET_OF[r.local]!)));
  const spiOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0);
  return {
    /** The outbound SPI each plane sealed the packet with (the pair it took). */
    send(p: Uint8Array): { js: number; native: number } {
      const before = sink.udpOut.length;
      js.fromTun(p, 1);
      assert.equal(sink.udpOut.length, before + 1, `the JS core sent it; drops ${JSON.stringify(js.drops)}`);
      const out = io.fpProcessTun(fast.handle, p);
      assert.ok('datagram' in out, `the fast path sealed it: ${JSON.stringify(out)}`);
      return { js: spiOf(sink.udpOut.at(-1)!), native: spiOf(out.datagram) };
    },
    js,
    fast,
    close() {
      fast.stop();
      for (const s of sockets) s.close();
    },
  };
}

/** Deterministic pseudo-random ports. */
function portsGen(seed: number): () => number {
  let x = seed;
  return () => (x = fmix32(x + 0x9e3779b9)) & 0xffff;
}

test('the JS core and the fast path put 600 packets of varied flows on the same pair, the one flow-spread.ts names', () => {
  const p = planes(members());
  try {
    const next = portsGen(7);
    const keys = [WIFI_KEY, CELL_KEY];
    const spis = [BASE_OUT, CELL_OUT];
    let onCell = 0;
    for (let i = 0; i < 600; i++) {
      const proto = i % 3 === 0 ? IPPROTO_UDP : IPPROTO_TCP;
      const src = next();
      const dst = next();
      const packet = i % 2 === 0 ? v6(proto, transport(proto, src, dst)) : v4(proto, transport(proto, src, dst));
      const got = p.send(packet);
      const expected = spis[chooseMember(flowHash(proto, src, dst), keys)];
      assert.deepEqual(got, { js: expected, native: expected }, `packet ${i}: ${proto} ${src} > ${dst}`);
      if (expected === CELL_OUT) onCell++;
    }
    assert.ok(onCell > 240 && onCell < 360, `cell0 took ${onCell} of 600 flows`);
    // ICMP (by protocol alone), a non-first fragment, IPv6 behind extension headers: the same pair in both.
    const hop = Uint8Array.of(IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0);
    const frag = Uint8Array.of(IPPROTO_UDP, 0, 0, 0x81, 0, 0, 0x12, 0x34);
    for (const packet of [v6(58, Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1)), v4(1, Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1)), v4(IPPROTO_UDP, transport(IPPROTO_UDP, 1, 2), 100), v6(0, hop, transport(IPPROTO_TCP, 40001, 443)), v6(44, frag, new Uint8Array(16))]) {
      const got = p.send(packet);
      assert.equal(got.js, got.native, `packet ${Buffer.from(packet).toString('hex').slice(0, 24)}`);
    }
    const behindHop = p.send(v6(0, hop, transport(IPPROTO_TCP, 40001, 443)));
    assert.equal(behindHop.native, spis[chooseMember(flowHash(IPPROTO_TCP, 40001, 443), keys)], 'ports behind a Hop-by-Hop header count');
  } finally {
    p.close();
  }
});

test('every packet of one TCP flow takes one pair, in both planes; each member counts its share', () => {
  const p = planes(members());
  try {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(JSON.stringify(p.send(v6(IPPROTO_TCP, transport(IPPROTO_TCP, 40000, 5201)))));
    assert.equal(seen.size, 1, `one pair for the flow: ${[...seen].join(' ')}`);
    const pair = JSON.parse([...seen][0]!) as { js: number };
    const jsShare = p.js.spreadStats(PEER_HIT).map((m) => [m.outboundSpi, m.packetsOut]);
    assert.deepEqual(jsShare, [[BASE_OUT, pair.js === BASE_OUT ? 50 : 0], [CELL_OUT, pair.js === CELL_OUT ? 50 : 0]]);
    const nativeShare = p.fast.stats().spread.map((m) => [m.outboundSpi, m.packetsOut]);
    assert.deepEqual(nativeShare, jsShare);
  } finally {
    p.close();
  }
});

test('a bound flow wins over the spread; a flow marked to follow it is spread and counted as its flow', () => {
  const boundToBase: FlowRoute = {
    fid: 4, protocol: IPPROTO_TCP, localPorts: null, remotePorts: { from: 5201, to: 5201 }, remote: BASE, remoteAddr16: toAddr16(BASE.address)!, local: '127.0.0.1', outboundSpi: BASE_OUT,
  };
  const next = portsGen(99);
  // Find source ports the spread puts on cell0, so that the binding visibly wins.
  const onCell: number[] = [];
  while (onCell.length < 5) {
    const src = next();
    if (chooseMember(flowHash(IPPROTO_TCP, src, 5201), [WIFI_KEY, CELL_KEY]) === 1) onCell.push(src);
  }
  const bound = planes([boundToBase, ...members()]);
  const riding = planes([{ ...boundToBase, spread: true }, ...members()]);
  try {
    for (const src of onCell) {
      const packet = v4(IPPROTO_TCP, transport(IPPROTO_TCP, src, 5201));
      assert.deepEqual(bound.send(packet), { js: BASE_OUT, native: BASE_OUT }, `bound flow from ${src} stays on its pair`);
      assert.deepEqual(riding.send(packet), { js: CELL_OUT, native: CELL_OUT }, `spread flow from ${src} follows the spread`);
    }
    for (const plane of [riding.js.flowStats(), riding.fast.stats().flows]) assert.deepEqual(plane.map((f) => [f.fid, f.packetsOut]), [[4, 5]]);
  } finally {
    bound.close();
    riding.close();
  }
});
