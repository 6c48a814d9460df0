import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  EspInboundSa, EspOutboundSa, espSpi, isAllowedSpi, ESP_SEQ_MAX, ESP_SEQ_REKEY_THRESHOLD, type EspDropReason,
} from '../../src-main/esp/sa.js';
import { espSuiteInfo } from '../../src-main/esp/suites.js';
import type { EspKeyMaterial } from '../../src-main/esp/keys.js';
import { createEspTransform, type EspImpl } from '../../src-main/esp/transforms.js';

const SUITES = [8, 9, 12, 13];
const IMPLS: EspImpl[] = ['node', 'noble'];
const PAIRS: Array<[EspImpl, EspImpl]> = [['node', 'noble'], ['noble', 'node']];
const SPI = 0x5eed0001;

function keysFor(suite: number): EspKeyMaterial {
  const i = espSuiteInfo(suite)!;
  return { encKey: randomBytes(i.encKeyLength), authKey: randomBytes(i.authKeyLength), salt: randomBytes(i.saltLength) };
}

function pair(suite: number, sealImpl: EspImpl = 'node', openImpl: EspImpl = 'node', extra: { replayWindowSize?: number } = {}) {
  const keys = keysFor(suite);
  return {
    keys,
    out: new EspOutboundSa({ spi: SPI, suite, keys, createdAt: 0, impl: sealImpl }),
    inn: new EspInboundSa({ spi: SPI, suite, keys, createdAt: 0, impl: openImpl, ...extra }),
  };
}

for (const suite of SUITES) {
  for (const [sealImpl, openImpl] of PAIRS) {
    test(`suite ${suite}: ${sealImpl} seals, ${openImpl} opens, every payload size 0..1500`, () => {
      const { out, inn } = pair(suite, sealImpl, openImpl);
      const info = espSuiteInfo(suite)!;
      let total = 0;
      for (let len = 0; len <= 1500; len++) {
        const payload = randomBytes(len);
        const nh = [6, 17, 58, 1, 4, 41][len % 6]!;
        const p = out.seal(payload, nh, 0);
        // Every padding boundary: the ciphertext is block-aligned and padding is minimal.
        const ct = p.length - 8 - info.ivLength - info.icvLength;
        assert.equal(ct % info.blockSize, 0);
        assert.ok(ct - (len + 2) < info.blockSize);
        const r = inn.open(p, 0);
        assert.ok(r.ok, `len ${len}: ${JSON.stringify(r)}`);
        assert.deepEqual(r.payload, Uint8Array.from(payload));
        assert.equal(r.nextHeader, nh);
        assert.equal(r.seq, len + 1);
        total += len;
      }
      assert.equal(out.packets, 1501);
      assert.equal(out.bytes, total);
      assert.equal(inn.counters.accepted, 1501);
      assert.equal(inn.bytes, total);
    });
  }
}

for (const suite of SUITES) {
  for (const impl of IMPLS) {
    test(`suite ${suite} (${impl}): any single bit flip is dropped without throwing, and leaves the window alone`, () => {
      const { out, inn } = pair(suite, 'node', impl);
      const p = out.seal(randomBytes(100), 6, 0);
      const reasons = new Set<EspDropReason>();
      for (let bit = 0; bit < p.length * 8; bit++) {
        const q = p.slice();
        q[bit >> 3]! ^= 1 << (bit & 7);
        const r = inn.open(q, 0);
        assert.equal(r.ok, false, `bit ${bit}`);
        if (!r.ok) {
          reasons.add(r.reason);
          // Sequence number 1 with its low bit flipped is 0, which no sender uses: too old.
          const expected = bit < 32 ? 'spi-mismatch' : bit === 56 ? 'too-old' : 'auth-failed';
          assert.equal(r.reason, expected, `bit ${bit}`);
        }
      }
      assert.deepEqual([...reasons].sort(), ['auth-failed', 'spi-mismatch', 'too-old']);
      assert.equal(inn.counters.accepted, 0);
      assert.equal(inn.highestSeq, 0);
      assert.ok(inn.open(p, 0).ok, 'the genuine packet still opens');
    });
  }
}

