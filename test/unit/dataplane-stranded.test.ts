// Datagrams the fast path could not send because their interface went down: they wait for the
// peer's (or their flow's) move and then leave on the new pair; nothing waits forever.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { STRANDED_HOLD_MS, StrandedDatagrams, type SendPath } from '../../src-main/dataplane/stranded.js';
import { SealedFlows } from '../../src-main/dataplane/sealed-flows.js';
import type { FlowRoute } from '../../src-main/dataplane/core.js';
import { IPPROTO_IPIP, IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { EspOutboundSa } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { ipv4Packet } from '../support/dataplane-packets.js';

const wifi: SendPath = { local: '192.0.2.10', addr16: toAddr16('203.0.113.1')!, port: 10500 };
const cell: SendPath = { local: '198.51.100.20', addr16: toAddr16('203.0.113.1')!, port: 10500 };
const other: SendPath = { local: '198.51.100.30', addr16: toAddr16('203.0.113.1')!, port: 10500 };
const datagram = (n: number): Uint8Array => Uint8Array.of(0, 0, 0, 1, 0, 0, 0, n);

test('datagrams stranded on a dead pair leave, in order, on the pair the peer moves to', () => {
  const s = new StrandedDatagrams();
  assert.equal(s.strand(datagram(1), wifi, 0), undefined, 'held: the peer has not moved yet');
  assert.equal(s.strand(datagram(2), wifi, 5), undefined, 'held: the peer has not moved yet');
  const resend = s.moved(wifi, cell, 12);
  assert.deepEqual(resend.map((d) => d[7]), [1, 2], 'both re-sent, oldest first');
  assert.equal(s.moved(wifi, cell, 13).length, 0, 'each is re-sent once');
  assert.equal(s.expired, 0, 'nothing was given up');
});

test('a datagram that fails on the old pair after the move goes straight to the new one', () => {
  const s = new StrandedDatagrams();
  s.moved(wifi, cell, 0);
  const to = s.strand(datagram(3), wifi, 20);
  assert.ok(to !== undefined && to.local === cell.local, `sent on ${to?.local}, not on cell0`);
});

test('a datagram whose peer never moves is given up after the hold time, and counted', () => {
  const s = new StrandedDatagrams();
  s.strand(datagram(4), wifi, 0);
  assert.equal(s.moved(wifi, cell, STRANDED_HOLD_MS + 1).length, 0, 'a stale datagram is not re-sent');
  assert.equal(s.expired, 1, 'the stale datagram counts as dropped');
});

test('a move onto the pair that was already current re-sends nothing', () => {
  const s = new StrandedDatagrams();
  s.strand(datagram(5), wifi, 0);
  assert.equal(s.moved(wifi, wifi, 1).length, 0, 'no move, no re-send');
  assert.equal(s.moved(wifi, cell, 2).length, 1, 'still held for a real move');
});

test('two flows stranded on one dead pair: a flow that moves takes only its own datagrams, classified by the route matcher; later failures of that flow follow it', () => {
  const OUT = { spi: 0x7001, suite: EspSuite.AES_GCM_16, keys: { encKey: new Uint8Array(16).fill(3), authKey: new Uint8Array(0), salt: new Uint8Array(4).fill(4) } };
  const sa = new EspOutboundSa({ ...OUT, createdAt: 0 });
  const sealed = new SealedFlows();
  sealed.add('peer', OUT, true);
  // Inner IPv4 packets as the LSI data plane seals them (next header 4), to UDP port 5004 or 5006.
  const udpTo = (port: number): Uint8Array => {
    const p = ipv4Packet('1.0.0.10', '1.5.5.5', IPPROTO_UDP, new Uint8Array(20));
    p[22] = port >> 8; p[23] = port & 0xff;
    return sa.seal(p, IPPROTO_IPIP, 0);
  };
  const route = (fid: number, port: number, on: SendPath): FlowRoute => ({
    fid, protocol: IPPROTO_UDP, localPorts: null, remotePorts: { from: port, to: port },
    remote: { address: '203.0.113.1', port: on.port }, remoteAddr16: on.addr16, local: on.local, outboundSpi: OUT.spi,
  });
  const routes = [route(1, 5004, cell), route(2, 5006, cell)];
  const flow = (fid: number) => (d: Uint8Array) => sealed.fidOf(d, routes) === fid;
  const s = new StrandedDatagrams();
  const a1 = udpTo(5004);
  const b1 = udpTo(5006);
  const a2 = udpTo(5004);
  for (const d of [a1, b1, a2]) assert.equal(s.strand(d, cell, 0), undefined);
  assert.deepEqual([sealed.fidOf(a1, routes), sealed.fidOf(b1, routes), sealed.fidOf(udpTo(443), routes)], [1, 2, null]);

  const moved = s.moved(cell, wifi, 10, flow(1));
  assert.deepEqual(moved, [a1, a2], 'flow 1 takes its two datagrams, not flow 2\'s');
  assert.equal(s.strand(udpTo(5004), cell, 20)?.local, wifi.local, 'a later failure of flow 1 goes straight to its new pair');
  assert.equal(s.strand(udpTo(5006), cell, 20), undefined, 'one of flow 2 waits for its own move');
  assert.deepEqual(s.moved(cell, other, 30, flow(2)).length, 2, 'flow 2 then takes its own two');
  assert.equal(s.expired, 0);
});
