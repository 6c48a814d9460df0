// The inbound pair (seed 003 §5.4) on a virtual clock: each side picks its own outbound pair, so
// after a one-way failure A's traffic leaves on one pair and B's arrives on another. The status
// a user reads (HostCore's paths view, which `hipvpn status` and the UI show) must name both,
// with a data plane that reports every packet and with one that reports the arrival pair only
// when it changes (the native fast path), where the inbound pair must not go stale.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A_CELL, A_WIFI, B_ETH, mobileWorld, outcome, type SimHost } from '../support/sim-hosts.js';

const SEED_VAR = 'SIM_SEED';
/** A pair carrying the peer's data at 100 packets/s is heard at least this recently. */
const FRESH_MS = 150;

/** What A's status says of its peer B, sampled. */
function shown(a: SimHost, b: SimHost): { out: string; in: string; inFlags: string[]; inHeardMs: number | undefined } {
  const v = a.core.pathsView(a.world.now, b.core.hit);
  assert.ok(v !== undefined, 'A has a path view of B');
  const flagged = v.pairs.filter((p) => p.inbound === true);
  return {
    out: `${v.primary?.local.address}>${v.primary?.remote.address}`,
    in: `${v.inbound?.local.address}<${v.inbound?.remote.address}`,
    inFlags: flagged.map((p) => `${p.local.address}<${p.remote.address}`),
    inHeardMs: flagged[0]?.lastHeardMs,
  };
}

for (const reports of ['per packet', 'sampled (fast path)'] as const) {
  test(`one-way failure A→B with ${reports} reports: A's status says out via cellular, in via wifi, and stays fresh`, () => {
    const { world, a, b } = mobileWorld(SEED_VAR, 0x1b0_0001);
    console.log(`inbound-one-way seed ${world.seed} (set ${SEED_VAR} to replay)`);
    a.sampledReports = reports !== 'per packet';
    const t = world.now;
    world.at(t + 100, () => {
      a.uplink('wifi0').txDead = true;
    });
    world.runFor(5_000);
    console.log(outcome(a, b, t, world.now));
    assert.equal(a.pathText(), `${A_CELL}>${B_ETH}`, 'A sends over cellular');
    assert.equal(b.pathText(), `${B_ETH}>${A_WIFI}`, 'B still sends to wifi, which delivers');

    // Sampled over 5 s of steady traffic, in which the peer's background tests also arrive on
    // other pairs now and then: the data's pair is what status names, every time.
    const samples: ReturnType<typeof shown>[] = [];
    for (let i = 0; i < 50; i++) {
      world.runFor(100);
      samples.push(shown(a, b));
    }
    const wrong = samples.filter((s) => s.out !== `${A_CELL}>${B_ETH}` || s.in !== `${A_WIFI}<${B_ETH}` || s.inFlags.join() !== `${A_WIFI}<${B_ETH}`);
    assert.ok(wrong.length <= 2, `out via cellular, in via wifi in ${50 - wrong.length} of 50 samples; wrong: ${JSON.stringify(wrong.slice(0, 5))}`);
    const stale = samples.filter((s) => s.inHeardMs === undefined || s.inHeardMs > FRESH_MS);
    assert.equal(stale.length, 0, `the inbound pair heard within ${FRESH_MS} ms in every sample; stale: ${JSON.stringify(stale.slice(0, 5))}`);
  });
}

test('no failure: out and in are the same pair, and status says so', () => {
  const { world, a, b } = mobileWorld(SEED_VAR, 0x1b0_0002);
  a.sampledReports = true;
  world.runFor(2_000);
  const s = shown(a, b);
  assert.equal(s.out, `${A_WIFI}>${B_ETH}`);
  assert.equal(s.in, `${A_WIFI}<${B_ETH}`);
  assert.deepEqual(s.inFlags, [`${A_WIFI}<${B_ETH}`], 'one pair flagged inbound: the primary');
});
