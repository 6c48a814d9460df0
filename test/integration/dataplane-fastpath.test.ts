// The native ESP fast path against the JS data plane, packet by packet, for both AES-GCM suites:
// what C seals JS opens (and the bytes are the very ones the JS core would send), what JS seals
// C opens into the same inner packet the JS core would write to the TUN, and the anti-replay
// window, rekey and exhaustion signals behave the same.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EspInboundSa, EspOutboundSa } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import {
  IPPROTO_IPIP, IPPROTO_NONE, IPPROTO_TCP, IPPROTO_UDP, beetPayload, numberToIpv4, writeBeetPacket,
} from '../../src-main/dataplane/packet.js';
import { checksumsValid, ipv4Packet } from '../support/dataplane-packets.js';
import {
  IN_SPI, OUT_SPI, OWN_HIT, OWN_LSI, PEER_HIT, PEER_LSI, gcmKeys, saInstall, testHit, twin, type Twin,
} from '../../lab/dataplane-fastpath.js';

const SUITES = [EspSuite.AES_GCM_8, EspSuite.AES_GCM_16];
const ADDR16 = new Uint8Array(16);

function payloadOf(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

/** A packet our stack writes into the TUN for the peer's HIT. */
function hitPacket(payload: Uint8Array, nextHeader = IPPROTO_UDP): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  writeBeetPacket(p, OWN_HIT, PEER_HIT, nextHeader, payload);
  return p;
}

/** A packet our stack writes into the TUN for the LSI we gave the peer. */
function lsiPacket(proto: number, payload: Uint8Array): Uint8Array {
  return ipv4Packet(numberToIpv4(OWN_LSI), numberToIpv4(PEER_LSI), proto, payload);
}

function sealedByC(t: Twin, inner: Uint8Array): Uint8Array {
  const r = t.io.fpProcessTun(t.fast.handle, inner);
  assert.ok('datagram' in r, `the fast path seals a packet for a peer with an SA: ${JSON.stringify(r)}`);
  return new Uint8Array(r.datagram);
}

function openedByC(t: Twin, datagram: Uint8Array): Uint8Array {
  const r = t.io.fpProcessUdp(t.fast.handle, datagram);
  assert.ok('inner' in r, `the fast path opens the peer's packet: ${JSON.stringify(r)}`);
  return new Uint8Array(r.inner);
}

function jsInbound(suite: number, keys = gcmKeys(7)): EspInboundSa {
  return new EspInboundSa({ spi: OUT_SPI, suite, keys, createdAt: 0 });
}

/** The peer's side: an outbound SA towards our inbound SPI. */
function peerOutbound(suite: number, nextSeq = 1): EspOutboundSa {
  return new EspOutboundSa({ spi: IN_SPI, suite, keys: gcmKeys(9), createdAt: 0, nextSeq });
}

