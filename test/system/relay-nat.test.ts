// Two hosts behind NATs that know each other by HIT alone, both registered with one relay on the
// public internet (`hipvpn relay serve`): for every pairing of port-preserving and symmetric home
// NATs, each dropping what nobody behind it asked for, ping by HIT works both ways and TCP
// carries 20 MB intact. The exchange runs through the relay; then each lists its candidates to
// the other and both check them (seed 000 §5.1.4). Two port-preserving NATs (Linux masquerade:
// one mapping per socket, filtering by address and port) let the checks through: status says
// `direct` within 2 s of the first echo reply and the relay carries almost nothing. Where a
// symmetric NAT is involved no direct pair can work and the relay carries the traffic. Needs root.
//
//   node --import tsx --test test/system/relay-nat.test.ts

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildNatLab, unsolicitedDrops, type NatKind } from '../../lab/nat.js';
import { startRelayedPair, waitRegistered, waitRelayedEstablished } from '../../lab/relay-scenario.js';
import { ping, transfer } from '../../lab/traffic.js';
import { sleep } from '../../lab/hipvpn.js';
import { pathWords } from '../../src-shared/status-format.js';

const KINDS: NatKind[] = ['port-preserving', 'symmetric'];
const SIZE = 20 * 1024 * 1024;
const IDLE_MS = 90_000;

interface IdleOutcome {
  readonly code: number | null;
  readonly output: string;
  readonly heard: number;
  readonly via: string | undefined;
}

/**
 * The last test's 90 s of silence, spent while the other tests run: its lab is set up before
 * them (so its set-up competes with none of their measurements), then does nothing but its
 * keepalives until one ping after the silence. `ready` settles once the pair is established,
 * `outcome` once the ping was tried and the lab is gone.
 */
function idleSpell(): { ready: Promise<void>; outcome: Promise<IdleOutcome> } {
  let setUp!: () => void;
  const ready = new Promise<void>((resolve) => (setUp = resolve));
  const outcome = (async (): Promise<IdleOutcome> => {
    const net = await buildNatLab({ aliceHome: 'symmetric', bobHome: 'port-preserving', udpTimeoutS: 30 });
    try {
      const pair = await startRelayedPair(net);
      await waitRegistered([pair.aliceVpn, pair.bobVpn]);
      await waitRelayedEstablished(pair);
      const before = (await pair.aliceVpn.peer('bob'))?.counters.espPacketsIn ?? 0;
      setUp();
      await sleep(IDLE_MS);
      // One echo request, one chance: bob's first packet after the silence must reach alice.
      const first = await net.bob.exec('ping', ['-n', '-c', '1', '-W', '2', pair.aliceId.hit], { allowFailure: true, timeoutMs: 10_000 });
      const peer = await pair.aliceVpn.peer('bob');
      return { code: first.code, output: first.stdout + first.stderr, heard: (peer?.counters.espPacketsIn ?? 0) - before, via: peer?.via };
    } finally {
      setUp();
      await net.lab.teardown();
    }
  })();
  outcome.catch(() => undefined); // reported by the test that awaits it
  return { ready, outcome };
}

let idle: ReturnType<typeof idleSpell>;
before(async () => {
  idle = idleSpell();
  await idle.ready;
}, { timeout: 120_000 });

