// Recorded HIP packets replayed by someone who is not the peer (issue 8): only fresh,
// authenticated packets act. A replayed UPDATE moves nothing, makes no locator, sends nothing
// to the replayer and costs no signature check; the peer's own address gets the kept answer
// again at most twice a second.

import test from 'node:test';
import assert from 'node:assert/strict';
import type { CryptoProvider } from '../../src-main/hip/crypto/provider.js';
import { seedFromEnv, type SimEndpoint } from '../support/sim-network.js';
import { seededCrypto } from '../support/hip-hosts.js';
import { A_WIFI, B_MAIN, connected, wifi, locatorState, mobileWorld, remoteOf, same, updatesSent } from './sim-mobility-harness.js';

const SEED = seedFromEnv('SIM_SEED', 0x5e91a7);
console.log(`# sim-replay seed ${SEED} (set SIM_SEED to replay)`);

const REPLAYER: SimEndpoint = { address: '192.0.2.66', port: 40_001 };

/** A's crypto, counting signature checks: what a replay must not buy. */
function countingCrypto(seed: number): { crypto: CryptoProvider; verifies: () => number } {
  const base = seededCrypto(seed);
  let n = 0;
  const crypto = Object.freeze({ ...base, name: base.name, verify: (...args: Parameters<CryptoProvider['verify']>) => { n++; return base.verify(...args); } }) as CryptoProvider;
  return { crypto, verifies: () => n };
}

/** A and B connected; B pings A once, and the UPDATE (SEQ + echo) it sent is returned as recorded. */
function worldWithRecordedUpdate(seed: number) {
  const counting = countingCrypto(seed ^ 0xa);
  const w = connected(mobileWorld(seed, { crypto: counting.crypto }));
  const { net, a, b } = w;
  const start = net.now;
  b.act((h) => h.probe(net.now, a.host.hit));
  net.runFor(500);
  const recorded = updatesSent(net).find((x) => x.sentAt >= start && x.u.seq !== undefined && same(x.from, B_MAIN) && same(x.to, A_WIFI));
  assert.ok(recorded !== undefined, 'B sent no UPDATE to A');
  return { ...w, update: recorded.bytes, verifies: counting.verifies };
}

function sentTo(net: { trace: { to: SimEndpoint; sentAt: number }[] }, ep: SimEndpoint, since = 0): number {
  return net.trace.filter((t) => same(t.to, ep) && t.sentAt >= since).length;
}

test('a recorded UPDATE replayed from another address, 20 times and then 20,000, changes nothing and earns nothing', () => {
  const { net, a, b, update, verifies } = worldWithRecordedUpdate(SEED);
  const established = a.eventsOf('established').length;
  const verifiesBefore = verifies();
  for (let i = 0; i < 20; i++) net.inject(REPLAYER, A_WIFI, update, i * 10);
  net.runFor(2_000);
  // The moment a replay could do most: A doubts its pair and would follow a fresh packet.
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  for (let i = 0; i < 20_000; i++) net.inject(REPLAYER, A_WIFI, update, i * 0.25);
  net.runFor(60_000);
  assert.equal(sentTo(net, REPLAYER), 0, 'A sent nothing to the replayer');
  assert.equal(locatorState(a, b, REPLAYER), undefined, 'the replayer is no locator of B');
  assert.ok(same(remoteOf(a, b), B_MAIN), 'traffic to B stays on its pair');
  assert.equal(a.state(b), 'ESTABLISHED');
  assert.equal(a.eventsOf('established').length, established, 'no new base exchange');
  assert.equal(a.eventsOf('failed').length, 0);
  assert.equal(a.host.counters.dropped['update-duplicate'], 20_020, 'every replay counted under its own reason');
  assert.equal(verifies(), verifiesBefore, 'no replay cost a signature check');
});

test('the same UPDATE replayed from the peer\'s own address earns at most two answers a second, all sent there', () => {
  const { net, a, update, verifies } = worldWithRecordedUpdate(SEED + 1);
  const verifiesBefore = verifies();
  const start = net.now;
  for (let i = 0; i < 20_000; i++) net.inject(B_MAIN, A_WIFI, update, i * 0.25); // 4,000/s for 5 s
  net.runFor(5_100);
  const answers = updatesSent(net).filter((x) => x.sentAt >= start && same(x.from, A_WIFI));
  assert.ok(answers.length >= 9 && answers.length <= 11, `answers in 5 s: ${answers.length}`);
  assert.ok(answers.every((x) => same(x.to, B_MAIN)), 'answers go only where the UPDATE came from');
  assert.ok(answers.every((x) => x.u.seq === undefined), 'an answer, never a new UPDATE of ours');
  assert.equal(a.host.counters.dropped['update-duplicate'], 20_000);
  assert.equal(verifies(), verifiesBefore, 'no replay cost a signature check');
});

test('a replayed ACK-only UPDATE is refused before its signature is checked and moves nothing', () => {
  const { net, a, b, verifies } = worldWithRecordedUpdate(SEED + 2);
  // A announces its locators; B's plain ACK is recorded, then replayed once it was processed.
  const start = net.now;
  a.act((h) => h.setLocalLocators(net.now, [wifi(true)]));
  net.runFor(500);
  const ack = updatesSent(net).find((x) => x.sentAt >= start && x.u.seq === undefined && x.u.echoResponse === undefined && same(x.from, B_MAIN));
  assert.ok(ack !== undefined, 'B answered with no plain ACK');
  const verifiesBefore = verifies();
  a.act((h) => h.setPathInDoubt(b.host.hit, true));
  for (let i = 0; i < 1_000; i++) net.inject(REPLAYER, A_WIFI, ack.bytes, i);
  net.runFor(2_000);
  assert.equal(sentTo(net, REPLAYER), 0);
  assert.equal(locatorState(a, b, REPLAYER), undefined);
  assert.ok(same(remoteOf(a, b), B_MAIN));
  assert.equal(verifies(), verifiesBefore, 'no replay cost a signature check');
  assert.equal(a.host.counters.dropped['update-stale-ack'], 1_000, 'each replay counted under its own reason');
});
