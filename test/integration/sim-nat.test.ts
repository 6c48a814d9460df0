// HostCores behind simulated NATs (RFC 4787 behaviours), on a virtual clock: what a host behind
// each kind of NAT can and cannot do without a relay. A host behind any NAT reaches a public
// host and hears its answers (the public host learns the NAT's public endpoint); unsolicited
// packets are let in or filtered as the NAT's filtering says; a mapping dies after its timeout
// unless the host's keepalives refresh it; and two hosts behind NATs that filter cannot reach
// each other directly even knowing each other's public endpoint: the case the relay is for.
// Seeded (SIM_SEED replays a run); every run prints its seed and what each NAT counted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DETECTION } from '../../src-main/mobility/failure-detection.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { Endpoint } from '../../src-main/hip/host.js';
import { B_ETH, PORT, SimWorld, connect, outcome, type SimHost } from '../support/sim-hosts.js';
import { NAT_KINDS, natBehaviour, type NatKind, type SimNat } from '../support/sim-nat.js';
import { TestHost, identity, seededCrypto } from '../support/hip-hosts.js';

const SEED_VAR = 'SIM_SEED';
const KINDS = Object.keys(NAT_KINDS) as NatKind[];
/** Both NATed hosts use the same private address, as two home networks would. */
const PRIVATE = '192.168.1.10';
const NAT_A = '203.0.113.1';
const NAT_C = '203.0.113.2';
const STRANGER = '198.51.100.66';
const RELAY = '198.51.100.50';
const NAT_TIMEOUT_MS = 30_000;

function keepaliveEvery(ms: number): { paths: { abandonAfterMs: number; spareWindowMs: number; timing: { detection: typeof DEFAULT_DETECTION } } } {
  // Abandoning a silent peer would end the association the test wants to watch.
  return { paths: { abandonAfterMs: 3_600_000, spareWindowMs: 5_000, timing: { detection: { ...DEFAULT_DETECTION, keepaliveMs: ms } } } };
}

/** A public server S and host A behind a NAT of `kind`. */
function natWorld(kind: NatKind, fallbackSeed: number, opts: { keepaliveMs?: number; serverKeepaliveMs?: number } = {}): { world: SimWorld; nat: SimNat; a: SimHost; s: SimHost } {
  const world = new SimWorld(SEED_VAR, fallbackSeed);
  const nat = world.addNat(`NAT-A ${kind}`, NAT_A, natBehaviour(kind, { timeoutMs: NAT_TIMEOUT_MS }));
  const a = world.addHost('A', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat }], keepaliveEvery(opts.keepaliveMs ?? DEFAULT_DETECTION.keepaliveMs));
  const s = world.addHost('S', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }], keepaliveEvery(opts.serverKeepaliveMs ?? DEFAULT_DETECTION.keepaliveMs));
  return { world, nat, a, s };
}

/** A datagram from `src` (an address of `sender`) to `dst`: did it reach a host, and which? */
function probe(world: SimWorld, sender: SimHost, src: Endpoint, dst: Endpoint): { receiver?: string } {
  const seen: { receiver?: string } = {};
  world.send(sender, src, dst, (receiver) => {
    seen.receiver = receiver.name;
  });
  world.runFor(100);
  return seen;
}

test('a host behind each kind of NAT reaches a public host and hears its answers; the public host sees the NAT\'s endpoint', () => {
  for (const [i, kind] of KINDS.entries()) {
    const { world, nat, a, s } = natWorld(kind, 0x4a7_0001 + i);
    connect(world, a, s);
    const t = world.now;
    world.runFor(3_000);
    const end = world.now - 200;
    const seenByS = s.remoteOf(a);
    console.log(`${kind} seed ${world.seed} (set ${SEED_VAR} to replay): S sends A's ESP to ${seenByS?.address}:${seenByS?.port};`,
      `A→S lost ${a.stream.lost(t, end)}/${a.stream.sent.filter((p) => p.sentAt >= t && p.sentAt < end).length},`,
      `S→A lost ${s.stream.lost(t, end)}/${s.stream.sent.filter((p) => p.sentAt >= t && p.sentAt < end).length}; ${nat.describe()}`);
    assert.equal(seenByS?.address, NAT_A, `${kind}: S learnt A's public address, not ${PRIVATE}`);
    assert.deepEqual(seenByS, nat.mapped(world.now, { address: PRIVATE, port: PORT }, { address: B_ETH, port: PORT }), `${kind}: the NAT's mapping`);
    if (NAT_KINDS[kind].mapping === 'endpoint-independent') assert.equal(seenByS.port, PORT, `${kind}: the port is preserved`);
    else assert.notEqual(seenByS.port, PORT, `${kind}: a random public port`);
    assert.equal(a.remoteOf(s)?.address, B_ETH);
    assert.equal(a.stream.lost(t, end), 0, `${kind}: A→S`);
    assert.equal(s.stream.lost(t, end), 0, `${kind}: S's answers reach A through the NAT`);
    assert.ok(s.stream.arrivals.size > 250, `${kind}: S→A arrived ${s.stream.arrivals.size}`);
    assert.ok(nat.counters.inbound > 250 && nat.counters.outbound > 250);
    assert.equal(nat.counters.filtered + nat.counters.unmapped, 0, `${kind}: nothing of the conversation was filtered`);
  }
});

