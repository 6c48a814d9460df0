// A further SA pair's sequence space runs out through real engines over real UDP on loopback
// (simultaneous multihoming, RFC 8047: A has wifi0 at 127.0.0.1 and cell0 at 127.0.0.3). A's
// first further outbound SA (cell0's) starts 300 packets before 2^32 (the engine's `esp` test
// hook); traffic both ways is moved onto cell0's pair and keeps flowing. The data plane names
// that SA when it wears out, the engine rekeys that pair alone with an UPDATE, and both data
// planes open each other's packets with the new keys: every payload arrives, none is refused,
// the base pair keeps its SPIs, and cell0's pair has new ones.
//
//   node --import tsx --test test/integration/engine-sa-rekey.test.ts

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESP_SEQ_MAX } from '../../src-main/esp/index.js';
import type { EngineEvent } from '../../src-main/engine/engine.js';
import { startSimultaneousPair, until, waitForEvent } from '../support/engines.js';

const PROTO_UDP_PAYLOAD = 17;
const A1 = '127.0.0.1';
const A2 = '127.0.0.3';
const B = '127.0.0.2';
/** Packets left on cell0's outbound SA when it is installed. */
const LEFT = 300;

test('a further SA 300 packets before 2^32 is rekeyed alone under traffic both ways; every payload arrives and nothing is refused', async () => {
  let further = 0;
  // Only the first further SA starts near the end: its successor must not wear out again.
  const esp = { firstSeq: (kind: 'base' | 'further') => (kind === 'further' && further++ === 0 ? ESP_SEQ_MAX - LEFT + 1 : undefined) };
  const { a, b, gotA, gotB } = await startSimultaneousPair(A1, A2, B, { esp });
  try {
    const association = () => a.snapshot().associations[0]!;
    await until(() => {
      const pairs = association().paths?.pairs ?? [];
      const atB = b.snapshot().associations[0]?.paths?.pairs ?? [];
      return pairs.length === 2 && pairs.every((p) => p.state === 'operational') && new Set(pairs.map((p) => p.spiIn)).size === 2 &&
        atB.length === 2 && atB.every((p) => p.remoteState === 'ACTIVE');
    }, 5000, 'two tested pairs, each with its own SA pair, and both of A\'s addresses verified at B');
    assert.equal(further, 1, 'A keyed one further SA pair (cell0\'s)');
    a.failover(b.hit, { local: A2, remote: B });
    b.failover(a.hit, { local: B, remote: A2 });
    /** Each of A's pairs (by interface) with the SPIs it sends and receives on. */
    const spis = (): Record<string, [number | undefined, number | undefined]> =>
      Object.fromEntries((association().paths?.pairs ?? []).map((p): [string, [number | undefined, number | undefined]] => [p.ifname ?? '?', [p.spiIn, p.spiOut]]));
    const before = spis();
    const rekeys: string[] = [];
    a.on('event', (e: EngineEvent) => {
      if (e.type === 'rekeyed') rekeys.push(`in ${e.inboundSpi} out ${e.outboundSpi}`);
    });
    const rekeyed = Promise.all([waitForEvent(a, 'rekeyed'), waitForEvent(b, 'rekeyed')]);

    // Twice what is left on cell0's outbound SA, both ways, a few at a time.
    const total = 2 * LEFT;
    for (let n = 0; n < total; n++) {
      assert.ok(a.send(b.hit, new TextEncoder().encode(`a${n}`), PROTO_UDP_PAYLOAD), `A sends ${n}`);
      assert.ok(b.send(a.hit, new TextEncoder().encode(`b${n}`), PROTO_UDP_PAYLOAD), `B sends ${n}`);
      if (n % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    await rekeyed;
    await until(() => gotB.length >= total && gotA.length >= total, 5000, 'every payload').catch((err: unknown) => {
      throw new Error(`${String(err)}: B got ${gotB.length}, A got ${gotA.length} of ${total}; A dropped ${JSON.stringify(a.snapshot().counters.dropped)}, B dropped ${JSON.stringify(b.snapshot().counters.dropped)}`);
    });

    await until(() => spis()['cell0']?.[1] !== before['cell0']?.[1], 2000, 'cell0\'s pair sends on its new SA');
    const after = spis();
    const dropped = (e: typeof a) => Object.entries(e.snapshot().counters.dropped).filter(([k, v]) => /esp-|seq/.test(k) && v > 0);
    console.log(`A's pairs [in, out] before ${JSON.stringify(before)}, after ${JSON.stringify(after)}; rekeys ${JSON.stringify(rekeys)}; received A ${gotA.length} B ${gotB.length};`,
      `ESP drops A ${JSON.stringify(dropped(a))} B ${JSON.stringify(dropped(b))}; A sends on ${JSON.stringify(association().paths?.pairs.find((p) => p.primary))}`);
    assert.deepEqual(after['wifi0'], before['wifi0'], 'wifi0\'s (the base) pair keeps its SPIs');
    assert.notEqual(after['cell0']![1], before['cell0']![1], 'cell0\'s outbound SA was replaced');
    assert.notEqual(after['cell0']![0], before['cell0']![0], 'and its inbound SA');
    assert.deepEqual(rekeys, [`in ${after['cell0']![0]} out ${after['cell0']![1]}`], 'one rekey at A, of cell0\'s pair');
    assert.deepEqual(new Set(gotB.map((p) => new TextDecoder().decode(p.payload))).size, total, 'B got every one of A\'s payloads once');
    assert.deepEqual(new Set(gotA.map((p) => new TextDecoder().decode(p.payload))).size, total, 'A got every one of B\'s payloads once');
    assert.deepEqual(dropped(a), [], 'A refused or dropped no ESP');
    assert.deepEqual(dropped(b), [], 'B refused or dropped no ESP');
  } finally {
    await Promise.all([a.stop(200), b.stop(200)]);
  }
});
