// Anyone on the path can send a HIP host anything. Mutated copies of the real packets of an
// exchange (and of its UPDATEs and CLOSE), plus random octets, are fed to hosts in each state an
// attacker could aim at. No exception may escape or be swallowed as an internal error, no
// association may move or re-key without authentication, and the host's memory stays bounded.
// Seed: printed each run; FUZZ_SEED=<n> replays one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from '../../src-main/hip/wire/codec.js';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import type { HostEvent } from '../../src-main/hip/host.js';
import { Prng, SimNetwork, type SimEndpoint } from '../support/sim-network.js';
import { EP_A, EP_B, TestHost, established, makePair } from '../support/hip-hosts.js';
import {
  A_CELL, A_WIFI, B_MAIN, authenticUpdate, cell, connected, mobileWorld, notifyWithLocators, wifi,
} from './sim-mobility-harness.js';

const TOTAL = 100_000;
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
console.log(`fuzz-association: FUZZ_SEED=${SEED}`);

/** Events that would mean the association moved: only an authentic packet may cause them. */
const MOVING: HostEvent['type'][] = [
  'established', 'rekeyed', 'sa-rekeyed', 'sa-rekey-confirmed', 'closed', 'address-changed', 'sa-added', 'sa-removed', 'locator-verified', 'peer-locators', 'pair-probe-received',
];

interface Fingerprint {
  state: string | undefined; inboundSpi?: number; outboundSpi?: number; moves: number; associations: number;
  /** Where traffic goes, every SA pair, every peer locator's state: none may move without authentication. */
  remote?: string; saPairs?: string; locators?: string;
}

function fingerprint(h: TestHost, peer: TestHost): Fingerprint {
  const s = h.host.associations().find((x) => equal(x.peerHit, peer.host.hit));
  return {
    state: s?.state,
    inboundSpi: s?.inboundSpi,
    outboundSpi: s?.outboundSpi,
    moves: h.events.filter((e) => MOVING.includes(e.type)).length,
    associations: h.host.associations().length,
    remote: s === undefined ? undefined : `${s.remote.address}|${s.remote.port}`,
    saPairs: s?.saPairs.map((p) => `${p.inboundSpi}/${p.outboundSpi}`).join(','),
    locators: s?.peerLocators.map((l) => `${l.address}|${l.port}|${l.state}|${l.spi}|${l.preferred}`).join(','),
  };
}

