// Every transition of the seed 003 pair-selection state machine, one host at a time: the test
// plays the peer and the network, answering (or not) each probe the host sends.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PairSelection } from '../../src-main/mobility/pair-selection.js';
import type { SelectionAction } from '../../src-main/mobility/pair-selection.js';
import type { LocatorPair } from '../../src-main/mobility/pair-order.js';
import { isReplyWanted, REPLY_WANTED } from '../../src-main/mobility/poll.js';
import { local, peer } from './mobility-pair-world.js';

const WIFI = local('10.1.0.2', 'wifi0', 'wifi', 1);
const CELL = local('10.2.0.2', 'cell0', 'cellular', 2);
const ETH = local('10.3.0.2', 'eth0', 'ethernet', 0);
const B1 = '192.0.2.1';
const onWifi: LocatorPair = { local: WIFI.address, remote: B1 };
const onCell: LocatorPair = { local: CELL.address, remote: B1 };
const onEth: LocatorPair = { local: ETH.address, remote: B1 };

type Probe = Extract<SelectionAction, { type: 'probe' }>;
type Change = Extract<SelectionAction, { type: 'primary-changed' }>;
type Spare = Extract<SelectionAction, { type: 'spare' }>;

/** One host and a scripted network: `rtt(pair)` says whether (and how fast) a probe is answered. */
class Harness {
  now = 0;
  readonly sel: PairSelection;
  readonly probes: (Probe & { at: number })[] = [];
  readonly changes: Change[] = [];
  readonly states: string[] = [];
  readonly spares: (Spare & { at: number })[] = [];
  private answers: { at: number; probeId: number; rtt: number }[] = [];
  rtt: (pair: LocatorPair) => number | undefined = () => 10;

  constructor() {
    this.sel = new PairSelection(0);
  }

  drain(): void {
    for (let a = this.sel.pollAction(); a !== undefined; a = this.sel.pollAction()) {
      if (a.type === 'probe') {
        this.probes.push({ ...a, at: this.now });
        const rtt = this.rtt(a.pair);
        if (rtt !== undefined) this.answers.push({ at: this.now + rtt, probeId: a.probeId, rtt });
      } else if (a.type === 'primary-changed') this.changes.push(a);
      else if (a.type === 'state') this.states.push(a.to);
      else if (a.type === 'spare') this.spares.push({ ...a, at: this.now });
    }
  }

  run(until: number, each?: (now: number) => void): void {
    for (;;) {
      this.drain();
      this.answers.sort((x, y) => x.at - y.at);
      const next = Math.min(this.answers[0]?.at ?? Infinity, this.sel.nextTimeout() ?? Infinity);
      if (next > until) break;
      this.now = Math.max(this.now, next);
      while (this.answers.length > 0 && this.answers[0]!.at <= this.now) {
        const a = this.answers.shift()!;
        this.sel.probeAnswered(this.now, a.probeId, a.rtt);
      }
      if ((this.sel.nextTimeout() ?? Infinity) <= this.now) this.sel.handleTimeout(this.now);
      each?.(this.now);
    }
    this.now = until;
    this.drain();
  }

  probesOn(pair: LocatorPair, from = 0): number {
    return this.probes.filter((p) => p.at >= from && p.pair.local === pair.local && p.pair.remote === pair.remote).length;
  }
}

function connectedOnWifi(locals = [WIFI, CELL]): Harness {
  const h = new Harness();
  h.sel.setLocalLocators(0, locals);
  h.sel.setPeerLocators(0, [peer(B1)]);
  h.sel.connect(0, onWifi, 10);
  h.drain();
  return h;
}

test('nothing is probed before connect, even as pairs appear', () => {
  const h = new Harness();
  h.sel.setLocalLocators(0, [WIFI, CELL]);
  h.sel.setPeerLocators(0, [peer(B1)]);
  h.run(10_000);
  assert.equal(h.probes.length, 0);
  assert.equal(h.sel.state, 'no-primary');
});

test('connect over a pair: NO PRIMARY → PRIMARY OPERATIONAL at once, cause connect', () => {
  const h = connectedOnWifi();
  assert.equal(h.sel.state, 'primary-operational');
  assert.deepEqual(h.sel.primary, onWifi);
  assert.equal(h.changes[0]?.cause, 'connect');
  assert.equal(h.changes[0]?.gapMs, 0);
});

