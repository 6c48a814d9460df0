// The peer moves, on a virtual clock: B's address is renumbered. B tells A (UPDATE with its new
// locator) from the new address; A must follow, sending to the new address only once HIP has
// verified it or within the credit B's traffic earned (RFC 8046 §5.6), and the streams go on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A_WIFI, mobileWorld, outcome } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
const IN_FLIGHT_MS = 200;
const B_NEW = '198.51.100.99';

test('peer moving: B is renumbered; A follows within a round trip, sends at most a packet or two before the address is verified, and stays', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x9ee5_0001);
  console.log(`peer-moving seed ${world.seed} (set ${SEED_VAR} to replay)`);
  const t = world.now;
  const moveAt = t + 100;
  world.at(moveAt, () => b.renumber('eth0', B_NEW));
  world.runFor(6_000);
  const end = world.now - IN_FLIGHT_MS;
  console.log(outcome(a, b, t, end), `; unverified sends ${a.unverifiedSends.length}, credit drops ${a.creditDrops}`);

  assert.equal(a.pathText(), `${A_WIFI}>${B_NEW}`, 'A sends to B\'s new address');
  assert.equal(b.pathText(), `${B_NEW}>${A_WIFI}`, 'B sends from it');
  assert.deepEqual(a.stream.lastPair(), { from: A_WIFI, to: B_NEW });
  const [move] = a.pathChanges(t);
  assert.ok(move !== undefined && move.at - moveAt <= 100, `A followed ${move === undefined ? 'never' : `${move.at - moveAt} ms`} after the move`);
  assert.equal(a.pathChanges(t).length, 1, 'A moved once');
  // What A sent towards the old address while B's UPDATE travelled is lost; nothing more.
  assert.ok(a.stream.lost(t, end) <= 3, `A→B lost ${a.stream.lost(t, end)}`);
  assert.ok(a.stream.longestGap(t, end) <= 100, `A→B gap ${a.stream.longestGap(t, end)} ms`);
  assert.equal(b.stream.lost(t, end), 0, 'B→A: nothing lost');
  // Before verification only credit-bounded traffic may go to the new address: here a packet
  // or two while the echo is in flight, against the ~1 MB B's stream has earned.
  assert.ok(a.unverifiedSends.length <= 3, `${a.unverifiedSends.length} packets to the unverified address`);
  assert.ok(a.unverifiedSends.every((s) => s.address === B_NEW && s.at - moveAt <= 100));
  assert.equal(a.creditDrops, 0, 'those were paid from credit: the data plane was told the address was unverified');
  assert.ok(a.commands.some((c) => c.type === 'set-path' && c.remote.address === B_NEW && !c.verified), 'moved with verified: false');
  assert.ok(a.commands.some((c) => c.type === 'set-path' && c.remote.address === B_NEW && c.verified), 'and told once it was verified');
  assert.equal(a.core.association(b.core.hit)?.peerLocators.find((l) => l.address === B_NEW)?.state, 'ACTIVE', 'verified in the end');
});
