// ESP seal+open throughput per suite and implementation at a tunnel-sized payload.
// Each round seals a packet and opens it again (one sender's and one receiver's CPU work), so
// packets/s is what one core sustains doing both. Run: node --import tsx bench/esp.ts

import { randomBytes } from 'node:crypto';
import { EspInboundSa, EspOutboundSa } from '../src-main/esp/sa.js';
import { espSuiteInfo, PREFERRED_ESP_SUITES } from '../src-main/esp/suites.js';
import type { EspImpl } from '../src-main/esp/transforms.js';

const PAYLOAD = 1400;
const SECONDS = Number(process.env.ESP_BENCH_SECONDS ?? 0.6);

function run(suite: number, impl: EspImpl): { pps: number; mbps: number } {
  const info = espSuiteInfo(suite)!;
  const keys = { encKey: randomBytes(info.encKeyLength), authKey: randomBytes(info.authKeyLength), salt: randomBytes(info.saltLength) };
  const out = new EspOutboundSa({ spi: 0x1000, suite, keys, createdAt: 0, impl });
  const inn = new EspInboundSa({ spi: 0x1000, suite, keys, createdAt: 0, impl });
  const payload = randomBytes(PAYLOAD);
  const round = (): void => {
    const r = inn.open(out.seal(payload, 6, 0), 0);
    if (!r.ok) throw new Error(`suite ${suite} ${impl}: ${r.reason}`);
  };
  for (let i = 0; i < 200; i++) round(); // warm up the JIT and OpenSSL contexts
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 64; i++) round();
    n += 64;
    now = process.hrtime.bigint();
  }
  const secs = Number(now - start) / 1e9;
  const pps = n / secs;
  return { pps, mbps: (pps * PAYLOAD * 8) / 1e6 };
}

const results = new Map<string, number>();
console.log(`esp seal+open, ${PAYLOAD}-octet payloads, ${SECONDS}s per case`);
for (const suite of PREFERRED_ESP_SUITES) {
  for (const impl of ['node', 'noble'] as const) {
    const { pps, mbps } = run(suite, impl);
    results.set(`${suite}/${impl}`, pps);
    console.log(`suite ${String(suite).padStart(2)} ${espSuiteInfo(suite)!.name.padEnd(36)} ${impl.padEnd(5)} ${Math.round(pps).toString().padStart(8)} packets/s ${mbps.toFixed(1).padStart(8)} Mbit/s`);
  }
}
const ratio = results.get('13/node')! / results.get('13/noble')!;
console.log(`esp throughput ratio node/noble (suite 13): ${ratio.toFixed(2)}`);