test('connect without a pair: the best candidate is tested, and the first to pass becomes primary', () => {
  const h = new Harness();
  h.sel.setLocalLocators(0, [WIFI, CELL]);
  h.sel.setPeerLocators(0, [peer(B1)]);
  h.rtt = (p) => (p.local === CELL.address ? 40 : undefined); // wifi is dead
  h.sel.connect(0);
  h.run(3_000);
  assert.deepEqual(h.probes[0]?.pair, onWifi, 'preferred interface tried first');
  assert.deepEqual(h.sel.primary, onCell);
  assert.equal(h.sel.state, 'primary-operational');
  assert.equal(h.changes.at(-1)?.cause, 'connect');
});

test('test fail on the last pair: TESTING → NO PRIMARY, keeping the pair as the best guess; its answer restores it', () => {
  const h = connectedOnWifi([WIFI]);
  let dead = true;
  h.rtt = () => (dead ? undefined : 10);
  h.run(20_100); // the keepalive goes unanswered
  assert.deepEqual(h.states, ['primary-operational', 'testing-primary', 'no-primary']);
  assert.deepEqual(h.sel.primary, onWifi, 'still the pair to send on');
  dead = false;
  h.run(25_000);
  assert.equal(h.sel.state, 'primary-operational');
  assert.equal(h.changes.length, 1, 'no move: the same pair came back');
});

test('timer (keepalive): answered keeps the state; unanswered tests the alternatives, not the primary again', () => {
  const h = connectedOnWifi();
  h.run(20_000 + 50);
  assert.equal(h.probesOn(onWifi), 1, 'one keepalive at 20 s');
  assert.deepEqual(h.states, ['primary-operational'], 'an answered keepalive changes no state');

  h.rtt = (p) => (p.local === WIFI.address ? undefined : 40);
  h.run(45_000);
  const move = h.changes.at(-1)!;
  assert.equal(move.cause, 'keepalive');
  assert.deepEqual(move.new, onCell);
  const wifiProbes = h.probes.filter((p) => p.at >= 40_000 && p.at < move.at && p.pair.local === WIFI.address);
  assert.equal(wifiProbes.length, 1, 'the failed keepalive is not repeated before trying cell');
  assert.equal(move.gapMs, 40, 'from the keepalive timeout to the move: one cell RTT');
});

test('upper-layer feedback ends a search that silence started, without moving', () => {
  const h = connectedOnWifi();
  h.rtt = () => undefined; // probes get lost for now
  h.sel.dataSent(1_000);
  h.sel.dataSent(1_010);
  h.run(1_160);
  assert.equal(h.sel.state, 'testing-primary', '150 ms of sending into silence starts a search');
  h.sel.dataReceived(1_170);
  h.drain();
  assert.equal(h.sel.state, 'primary-operational');
  assert.equal(h.changes.length, 1, 'no move');
});

test('ICMP is a hint: the primary and the other pairs are probed at once; only a passing probe moves the traffic', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  assert.equal(h.sel.icmpError(1_000, onCell), 'icmp-not-primary', 'about a pair we do not use: ignored');
  h.drain();
  assert.equal(h.probesOn(onCell, 1_000) + h.probesOn(onWifi, 1_000), 0);
  // The primary works and answers first: the traffic stays.
  h.rtt = (p) => (p.local === WIFI.address ? 10 : 40);
  assert.equal(h.sel.icmpError(1_000, onWifi), 'icmp-hint');
  h.drain();
  assert.equal(h.probesOn(onWifi, 1_000), 1, 'the primary is checked at once');
  assert.equal(h.probesOn(onCell, 1_000), 1, 'and so is the other pair, beside it');
  h.run(1_500);
  assert.equal(h.sel.icmpError(1_500, onWifi), 'icmp-hint-limited', 'one hint a second');
  h.run(3_000);
  assert.equal(h.sel.state, 'primary-operational');
  assert.equal(h.changes.length, 1, 'an ICMP error alone never moves the primary');

  // The primary is refused for real: the other pair's answer moves the traffic, without waiting
  // for the primary's probe to time out.
  h.rtt = (p) => (p.local === WIFI.address ? undefined : 40);
  assert.equal(h.sel.icmpError(3_000, onWifi), 'icmp-hint');
  h.run(4_000);
  assert.equal(h.changes.at(-1)?.cause, 'icmp');
  assert.equal(h.changes.at(-1)?.at, 3_040, 'moved as the other pair\'s answer came');
});

