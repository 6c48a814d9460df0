// Further SA pairs per peer in the native fast path (simultaneous multihoming, RFC 8047 §4.1:
// one SA pair per interface), through the same per-packet code the packet threads run: which
// outbound SA carries the traffic, each SA's own sequence numbers, further inbound SAs opening
// for the right peer, and how install, removeOutbound and dropSas treat them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESP_SEQ_MAX, EspInboundSa, EspOutboundSa } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { IPPROTO_UDP, writeBeetPacket } from '../../src-main/dataplane/packet.js';
import { OUT_SPI, OWN_HIT, PEER_HIT, gcmKeys, saInstall, testHit, twin, type Twin } from '../../lab/dataplane-fastpath.js';

const SUITE = EspSuite.AES_GCM_16;
const CELL_OUT = 0x5005;
const CELL_IN = 0x6006;
const CELL_ADDR = toAddr16('198.51.100.7')!;

function hitPacket(n: number): Uint8Array {
  const p = new Uint8Array(40 + 12);
  writeBeetPacket(p, OWN_HIT, PEER_HIT, IPPROTO_UDP, Uint8Array.from({ length: 12 }, (_, i) => (i + n) & 0xff));
  return p;
}

/** SPI and sequence number of what the fast path sealed next for the peer. */
function sealNext(t: Twin): { spi: number; seq: number; datagram: Uint8Array } {
  const r = t.io.fpProcessTun(t.fast.handle, hitPacket(1));
  assert.ok('datagram' in r, `the fast path seals for the peer: ${JSON.stringify(r)}`);
  const d = new Uint8Array(r.datagram);
  const v = new DataView(d.buffer);
  return { spi: v.getUint32(0), seq: v.getUint32(4), datagram: d };
}

function addCell(t: Twin): void {
  const ok = t.fast.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21) }, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) });
  assert.ok(ok, 'the fast path takes the further AES-GCM pair');
}

function peerStats(t: Twin, hit = PEER_HIT): { packetsIn: number; outboundSpi: number | null; lastHeardAgoMs: number | null } {
  const p = t.fast.stats().peers.find((s) => Buffer.from(s.hit).equals(Buffer.from(hit)));
  assert.ok(p, 'the peer is listed');
  return p;
}

test('a further outbound SA carries traffic only once setPath names it, with its own sequence numbers; switching back continues the first', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    assert.deepEqual([1, 2, 3].map(() => sealNext(t)).map((s) => [s.spi, s.seq]), [[OUT_SPI, 1], [OUT_SPI, 2], [OUT_SPI, 3]],
      'added, not named: the base SA still carries the traffic');

    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    assert.equal(peerStats(t).outboundSpi, CELL_OUT, 'stats name the SA carrying the traffic');
    const cell = [sealNext(t), sealNext(t)];
    assert.deepEqual(cell.map((s) => [s.spi, s.seq]), [[CELL_OUT, 1], [CELL_OUT, 2]], 'the further SA counts from 1');
    const peerCellIn = new EspInboundSa({ spi: CELL_OUT, suite: SUITE, keys: gcmKeys(21), createdAt: 0 });
    assert.ok(cell.every((s) => peerCellIn.open(s.datagram, 0).ok), 'sealed with the further SA\'s own keys');

    t.fast.setPath(PEER_HIT, toAddr16('192.0.2.2')!, 10500, -1, OUT_SPI);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[OUT_SPI, 4]], 'back on the base SA: it continues at 4');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[CELL_OUT, 3]], 'and the further one at 3');

    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, 0x7777);
    assert.equal(sealNext(t).spi, CELL_OUT, 'an SPI the peer has no SA for switches nothing');
  } finally {
    t.close();
  }
});

test('a further inbound SA opens at once and counts to its own peer; esp-heard names its SPI', () => {
  const t = twin(SUITE);
  try {
    const other = saInstall(SUITE, gcmKeys(31), gcmKeys(33));
    other.hit = testHit(3);
    other.lsi = 0x01060606;
    other.outbound.spi = 0x8008;
    other.inbound.spi = 0x9009;
    assert.ok(t.fast.install(other, -1), 'a second peer');
    t.fast.poll();
    addCell(t);
    const peerCellOut = new EspOutboundSa({ spi: CELL_IN, suite: SUITE, keys: gcmKeys(23), createdAt: 0, nextSeq: 1 });
    for (let i = 0; i < 3; i++) {
      const r = t.io.fpProcessUdp(t.fast.handle, peerCellOut.seal(Uint8Array.of(1, 2, 3, i), IPPROTO_UDP, 0));
      assert.ok('inner' in r, `packet ${i} on the further inbound SA opens: ${JSON.stringify(r)}`);
      assert.deepEqual(new Uint8Array(r.inner).subarray(8, 24), PEER_HIT, 'rebuilt with the peer\'s HIT as source');
    }
    assert.equal(peerStats(t).packetsIn, 3, 'counted to the peer the SA belongs to');
    assert.notEqual(peerStats(t).lastHeardAgoMs, null, 'the peer was heard');
    assert.equal(peerStats(t, other.hit).packetsIn, 0, 'not to the other peer');
    const events = t.fast.poll();
    assert.deepEqual(events.map((e) => e.type === 'esp-heard' && [Buffer.from(e.hit).equals(Buffer.from(PEER_HIT)), e.spi]), [[true, CELL_IN]],
      `one esp-heard for the peer naming the further SPI: ${JSON.stringify(events)}`);
  } finally {
    t.close();
  }
});

