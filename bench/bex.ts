// CPU cost of a HIPv2 base exchange (I1, R1, I2, R2: both sides, all crypto) with each crypto
// provider, in one process over an in-memory wire so only protocol and crypto work is timed.
// Anchor: the @noble provider, measured in the same run. Last line: the ratio.
//
//   npm run bench:bex [-- --count 200 --identity ecdsa-p256]

import { parseArgs } from 'node:util';
import { HipHost, type Endpoint } from '../src-main/hip/host.js';
import { nodeCrypto, nobleCrypto } from '../src-main/hip/crypto/index.js';
import type { CryptoProvider } from '../src-main/hip/crypto/provider.js';
import { generateIdentity } from '../src-main/hip/identity/host-identity.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '150' },
    identity: { type: 'string', default: 'ecdsa-p256' },
  },
});
const count = Number(values.count);
const kind = values.identity as 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519';

const RESPONDER: Endpoint = { address: '192.0.2.1', port: 10500 };
/** Initiator n's address: each in its own /24, as many hosts would be, so the responder's per-prefix R1 ration is no factor. */
const initiatorAt = (n: number): Endpoint => ({ address: `10.${(n >> 8) & 0xff}.${n & 0xff}.2`, port: 10500 });

/** Moves packets between the two hosts until neither has anything to send. */
function pump(a: HipHost, initiator: Endpoint, b: HipHost, now: number): void {
  for (let moved = true; moved; ) {
    moved = false;
    for (let t = a.pollTransmit(); t; t = a.pollTransmit()) { b.handlePacket(now, t.bytes, initiator, RESPONDER); moved = true; }
    for (let t = b.pollTransmit(); t; t = b.pollTransmit()) { a.handlePacket(now, t.bytes, RESPONDER, initiator); moved = true; }
  }
}

function established(h: HipHost): number {
  let n = 0;
  for (let e = h.pollEvent(); e; e = h.pollEvent()) if (e.type === 'established') n++;
  return n;
}

interface Result { provider: string; exchanges: number; cpuMsPerBex: number; wallMsPerBex: number; perSecond: number }

function bench(crypto: CryptoProvider, n: number): Result {
  const now = 1_000;
  const responder = new HipHost({ identity: generateIdentity(crypto, kind), crypto }, now);
  // Initiators are built up front: their own R1 pre-computation is not part of an exchange.
  const initiators = Array.from({ length: n + 1 }, () => new HipHost({ identity: generateIdentity(crypto, kind), crypto }, now));
  const run = (h: HipHost, n: number): void => {
    const initiator = initiatorAt(n);
    h.connect(now, responder.hit, RESPONDER, initiator);
    pump(h, initiator, responder, now);
    if (established(h) !== 1) throw new Error(`${crypto.name}: base exchange did not complete`);
  };
  run(initiators[0]!, 0); // warm-up: JIT and the responder's first R1
  established(responder);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  initiators.slice(1).forEach((h, i) => run(h, i + 1));
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  if (established(responder) !== n) throw new Error(`${crypto.name}: responder did not establish every association`);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { provider: crypto.name, exchanges: n, cpuMsPerBex: cpuMs / n, wallMsPerBex: wall / n, perSecond: (n * 1000) / cpuMs };
}

const results = [bench(nodeCrypto, count), bench(nobleCrypto, Math.max(10, Math.round(count / 5)))];
console.log(`base exchange (${kind} identities, ECDH per R1 DH group, both sides in one process)`);
for (const r of results) {
  console.log(
    `${r.provider.padEnd(6)} ${String(r.exchanges).padStart(5)} exchanges  ` +
      `${r.cpuMsPerBex.toFixed(2).padStart(8)} ms CPU/bex  ${r.wallMsPerBex.toFixed(2).padStart(8)} ms wall/bex  ` +
      `${r.perSecond.toFixed(1).padStart(8)} associations/s per core`,
  );
}
const [node, noble] = results as [Result, Result];
console.log(`bex cpu ratio node/noble: ${(node.cpuMsPerBex / noble.cpuMsPerBex).toFixed(2)}`);