test('add pair: in NO PRIMARY a new pair is probed at once, whatever the back-off reached', () => {
  const h = connectedOnWifi([WIFI]);
  h.rtt = () => undefined;
  h.run(80_000); // keepalive at 20 s fails; a minute of back-off follows
  assert.equal(h.sel.state, 'no-primary');
  h.rtt = (p) => (p.local === CELL.address ? 40 : undefined);
  h.sel.setLocalLocators(80_000, [WIFI, CELL]);
  h.run(80_100);
  const first = h.probes.find((p) => p.at >= 80_000);
  assert.equal(first?.at, 80_000, 'probed the moment it appeared');
  assert.deepEqual(first?.pair, onCell);
  assert.deepEqual(h.sel.primary, onCell);
  assert.equal(h.changes.at(-1)?.at, 80_040);
});

test('delete pair: the primary\'s loss moves to a recently tested spare with no gap, then confirms it', () => {
  const h = connectedOnWifi();
  h.run(5_000); // the cell spare is tested in the background
  assert.equal(h.sel.status().pairs.find((p) => p.pair.local === CELL.address)?.state, 'operational');
  h.sel.setLocalLocators(5_000, [CELL]);
  h.drain();
  const move = h.changes.at(-1)!;
  assert.deepEqual(move.old, onWifi, 'the deleted pair is named');
  assert.deepEqual(move.new, onCell);
  assert.equal(move.gapMs, 0);
  assert.equal(move.cause, 'pair-deleted');
  assert.equal(h.sel.state, 'testing-primary');
  h.run(5_100);
  assert.equal(h.sel.state, 'primary-operational', 'confirmed by a test');
});

test('delete pair: losing the last pair leaves NO PRIMARY with nothing to send on', () => {
  const h = connectedOnWifi([WIFI]);
  h.sel.setLocalLocators(1_000, []);
  h.drain();
  assert.equal(h.sel.state, 'no-primary');
  assert.equal(h.sel.primary, undefined);
  assert.equal(h.changes.at(-1)?.new, undefined);
  h.sel.setLocalLocators(1_000, [WIFI]);
  h.run(1_100);
  assert.deepEqual(h.sel.primary, onWifi, 'and it comes back when a pair does');
});

test('delete pair: losing a spare changes nothing', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  const before = h.changes.length;
  h.sel.setLocalLocators(1_000, [WIFI]);
  h.drain();
  assert.equal(h.changes.length, before);
  assert.equal(h.sel.state, 'primary-operational');
  assert.equal(h.sel.status().pairs.length, 1);
});

test('policy change: reordering interfaces moves to a tested pair at once, with no gap', () => {
  const h = connectedOnWifi();
  h.run(2_000);
  h.sel.setLocalLocators(2_000, [{ ...WIFI, preferenceRank: 2 }, { ...CELL, preferenceRank: 1 }]);
  h.drain();
  const move = h.changes.at(-1)!;
  assert.equal(move.cause, 'policy');
  assert.deepEqual(move.new, onCell);
  assert.equal(move.gapMs, 0);
});

test('make-before-break: a preferred new uplink is tested in the background and taken once it passes', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  h.sel.setLocalLocators(1_000, [WIFI, CELL, ETH]);
  h.run(1_005);
  assert.deepEqual(h.sel.primary, onWifi, 'not before the test passes');
  h.run(1_020);
  const move = h.changes.at(-1)!;
  assert.deepEqual(move.new, onEth);
  assert.equal(move.cause, 'better-pair');
  assert.equal(move.at, 1_010, 'one RTT after ethernet appeared');
  assert.equal(move.gapMs, 0);
});