for (const aliceHome of KINDS) {
  for (const bobHome of KINDS) {
    test(`alice behind a ${aliceHome} NAT, bob behind a ${bobHome} NAT: by HIT, the path the NATs allow, ping and 20 MB of TCP`, { timeout: 120_000 }, async () => {
      const net = await buildNatLab({ aliceHome, bobHome });
      try {
        const pair = await startRelayedPair(net);
        await waitRegistered([pair.aliceVpn, pair.bobVpn]);
        const aliceRelay = (await pair.aliceVpn.status()).relays![0]!;
        assert.equal(aliceRelay.reflexive?.address, net.aliceHome.publicAddress, 'the relay sees alice at her home NAT');

        await waitRelayedEstablished(pair);
        const expected = aliceHome === 'port-preserving' && bobHome === 'port-preserving' ? 'direct' : 'relay';
        const first = await ping(net.alice, pair.bobId.hit, 1);
        assert.ok(first.ok, `alice -> bob by HIT, first reply:\n${first.output}`);
        const firstReplyAt = Date.now();
        const paths = async (): Promise<[string | undefined, string | undefined]> =>
          [(await pair.aliceVpn.peer('bob'))?.via, (await pair.bobVpn.peer('alice'))?.via];
        let seen = await paths();
        while (!(seen[0] === 'direct' && seen[1] === 'direct') && Date.now() - firstReplyAt < 2_000) {
          await sleep(50);
          seen = await paths();
        }
        const settledMs = Date.now() - firstReplyAt;
        console.log(`${aliceHome}/${bobHome}: alice -> bob ${seen[0]}, bob -> alice ${seen[1]} ${settledMs} ms after the first reply`);
        assert.deepEqual(seen, [expected, expected], `alice and bob ${settledMs} ms after the first reply (expected ${expected})`);

        const forward = await ping(net.alice, pair.bobId.hit, 5);
        assert.ok(forward.ok, `alice -> bob by HIT:\n${forward.output}`);
        const back = await ping(net.bob, pair.aliceId.hit, 5);
        assert.ok(back.ok, `bob -> alice by HIT:\n${back.output}`);

        const before = (await pair.relay.status()).counters.forwarded.espPackets;
        const [sent, received] = await transfer(net.bob, net.alice, pair.aliceId.hit, SIZE, 7100, 90_000);
        assert.equal(received.bytes, SIZE, `alice got ${received.bytes} of ${SIZE} bytes`);
        assert.equal(received.sha256, sent.sha256, 'the bytes differ');

        assert.deepEqual(await paths(), [expected, expected], 'the path held through the transfer');
        // Status says it in words, with how bob's address was found; a direct path is bob's NAT.
        const bobRow = (await pair.aliceVpn.peer('bob'))!;
        const primary = bobRow.pairs?.find((p) => p.primary);
        console.log(`${aliceHome}/${bobHome}: alice says "${pathWords(bobRow)}", bob's address in use is a ${primary?.candidate} candidate`);
        if (expected === 'direct') {
          assert.ok(primary?.candidate === 'srflx' || primary?.candidate === 'prflx', `bob reached at his NAT's mapping: ${JSON.stringify(primary)}`);
          assert.match(pathWords(bobRow) ?? '', /^direct via /);
          const moves = pair.aliceVpn.daemon!.lines.filter((l) => / handover peer=bob .* path="relayed through \S+ -> direct via [^"]+"$/.test(l));
          assert.ok(moves.length >= 1, `alice's log records the move off the relay:\n${pair.aliceVpn.daemon!.lines.filter((l) => / handover /.test(l)).join('\n')}`);
        } else {
          assert.equal(primary?.candidate, 'relayed');
          assert.match(pathWords(bobRow) ?? '', /^relayed through /);
        }
        if (expected === 'relay') {
          // Every direct check failed: each side told the other so through the relay (a signed
          // CONNECTIVITY_CHECKS_FAILED), and each status shows its direct pairs held out of the
          // background checks while the relay carries the traffic.
          const direct = async (vpn: typeof pair.aliceVpn, peer: string) =>
            ((await vpn.peer(peer))?.pairs ?? []).filter((p) => p.remote.address !== aliceRelay.address);
          let views = [await direct(pair.aliceVpn, 'bob'), await direct(pair.bobVpn, 'alice')];
          const heldBy = Date.now() + 10_000;
          while (!views.every((v) => v.length > 0 && v.every((p) => p.checksHeld === true)) && Date.now() < heldBy) {
            await sleep(200);
            views = [await direct(pair.aliceVpn, 'bob'), await direct(pair.bobVpn, 'alice')];
          }
          const shown = views.map((v) => v.map((p) => `${p.remote.address}:${p.remote.port} ${p.state}${p.checksHeld ? ' held' : ''}`).join(', '));
          console.log(`${aliceHome}/${bobHome}: direct pairs after the checks failed: alice ${shown[0]}; bob ${shown[1]}`);
          assert.ok(views.every((v) => v.length > 0 && v.every((p) => p.checksHeld === true)), `direct pairs held: alice ${shown[0]}; bob ${shown[1]}`);
        }
        const relayed = await pair.relay.status();
        const carried = relayed.counters.forwarded.espPackets - before;
        // 20 MB is over 14,000 ESP packets: relayed, nearly all cross the relay; direct, none should.
        if (expected === 'relay') assert.ok(carried > 10_000, `the relay forwarded ${carried} ESP packets of the transfer`);
        else assert.ok(carried < 100, `the relay forwarded ${carried} ESP packets of a direct transfer`);
        // Both homes filter: nothing came in that was not asked for, and still everything arrived.
        console.log(`unsolicited drops: homea ${await unsolicitedDrops(net.aliceHome.router)}, homeb ${await unsolicitedDrops(net.bobHome.router)}; relay forwarded ${carried} ESP packets of the transfer`);
      } finally {
        await net.lab.teardown();
      }
    });
  }
}