test('removeOutbound of the SA carrying traffic falls back to the base one; the base SPI is not removable that way', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    sealNext(t);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    sealNext(t);
    t.fast.removeOutbound(PEER_HIT, CELL_OUT);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[OUT_SPI, 2]], 'the base SA takes over where it left off');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    assert.equal(sealNext(t).spi, OUT_SPI, 'the removed SA cannot be named again');
    t.fast.removeOutbound(PEER_HIT, OUT_SPI);
    assert.equal(sealNext(t).spi, OUT_SPI, 'the install()ed SA stays');
  } finally {
    t.close();
  }
});

test('a rekey of the base pair keeps further SAs; the new base SA takes over only when the old one carried the traffic', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    const rekey = (out: number, inn: number): void => {
      const next = saInstall(SUITE, gcmKeys(out & 0xff), gcmKeys(inn & 0xff));
      next.outbound.spi = out;
      next.inbound.spi = inn;
      assert.ok(t.fast.install(next, -1), 'the rekeyed pair installs');
    };
    rekey(0x3003, 0x4004);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[0x3003, 1]], 'the base SA carried traffic: its successor does');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    rekey(0x3113, 0x4114);
    assert.equal(sealNext(t).spi, CELL_OUT, 'the further SA carried traffic: it still does after the base rekey');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, 0x3113);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[0x3113, 1]], 'the new base SA can be named');
  } finally {
    t.close();
  }
});

test('dropSas forgets every SA of the peer, further ones included', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    t.fast.dropSas(PEER_HIT);
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, hitPacket(1)), { punt: true }, 'no SA: the peer\'s traffic goes up to JS');
    const peerCellOut = new EspOutboundSa({ spi: CELL_IN, suite: SUITE, keys: gcmKeys(23), createdAt: 0, nextSeq: 1 });
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, peerCellOut.seal(Uint8Array.of(1), IPPROTO_UDP, 0)), { punt: true }, 'the further inbound SPI is gone');
    assert.equal(peerStats(t).outboundSpi, null);
  } finally {
    t.close();
  }
});

test('a further SA reaches its own rekey threshold and says which SPI to replace', () => {
  const t = twin(SUITE, { seqRekeyThreshold: 3 });
  try {
    addCell(t);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    t.fast.poll();
    for (let i = 0; i < 3; i++) sealNext(t);
    const events = t.fast.poll();
    assert.deepEqual(events.map((e) => e.type === 'rekey-needed' && e.spi), [CELL_OUT], `rekey-needed for the further SA: ${JSON.stringify(events)}`);
  } finally {
    t.close();
  }
});

test('a further pair of a suite the fast path does not run, or for a peer it has no pair for, is refused whole', () => {
  const t = twin(SUITE);
  try {
    const cbc = { spi: CELL_OUT, suite: EspSuite.AES_128_CBC_HMAC_SHA256, keys: { encKey: new Uint8Array(16), authKey: new Uint8Array(32), salt: new Uint8Array(0) } };
    assert.equal(t.fast.addSas(PEER_HIT, cbc, undefined), false, 'CBC stays in JS');
    assert.equal(t.fast.addSas(testHit(9), undefined, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }), false, 'unknown peer');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    assert.equal(sealNext(t).spi, OUT_SPI, 'nothing of the refused pair was kept');
    assert.ok(t.fast.addSas(PEER_HIT, undefined, { spi: CELL_IN, suite: SUITE, keys: gcmKeys(23) }), 'an inbound half alone is fine');
  } finally {
    t.close();
  }
});

test('malformed calls from JS throw and change nothing: a port beyond 65535, a negative or non-finite duration, an fd that is not a UDP socket', async () => {
  const t = twin(SUITE);
  const { openSync, closeSync } = await import('node:fs');
  const net = await import('node:net');
  try {
    const { io, fast } = t;
    assert.throws(() => io.fpSetPath(fast.handle, PEER_HIT, CELL_ADDR, 70_000, -1), TypeError, 'port 70000');
    assert.throws(() => io.fpSetSpare(fast.handle, PEER_HIT, CELL_ADDR, 10500, -1, -5), TypeError, 'a negative spare window');
    assert.throws(() => io.fpSetSpare(fast.handle, PEER_HIT, CELL_ADDR, 10500, -1, Number.NaN), TypeError, 'a NaN spare window');
    assert.throws(() => io.fpRetireInbound(fast.handle, 1, Number.POSITIVE_INFINITY), TypeError, 'an infinite retirement delay');
    const file = openSync('/dev/null', 'r');
    try {
      assert.throws(() => io.fpAddSocket(fast.handle, file), /not a UDP socket|non-socket/, '/dev/null is no socket');
    } finally {
      closeSync(file);
    }
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const tcp = (server as unknown as { _handle: { fd: number } })._handle.fd;
      assert.throws(() => io.fpAddSocket(fast.handle, tcp), /not a UDP socket/, 'a TCP listener is refused');
    } finally {
      server.close();
    }
    assert.equal(sealNext(t).spi, OUT_SPI, 'the peer still seals on its SA after the refusals');
  } finally {
    t.close();
  }
});