test('a preferred pair that fails its test is retried with a growing gap, and taken when it heals', () => {
  const h = connectedOnWifi();
  let ethWorks = false;
  h.rtt = (p) => (p.local === ETH.address && !ethWorks ? undefined : 10);
  h.sel.setLocalLocators(1_000, [WIFI, CELL, ETH]);
  h.run(60_000);
  const times = h.probes.filter((p) => p.pair.local === ETH.address).map((p) => p.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.ok(gaps.length >= 4, `retried ${gaps.length} times`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! >= gaps[i - 1]!, `gaps grow: ${gaps.join(', ')}`);
  assert.ok(Math.max(...gaps) <= 30_000 + 1_000, `bounded at 30 s: ${gaps.join(', ')}`);
  assert.deepEqual(h.sel.primary, onWifi);
  ethWorks = true;
  h.run(100_000);
  assert.deepEqual(h.sel.primary, onEth, 'healed ethernet taken');
});

test('TESTING: a worse pair that passes waits for the primary\'s own answer, and the primary stays if it comes', () => {
  const h = new Harness();
  h.sel.setLocalLocators(0, [WIFI, CELL]);
  h.sel.setPeerLocators(0, [peer(B1)]);
  h.sel.connect(0, onWifi, 100); // RTO 300 ms: the alternative is probed 50 ms in
  h.run(900);
  h.rtt = (p) => (p.local === WIFI.address ? 150 : 20); // the primary is slow, not dead
  h.sel.dataSent(1_000);
  h.sel.dataSent(1_010);
  h.run(1_500);
  assert.ok(h.probesOn(onCell, 1_000) >= 1, 'the alternative was probed');
  assert.equal(h.sel.status().pairs.find((p) => p.pair.local === CELL.address)?.state, 'operational', 'and passed');
  assert.deepEqual(h.sel.primary, onWifi, 'the primary answered within its timeout, so no move');
  assert.equal(h.sel.state, 'primary-operational');
});

test('manual failover moves at once and is not undone by the background tests', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  assert.equal(h.sel.failover(1_000, { local: '10.9.9.9', remote: B1 }), false, 'unknown pair refused');
  assert.equal(h.sel.failover(1_000, onCell), true);
  h.drain();
  assert.equal(h.changes.at(-1)?.cause, 'manual');
  assert.deepEqual(h.sel.primary, onCell);
  h.run(120_000);
  assert.deepEqual(h.sel.primary, onCell, 'still where the user put it');
  assert.equal(h.sel.failover(120_000), true, 'without a target: the best alternative');
  h.drain();
  assert.deepEqual(h.sel.primary, onWifi);
});

test('a search that confirms the pair the user chose leaves it chosen: the background tests do not undo it afterwards', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  assert.equal(h.sel.failover(1_000, onCell), true);
  h.run(5_000);
  const statesBefore = h.states.length;
  // Data goes out and nothing comes back for a moment (the peer busy rekeying the pair, say):
  // a search starts, and the chosen pair answers it.
  h.sel.dataSent(5_000);
  h.sel.dataSent(5_010);
  h.run(120_000);
  assert.deepEqual(h.states.slice(statesBefore), ['testing-primary', 'primary-operational'], 'one search, and the chosen pair passed it');
  assert.deepEqual(h.sel.primary, onCell, `still where the user put it: ${JSON.stringify(h.changes.map((c) => [c.at, c.cause, c.new?.local]))}`);
  assert.equal(h.changes.at(-1)?.cause, 'manual', 'no move since the user\'s');
});

test('the chosen pair keeps the traffic through a search while its own test is open: a report of an older probe is not a failure', () => {
  const h = connectedOnWifi();
  h.run(1_000);
  assert.equal(h.sel.failover(1_000, onCell), true);
  h.run(5_000);
  h.rtt = (p) => (p.local === CELL.address ? 40 : 10);
  h.sel.dataSent(5_000);
  h.sel.dataSent(5_010);
  h.run(5_140);
  // The peer doubts the path: our check of the chosen pair goes out...
  h.sel.probeReceived(5_140, onCell, (REPLY_WANTED | 7) >>> 0, []);
  h.drain();
  const verify = h.probes.at(-1)!;
  assert.deepEqual(verify.pair, onCell, 'the chosen pair is checked');
  // ...the silence becomes suspect while it is in flight (a search: the other pair is tested)...
  h.run(5_154);
  assert.equal(h.sel.state, 'testing-primary');
  // ...and the peer's next probe reports that our check arrived: the chosen pair carries our
  // packets. Its answer is still on the way when the other pair's comes back.
  h.sel.probeReceived(5_155, onCell, 8, [verify.probeId]);
  h.run(10_000);
  assert.deepEqual(h.sel.primary, onCell, `still where the user put it: ${JSON.stringify(h.changes.map((c) => [c.at, c.cause, c.new?.local]))}`);
  assert.equal(h.changes.at(-1)?.cause, 'manual', 'no move since the user\'s');
  assert.equal(h.sel.state, 'primary-operational');
});