test('a bare HipHost on the network (where a relay sits) completes a base exchange with a host behind each NAT and knows it by the NAT\'s public endpoint', () => {
  for (const [i, kind] of KINDS.entries()) {
    const world = new SimWorld(SEED_VAR, 0x4a7_0401 + i);
    const nat = world.addNat(`NAT-A ${kind}`, NAT_A, natBehaviour(kind, { timeoutMs: NAT_TIMEOUT_MS }));
    const a = world.addHost('A', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat }]);
    const endpoint = { address: RELAY, port: PORT };
    const r = new TestHost({ identity: identity('ecdsa-p256', 9), crypto: seededCrypto(world.seed ^ 0x7e1a) }, world.now, endpoint);
    world.addNode('R', [{ ifname: 'eth0', kind: 'ethernet', address: RELAY, delayMs: 5 }], r);
    a.core.connect(world.now, r.host.hit, endpoint, { address: PRIVATE, port: PORT });
    world.runFor(3_000);
    const seenByR = r.host.associations().find((x) => x.peerHitText === hitToText(a.core.hit));
    console.log(`${kind} seed ${world.seed}: R ${seenByR?.state ?? 'has no association'}, knows A at ${seenByR?.remote.address}:${seenByR?.remote.port}; ${nat.describe()}`);
    assert.equal(seenByR?.state, 'ESTABLISHED', kind);
    assert.equal(a.core.association(r.host.hit)?.state, 'ESTABLISHED', kind);
    assert.deepEqual(seenByR.remote, nat.mapped(world.now, { address: PRIVATE, port: PORT }, endpoint), `${kind}: A's public endpoint, what REG_FROM reports`);
  }
});

test('unsolicited packets to a NATed host are let in or filtered as its NAT\'s filtering says', () => {
  const expected: Record<NatKind, { fromServerOtherPort: boolean; fromStranger: boolean }> = {
    'full-cone': { fromServerOtherPort: true, fromStranger: true },
    'restricted-cone': { fromServerOtherPort: true, fromStranger: false },
    'port-restricted-cone': { fromServerOtherPort: false, fromStranger: false },
    symmetric: { fromServerOtherPort: false, fromStranger: false },
  };
  for (const [i, kind] of KINDS.entries()) {
    const { world, nat, a, s } = natWorld(kind, 0x4a7_0101 + i);
    const x = world.addHost('X', [{ ifname: 'eth0', kind: 'ethernet', address: STRANGER, delayMs: 5 }]);
    connect(world, a, s);
    world.runFor(500);
    const aPublic = s.remoteOf(a)!;
    const before = { ...nat.counters };
    const fromServerOtherPort = probe(world, s, { address: B_ETH, port: 3478 }, aPublic).receiver === 'A';
    const fromStranger = probe(world, x, { address: STRANGER, port: PORT }, aPublic).receiver === 'A';
    // The stranger knows A's HIT and public endpoint (say from S) and starts a base exchange.
    x.core.connect(world.now, a.core.hit, aPublic, { address: STRANGER, port: PORT });
    world.runFor(5_000);
    const strangerConnected = x.core.association(a.core.hit)?.state === 'ESTABLISHED';
    const filtered = nat.counters.filtered - before.filtered;
    console.log(`${kind} seed ${world.seed}: S from port 3478 ${fromServerOtherPort ? 'in' : 'filtered'}, stranger ${fromStranger ? 'in' : 'filtered'},`,
      `stranger's base exchange ${strangerConnected ? 'completed' : 'failed'}; ${nat.describe()}`);
    assert.equal(fromServerOtherPort, expected[kind].fromServerOtherPort, `${kind}: S's address from another port`);
    assert.equal(fromStranger, expected[kind].fromStranger, `${kind}: a stranger`);
    assert.equal(strangerConnected, expected[kind].fromStranger, `${kind}: the stranger's base exchange`);
    if (expected[kind].fromStranger) assert.equal(filtered, 0);
    // Filtered: both probes (or one) and every I1 the stranger re-sent.
    else assert.ok(filtered >= (expected[kind].fromServerOtherPort ? 1 : 2) + 2, `${kind}: ${filtered} filtered`);
    assert.equal(s.stream.lost(world.now - 5_000, world.now - 200), 0, `${kind}: S's own traffic to A still flows`);
  }
});