test('promoteBase: the base pair\'s successor waits beside the old base SA, then replaces it and takes its traffic on its path', () => {
  const t = twin(SUITE);
  try {
    const before = t.io.fpProcessTun(t.fast.handle, hitPacket(1));
    assert.ok('datagram' in before);
    const NEXT_OUT = 0x7007;
    assert.ok(t.fast.addSas(PEER_HIT, { spi: NEXT_OUT, suite: SUITE, keys: gcmKeys(31) }, undefined), 'the successor is added as a further SA');
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[OUT_SPI, 2]], 'until promoted, the old base SA carries the traffic');
    assert.equal(t.fast.promoteBase(PEER_HIT, NEXT_OUT), true);
    const r = t.io.fpProcessTun(t.fast.handle, hitPacket(1));
    assert.ok('datagram' in r);
    const v = new DataView(new Uint8Array(r.datagram).buffer);
    assert.deepEqual([v.getUint32(0), v.getUint32(4)], [NEXT_OUT, 1], 'the promoted SA carries it, from sequence number 1');
    assert.deepEqual([Buffer.from(r.address).toString('hex'), r.port], [Buffer.from(before.address).toString('hex'), before.port], 'on the path the old base SA had');
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, OUT_SPI);
    assert.equal(sealNext(t).spi, NEXT_OUT, 'the old base SA is gone: it cannot be named');
    t.fast.removeOutbound(PEER_HIT, NEXT_OUT);
    assert.equal(sealNext(t).spi, NEXT_OUT, 'the promoted SA is the base one: removeOutbound leaves it');
    assert.equal(t.fast.promoteBase(PEER_HIT, 0x7117), false, 'an SPI the peer has no further SA for promotes nothing');
    assert.equal(sealNext(t).spi, NEXT_OUT);
  } finally {
    t.close();
  }
});

test('promoteBase while a further SA carries the traffic leaves the traffic there', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    assert.ok(t.fast.addSas(PEER_HIT, { spi: 0x7007, suite: SUITE, keys: gcmKeys(31) }, undefined));
    assert.equal(t.fast.promoteBase(PEER_HIT, 0x7007), true);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[CELL_OUT, 1]], 'cell0\'s SA keeps the traffic');
    t.fast.removeOutbound(PEER_HIT, CELL_OUT);
    assert.equal(sealNext(t).spi, 0x7007, 'removing it falls back to the promoted base SA');
  } finally {
    t.close();
  }
});

test('setNextSeq moves one SA to the end of its sequence space: it asks for its rekey by SPI and never cycles; the others go on', () => {
  const t = twin(SUITE);
  try {
    addCell(t);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, CELL_OUT);
    t.fast.poll();
    assert.equal(t.fast.setNextSeq(PEER_HIT, CELL_OUT, ESP_SEQ_MAX - 1), true);
    assert.deepEqual([sealNext(t), sealNext(t)].map((s) => [s.spi, s.seq]), [[CELL_OUT, ESP_SEQ_MAX - 1], [CELL_OUT, ESP_SEQ_MAX]]);
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, hitPacket(1)), { drop: 'esp-seq-exhausted' }, 'past 2^32 - 1 nothing is sealed');
    const events = t.fast.poll();
    assert.deepEqual(events.map((e) => e.type === 'rekey-needed' && e.spi), [CELL_OUT], `one rekey-needed, for cell0's SA: ${JSON.stringify(events)}`);
    t.fast.setPath(PEER_HIT, CELL_ADDR, 10500, -1, OUT_SPI);
    assert.deepEqual([sealNext(t)].map((s) => [s.spi, s.seq]), [[OUT_SPI, 1]], 'the base SA keeps its own numbers');
    assert.equal(t.fast.setNextSeq(PEER_HIT, 0x7117, 5), false, 'an unknown SPI');
    assert.equal(t.fast.setNextSeq(PEER_HIT, OUT_SPI, 0), false, 'sequence number 0 is never sent');
    assert.equal(t.fast.setNextSeq(PEER_HIT, OUT_SPI, ESP_SEQ_MAX + 2), false, 'beyond 2^32');
    assert.equal(sealNext(t).seq, 2, 'a refused call changes nothing');
  } finally {
    t.close();
  }
});