test('back-off is bounded: 16 dead pairs are all tried within 20 s, probes never pause more than 2 s, and a healed path is found within that', () => {
  const h = new Harness();
  const locals = [0, 1, 2, 3].map((i) => local(`10.${i}.0.2`, `if${i}`, 'ethernet', i));
  const remotes = [0, 1, 2, 3].map((i) => peer(`192.0.2.${i + 1}`));
  h.sel.setLocalLocators(0, locals);
  h.sel.setPeerLocators(0, remotes);
  h.sel.connect(0, { local: '10.0.0.2', remote: '192.0.2.1' }, 10);
  h.run(1_000);
  let healed: LocatorPair | undefined;
  h.rtt = (p) => (healed && p.local === healed.local && p.remote === healed.remote ? 30 : undefined);
  h.sel.dataSent(1_000);
  h.sel.dataSent(1_010);
  h.run(600_333);
  const search = h.probes.filter((p) => p.at >= 1_000);
  const tried = new Set<string>();
  let allTriedAt: number | undefined;
  for (const p of search) {
    tried.add(`${p.pair.local}|${p.pair.remote}`);
    if (tried.size === 16 && allTriedAt === undefined) allTriedAt = p.at;
  }
  assert.ok(allTriedAt !== undefined && allTriedAt - 1_000 < 20_000, `all 16 tried after ${allTriedAt! - 1_000} ms`);
  const gaps = search.slice(1).map((p, i) => p.at - search[i]!.at);
  assert.ok(Math.max(...gaps) <= 2_000, `longest pause ${Math.max(...gaps)} ms`);

  healed = { local: '10.2.0.2', remote: '192.0.2.4' };
  h.run(700_000);
  const move = h.changes.at(-1)!;
  assert.deepEqual(move.new, healed);
  assert.ok(move.at - 600_333 <= 2_000 * 16 + 30, `found ${move.at - 600_333} ms after healing`);
});

test('a peer\'s test: replied to with a report on our primary when it came another way; nothing for reports or duplicates', () => {
  const h = connectedOnWifi();
  h.run(5_000);
  h.rtt = (p) => (p.local === WIFI.address ? 10 : undefined);
  h.sel.icmpError(5_000, onWifi); // gets our primary tested (and confirmed) just now
  h.run(5_020);
  h.rtt = () => 10;
  const before = h.probes.length;
  h.sel.probeReceived(5_020, onCell, 0x8000_0007, []); // the peer tests the cell pair
  h.drain();
  const replies = h.probes.slice(before);
  assert.equal(replies.length, 1, 'one probe back');
  assert.deepEqual(replies[0]!.pair, onWifi, 'on our primary, as the answer on the cell pair may not arrive');
  assert.ok(replies[0]!.report.includes(0x8000_0007), 'reporting the peer\'s probe');
  assert.equal(isReplyWanted(replies[0]!.probeId), false, 'a report, asking nothing back');
  h.sel.probeReceived(5_021, onCell, 0x8000_0007, []); // a retransmission
  h.sel.probeReceived(5_022, onCell, 8, []); // a report asks for nothing
  h.drain();
  assert.equal(h.probes.length, before + 1, 'no probe for a duplicate or for a report');
});

test('a peer\'s test while our primary is unconfirmed makes us test our own direction, and its report confirms it', () => {
  const h = connectedOnWifi();
  h.run(5_000);
  h.rtt = () => undefined; // our answers get lost: only reports will tell
  h.sel.probeReceived(5_000, onWifi, 0x8000_0009, []);
  h.drain();
  const verify = h.probes.at(-1)!;
  assert.deepEqual(verify.pair, onWifi);
  assert.ok(isReplyWanted(verify.probeId), 'a test of ours, asking for a reply');
  h.sel.probeReceived(5_020, onWifi, 0x8000_000a, [verify.probeId]);
  h.run(6_000);
  assert.equal(h.sel.state, 'primary-operational', 'the peer\'s report proved our direction');
  assert.equal(h.sel.status().pairs.find((p) => p.primary)?.direction, 'outbound');
});

test('spare copies: a new uplink that passes its first background test is named a spare once; pairs known at connect are not', () => {
  const h = connectedOnWifi();
  h.run(5_000);
  assert.deepEqual(h.spares, [], 'the cell pair existed at connect: no reason to expect wifi0 to go');
  const g = connectedOnWifi([WIFI]);
  g.run(1_000);
  g.sel.setLocalLocators(1_000, [WIFI, CELL]);
  g.run(1_100);
  assert.equal(g.spares.length, 1, `spares: ${JSON.stringify(g.spares)}`);
  assert.deepEqual(g.spares[0]!.pair, onCell);
  assert.equal(g.spares[0]!.at, 1_010, 'as soon as its test passed, one RTT after the uplink appeared');
  assert.deepEqual(g.sel.primary, onWifi, 'the primary stays');
  g.run(70_000); // re-tested twice as a hot backup
  assert.equal(g.spares.length, 1, 'a re-test of a known spare starts no copies');
});

