// Throws from the codec would reach the event loop: a packet from anyone could stop the engine.
// Random octets and mutations of valid packets of every type must always come back as a typed
// result, every accepted packet must re-encode, and memory must not grow with input count.
// E-LOCATOR (seed 002) gets its own round of value mutations, through to reading its flows.
// Seed: printed each run; FUZZ_SEED=<n> replays one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ParamType } from '../../src-main/hip/wire/constants.js';
import { decodePacket, decodeParams, encodePacket, encodeParam } from '../../src-main/hip/wire/codec.js';
import { coveredBytes, signature2Input } from '../../src-main/hip/wire/covered.js';
import { ipFromFrame, parseIpPacket, readPcap } from '../../src-main/platform/pcap.js';
import { decodeParamValue, encodeParamValue } from '../../src-main/hip/wire/param-codec.js';
import type { Deviation } from '../../src-main/hip/wire/params.js';
import { peerFlowsFrom } from '../../src-main/hip/flow-announcement.js';
import { SAMPLE_PACKETS, SAMPLE_PARAMS } from '../fixtures/wire-samples.js';

const INPUTS = 100_000;
const HEAP_GROWTH_LIMIT = 48 * 1024 * 1024;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function loadBases(): Uint8Array[] {
  const bases = SAMPLE_PACKETS.map(encodePacket);
  // real packets from another implementation make good seeds too
  const capture = new URL('../fixtures/cutehip-hipv2-bex-esp.pcap', import.meta.url);
  for (const r of readPcap(readFileSync(capture)).records) {
    const frame = ipFromFrame(r.linkType, r.data);
    const ip = frame && parseIpPacket(frame);
    if (ip && ip.ok && ip.packet.protocol === 139) bases.push(ip.packet.payload);
  }
  return bases;
}

const KNOWN_TYPES = Object.values(ParamType);

function paramStarts(b: Uint8Array): number[] {
  const starts: number[] = [];
  let o = 40;
  while (o + 4 <= b.length) {
    starts.push(o);
    o += (4 + ((b[o + 2]! << 8) | b[o + 3]!) + 7) & ~7;
  }
  return starts;
}

test('the codec never throws on random or mutated input, and what it accepts re-encodes', (t) => {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
  t.diagnostic(`FUZZ_SEED=${seed}`);
  console.log(`fuzz-codec: FUZZ_SEED=${seed}`);
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const randomBytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = int(256); return b; };
  const bases = loadBases();
  const encodedParams = SAMPLE_PARAMS.map(encodeParam);

  const mutations: ((b: Uint8Array) => Uint8Array)[] = [
    (b) => { const c = b.slice(); const i = int(c.length); c[i] = c[i]! ^ (1 << int(8)); return c; }, // bit flip
    (b) => { const c = b.slice(); c[int(c.length)] = int(256); return c; }, // byte overwrite
    (b) => b.slice(0, int(b.length + 1)), // truncation
    (b) => Uint8Array.from([...b, ...randomBytes(1 + int(24))]), // trailing junk
    (b) => { const c = b.slice(); c[1] = pick([int(256), Math.max(0, c[1]! - 1), (c[1]! + 1) & 0xff]); return c; }, // header length
    (b) => { // a parameter's length field
      const starts = paramStarts(b);
      if (!starts.length) return b;
      const c = b.slice();
      const o = pick(starts);
      const len = (c[o + 2]! << 8) | c[o + 3]!;
      const v = pick([int(65536), len + 1, Math.max(0, len - 1), len + 8, 0, 0xffff]);
      c[o + 2] = v >> 8; c[o + 3] = v & 0xff;
      return c;
    },
    (b) => { // a parameter's type: feeds one layout's octets to another's decoder
      const starts = paramStarts(b);
      if (!starts.length) return b;
      const c = b.slice();
      const o = pick(starts);
      const v = rnd() < 0.8 ? pick(KNOWN_TYPES) : int(65536);
      c[o] = v >> 8; c[o + 1] = v & 0xff;
      return c;
    },
    (b) => { // splice a parameter from the sample set in at a parameter boundary
      const starts = [...paramStarts(b), b.length];
      const at = pick(starts.filter((s) => s <= b.length));
      const p = pick(encodedParams);
      const c = Uint8Array.from([...b.subarray(0, at), ...p, ...b.subarray(at)]);
      c[1] = Math.min(255, c.length / 8 - 1);
      return c;
    },
    (b) => { // drop or duplicate a parameter
      const starts = paramStarts(b);
      if (starts.length < 1) return b;
      const i = int(starts.length);
      const from = starts[i]!;
      const to = starts[i + 1] ?? b.length;
      const c = rnd() < 0.5
        ? Uint8Array.from([...b.subarray(0, from), ...b.subarray(to)])
        : Uint8Array.from([...b.subarray(0, to), ...b.subarray(from, to), ...b.subarray(to)]);
      if (c.length >= 8 && c.length % 8 === 0) c[1] = Math.min(255, c.length / 8 - 1);
      return c;
    },
  ];

  function nextInput(): Uint8Array {
    const r = rnd();
    if (r < 0.15) return randomBytes(int(700));
    if (r < 0.25) { // random parameters behind a valid header
      const b = randomBytes(40 + 8 * int(60));
      b[0] = 59; b[1] = b.length / 8 - 1; b[2] = b[2]! & 0x7f; b[3] = 0x21;
      return b;
    }
    let b = pick(bases);
    const n = 1 + int(4);
    for (let i = 0; i < n; i++) b = pick(mutations)(b);
    return b;
  }

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  let heapStart = 0;
  const started = Date.now();

  for (let n = 0; n < INPUTS; n++) {
    if (n === 2000) { gc(); heapStart = process.memoryUsage().heapUsed; } // after warm-up and JIT
    const input = nextInput();
    let result: ReturnType<typeof decodePacket>;
    try {
      result = decodePacket(input);
    } catch (err) {
      assert.fail(`decodePacket threw on input ${n} (FUZZ_SEED=${seed}): ${String(err)}\n${Buffer.from(input).toString('hex')}`);
    }
    try {
      decodeParams(input.subarray(Math.min(40, input.length)));
    } catch (err) {
      assert.fail(`decodeParams threw on input ${n} (FUZZ_SEED=${seed}): ${String(err)}\n${Buffer.from(input).toString('hex')}`);
    }
    if (!result.ok) { count(result.reason); continue; }
    count('ok');
    const pkt = result.packet;
    let again: Uint8Array;
    try {
      again = encodePacket(pkt);
      coveredBytes(pkt, pkt.spans.length);
      signature2Input(pkt, pkt.spans.length);
    } catch (err) {
      assert.fail(`re-encoding an accepted packet threw on input ${n} (FUZZ_SEED=${seed}): ${String(err)}\n${Buffer.from(input).toString('hex')}`);
    }
    // what we accept, we can also read back the same way from our own encoding
    if (n % 16 === 0) {
      const back = decodePacket(again);
      assert.ok(back.ok, `re-encoded packet does not decode (FUZZ_SEED=${seed})`);
      assert.deepEqual(back.packet.params, pkt.params);
      if (pkt.deviations.length === 0) {
        const sent = pkt.raw.slice();
        sent[4] = 0; sent[5] = 0; // we always send checksum zero (UDP); raw-IP seeds carry one
        assert.equal(Buffer.from(again).toString('hex'), Buffer.from(sent).toString('hex'));
      }
    }
  }

  gc();
  const growth = process.memoryUsage().heapUsed - heapStart;
  t.diagnostic(`outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; heap growth ${(growth / 1e6).toFixed(1)} MB; ${Date.now() - started} ms`);
  assert.ok(growth < HEAP_GROWTH_LIMIT, `heap grew ${growth} bytes over ${INPUTS} inputs`);
  // the generator must reach deep into the parameter decoders, not stall at the header
  assert.ok((outcomes.get('ok') ?? 0) > INPUTS / 10, 'too few inputs were accepted to exercise the decoders');
  assert.ok((outcomes.get('bad-param-length') ?? 0) > INPUTS / 20, 'too few inputs reached parameter validation');
});

