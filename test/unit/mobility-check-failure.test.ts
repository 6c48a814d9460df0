// Failed connectivity checks, one host at a time: when the checks of an offer count as failed
// (CheckOutcome), and what a peer's CONNECTIVITY_CHECKS_FAILED does to the background checks of
// pair selection (holdChecks, releaseChecks) and what a new port does (recheck).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckOutcome, FAILURES_TO_GIVE_UP } from '../../src-main/mobility/check-outcome.js';
import { PairSelection } from '../../src-main/mobility/pair-selection.js';
import type { LocatorPair } from '../../src-main/mobility/pair-order.js';
import { local } from './mobility-pair-world.js';

test('an offer\'s checks fail once every direct pair failed twice, none passed, and the relay works; told once per offer, once sent', () => {
  const c = new CheckOutcome();
  const direct = ['a', 'b'];
  for (let i = 0; i < FAILURES_TO_GIVE_UP; i++) c.pairState('a', 'failed');
  c.pairState('b', 'failed');
  assert.equal(c.allFailed(direct, [], true), false, 'b failed only once');
  c.pairState('b', 'failed');
  assert.equal(c.allFailed(direct, [], false), false, 'no working relay: nothing to tell it through');
  assert.equal(c.allFailed(direct, [], true), true);
  assert.equal(c.allFailed(direct, [], true), true, 'still to tell: no notice went out yet');
  c.reported();
  assert.equal(c.allFailed(direct, [], true), false, 'once per offer, once the notice went out');
  c.restart();
  assert.equal(c.allFailed(direct, [], true), false, 'a new offer starts with nothing failed');

  const worked = new CheckOutcome();
  worked.pairState('a', 'operational');
  for (let i = 0; i < 4; i++) worked.pairState('a', 'failed');
  assert.equal(worked.allFailed(['a'], [], true), false, 'a pair that worked and then died is a lost path, not failed checks');
  assert.equal(new CheckOutcome().allFailed([], [], true), false, 'no direct pair: no checks to fail');

  // The peer's notice held our pairs before ours had failed twice: we stop checking them, so we
  // tell it the same, or it goes on checking toward us alone.
  const told = new CheckOutcome();
  told.pairState('a', 'failed');
  assert.equal(told.allFailed([], ['a'], true), true, 'every direct pair held by the peer\'s notice, none passed');
  const heldButPassed = new CheckOutcome();
  heldButPassed.pairState('b', 'operational');
  assert.equal(heldButPassed.allFailed([], ['a'], true), false, 'a direct pair passed: nothing failed');
  const partly = new CheckOutcome();
  partly.pairState('b', 'failed');
  assert.equal(partly.allFailed(['b'], ['a'], true), false, 'an unheld pair still has a check to fail');
});

const WIFI = local('10.1.0.2', 'wifi0', 'wifi', 0);
const DIRECT = '192.0.2.1';
const RELAY = '198.51.100.50';
const direct: LocatorPair = { local: WIFI.address, remote: DIRECT };
const relayed: LocatorPair = { local: WIFI.address, remote: RELAY };

/**
 * Runs `sel` on a virtual clock: every probe is answered 20 ms later, except a probe of a pair
 * `silent` picks, which goes unanswered and whose time is recorded.
 */
function answeringPeer(sel: PairSelection, silent: (pair: LocatorPair) => boolean): { run: (until: number) => void; silentProbes: number[] } {
  const silentProbes: number[] = [];
  const answers: Array<{ at: number; probeId: number }> = [];
  let now = 0;
  const run = (until: number): void => {
    for (;;) {
      for (let a = sel.pollAction(); a !== undefined; a = sel.pollAction()) {
        if (a.type !== 'probe') continue;
        if (silent(a.pair)) silentProbes.push(now);
        else answers.push({ at: now + 20, probeId: a.probeId });
      }
      answers.sort((x, y) => x.at - y.at);
      const next = Math.min(answers[0]?.at ?? Infinity, sel.nextTimeout() ?? Infinity);
      if (next > until) break;
      now = Math.max(now, next);
      while (answers.length > 0 && answers[0]!.at <= now) sel.probeAnswered(now, answers.shift()!.probeId, 20);
      if ((sel.nextTimeout() ?? Infinity) <= now) sel.handleTimeout(now);
    }
    now = until;
  };
  return { run, silentProbes };
}

/** On the relayed pair; the direct pair never answers. Returns when each probe of the direct pair went out. */
function onTheRelay(): { sel: PairSelection; run: (until: number) => void; directProbes: number[] } {
  const sel = new PairSelection(0);
  sel.setLocalLocators(0, [WIFI]);
  sel.setPeerLocators(0, [{ address: DIRECT, preferred: false }, { address: RELAY, preferred: false, relayed: true }]);
  sel.connect(0, relayed, 20);
  const { run, silentProbes } = answeringPeer(sel, (pair) => pair.remote === DIRECT);
  return { sel, run, directProbes: silentProbes };
}

test('pairs the peer\'s checks failed on leave the background checks until the candidates change', () => {
  const { sel, run, directProbes } = onTheRelay();
  run(20_000);
  const before = directProbes.length;
  assert.ok(before >= 3, `the direct pair is checked in the background while the relay carries the traffic (${before} probes)`);
  assert.equal(sel.holdChecks(20_000, [direct, relayed]), 1, 'the direct pair is held; the relayed one carries the traffic and is not');
  assert.equal(sel.status().pairs.find((p) => p.pair.remote === DIRECT)?.checksHeld, true);
  run(200_000);
  assert.equal(directProbes.length, before, 'no check of the held pair in 180 s');
  assert.equal(sel.status().primary?.remote, RELAY, 'the relay still carries the traffic');
  sel.releaseChecks(200_000);
  run(201_000);
  assert.ok(directProbes.length > before, 'a new offer checks the pair again at once');
  assert.equal(sel.status().pairs.find((p) => p.pair.remote === DIRECT)?.checksHeld, false);
});

test('the peer\'s candidate at a new port is checked at once, held or not', () => {
  const { sel, run, directProbes } = onTheRelay();
  run(40_000);
  sel.holdChecks(40_000, [direct]);
  run(60_000);
  const before = directProbes.length;
  sel.recheck(60_000, DIRECT);
  run(60_001);
  assert.equal(directProbes.length, before + 1, 'probed at once');
});

test('a held pair through another uplink to the primary\'s peer address is not checked as its spare', () => {
  const cell = local('10.2.0.2', 'cell0', 'cellular', 1);
  const spare: LocatorPair = { local: cell.address, remote: DIRECT };
  const sel = new PairSelection(0);
  sel.setLocalLocators(0, [WIFI, cell]);
  sel.setPeerLocators(0, [{ address: DIRECT, preferred: false }]);
  sel.connect(0, direct, 20);
  // Wi-Fi answers every probe 20 ms later; the cellular pair never does.
  const { run, silentProbes: spareProbes } = answeringPeer(sel, (pair) => pair.local === cell.address);
  run(20_000);
  const before = spareProbes.length;
  assert.ok(before >= 1, `the cellular spare is checked while Wi-Fi carries the traffic (${before} probes)`);
  assert.equal(sel.holdChecks(20_000, [spare]), 1);
  run(200_000);
  assert.deepEqual(spareProbes.slice(before), [], 'no check of the held spare in 180 s');
  assert.equal(sel.status().primary?.local, WIFI.address, 'Wi-Fi still carries the traffic');
});