for (const suite of SUITES) {
  test(`suite ${suite}: C seals HIT and LSI packets exactly as the JS core does, and JS opens them`, () => {
    const t = twin(suite);
    try {
      const peerIn = jsInbound(suite);
      const packets = [
        hitPacket(payloadOf(0)), hitPacket(payloadOf(1)), hitPacket(payloadOf(2)), hitPacket(payloadOf(3)),
        hitPacket(payloadOf(1360, 5), IPPROTO_TCP),
        lsiPacket(IPPROTO_UDP, payloadOf(100)), lsiPacket(IPPROTO_TCP, payloadOf(1333, 9)), lsiPacket(IPPROTO_UDP, payloadOf(0)),
      ];
      for (const [n, inner] of packets.entries()) {
        const c = sealedByC(t, inner);
        t.js.fromTun(inner, 0);
        assert.deepEqual(c, t.sink.udpOut[n], `packet ${n}: the C datagram equals the JS core's byte for byte`);
        const opened = peerIn.open(c, 0);
        assert.ok(opened.ok, `packet ${n}: the JS inbound SA opens what C sealed`);
        if (inner[0]! >>> 4 === 6) {
          const beet = beetPayload(inner, inner.length)!;
          assert.deepEqual(opened.payload, beet.payload, `packet ${n}: BEET carries what follows the IPv6 header`);
          assert.equal(opened.nextHeader, beet.nextHeader);
        } else {
          assert.deepEqual(opened.payload, inner, `packet ${n}: an LSI packet travels whole`);
          assert.equal(opened.nextHeader, IPPROTO_IPIP);
        }
        assert.equal(opened.seq, n + 1, 'sequence numbers count from 1');
      }
    } finally {
      t.close();
    }
  });

  test(`suite ${suite}: C opens what JS seals and rebuilds the inner packet as the JS core does`, () => {
    const t = twin(suite);
    try {
      const peerOut = peerOutbound(suite);
      // What the peer's stack sent, as its JS core would put it into ESP.
      const sent: Array<[Uint8Array, number]> = [
        [payloadOf(37), IPPROTO_UDP],
        [payloadOf(1360, 3), IPPROTO_TCP],
        [ipv4Packet('1.7.7.7', '1.0.0.99', IPPROTO_TCP, payloadOf(500, 1)), IPPROTO_IPIP],
        [ipv4Packet('1.7.7.7', '1.0.0.99', IPPROTO_UDP, payloadOf(61, 2)), IPPROTO_IPIP],
      ];
      for (const [n, [payload, nh]] of sent.entries()) {
        const datagram = peerOut.seal(payload, nh, 0);
        const c = openedByC(t, datagram.slice());
        t.js.fromUdp(datagram.slice(), ADDR16, 0, 10500, { address: '192.0.2.1', port: 10500 }, 0);
        assert.deepEqual(c, t.sink.tunOut[n], `packet ${n}: the rebuilt inner packet equals the JS core's byte for byte`);
        if (nh === IPPROTO_IPIP) {
          assert.ok(checksumsValid(c), `packet ${n}: checksums stay valid after the LSI rewrite`);
          assert.equal(numberToIpv4(((c[12]! << 24) | (c[13]! << 16) | (c[14]! << 8) | c[15]!) >>> 0), numberToIpv4(PEER_LSI));
        }
      }
      // A dummy packet (next header 59) authenticates but writes nothing.
      const dummy = t.io.fpProcessUdp(t.fast.handle, peerOut.seal(new Uint8Array(0), IPPROTO_NONE, 0));
      assert.deepEqual(dummy, { none: true });
    } finally {
      t.close();
    }
  });

  test(`suite ${suite}: the anti-replay window judges like the JS one`, () => {
    const t = twin(suite);
    try {
      const jsIn = new EspInboundSa({ spi: IN_SPI, suite, keys: gcmKeys(9), createdAt: 0 });
      // In order, duplicates, reordering within the window, the window's edge, far jumps.
      const seqs = [1, 2, 2, 5, 3, 3, 4, 1, 2100, 52, 53, 2100, 2099, 2050, 70000, 67953, 67952, 67951, 1e6, 999_999, 2 ** 32 - 1, 2 ** 32 - 2, 2 ** 32 - 1];
      for (const seq of seqs) {
        const d = peerOutbound(suite, seq).seal(payloadOf(20, seq & 0xff), IPPROTO_UDP, 0);
        const js = jsIn.open(d.slice(), 0);
        const c = t.io.fpProcessUdp(t.fast.handle, d.slice());
        const cVerdict = 'drop' in c ? c.drop : 'ok';
        const jsVerdict = js.ok ? 'ok' : `esp-${js.reason}`;
        assert.equal(cVerdict, jsVerdict, `sequence number ${seq}: C and JS agree`);
      }
    } finally {
      t.close();
    }
  });
}

test('a forged or truncated packet is dropped by reason, and the window does not move', () => {
  const t = twin(EspSuite.AES_GCM_16);
  try {
    const d = peerOutbound(EspSuite.AES_GCM_16, 10).seal(payloadOf(40), IPPROTO_UDP, 0);
    const forged = d.slice();
    forged[30]! ^= 1;
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, forged), { drop: 'esp-auth-failed' });
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, d.slice(0, 20)), { drop: 'esp-truncated' });
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, d.slice(0, 5)), { drop: 'udp-runt' });
    assert.ok('inner' in t.io.fpProcessUdp(t.fast.handle, d.slice()), 'the genuine packet still opens after the forgery');
  } finally {
    t.close();
  }
});

test('what the fast path cannot handle goes up to JS; what nobody can use is dropped', () => {
  const t = twin(EspSuite.AES_GCM_8);
  try {
    const hip = new Uint8Array(48);
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, hip), { punt: true }, 'HIP control (zero SPI) goes up');
    const stranger = peerOutbound(EspSuite.AES_GCM_8).seal(payloadOf(8), IPPROTO_UDP, 0);
    stranger[3] = 0x77; // an SPI the fast path does not hold (a CBC SA in JS, say)
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, stranger), { punt: true }, 'an unknown SPI goes up');
    const other = new Uint8Array(60);
    writeBeetPacket(other, OWN_HIT, testHit(9), IPPROTO_UDP, payloadOf(20));
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, other), { punt: true }, 'a peer without an SA goes up (need-connect)');
    const plain = ipv4Packet('10.0.0.1', '10.0.0.2', IPPROTO_UDP, payloadOf(4));
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, plain), { drop: 'tun-not-hip' });
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, Uint8Array.of(0x10, 0, 0)), { drop: 'tun-not-ip' });
    const short = hitPacket(payloadOf(30)).slice(0, 50); // payload length says 30, 10 present
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, short), { drop: 'tun-malformed' });
  } finally {
    t.close();
  }
});