test('replays are rejected and counted; reordering inside the window is accepted', () => {
  const { out, inn } = pair(13);
  const packets = Array.from({ length: 50 }, () => out.seal(randomBytes(40), 17, 0));
  for (const i of [10, 3, 49, 0, 25]) assert.ok(inn.open(packets[i]!, 0).ok);
  assert.deepEqual(inn.open(packets[3]!, 0), { ok: false, reason: 'replay' });
  assert.deepEqual(inn.open(packets[49]!, 0), { ok: false, reason: 'replay' });
  for (let i = 0; i < 50; i++) if (![10, 3, 49, 0, 25].includes(i)) assert.ok(inn.open(packets[i]!, 0).ok, `packet ${i}`);
  assert.equal(inn.counters.accepted, 50);
  assert.equal(inn.counters.replay, 2);
});

test('a 1000-packet reorder holds in a 1024 window; packets further behind are too old', () => {
  const { out, inn } = pair(12, 'node', 'node', { replayWindowSize: 1024 });
  const packets = Array.from({ length: 5000 }, () => out.seal(randomBytes(20), 6, 0));
  // Each packet is overtaken by up to 999 later ones: it arrives at most 999 behind the top.
  const order = packets.map((p, i) => ({ p, key: i + Math.random() * 1000 })).sort((a, b) => a.key - b.key);
  for (const { p } of order) assert.ok(inn.open(p, 0).ok);
  assert.equal(inn.counters.accepted, 5000);
  for (const { p } of order.slice(0, 100)) assert.equal(inn.open(p, 0).ok, false);

  // A never-seen packet 1024 behind the top is outside the window.
  const p2 = pair(12, 'node', 'node', { replayWindowSize: 1024 });
  const held = [p2.out.seal(randomBytes(20), 6, 0), p2.out.seal(randomBytes(20), 6, 0)]; // seq 1, 2
  let last = held[1]!;
  for (let i = 0; i < 1023; i++) last = p2.out.seal(randomBytes(20), 6, 0); // seq 3..1025
  assert.ok(p2.inn.open(last, 0).ok);
  assert.deepEqual(p2.inn.open(held[0]!, 0), { ok: false, reason: 'too-old' }); // 1024 behind
  assert.ok(p2.inn.open(held[1]!, 0).ok); // 1023 behind
});