test('an idle mapping dies after the NAT timeout, and A\'s keepalives below that timeout keep S able to reach A', () => {
  for (const [i, kind] of KINDS.entries()) {
    for (const keepaliveMs of [15_000, 25_000, 45_000]) {
      // S sends no keepalives of its own: only A's traffic can keep the mapping.
      const { world, nat, a, s } = natWorld(kind, 0x4a7_0201 + i, { keepaliveMs, serverKeepaliveMs: 3_600_000 });
      connect(world, a, s);
      world.runFor(1_000);
      for (const h of [a, s]) h.setStreaming(false);
      const idleFrom = world.now;
      const outBefore = nat.counters.outbound;
      // Long enough for two keepalives, ending between the death of one keepalive's mapping and the next keepalive.
      world.runFor(2 * keepaliveMs + (NAT_TIMEOUT_MS + keepaliveMs) / 2);
      const idleOutbound = nat.counters.outbound - outBefore;
      const resumeAt = world.now;
      s.setStreaming(true);
      world.runFor(60_000);
      const lost = s.stream.lost(resumeAt, resumeAt + 1_000);
      const firstArrival = Math.min(...[...s.stream.arrivals.values()].map((p) => p.at).filter((at) => at >= resumeAt));
      console.log(`${kind}, keepalive ${keepaliveMs / 1000} s, NAT timeout ${NAT_TIMEOUT_MS / 1000} s, seed ${world.seed}:`,
        `${idleOutbound} packets from A out through the NAT in ${((resumeAt - idleFrom) / 1000).toFixed(1)} s idle;`,
        `S's stream then lost ${lost} of its first 100, first arrival after ${Number.isFinite(firstArrival) ? `${firstArrival - resumeAt} ms` : 'never'}; ${nat.describe()}`);
      assert.ok(idleOutbound >= Math.floor((resumeAt - idleFrom) / keepaliveMs), `${kind}: A sent a keepalive every ${keepaliveMs} ms (${idleOutbound} packets)`);
      if (keepaliveMs < NAT_TIMEOUT_MS) {
        assert.equal(lost, 0, `${kind}, keepalive ${keepaliveMs} ms: S reaches A after the idle time`);
        assert.equal(nat.counters.expired, 0, `${kind}: the mapping never expired`);
      } else {
        assert.equal(lost, 100, `${kind}, keepalive ${keepaliveMs} ms: S's packets to A's public endpoint are dropped`);
        assert.ok(nat.counters.expired >= 2, `${kind}: the mapping expired between keepalives (${nat.counters.expired})`);
        assert.ok(nat.counters.unmapped >= 100, `${kind}: and the NAT counted the drops`);
      }
    }
  }
});

test('two hosts behind NATs cannot reach each other directly unless the callee\'s NAT lets anyone in', () => {
  const matrix: string[] = [];
  for (const [i, kindA] of KINDS.entries()) {
    for (const [j, kindC] of KINDS.entries()) {
      const world = new SimWorld(SEED_VAR, 0x4a7_0301 + 4 * i + j);
      const natA = world.addNat(`NAT-A ${kindA}`, NAT_A, natBehaviour(kindA, { timeoutMs: NAT_TIMEOUT_MS }));
      const natC = world.addNat(`NAT-C ${kindC}`, NAT_C, natBehaviour(kindC, { timeoutMs: NAT_TIMEOUT_MS }));
      const a = world.addHost('A', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat: natA }]);
      const c = world.addHost('C', [{ ifname: 'eth0', kind: 'ethernet', address: PRIVATE, delayMs: 5, nat: natC }]);
      const s = world.addHost('S', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }]);
      // Both talk to S, which learns their public endpoints (as a relay would report them).
      connect(world, a, s);
      connect(world, c, s);
      for (const h of [a, c, s]) h.setStreaming(false);
      const cPublic = s.remoteOf(c)!;
      const filteredBefore = natC.counters.filtered + natC.counters.unmapped;
      a.core.connect(world.now, c.core.hit, cPublic, { address: PRIVATE, port: PORT });
      world.runFor(5_000);
      const direct = a.core.association(c.core.hit)?.state === 'ESTABLISHED' && c.core.association(a.core.hit)?.state === 'ESTABLISHED';
      const droppedAtC = natC.counters.filtered + natC.counters.unmapped - filteredBefore;
      matrix.push(`A ${kindA} → C ${kindC}: ${direct ? 'direct' : `no (NAT-C dropped ${droppedAtC})`}`);
      console.log(`seed ${world.seed}: A behind ${kindA}, C behind ${kindC}: ${direct ? 'connected directly' : 'no direct connection'}; ${natA.describe()}; ${natC.describe()}`);
      const callee = NAT_KINDS[kindC].filtering === 'endpoint-independent';
      assert.equal(direct, callee, `A behind ${kindA} → C behind ${kindC}`);
      if (!callee) assert.ok(droppedAtC >= 2, `NAT-C dropped A's I1s (${droppedAtC})`);
      assert.equal(cPublic.address, NAT_C, 'S knows C by its NAT\'s public address');
    }
  }
  console.log(matrix.join('\n'));
});