test("'esp-heard' comes once per inbound SA; 'rekey-needed' once near the sequence limit; exhaustion drops", () => {
  const t = twin(EspSuite.AES_GCM_16, { seqRekeyThreshold: 3, nextSeq: 2 ** 32 - 3 });
  try {
    const peerOut = peerOutbound(EspSuite.AES_GCM_16);
    for (let i = 0; i < 3; i++) openedByC(t, peerOut.seal(payloadOf(10), IPPROTO_UDP, 0));
    const events = t.fast.poll();
    assert.deepEqual(events.map((e) => e.type), ['esp-heard'], 'heard once for three packets');
    assert.deepEqual(new Uint8Array((events[0] as { hit: Uint8Array }).hit), PEER_HIT);

    for (let i = 0; i < 3; i++) sealedByC(t, hitPacket(payloadOf(10)));
    assert.deepEqual(t.fast.poll().map((e) => e.type), ['rekey-needed'], 'asked once');
    const r = t.io.fpProcessTun(t.fast.handle, hitPacket(payloadOf(10)));
    assert.deepEqual(r, { drop: 'esp-seq-exhausted' }, 'the counter never cycles');
  } finally {
    t.close();
  }
});

test('packets the JS core seals on a fast-path SA continue its sequence numbers (no nonce reuse)', () => {
  const t = twin(EspSuite.AES_GCM_16);
  try {
    const install = saInstall(EspSuite.AES_GCM_16);
    const sealer = t.fast.install(install, -1);
    assert.ok(sealer, 'the fast path takes the SA');
    const peerIn = jsInbound(EspSuite.AES_GCM_16);
    const a = sealedByC(t, hitPacket(payloadOf(10)));
    const b = sealer.seal(payloadOf(10), IPPROTO_UDP, 0);
    const c = sealedByC(t, hitPacket(payloadOf(10)));
    const seqs = [a, b, c].map((d) => {
      const r = peerIn.open(d, 0);
      assert.ok(r.ok, 'JS opens every one');
      return r.seq;
    });
    assert.deepEqual(seqs, [1, 2, 3]);
  } finally {
    t.close();
  }
});

test('a rekeyed SA replaces the outbound one; the old inbound SA keeps working until retired', () => {
  const t = twin(EspSuite.AES_GCM_16);
  try {
    const oldPeerOut = peerOutbound(EspSuite.AES_GCM_16);
    const next = saInstall(EspSuite.AES_GCM_16, gcmKeys(11), gcmKeys(13));
    next.outbound.spi = 0x3003;
    next.inbound.spi = 0x4004;
    assert.ok(t.fast.install(next, -1), 'the new pair installs');
    const out = sealedByC(t, hitPacket(payloadOf(10)));
    assert.equal(new DataView(out.buffer, out.byteOffset).getUint32(0), 0x3003, 'sent on the new SPI');
    assert.ok('inner' in t.io.fpProcessUdp(t.fast.handle, oldPeerOut.seal(payloadOf(5), IPPROTO_UDP, 0)), 'old inbound SA still open');
    t.fast.retireInbound(IN_SPI, 0);
    assert.deepEqual(t.io.fpProcessUdp(t.fast.handle, oldPeerOut.seal(payloadOf(5), IPPROTO_UDP, 0)), { drop: 'esp-retired-spi' });
    t.fast.dropSas(PEER_HIT);
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, hitPacket(payloadOf(10))), { punt: true }, 'no SA: up to JS');
  } finally {
    t.close();
  }
});

test('CBC suites stay in JS', () => {
  const t = twin(EspSuite.AES_GCM_16);
  try {
    const cbc = saInstall(EspSuite.AES_128_CBC_HMAC_SHA256, { encKey: new Uint8Array(16), authKey: new Uint8Array(32), salt: new Uint8Array(0) });
    assert.equal(t.fast.install(cbc, -1), undefined, 'the fast path declines a CBC pair');
    assert.deepEqual(t.io.fpProcessTun(t.fast.handle, hitPacket(payloadOf(10))), { punt: true }, "the peer's traffic goes up to JS");
  } finally {
    t.close();
  }
});

test('with HIPVPN_LIBCRYPTO=none the fast path reports itself unavailable', () => {
  const script = fileURLToPath(new URL('../support/dataplane-fastpath-status.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, HIPVPN_LIBCRYPTO: 'none' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /unavailable: disabled by HIPVPN_LIBCRYPTO=none/);
});
