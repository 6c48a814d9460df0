// Two hosts behind NATs that know each other by HIT alone, both registered with one relay on the
// public internet (`hipvpn relay serve`): for every pairing of port-preserving and symmetric home
// NATs, each dropping what nobody behind it asked for, ping by HIT works both ways, TCP carries
// 20 MB intact, and status says the traffic is relayed. Needs root.
//
//   node --import tsx --test test/system/relay-nat.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildNatLab, unsolicitedDrops, type NatKind } from '../../lab/nat.js';
import { startRelayedPair, waitRegistered } from '../../lab/relay-scenario.js';
import { ping, transfer } from '../../lab/traffic.js';

const KINDS: NatKind[] = ['port-preserving', 'symmetric'];
const SIZE = 20 * 1024 * 1024;

for (const aliceHome of KINDS) {
  for (const bobHome of KINDS) {
    test(`alice behind a ${aliceHome} NAT, bob behind a ${bobHome} NAT: by HIT through the relay, ping and 20 MB of TCP`, { timeout: 120_000 }, async () => {
      const net = await buildNatLab({ aliceHome, bobHome });
      try {
        const pair = await startRelayedPair(net);
        await waitRegistered([pair.aliceVpn, pair.bobVpn]);
        const aliceRelay = (await pair.aliceVpn.status()).relays![0]!;
        assert.equal(aliceRelay.reflexive?.address, net.aliceHome.publicAddress, 'the relay sees alice at her home NAT');

        await pair.aliceVpn.waitForEstablished('bob', 10_000);
        await pair.bobVpn.waitForEstablished('alice', 10_000);
        const forward = await ping(net.alice, pair.bobId.hit, 5);
        assert.ok(forward.ok, `alice -> bob by HIT:\n${forward.output}`);
        const back = await ping(net.bob, pair.aliceId.hit, 5);
        assert.ok(back.ok, `bob -> alice by HIT:\n${back.output}`);

        const [sent, received] = await transfer(net.bob, net.alice, pair.aliceId.hit, SIZE, 7100, 90_000);
        assert.equal(received.bytes, SIZE, `alice got ${received.bytes} of ${SIZE} bytes`);
        assert.equal(received.sha256, sent.sha256, 'the bytes differ');

        const bobAtAlice = await pair.aliceVpn.peer('bob');
        const aliceAtBob = await pair.bobVpn.peer('alice');
        assert.equal(bobAtAlice?.via, 'relay', `alice's status: ${JSON.stringify(bobAtAlice)}`);
        assert.equal(aliceAtBob?.via, 'relay', `bob's status: ${JSON.stringify(aliceAtBob)}`);
        const relayed = await pair.relay.status();
        assert.ok(relayed.counters.forwarded.espPackets > 1000, `the relay forwarded ${relayed.counters.forwarded.espPackets} ESP packets`);
        // Both homes filter: nothing came in that was not asked for, and still everything arrived.
        console.log(`unsolicited drops: homea ${await unsolicitedDrops(net.aliceHome.router)}, homeb ${await unsolicitedDrops(net.bobHome.router)}; relay forwarded ${relayed.counters.forwarded.espPackets} ESP`);
      } finally {
        await net.lab.teardown();
      }
    });
  }
}
