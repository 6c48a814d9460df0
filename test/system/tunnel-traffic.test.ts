// Real traffic through the hipvpn tunnel between two namespaces: ping by LSI and by HIT, and a
// 50 MB TCP transfer that must arrive byte-identical. Needs root.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ping, transfer } from '../../lab/traffic.js';
import { tunnelPair, type TunnelPair } from '../../lab/scenarios.js';

describe('hipvpn tunnel between two namespaces', () => {
  let pair: TunnelPair;
  /** The LSI alice gave bob (LSIs are local to each host). */
  let bobLsiAtAlice: string;

  before(async () => {
    pair = await tunnelPair();
    const bob = await pair.aliceVpn.peer('bob');
    assert.ok(bob?.lsi, `alice's status has no LSI for bob: ${JSON.stringify(bob)}`);
    bobLsiAtAlice = bob.lsi;
  });
  after(async () => {
    await pair?.lab.teardown();
  });

  test('ping by LSI crosses the tunnel both ways', async () => {
    const forward = await ping(pair.alice, bobLsiAtAlice);
    assert.ok(forward.ok, `alice -> bob LSI ${bobLsiAtAlice} failed:\n${forward.output}`);
    const alice = await pair.bobVpn.peer('alice');
    assert.ok(alice?.lsi, 'bob has no LSI for alice');
    const back = await ping(pair.bob, alice.lsi);
    assert.ok(back.ok, `bob -> alice LSI ${alice.lsi} failed:\n${back.output}`);
  });

  test('ping by HIT crosses the tunnel both ways', async () => {
    const forward = await ping(pair.alice, pair.bobId.hit);
    assert.ok(forward.ok, `alice -> bob HIT ${pair.bobId.hit} failed:\n${forward.output}`);
    const back = await ping(pair.bob, pair.aliceId.hit);
    assert.ok(back.ok, `bob -> alice HIT ${pair.aliceId.hit} failed:\n${back.output}`);
  });

  test('pings really travel as ESP: the peer counters grow', async () => {
    const before = await pair.aliceVpn.peer('bob');
    await ping(pair.alice, bobLsiAtAlice, 5);
    // The data plane reports its counters periodically: give the next report a moment to land.
    let after = await pair.aliceVpn.peer('bob');
    for (const deadline = performance.now() + 2_000; performance.now() < deadline && before && after && (after.counters.espPacketsIn < before.counters.espPacketsIn + 5 || after.counters.espPacketsOut < before.counters.espPacketsOut + 5);) {
      await new Promise((r) => setTimeout(r, 100));
      after = await pair.aliceVpn.peer('bob');
    }
    assert.ok(before && after, 'bob missing from status');
    assert.ok(after.counters.espPacketsOut >= before.counters.espPacketsOut + 5, `ESP out ${before.counters.espPacketsOut} -> ${after.counters.espPacketsOut}`);
    assert.ok(after.counters.espPacketsIn >= before.counters.espPacketsIn + 5, `ESP in ${before.counters.espPacketsIn} -> ${after.counters.espPacketsIn}`);
  });

  test('50 MB over TCP to the LSI arrive byte-identical', async () => {
    const size = 50 * 1024 * 1024;
    const [sent, received] = await transfer(pair.alice, pair.bob, bobLsiAtAlice, size, 7001);
    assert.equal(sent.bytes, size, 'source did not send everything');
    assert.equal(received.bytes, size, `sink got ${received.bytes} of ${size} bytes`);
    assert.equal(received.sha256, sent.sha256, 'received bytes differ from the sent ones');
  });

  test('10 MB over TCP to the HIT (IPv6) arrive byte-identical', async () => {
    const size = 10 * 1024 * 1024;
    const [sent, received] = await transfer(pair.bob, pair.alice, pair.aliceId.hit, size, 7002);
    assert.equal(received.bytes, size, `sink got ${received.bytes} of ${size} bytes`);
    assert.equal(received.sha256, sent.sha256, 'received bytes differ from the sent ones');
  });
});
