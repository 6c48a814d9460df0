// The simulated NAT on its own: the public endpoint each kind of mapping gives, what each kind
// of filtering lets in, how a mapping dies without traffic and what keeps it, and that a seed
// replays the same public ports.

import test from 'node:test';
import assert from 'node:assert/strict';
import { SimNat, natBehaviour, type NatBehaviour, type NatFiltering } from '../support/sim-nat.js';
import { Prng } from '../support/sim-network.js';

const PUBLIC = '203.0.113.1';
const ALICE = { address: '192.168.1.10', port: 10500 };
const CAROL = { address: '192.168.1.11', port: 10500 };
const SERVER = { address: '198.51.100.2', port: 10500 };
const SERVER_OTHER_PORT = { address: '198.51.100.2', port: 3478 };
const STRANGER = { address: '198.51.100.66', port: 10500 };

const nat = (b: NatBehaviour, seed = 7): SimNat => new SimNat('nat', PUBLIC, b, new Prng(seed));

test('endpoint-independent mapping keeps the internal port when free and uses one public endpoint for every destination', () => {
  const n = nat(natBehaviour('port-restricted-cone'));
  const toServer = n.outbound(0, ALICE, SERVER);
  assert.deepEqual(toServer, { address: PUBLIC, port: 10500 }, 'port preserved');
  assert.deepEqual(n.outbound(1, ALICE, STRANGER), toServer, 'same public endpoint towards another destination');
  const carol = n.outbound(2, CAROL, SERVER);
  assert.ok(carol !== undefined && carol.port !== 10500, `a second host with the same port gets another (${carol?.port})`);
  assert.deepEqual(n.outbound(3, CAROL, STRANGER), carol);
  assert.equal(n.mappingCount(3), 2);
  assert.equal(n.counters.outbound, 4);
});

test('address-and-port-dependent mapping gives each destination endpoint its own random port', () => {
  const n = nat(natBehaviour('symmetric'));
  const a = n.outbound(0, ALICE, SERVER);
  const b = n.outbound(0, ALICE, SERVER_OTHER_PORT);
  const c = n.outbound(0, ALICE, STRANGER);
  assert.ok(a && b && c);
  assert.equal(new Set([a.port, b.port, c.port]).size, 3, `three ports: ${a.port} ${b.port} ${c.port}`);
  assert.notEqual(a.port, 10500, 'fully random: the internal port is not kept');
  assert.deepEqual(n.outbound(5, ALICE, SERVER), a, 'the same destination reuses its mapping');
  assert.equal(n.mappingCount(5), 3);
});

test('the same seed picks the same public ports; another seed other ports', () => {
  const ports = (seed: number): number[] => {
    const n = nat(natBehaviour('symmetric'), seed);
    return [SERVER, SERVER_OTHER_PORT, STRANGER].map((r) => n.outbound(0, ALICE, r)!.port);
  };
  assert.deepEqual(ports(42), ports(42));
  assert.notDeepEqual(ports(42), ports(43));
});

test('each filtering kind lets in exactly the senders RFC 4787 §5 says, and counts the rest', () => {
  const expected: Record<NatFiltering, [contacted: boolean, otherPort: boolean, stranger: boolean]> = {
    'endpoint-independent': [true, true, true],
    'address-dependent': [true, true, false],
    'address-and-port-dependent': [true, false, false],
  };
  for (const [filtering, [fromContacted, fromOtherPort, fromStranger]] of Object.entries(expected) as Array<[NatFiltering, [boolean, boolean, boolean]]>) {
    const n = nat({ mapping: 'endpoint-independent', filtering, timeoutMs: 30_000 });
    const pub = n.outbound(0, ALICE, SERVER)!;
    const results = [SERVER, SERVER_OTHER_PORT, STRANGER].map((r) => n.inbound(10, r, pub));
    assert.deepEqual(results.map((r) => r !== undefined), [fromContacted, fromOtherPort, fromStranger], filtering);
    for (const r of results) if (r) assert.deepEqual(r, ALICE, 'translated back to the internal endpoint');
    const passed = [fromContacted, fromOtherPort, fromStranger].filter(Boolean).length;
    assert.equal(n.counters.inbound, passed, `${filtering}: inbound`);
    assert.equal(n.counters.filtered, 3 - passed, `${filtering}: filtered`);
  }
});