function equal(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** One mutation of a real packet, or random octets; never returns the original bytes. */
function mutate(prng: Prng, base: Uint8Array, others: Uint8Array[]): Uint8Array {
  for (;;) {
    let out: Uint8Array;
    switch (prng.int(8)) {
      case 0: { // a few bit flips
        out = base.slice();
        for (let n = 1 + prng.int(4); n > 0; n--) out[prng.int(out.length)]! ^= 1 << prng.int(8);
        break;
      }
      case 1: { // a run of random octets
        out = base.slice();
        const at = prng.int(out.length);
        out.set(prng.bytes(Math.min(out.length - at, 1 + prng.int(16))), at);
        break;
      }
      case 2: // truncated
        out = base.slice(0, prng.int(base.length));
        break;
      case 3: { // grown: trailing garbage, header length fixed up or not
        const extra = prng.bytes(8 * (1 + prng.int(4)));
        out = new Uint8Array(base.length + extra.length);
        out.set(base);
        out.set(extra, base.length);
        if (prng.next() < 0.5) out[1] = (out.length >> 3) - 1;
        break;
      }
      case 4: { // a slice of another packet spliced in at a parameter-aligned offset
        const other = prng.pick(others);
        out = base.slice();
        const at = 40 + 8 * prng.int(Math.max(1, (out.length - 40) >> 3));
        const from = 40 + 8 * prng.int(Math.max(1, (other.length - 40) >> 3));
        out.set(other.subarray(from, from + Math.min(out.length - at, other.length - from)), at);
        break;
      }
      case 5: { // packet type or controls changed: the same body claims to be something else
        out = base.slice();
        if (prng.next() < 0.5) out[2] = prng.pick(Object.values(PacketType));
        else out[5] = prng.int(256);
        break;
      }
      case 6: { // sender or receiver HIT changed
        out = base.slice();
        out.set(prng.bytes(prng.int(16) + 1), prng.next() < 0.5 ? 8 : 24);
        break;
      }
      default: { // random octets with a plausible header, so the parser goes past the first check
        const len = 40 + 8 * prng.int(64);
        out = prng.bytes(len);
        out[0] = 59;
        out[1] = (len >> 3) - 1;
        out[3] = 0x21;
        break;
      }
    }
    if (!equal(out, base)) return out;
  }
}

interface Scenario {
  name: string;
  /** Builds hosts in the state under attack; returns the packets seen on the way there. */
  setup(seed: number): { net: SimNetwork; victim: TestHost; peer: TestHost; from: SimEndpoint; to: SimEndpoint; packets: Uint8Array[] };
  /** Transitions an unauthenticated packet may legitimately cause (RFC 7401: R1 to a sent I1). */
  allowed?(before: Fingerprint, after: Fingerprint): boolean;
  /** Whether exact copies of the captured packets (replays) are fed too: they must move nothing. */
  replays: boolean;
  /**
   * Time passes: every `everyPackets` packets the clock moves `ms` and the victim's timers run
   * (lifetimes expire, locators are forgotten, our own are renewed). What a timer changes is
   * legitimate; the next packet is judged against the state after it.
   */
  tick?: { everyPackets: number; ms: number };
  /** Drop reasons the scenario must reach, so the paths it is there for are known to be fuzzed. */
  reaches?: string[];
}

/** Entries of a fingerprint's locator list. */
const locatorEntries = (f: Fingerprint): string[] => (f.locators === undefined || f.locators === '' ? [] : f.locators.split(','));

/**
 * The one move a replayed signed NOTIFY may make (RFC 8047, taken as information): an address
 * of the peer's we had forgotten is added UNVERIFIED again. Nothing else may differ.
 */
function onlyAddsUnverified(before: Fingerprint, after: Fingerprint): boolean {
  const { locators: lb, moves: mb, ...restBefore } = before;
  const { locators: la, moves: ma, ...restAfter } = after;
  if (JSON.stringify(restBefore) !== JSON.stringify(restAfter) || ma < mb) return false;
  const was = new Set(locatorEntries(before));
  const now = locatorEntries(after);
  return [...was].every((e) => now.includes(e)) && now.filter((e) => !was.has(e)).every((e) => e.includes('|UNVERIFIED|')) && lb !== la;
}

function packetsOf(net: SimNetwork): Uint8Array[] {
  return net.trace.map((t) => t.bytes).filter((b) => decodePacket(b).ok);
}

const scenarios: Scenario[] = [
  {
    name: 'both ESTABLISHED, after a rekey',
    setup(seed) {
      const { net, a, b } = makePair({ seed });
      a.act((h) => h.connect(net.now, b.host.hit, EP_B));
      assert.ok(net.runUntil(() => established(a) && established(b), 5_000), 'base exchange');
      a.act((h) => h.rekey(net.now, b.host.hit));
      assert.ok(net.runUntil(() => b.eventsOf('rekeyed').length === 1 && a.eventsOf('rekeyed').length === 1, net.now + 5_000), 'rekey');
      net.runFor(1_000);
      return { net, victim: b, peer: a, from: EP_A, to: EP_B, packets: packetsOf(net) };
    },
    replays: true,
  },
  {
    name: 'both ESTABLISHED, after LOCATOR_SETs, new and deprecated SA pairs, address checks and pair probes',
    setup(seed) {
      const mode = { multihoming: 'simultaneous' as const };
      const { net, a, b } = connected(mobileWorld(seed, mode, mode));
      a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
      assert.ok(net.runUntil(() => b.eventsOf('sa-added').length === 1 && b.eventsOf('locator-verified').length === 1, net.now + 5_000), 'new SA pair');
      a.act((h) => h.probePair(net.now, b.host.hit, A_CELL, B_MAIN, 1, [9]));
      b.act((h) => h.probePair(net.now, a.host.hit, B_MAIN, A_CELL, 2, [1]));
      net.runFor(500);
      a.act((h) => h.setLocalLocators(net.now, [wifi(true)]));
      assert.ok(net.runUntil(() => b.eventsOf('sa-removed').length === 1, net.now + 5_000), 'SA pair deprecated');
      a.act((h) => h.setLocalLocators(net.now, [cell(true), wifi(false)]));
      net.runFor(2_000);
      return { net, victim: b, peer: a, from: A_WIFI, to: B_MAIN, packets: packetsOf(net) };
    },
    replays: true,
  },
  {
    name: 'both ESTABLISHED, 4 s locator lifetimes running out, after signed NOTIFYs with LOCATOR_SETs and a LOCATOR_TYPE_UNSUPPORTED',
    setup(seed) {
      const short = { timers: { locatorLifetimeMs: 4_000 } };
      const { net, a, b } = connected(mobileWorld(seed, short, short));
      a.act((h) => h.setLocalLocators(net.now, [wifi(true), cell(false)]));
      assert.ok(net.runUntil(() => b.eventsOf('locator-verified').length === 1, net.now + 5_000), 'cell verified');
      const injected = [
        notifyWithLocators(a, b, [A_WIFI, A_CELL, { address: '192.0.2.50', port: 10500 }]),
        notifyWithLocators(a, b, [A_WIFI, { address: '192.0.2.51', port: 10500 }], { signed: false }),
        authenticUpdate(a, b, {
          locatorSet: {
            kind: 'LOCATOR_SET',
            locators: [
              ...buildLocatorSet([A_WIFI, A_CELL].map((l) => ({ locator: l, spi: a.host.associations()[0]!.inboundSpi!, preferred: false })), 4).locators,
              { trafficType: 0, locatorType: 9, preferred: true, lifetime: 4, address: new Uint8Array(0), raw: new Uint8Array(8).fill(1) },
            ],
          },
        }),
      ];
      for (const bytes of injected) net.inject(A_WIFI, B_MAIN, bytes);
      net.runFor(500);
      return { net, victim: b, peer: a, from: A_WIFI, to: B_MAIN, packets: [...packetsOf(net), ...injected] };
    },
    allowed: onlyAddsUnverified,
    replays: true,
    tick: { everyPackets: 100, ms: 1_000 },
    reaches: ['locator-expired', 'locator-expired-in-use', 'notify-locator-set-unsigned', 'locator-refused'],
  },
  {
    name: 'initiator in I1-SENT (R1 may move it to I2-SENT, nothing further)',
    setup(seed) {
      const { net, a, b } = makePair({ seed });
      a.act((h) => h.connect(net.now, b.host.hit, EP_B));
      net.runFor(25); // I1 out, R1 back, I2 out: now take A back to a fresh I1-SENT
      const packets = packetsOf(net);
      const fresh = makePair({ seed });
      fresh.a.act((h) => h.connect(fresh.net.now, b.host.hit, EP_B));
      // Identities are cached per kind and slot, so the captured R1 is a real R1 for the new A.
      return { net: fresh.net, victim: fresh.a, peer: fresh.b, from: EP_B, to: EP_A, packets };
    },
    allowed: (before, after) => before.state === 'I1-SENT' && after.state === 'I2-SENT' && after.moves === before.moves,
    replays: false, // the captured R1 itself is a genuine answer to this I1
  },
  {
    name: 'responder in R2-SENT',
    setup(seed) {
      const { net, a, b } = makePair({ seed });
      net.filter = ({ bytes }) => ((bytes[2]! & 0x7f) === PacketType.R2 ? undefined : bytes);
      a.act((h) => h.connect(net.now, b.host.hit, EP_B));
      assert.ok(net.runUntil(() => b.state(a) === 'R2-SENT', 5_000), 'responder reaches R2-SENT');
      return { net, victim: b, peer: a, from: EP_A, to: EP_B, packets: packetsOf(net) };
    },
    replays: true,
  },
  {
    name: 'initiator CLOSING',
    setup(seed) {
      const { net, a, b } = makePair({ seed });
      a.act((h) => h.connect(net.now, b.host.hit, EP_B));
      assert.ok(net.runUntil(() => established(a) && established(b), 5_000), 'base exchange');
      net.filter = ({ bytes }) => ((bytes[2]! & 0x7f) === PacketType.CLOSE_ACK ? undefined : bytes);
      a.act((h) => h.close(net.now, b.host.hit));
      net.runFor(50);
      assert.equal(a.state(b), 'CLOSING');
      // B's CLOSE_ACK was dropped on the way; keep a copy of one to mutate.
      const acks = net.trace.filter((t) => (t.bytes[2]! & 0x7f) === PacketType.CLOSE_ACK).map((t) => t.bytes);
      return { net, victim: a, peer: b, from: EP_B, to: EP_A, packets: [...packetsOf(net), ...acks] };
    },
    replays: false, // the held-back CLOSE_ACK is genuine and would rightly end the association
  },
];

test(`the association state machine survives ${TOTAL} forged, mutated and random packets`, () => {
  const prng = new Prng(SEED);
  const perScenario = Math.ceil(TOTAL / scenarios.length);
  let fed = 0;
  for (const [i, sc] of scenarios.entries()) {
    let world = sc.setup(SEED + i);
    let before = fingerprint(world.victim, world.peer);
    let moves = 0;
    let dropsBeforeReset = 0;
    const dropsOf = (h: TestHost): number => Object.values(h.host.counters.dropped).reduce((s, v) => s + v, 0);
    const startKeys = Object.keys(world.victim.host.counters.dropped).length;
    const reached = new Set<string>();
    for (let n = 0; n < perScenario; n++) {
      const base = prng.pick(world.packets);
      const bytes = sc.replays && prng.next() < 0.05 ? base : mutate(prng, base, world.packets);
      if (sc.tick !== undefined && n > 0 && n % sc.tick.everyPackets === 0) {
        world.net.now += sc.tick.ms;
        const due = world.victim.nextTimeout();
        if (due !== undefined && due <= world.net.now) world.victim.handleTimeout(world.net.now);
        for (let t = world.victim.pollTransmit(); t !== undefined; t = world.victim.pollTransmit()) { /* discarded */ }
        before = fingerprint(world.victim, world.peer);
      }
      world.victim.handlePacket(world.net.now, bytes, world.from, world.to);
      fed++;
      // Drain what the host wanted to send: answers to garbage must not pile up.
      for (let t = world.victim.pollTransmit(); t !== undefined; t = world.victim.pollTransmit()) { /* discarded */ }
      const errors = world.victim.dropped('internal-error');
      assert.equal(errors, 0, `${sc.name}: packet #${n} raised ${String(world.victim.host.lastError)} (FUZZ_SEED=${SEED})`);
      const after = fingerprint(world.victim, world.peer);
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        assert.ok(sc.allowed?.(before, after), `${sc.name}: packet #${n} moved ${JSON.stringify(before)} to ${JSON.stringify(after)} without authentication (FUZZ_SEED=${SEED})`);
        moves++;
        dropsBeforeReset += dropsOf(world.victim);
        for (const r of Object.keys(world.victim.host.counters.dropped)) reached.add(r);
        world = sc.setup(SEED + i); // a legitimate move: start again from the state under attack
        before = fingerprint(world.victim, world.peer);
      }
    }
    // Bounded memory: no association per forged sender, a fixed vocabulary of drop reasons.
    assert.ok(world.victim.host.associations().length <= 1, `${sc.name}: associations grew to ${world.victim.host.associations().length}`);
    const reasons = Object.keys(world.victim.host.counters.dropped);
    assert.ok(reasons.length - startKeys < 60, `${sc.name}: drop reasons are not a fixed set: ${reasons.join(', ')}`);
    const drops = dropsBeforeReset + dropsOf(world.victim);
    for (const r of reasons) reached.add(r);
    for (const r of sc.reaches ?? []) assert.ok(reached.has(r), `${sc.name}: never reached ${r} (FUZZ_SEED=${SEED})`);
    console.log(`fuzz-association: ${sc.name}: ${perScenario} packets, ${drops} counted as dropped, ${moves} legitimate moves`);
    assert.ok(drops > perScenario / 2, `${sc.name}: only ${drops} of ${perScenario} forged packets were counted as dropped`);
  }
  assert.ok(fed >= TOTAL, `fed ${fed} packets`);
});
