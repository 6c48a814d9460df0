// Mobility through real engines over real UDP on loopback, one host with two local addresses
// (127.0.0.1 and 127.0.0.3): both pairs are found and tested, a forced failover moves the ESP
// to the other address, and an address that goes away moves the association to the one left,
// both ways, without a new base exchange.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverError, type EngineEvent, type HipEngine } from '../../src-main/engine/engine.js';
import { collectPayloads, startEngine, until, waitForEvent } from '../support/engines.js';

const PROTO_UDP_PAYLOAD = 17;
const A1 = '127.0.0.1';
const A2 = '127.0.0.3';
const B = '127.0.0.2';

function payload(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Sources of the ESP datagrams an engine receives. */
function espSources(tap: Array<{ from: string; to: string }>): (from: string) => number {
  return (from) => tap.filter((d) => d.from === from).length;
}

async function pair(mobileOpts: { locators?: 'static' | 'monitor' } = {}): Promise<{ a: HipEngine; b: HipEngine; atB: Array<{ from: string; to: string }>; stop(): Promise<void> }> {
  const atB: Array<{ from: string; to: string }> = [];
  const a = await startEngine(A1, { addresses: [A1, A2], ...mobileOpts });
  const b = await startEngine(B, {
    tap: (dir, datagram, from, to) => {
      // ESP: a non-zero SPI where HIP has its zero marker.
      if (dir === 'in' && (datagram[0]! | datagram[1]! | datagram[2]! | datagram[3]!) !== 0) atB.push({ from: from.address, to: to.address });
    },
  });
  if (mobileOpts.locators === 'monitor') {
    a.setLocalLocators([
      { address: A1, ifname: 'wifi0', kind: 'wifi', available: true, operational: true, preferenceRank: 0 },
      { address: A2, ifname: 'cell0', kind: 'cellular', available: true, operational: true, preferenceRank: 1 },
    ]);
  }
  const upA = waitForEvent(a, 'established');
  const upB = waitForEvent(b, 'established');
  a.connect(b.hit, b.locals()[0]!, a.locals().find((l) => l.address === A1));
  await Promise.all([upA, upB]);
  return { a, b, atB, stop: async () => void (await Promise.all([a.stop(200), b.stop(200)])) };
}

test('both local addresses form pairs, tested in the background; failover moves the ESP and says so', async () => {
  const { a, b, atB, stop } = await pair();
  try {
    const paths = () => a.snapshot().associations[0]?.paths;
    await until(() => (paths()?.pairs.length ?? 0) === 2 && paths()!.pairs.every((p) => p.state === 'operational'), 5000, 'both pairs tested');
    const primary = paths()!.pairs.find((p) => p.primary);
    assert.equal(primary?.local.address, A1, 'the exchange pair is primary');
    assert.equal(a.snapshot().associations[0]!.multihoming, 'fault-tolerance');

    const handover = waitForEvent(a, 'handover');
    a.failover(b.hit, { local: A2, remote: B });
    const h = await handover;
    assert.equal(h.cause, 'manual');
    assert.equal(h.from?.local.address, A1);
    assert.equal(h.to.local.address, A2);

    const got = collectPayloads(b);
    const from = espSources(atB);
    const before = from(A2);
    for (let i = 0; i < 20; i++) assert.equal(a.send(b.hit, payload(`after failover ${i}`), PROTO_UDP_PAYLOAD), true);
    await until(() => got.length === 20, 3000, '20 payloads after the failover');
    assert.equal(from(A2) - before, 20, 'every ESP packet after the failover came from the second address');
    assert.equal(paths()!.pairs.find((p) => p.primary)?.local.address, A2, 'status shows the new primary');

    assert.throws(() => a.failover(b.hit, { local: A2, remote: '127.0.0.9' }), (e: unknown) => e instanceof FailoverError && e.reason === 'unknown-pair' && /127\.0\.0\.9/.test(e.message));
    assert.throws(() => a.failover(new Uint8Array(16).fill(0x20)), (e: unknown) => e instanceof FailoverError && e.reason === 'no-association');
  } finally {
    await stop();
  }
});

test('an address that goes away: traffic moves to the one left, both ways, without a new base exchange', async () => {
  const { a, b, stop } = await pair({ locators: 'monitor' });
  const events: EngineEvent[] = [];
  a.on('event', (e: EngineEvent) => events.push(e));
  b.on('event', (e: EngineEvent) => events.push(e));
  const atA = collectPayloads(a);
  const atB = collectPayloads(b);
  let n = 0;
  const stream = setInterval(() => {
    n++;
    a.send(b.hit, payload(`a ${n}`), PROTO_UDP_PAYLOAD);
    b.send(a.hit, payload(`b ${n}`), PROTO_UDP_PAYLOAD);
  }, 10);
  try {
    await until(() => atA.length > 20 && atB.length > 20, 3000, 'traffic both ways');
    a.setLocalLocators([
      { address: A1, ifname: 'wifi0', kind: 'wifi', available: false, operational: false, preferenceRank: 1 },
      { address: A2, ifname: 'cell0', kind: 'cellular', available: true, operational: true, preferenceRank: 0 },
    ]);
    const movedAt = Date.now();
    const [inA, inB] = [atA.length, atB.length];
    await until(() => atA.length > inA + 20 && atB.length > inB + 20, 3000, 'traffic both ways after the move');
    const resumedMs = Date.now() - movedAt;
    assert.ok(resumedMs < 1000, `traffic resumed ${resumedMs} ms after the address went away`);
    assert.equal(a.snapshot().associations[0]!.local?.address, A2, 'our traffic leaves from the address left');
    await until(() => b.snapshot().associations[0]?.remote?.address === A2, 2000, 'the peer sends to the address left');
    assert.ok(events.some((e) => e.type === 'handover' && e.to.local.address === A2), 'a handover event names the new pair');
    assert.ok(!events.some((e) => e.type === 'established'), 'no new base exchange');
    assert.ok(!a.locals().some((l) => l.address === A1), 'the vanished address has no socket any more');
  } finally {
    clearInterval(stream);
    await stop();
  }
});

test('simultaneous multihoming is refused at start with a reason, not half-run', async () => {
  await assert.rejects(
    startEngine(A1, { host: { multihoming: 'simultaneous' } }),
    /simultaneous multihoming is not supported yet: the data plane holds one outbound SA per peer/,
  );
});