test('spare copies: a new peer locator that passes is a spare; a preferred uplink is taken instead', () => {
  const h = connectedOnWifi([WIFI]);
  h.run(1_000);
  h.sel.setPeerLocators(1_000, [peer(B1), peer('192.0.2.9')]);
  h.run(1_100);
  assert.deepEqual(h.spares.map((s) => s.pair), [{ local: WIFI.address, remote: '192.0.2.9' }]);
  const g = connectedOnWifi([WIFI]);
  g.run(1_000);
  g.sel.setLocalLocators(1_000, [WIFI, ETH]);
  g.run(1_100);
  assert.deepEqual(g.sel.primary, onEth, 'ethernet is preferred: it becomes primary');
  assert.deepEqual(g.spares, [], 'and nothing is copied');
});

test('spare copies: a new pair failing its first test is a spare once it passes, not before', () => {
  const h = connectedOnWifi([WIFI]);
  let cellWorks = false;
  h.rtt = (p) => (p.local === CELL.address && !cellWorks ? undefined : 10);
  h.run(1_000);
  h.sel.setLocalLocators(1_000, [WIFI, CELL]);
  h.run(2_500);
  assert.equal(h.spares.length, 0, `spares before the test passed: ${JSON.stringify(h.spares)}`);
  cellWorks = true;
  h.run(6_000);
  assert.equal(h.spares.length, 1, `spares: ${JSON.stringify(h.spares)}`);
  assert.ok(h.spares[0]!.at > 2_500, `named at ${h.spares[0]!.at} ms, before its test passed`);
});

test('spare copies: through a new uplink, the spare goes to the peer address that answers, not to a preferred one it only lists', () => {
  // A server behind a port forward: it answers at B1 (its router's public address) and lists,
  // preferred, its private address, which nothing outside its site reaches.
  const PRIVATE = '10.9.0.2';
  const h = new Harness();
  h.rtt = (p) => (p.remote === PRIVATE ? undefined : 10);
  h.sel.setLocalLocators(0, [WIFI]);
  h.sel.setPeerLocators(0, [peer(B1), peer(PRIVATE, true)]);
  h.sel.connect(0, onWifi, 10);
  h.run(1_000);
  h.sel.setLocalLocators(1_000, [WIFI, CELL]);
  h.run(1_200);
  // The background tests go 50 ms apart, the preferred (listed) pairs first.
  assert.deepEqual(h.spares.map((x) => x.pair), [onCell], `spares: ${JSON.stringify(h.spares)}`);
  assert.ok(h.spares[0]!.at <= 1_110, `named at ${h.spares[0]!.at} ms`);
  assert.deepEqual(h.sel.primary, onWifi, 'the primary stays');

  // Where the answering address is reachable only from the primary's network, the new uplink
  // still gets a spare: to the peer's other address.
  const g = new Harness();
  g.rtt = (p) => (p.local === CELL.address && p.remote === B1 ? undefined : 10);
  g.sel.setLocalLocators(0, [WIFI]);
  g.sel.setPeerLocators(0, [peer(B1), peer('192.0.2.9', true)]);
  g.sel.connect(0, onWifi, 10);
  g.run(1_000);
  g.sel.setLocalLocators(1_000, [WIFI, CELL]);
  g.run(5_000);
  assert.deepEqual(g.spares.map((x) => x.pair), [{ local: CELL.address, remote: '192.0.2.9' }], `spares: ${JSON.stringify(g.spares)}`);
});

test('no copies while the primary is merely in doubt: they would hide the failure from the peer\'s own detection', () => {
  const h = connectedOnWifi([WIFI]);
  h.run(1_000);
  h.sel.setLocalLocators(1_000, [WIFI, CELL]);
  h.run(5_000); // cell0 passed and was named a spare once
  assert.equal(h.spares.length, 1);
  h.spares.length = 0;
  h.rtt = () => undefined;
  h.sel.dataSent(5_000);
  h.sel.dataSent(5_010);
  h.run(5_160);
  assert.equal(h.sel.state, 'testing-primary');
  assert.deepEqual(h.spares, []);
});