test('a packet to a public port with no mapping is dropped and counted, even with endpoint-independent filtering', () => {
  const n = nat(natBehaviour('full-cone'));
  n.outbound(0, ALICE, SERVER);
  assert.equal(n.inbound(1, STRANGER, { address: PUBLIC, port: 10501 }), undefined);
  assert.equal(n.inbound(1, STRANGER, { address: '203.0.113.99', port: 10500 }), undefined, 'not our address');
  assert.equal(n.counters.unmapped, 2);
  assert.equal(n.counters.filtered, 0);
});

test('a mapping dies after the timeout without outbound traffic; outbound packets within it keep it', () => {
  const n = nat(natBehaviour('port-restricted-cone', { timeoutMs: 30_000 }));
  const pub = n.outbound(0, ALICE, SERVER)!;
  assert.deepEqual(n.inbound(29_999, SERVER, pub), ALICE, 'alive just before the timeout');
  assert.equal(n.inbound(30_000, SERVER, pub), undefined, 'gone at the timeout: inbound does not refresh by default');
  assert.equal(n.counters.expired, 1);
  assert.equal(n.counters.unmapped, 1);

  const kept = nat(natBehaviour('port-restricted-cone', { timeoutMs: 30_000 }));
  const p = kept.outbound(0, ALICE, SERVER)!;
  for (let t = 20_000; t <= 200_000; t += 20_000) assert.deepEqual(kept.outbound(t, ALICE, SERVER), p, `refreshed at ${t}`);
  assert.deepEqual(kept.inbound(229_000, SERVER, p), ALICE, 'a keepalive every 20 s holds a 30 s mapping');
  assert.equal(kept.counters.expired, 0);
});

test('with inbound refresh, admitted inbound packets keep the mapping; filtered ones never do', () => {
  const n = nat(natBehaviour('port-restricted-cone', { timeoutMs: 30_000, inboundRefresh: true }));
  const pub = n.outbound(0, ALICE, SERVER)!;
  for (let t = 20_000; t <= 100_000; t += 20_000) {
    assert.deepEqual(n.inbound(t, SERVER, pub), ALICE, `admitted at ${t}`);
    assert.equal(n.inbound(t, STRANGER, pub), undefined);
  }
  assert.equal(n.mappingCount(129_000), 1);
  assert.equal(n.mappingCount(130_000), 0, 'the last refresh was the admitted packet at 100 s');
  assert.equal(n.counters.filtered, 5);
});

test('a filtering permission lapses on its own while other traffic keeps the mapping', () => {
  const n = nat(natBehaviour('restricted-cone', { timeoutMs: 30_000 }));
  const pub = n.outbound(0, ALICE, SERVER)!;
  n.outbound(20_000, ALICE, STRANGER);
  n.outbound(40_000, ALICE, STRANGER);
  assert.equal(n.inbound(40_000, SERVER, pub), undefined, 'SERVER was last sent to 40 s ago');
  assert.deepEqual(n.inbound(40_000, STRANGER, pub), ALICE);
});

test('when no public port is free the packet is dropped and counted; an expired mapping frees its port', () => {
  const n = nat(natBehaviour('symmetric', { ports: { min: 40000, max: 40001 }, timeoutMs: 1_000 }));
  assert.ok(n.outbound(0, ALICE, SERVER));
  assert.ok(n.outbound(0, ALICE, STRANGER));
  assert.equal(n.outbound(0, ALICE, SERVER_OTHER_PORT), undefined);
  assert.equal(n.counters.portsExhausted, 1);
  assert.ok(n.outbound(1_000, ALICE, SERVER_OTHER_PORT), 'after the others expired');
});