test('a forged packet with a huge sequence number does not advance the window', () => {
  const { out, inn } = pair(13);
  const first = out.seal(randomBytes(64), 6, 0);
  const second = out.seal(randomBytes(64), 6, 0);
  assert.ok(inn.open(first, 0).ok);
  const forged = second.slice();
  forged.set([0xff, 0xff, 0xff, 0xf0], 4); // seq field is covered by the ICV
  assert.deepEqual(inn.open(forged, 0), { ok: false, reason: 'auth-failed' });
  const junk = new Uint8Array(200);
  junk.set([0x5e, 0xed, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(inn.open(junk, 0), { ok: false, reason: 'auth-failed' });
  assert.equal(inn.highestSeq, 1);
  assert.ok(inn.open(second, 0).ok, 'the genuine seq 2 still gets in');
});

test('needsRekey: on the sequence threshold, and on the lifetime', () => {
  const keys = keysFor(13);
  const bySeq = new EspOutboundSa({ spi: SPI, suite: 13, keys, createdAt: 0, seqRekeyThreshold: 3 });
  bySeq.seal(new Uint8Array(1), 6, 0);
  bySeq.seal(new Uint8Array(1), 6, 0);
  assert.equal(bySeq.needsRekey(0), false);
  bySeq.seal(new Uint8Array(1), 6, 0);
  assert.equal(bySeq.needsRekey(0), true);

  const byTime = new EspOutboundSa({ spi: SPI, suite: 13, keys, createdAt: 5000, lifetimeMs: 1000 });
  assert.equal(byTime.needsRekey(5999), false);
  assert.equal(byTime.needsRekey(6000), true);

  const byDefault = new EspOutboundSa({ spi: SPI, suite: 13, keys, createdAt: 0, nextSeq: ESP_SEQ_REKEY_THRESHOLD });
  assert.equal(byDefault.needsRekey(0), false);
  byDefault.seal(new Uint8Array(1), 6, 0);
  assert.equal(byDefault.needsRekey(0), true);
  assert.ok(ESP_SEQ_REKEY_THRESHOLD < ESP_SEQ_MAX);
});

test('sequence numbers never wrap: 2^32−1 is the last one sent, then seal throws', () => {
  const keys = keysFor(12);
  const out = new EspOutboundSa({ spi: SPI, suite: 12, keys, createdAt: 0, nextSeq: ESP_SEQ_MAX - 1 });
  const inn = new EspInboundSa({ spi: SPI, suite: 12, keys, createdAt: 0 });
  const a = out.seal(new Uint8Array(10), 6, 0);
  const b = out.seal(new Uint8Array(10), 6, 0);
  assert.equal(out.seq, ESP_SEQ_MAX);
  assert.throws(() => out.seal(new Uint8Array(10), 6, 0), /rekey/);
  assert.equal(out.seq, ESP_SEQ_MAX, 'a refused seal does not consume a number');
  assert.ok(inn.open(a, 0).ok);
  const r = inn.open(b, 0);
  assert.ok(r.ok && r.seq === ESP_SEQ_MAX);
});

test('inbound SA expires at its lifetime, or earlier when retired', () => {
  const { keys, out } = pair(9);
  const inn = new EspInboundSa({ spi: SPI, suite: 9, keys, createdAt: 1000, lifetimeMs: 500 });
  const p1 = out.seal(randomBytes(10), 6, 0);
  const p2 = out.seal(randomBytes(10), 6, 0);
  assert.ok(inn.open(p1, 1499).ok);
  assert.equal(inn.lastAcceptedAt, 1499);
  assert.deepEqual(inn.open(p2, 1500), { ok: false, reason: 'expired' });
  assert.equal(inn.counters.expired, 1);

  const noLimit = new EspInboundSa({ spi: SPI, suite: 9, keys, createdAt: 0 });
  assert.ok(noLimit.open(p1, 1e12).ok, 'no default hard lifetime');
  noLimit.expireAt(2e12);
  assert.ok(noLimit.open(p2, 2e12 - 1).ok);
  assert.equal(noLimit.isExpired(2e12), true);
});

test('wrong SPI, short packets and mis-sized CBC ciphertext are classified, not thrown', () => {
  const { out, inn } = pair(8);
  const p = out.seal(randomBytes(30), 6, 0);
  assert.deepEqual(inn.open(p.subarray(0, 7), 0), { ok: false, reason: 'truncated' });
  assert.deepEqual(inn.open(p.subarray(0, 40), 0), { ok: false, reason: 'truncated' });
  assert.deepEqual(inn.open(p.subarray(0, p.length - 1), 0), { ok: false, reason: 'truncated' });
  const other = p.slice();
  other.set([0, 0, 1, 0]);
  assert.deepEqual(inn.open(other, 0), { ok: false, reason: 'spi-mismatch' });
  assert.ok(inn.open(p, 0).ok);
});

test('an authenticated packet whose padding is not 1, 2, 3… or overruns the payload is bad-padding', () => {
  for (const suite of [8, 13]) {
    const info = espSuiteInfo(suite)!;
    const keys = keysFor(suite);
    const inn = new EspInboundSa({ spi: SPI, suite, keys, createdAt: 0 });
    const transform = createEspTransform(info, keys, 'node');
    // A broken sender: correct ICV over a trailer we choose.
    const craft = (seq: number, plaintext: number[]): Uint8Array => {
      const packet = new Uint8Array(8 + info.ivLength + plaintext.length + info.icvLength);
      packet.set([0x5e, 0xed, 0x00, 0x01, 0, 0, 0, seq]);
      packet.set(randomBytes(info.ivLength), 8);
      packet.set(plaintext, 8 + info.ivLength);
      transform.seal(packet);
      return packet;
    };
    const body = Array.from({ length: 12 }, (_, i) => 0x40 + i);
    assert.deepEqual(inn.open(craft(1, [...body, 1, 3, 2, 6]), 0), { ok: false, reason: 'bad-padding' });
    assert.deepEqual(inn.open(craft(2, [...body, 0, 0, 200, 6]), 0), { ok: false, reason: 'bad-padding' });
    const good = inn.open(craft(3, [...body, 1, 2, 2, 6]), 0);
    assert.ok(good.ok && good.payload.length === 12);
    assert.equal(inn.counters['bad-padding'], 2);
    assert.equal(inn.highestSeq, 3);
    // The dropped ones did not consume their sequence numbers.
    assert.ok(inn.open(craft(1, [...body, 1, 2, 2, 6]), 0).ok);
  }
});

test('espSpi reads the SPI for demux; zero (HIP control) and runts are not ESP', () => {
  assert.equal(espSpi(Uint8Array.from([0x5e, 0xed, 0, 1, 0, 0, 0, 1])), SPI);
  assert.equal(espSpi(Uint8Array.from([0, 0, 0, 0, 0x3b, 4, 0x41, 2])), null);
  assert.equal(espSpi(new Uint8Array(7).fill(1)), null);
  assert.equal(isAllowedSpi(255), false);
  assert.equal(isAllowedSpi(256), true);
  assert.throws(() => new EspOutboundSa({ spi: 0, suite: 13, keys: keysFor(13), createdAt: 0 }), RangeError);
  assert.throws(() => new EspInboundSa({ spi: 12, suite: 13, keys: keysFor(13), createdAt: 0 }), RangeError);
  assert.throws(() => new EspInboundSa({ spi: SPI, suite: 13, keys: keysFor(9), createdAt: 0 }), RangeError);
});

test('fuzz: 24,000 random datagrams, half with our SPI and a fresh sequence number, never throw or get in', () => {
  let n = 0;
  for (const suite of SUITES) {
    for (const impl of IMPLS) {
      const { inn } = pair(suite, 'node', impl);
      for (let i = 0; i < 3000; i++) {
        const info = espSuiteInfo(suite)!;
        // Every other input has our SPI and a well-formed length, so it reaches the ICV check.
        const shaped = i % 2 === 0;
        const len = shaped
          ? 8 + info.ivLength + info.blockSize * (1 + Math.floor(Math.random() * 90)) + info.icvLength
          : i % 3 === 0 ? i % 97 : Math.floor(Math.random() * 1600);
        const junk = randomBytes(len);
        if (shaped) junk.set([0x5e, 0xed, 0x00, 0x01]);
        const r = inn.open(junk, i);
        assert.equal(r.ok, false);
        n++;
      }
      assert.equal(inn.counters.accepted, 0);
      assert.equal(inn.highestSeq, 0);
      const c = inn.counters;
      assert.equal(c.truncated + c['spi-mismatch'] + c['auth-failed'] + c['too-old'] + c.replay, 3000);
      assert.ok(c['auth-failed'] > 1400, 'the fuzz reaches the ICV check');
    }
  }
  assert.ok(n >= 20_000);
});

test('overhead() predicts packet size; lastSealedAt tracks the last seal for keepalive decisions', () => {
  for (const suite of SUITES) {
    const out = new EspOutboundSa({ spi: SPI, suite, keys: keysFor(suite), createdAt: 0 });
    assert.equal(out.lastSealedAt, null);
    for (const len of [0, 1, 1399, 1400]) assert.equal(out.seal(new Uint8Array(len), 4, 77).length, len + out.overhead(len));
    assert.equal(out.lastSealedAt, 77);
  }
});
