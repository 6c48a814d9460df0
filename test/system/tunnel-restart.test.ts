// A daemon restarted on one side brings the tunnel back by itself: after a clean restart
// (SIGTERM closes the association) and after a crash (SIGKILL: the peer still holds the old
// association and SAs). Needs root.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Host } from '../../lab/host.js';
import { sleep, type HipvpnNode } from '../../lab/hipvpn.js';
import { tunnelPair, type TunnelPair } from '../../lab/scenarios.js';

const RECOVERY_LIMIT_MS = 20_000;

async function lsiOf(node: HipvpnNode, peer: string): Promise<string> {
  const status = await node.peer(peer);
  assert.ok(status?.lsi, `${node.host.name} has no LSI for ${peer}`);
  return status.lsi;
}

/** Ping once a second until one answers; returns how long that took. */
async function pingUntilAnswered(from: Host, target: string, limitMs: number): Promise<number> {
  const started = performance.now();
  let last = '';
  while (performance.now() - started < limitMs) {
    const result = await from.exec('ping', ['-n', '-c', '1', '-W', '1', target], { allowFailure: true });
    if (result.code === 0) return performance.now() - started;
    last = result.stdout + result.stderr;
  }
  assert.fail(`${from.name} -> ${target}: no answer within ${limitMs} ms after the restart\n${last}`);
}

describe('hipvpn daemon restart', () => {
  let pair: TunnelPair;

  before(async () => {
    pair = await tunnelPair({ symmetric: true });
  });
  after(async () => {
    await pair?.lab.teardown();
  });

  test('a clean restart (SIGTERM) of one daemon re-establishes the tunnel', async () => {
    await pingUntilAnswered(pair.alice, await lsiOf(pair.aliceVpn, 'bob'), 5_000);
    await pair.aliceVpn.restart();
    await pair.aliceVpn.waitForEstablished('bob', RECOVERY_LIMIT_MS);
    const elapsed = await pingUntilAnswered(pair.alice, await lsiOf(pair.aliceVpn, 'bob'), RECOVERY_LIMIT_MS);
    assert.ok(elapsed < RECOVERY_LIMIT_MS, `took ${elapsed} ms`);
    const back = await pingUntilAnswered(pair.bob, await lsiOf(pair.bobVpn, 'alice'), 5_000);
    assert.ok(back < 5_000, `bob -> alice took ${back} ms after alice's restart`);
  });

  test('a crashed daemon (SIGKILL) comes back and the peer accepts the new association', async () => {
    const daemon = pair.bobVpn.daemon;
    assert.ok(daemon?.running, 'bob is not running before the crash');
    daemon.signal('SIGKILL');
    await daemon.exited;
    // Give alice a moment in which she still believes in the old association and SAs.
    await sleep(500);
    await pair.bobVpn.serve();
    await pair.bobVpn.waitForEstablished('alice', RECOVERY_LIMIT_MS);
    const elapsed = await pingUntilAnswered(pair.alice, await lsiOf(pair.aliceVpn, 'bob'), RECOVERY_LIMIT_MS);
    assert.ok(elapsed < RECOVERY_LIMIT_MS, `took ${elapsed} ms`);
    const back = await pingUntilAnswered(pair.bob, await lsiOf(pair.bobVpn, 'alice'), 5_000);
    assert.ok(back < 5_000, `bob -> alice took ${back} ms after bob's restart`);
  });
});

describe('hipvpn daemon restart, responder only (it has no locator for the initiator)', () => {
  let pair: TunnelPair;

  before(async () => {
    pair = await tunnelPair();
  });
  after(async () => {
    await pair?.lab.teardown();
  });

  test('after the responder crashes and restarts, traffic from the initiator brings the tunnel back', async () => {
    const bobLsi = await lsiOf(pair.aliceVpn, 'bob');
    await pingUntilAnswered(pair.alice, bobLsi, 5_000);
    const daemon = pair.bobVpn.daemon;
    assert.ok(daemon?.running, 'bob is not running before the crash');
    daemon.signal('SIGKILL');
    await daemon.exited;
    await pair.bobVpn.serve();
    // Bob cannot start a base exchange (he does not know where alice is): alice must notice
    // that her SAs lead nowhere and run a new one by herself.
    const elapsed = await pingUntilAnswered(pair.alice, bobLsi, RECOVERY_LIMIT_MS);
    assert.ok(elapsed < RECOVERY_LIMIT_MS, `took ${elapsed} ms`);
  });
});