test('E-LOCATOR: mutated values never throw, in the codec or in reading the flows, and what is accepted re-encodes', (t) => {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (process.pid << 9)) >>> 0;
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bases = SAMPLE_PARAMS.filter((p) => p.kind === 'E_LOCATOR').map((p) => encodeParamValue(p));
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  for (let n = 0; n < 20_000; n++) {
    let v = bases[int(bases.length)]!.slice();
    for (let m = 1 + int(3); m > 0; m--) {
      const r = rnd();
      if (r < 0.5 && v.length > 0) v[int(v.length)] = int(256);
      else if (r < 0.7) v = v.slice(0, int(v.length + 1));
      else if (r < 0.85) v = Uint8Array.from([...v, ...Array.from({ length: 1 + int(12) }, () => int(256))]);
      else if (v.length > 0) { const i = int(v.length); v[i] = v[i]! ^ (1 << int(8)); }
    }
    let decoded: ReturnType<typeof decodeParamValue>;
    const deviations: Deviation[] = [];
    try {
      decoded = decodeParamValue(ParamType.E_LOCATOR, v, deviations);
    } catch (err) {
      assert.fail(`decoding E-LOCATOR threw (FUZZ_SEED=${seed}): ${String(err)}\n${Buffer.from(v).toString('hex')}`);
    }
    if (!decoded.ok) { count(decoded.reason); continue; }
    assert.equal(decoded.param.kind, 'E_LOCATOR');
    const again = encodeParamValue(decoded.param);
    // reserved bits a peer set are reported (a deviation), and we send them as zero
    if (deviations.length === 0) assert.equal(Buffer.from(again).toString('hex'), Buffer.from(v).toString('hex'), `an accepted E-LOCATOR re-encodes as received (FUZZ_SEED=${seed})`);
    const back = decodeParamValue(ParamType.E_LOCATOR, again, []);
    assert.ok(back.ok, `a re-encoded E-LOCATOR decodes (FUZZ_SEED=${seed})`);
    assert.deepEqual(back.param, decoded.param);
    let flows: ReturnType<typeof peerFlowsFrom>;
    try {
      flows = peerFlowsFrom([decoded.param], 10500, [{ address: '203.0.113.9', port: 10500 }]);
    } catch (err) {
      assert.fail(`reading the flows of an E-LOCATOR threw (FUZZ_SEED=${seed}): ${String(err)}\n${Buffer.from(v).toString('hex')}`);
    }
    count(flows.ok ? 'flows' : 'flows-refused');
  }
  t.diagnostic(`E-LOCATOR outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  // the mutations must reach every stage: refused framing, refused flows and applied flows
  for (const k of ['bad-param-length', 'flows', 'flows-refused']) assert.ok((outcomes.get(k) ?? 0) > 200, `too few inputs ended as ${k}`);
});