test('hosts sharing one NAT (a CGNAT) share its public address on different ports, and reach each other inside; through the public endpoint only with hairpinning', () => {
  for (const hairpinning of [false, true]) {
    const world = new SimWorld(SEED_VAR, 0x4a7_0501);
    const cgnat = world.addNat('CGNAT', NAT_A, natBehaviour('port-restricted-cone', { timeoutMs: NAT_TIMEOUT_MS, hairpinning }));
    const a = world.addHost('A', [{ ifname: 'eth0', kind: 'ethernet', address: '100.64.0.10', delayMs: 5, nat: cgnat }]);
    const c = world.addHost('C', [{ ifname: 'eth0', kind: 'ethernet', address: '100.64.0.11', delayMs: 5, nat: cgnat }]);
    const s = world.addHost('S', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }]);
    connect(world, a, s);
    connect(world, c, s);
    for (const h of [a, c, s]) h.setStreaming(false);
    const aPublic = s.remoteOf(a)!;
    const cPublic = s.remoteOf(c)!;
    // C opens its side towards A's public endpoint first, so only hairpinning stands in the way.
    probe(world, c, { address: '100.64.0.11', port: PORT }, aPublic);
    const viaPublic = probe(world, a, { address: '100.64.0.10', port: PORT }, cPublic).receiver;
    const inside = probe(world, a, { address: '100.64.0.10', port: PORT }, { address: '100.64.0.11', port: PORT }).receiver;
    console.log(`CGNAT ${hairpinning ? 'with' : 'without'} hairpinning, seed ${world.seed}: S sees A at ${aPublic.address}:${aPublic.port}, C at ${cPublic.address}:${cPublic.port};`,
      `A→C inside ${inside ?? 'lost'}, through the public endpoint ${viaPublic ?? 'lost'}; ${cgnat.describe()}`);
    assert.equal(aPublic.address, NAT_A);
    assert.equal(cPublic.address, NAT_A);
    assert.equal(aPublic.port, PORT, 'the first host keeps its port');
    assert.notEqual(cPublic.port, PORT, 'the second gets another');
    assert.equal(inside, 'C', 'private addresses reach each other behind the NAT');
    assert.equal(viaPublic, hairpinning ? 'C' : undefined);
    assert.equal(cgnat.counters.hairpinDropped, hairpinning ? 0 : 2);
  }
});

test('a host moving from behind one NAT to behind another: the public host follows it to the new NAT\'s endpoint', () => {
  const NEW_PRIVATE = '10.0.0.5';
  for (const [i, kind] of KINDS.entries()) {
    const world = new SimWorld(SEED_VAR, 0x4a7_0601 + i);
    const home = world.addNat(`home ${kind}`, NAT_A, natBehaviour(kind, { timeoutMs: NAT_TIMEOUT_MS }));
    const cafe = world.addNat(`cafe ${kind}`, NAT_C, natBehaviour(kind, { timeoutMs: NAT_TIMEOUT_MS }));
    const a = world.addHost('A', [{ ifname: 'wlan0', kind: 'wifi', address: PRIVATE, delayMs: 5, nat: home }]);
    const s = world.addHost('S', [{ ifname: 'eth0', kind: 'ethernet', address: B_ETH, delayMs: 5 }]);
    connect(world, a, s);
    world.runFor(1_000);
    const t = world.now;
    world.at(t + 100, () => a.renumber('wlan0', NEW_PRIVATE, { nat: cafe }));
    world.runFor(5_000);
    const end = world.now - 200;
    const moves = s.pathChanges(t).map((m) => `${m.to} (${m.cause})`).join(', ');
    console.log(`${kind} seed ${world.seed}: ${outcome(a, s, t, end)}; S's moves: ${moves}; ${home.describe()}; ${cafe.describe()}`);
    assert.deepEqual(s.remoteOf(a), cafe.mapped(world.now, { address: NEW_PRIVATE, port: PORT }, { address: B_ETH, port: PORT }), `${kind}: S sends to the new NAT's mapping`);
    assert.equal(a.stream.lost(t, end), 0, `${kind}: A→S`);
    assert.ok(s.stream.lost(t, end) <= 3, `${kind}: S→A lost ${s.stream.lost(t, end)} (what was in flight to the old NAT)`);
    assert.ok(s.stream.longestGap(t, end) <= 100, `${kind}: S→A gap ${s.stream.longestGap(t, end)} ms`);
  }
});