test('the relay restarted under traffic: registrations come back by themselves and traffic resumes within 5 s', { timeout: 120_000 }, async () => {
  const net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'symmetric' });
  try {
    const pair = await startRelayedPair(net);
    await waitRegistered([pair.aliceVpn, pair.bobVpn]);
    await waitRelayedEstablished(pair);
    // A stream of pings by HIT, 10 a second, across the restart.
    const stream = net.alice.spawn('ping', ['-n', '-D', '-i', '0.1', '-W', '1', pair.bobId.hit], { label: 'alice:ping' });
    await sleep(1_000);
    await pair.relay.stop();
    const downAt = Date.now();
    await sleep(500);
    await pair.relay.serve();
    const upAt = Date.now();
    // Both clients are known to the relay again, with their associations, and registered.
    const deadline = performance.now() + 10_000;
    let clients = (await pair.relay.status()).clients;
    while (performance.now() < deadline && !(clients.length === 2 && clients.every((c) => c.association === 'ESTABLISHED'))) {
      await sleep(100);
      clients = (await pair.relay.status()).clients;
    }
    assert.deepEqual(clients.map((c) => c.association), ['ESTABLISHED', 'ESTABLISHED'], `clients after the restart: ${JSON.stringify(clients)}`);
    // The stream runs until its first reply after the restart, or until that is 5 s late.
    const replyAfterRestart = (): number | undefined =>
      [...stream.output().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]) * 1000).find((t) => t > upAt);
    while (replyAfterRestart() === undefined && Date.now() < upAt + 5_000) await sleep(100);
    await stream.stop(1_000);
    const firstAfter = replyAfterRestart();
    assert.ok(firstAfter !== undefined, `no reply after the relay came back:\n${stream.tail()}`);
    console.log(`relay down ${upAt - downAt} ms; first reply ${(firstAfter - upAt).toFixed(0)} ms after it was back; clients ${clients.map((c) => c.association).join(',')}`);
    assert.ok(firstAfter - upAt <= 5_000, `traffic resumed ${(firstAfter - upAt).toFixed(0)} ms after the relay was back`);
    await waitRegistered([pair.aliceVpn, pair.bobVpn], 5_000);
  } finally {
    await net.lab.teardown();
  }
});

test('idle for 90 s behind NATs that forget a UDP mapping after 30 s: the first packet from the peer still reaches us', { timeout: 180_000 }, async () => {
  const { code, output, heard, via } = await idle.outcome;
  assert.equal(code, 0, `bob's first packet after 90 s idle:\n${output}`);
  console.log(`alice heard ${heard} ESP packets from bob over the idle period and the ping`);
  assert.equal(via, 'relay');
});
