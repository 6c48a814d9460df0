// Mobility through real engines over real UDP on loopback, one host with two local addresses
// (127.0.0.1 and 127.0.0.3): both pairs are found and tested, a forced failover moves the ESP
// to the other address, and an address that goes away moves the association to the one left,
// both ways, without a new base exchange.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverError, type EngineEvent, type HipEngine } from '../../src-main/engine/engine.js';
import { collectPayloads, startEngine, startSimultaneousPair, until, waitForEvent } from '../support/engines.js';

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

async function pair(mobileOpts: { locators?: 'static' | 'monitor' } = {}): Promise<{ a: HipEngine; b: HipEngine; atB: Array<{ from: string; to: string }>; stop: () => Promise<void> }> {
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
    ], [{ type: 'lost', address: A1, ifname: 'wifi0' }]);
    const movedAt = Date.now();
    const [inA, inB] = [atA.length, atB.length];
    await until(() => atA.length > inA + 20 && atB.length > inB + 20, 3000, 'traffic both ways after the move');
    const resumedMs = Date.now() - movedAt;
    assert.ok(resumedMs < 1000, `traffic resumed ${resumedMs} ms after the address went away`);
    assert.equal(a.snapshot().associations[0]!.local?.address, A2, 'our traffic leaves from the address left');
    await until(() => b.snapshot().associations[0]?.remote?.address === A2, 2000, 'the peer sends to the address left');
    const moved = events.find((e): e is Extract<EngineEvent, { type: 'handover' }> => e.type === 'handover' && e.to.local.address === A2);
    assert.ok(moved, 'a handover event names the new pair');
    assert.equal(moved.localCause, 'address-lost', 'and carries the monitor\'s cause from the report that moved it');
    assert.ok(!events.some((e) => e.type === 'established'), 'no new base exchange');
    assert.ok(!a.locals().some((l) => l.address === A1), 'the vanished address has no socket any more');
  } finally {
    clearInterval(stream);
    await stop();
  }
});

test('simultaneous multihoming: an SA pair per interface; each direction uses a different SPI per path, and nothing is dropped as a replay', async () => {
  /** SPI of each ESP datagram an engine receives, by the pair it came over. */
  const spisAt = (log: Array<{ from: string; to: string; spi: number }>, from: string, to: string): Set<number> =>
    new Set(log.filter((d) => d.from === from && d.to === to).map((d) => d.spi));
  const tapInto = (log: Array<{ from: string; to: string; spi: number }>) =>
    (dir: 'in' | 'out', d: Uint8Array, from: { address: string }, to: { address: string }): void => {
      const spi = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
      if (dir === 'in' && spi !== 0) log.push({ from: from.address, to: to.address, spi });
    };
  const atA: Array<{ from: string; to: string; spi: number }> = [];
  const atB: Array<{ from: string; to: string; spi: number }> = [];
  const { a, b, gotA, gotB } = await startSimultaneousPair(A1, A2, B, { tap: tapInto(atA) }, { tap: tapInto(atB) });
  try {
    const view = () => a.snapshot().associations[0];
    assert.equal(view()?.multihoming, 'simultaneous');
    // The cell0 SA pair (ESP_INFO OLD SPI 0) and both pairs tested.
    await until(() => {
      const pairs = view()?.paths?.pairs ?? [];
      return pairs.length === 2 && pairs.every((p) => p.state === 'operational') && new Set(pairs.map((p) => p.spiIn)).size === 2;
    }, 5000, 'two tested pairs, each with its own inbound SA');

    let n = 0;
    const exchange = async (count: number): Promise<void> => {
      const [beforeA, beforeB] = [gotA.length, gotB.length];
      for (let i = 0; i < count; i++, n++) {
        assert.ok(a.send(b.hit, payload(`a${n}`), PROTO_UDP_PAYLOAD), 'A sends');
        assert.ok(b.send(a.hit, payload(`b${n}`), PROTO_UDP_PAYLOAD), 'B sends');
      }
      await until(() => gotB.length - beforeB === count && gotA.length - beforeA === count, 2000,
        `${count} payloads each way (B got ${gotB.length - beforeB}, A got ${gotA.length - beforeA})`);
    };
    await exchange(20); // load sharing: on the pair the spread puts this one flow on
    a.failover(b.hit, { local: A2, remote: B }); // "use this pair": everything unbound on it
    b.failover(a.hit, { local: B, remote: A2 });
    await exchange(20); // on cell0's pair
    a.failover(b.hit, { local: A1, remote: B });
    b.failover(a.hit, { local: B, remote: A1 });
    await exchange(20); // and back

    const upWifi = spisAt(atB, A1, B);
    const upCell = spisAt(atB, A2, B);
    const downWifi = spisAt(atA, B, A1);
    const downCell = spisAt(atA, B, A2);
    for (const [name, spis] of [['A→B over wifi0', upWifi], ['A→B over cell0', upCell], ['B→A to wifi0', downWifi], ['B→A to cell0', downCell]] as const) {
      assert.equal(spis.size, 1, `${name} used SPIs ${[...spis].map((x) => x.toString(16)).join(', ') || 'none'}: one SA per path expected`);
    }
    assert.notDeepEqual([...upWifi], [...upCell], 'A→B uses a different SA on each path');
    assert.notDeepEqual([...downWifi], [...downCell], 'B→A uses a different SA on each path');
    const pairs = view()!.paths!.pairs;
    assert.deepEqual(new Set(pairs.map((p) => p.spiOut)), new Set([...upWifi, ...upCell]), 'status names the SPI each pair sends on');
    for (const e of [a, b]) {
      const replays = Object.entries(e.snapshot().counters.dropped).filter(([k]) => /replay|esp-/.test(k));
      assert.deepEqual(replays, [], `ESP dropped: ${JSON.stringify(replays)}`);
    }
  } finally {
    await Promise.all([a.stop(200), b.stop(200)]);
  }
});
