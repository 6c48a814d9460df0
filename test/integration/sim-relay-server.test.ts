// The relay server with the relay client it serves, on the simulated network: HostCores behind
// NATs that filter everything unsolicited register with a public RelayServer (RELAY_UDP_HIP,
// RELAY_UDP_ESP, RENDEZVOUS), then one reaches the other by HIT alone, through the relay: the
// whole base exchange crosses the control relay, each end installs its data-relay permission,
// and the relay's counters say what it carried. Every pairing of port-preserving and symmetric
// NATs. Seeded (SIM_SEED replays a run); each run prints its seed. Relayed ESP bytes are the
// unit and daemon tests' (the sim's data streams are modelled, not bytes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NatTraversalMode } from '../../src-main/hip/wire/constants.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { SimHost } from '../support/sim-hosts.js';
import type { NatKind } from '../support/sim-nat.js';
import { RELAY_EP, SEED_VAR, registered, relayWorld, runUntil, stateWith } from '../support/sim-relay.js';

const PAIRINGS: Array<[NatKind, NatKind]> = [
  ['port-restricted-cone', 'port-restricted-cone'],
  ['port-restricted-cone', 'symmetric'],
  ['symmetric', 'port-restricted-cone'],
  ['symmetric', 'symmetric'],
];

test('two hosts behind filtering NATs reach each other by HIT through the relay, for every pairing of NATs', () => {
  for (const [i, [kindA, kindB]] of PAIRINGS.entries()) {
    const { world, a, b, relay } = relayWorld(kindA, kindB, 0x7e1a_0001 + i);
    assert.ok(runUntil(world, () => registered(a, world) && registered(b, world), 5_000), `${kindA}/${kindB} seed ${world.seed}: both register`);
    const regs = relay.status(world.now).clients;
    assert.equal(regs.length, 2);
    for (const c of regs) {
      assert.deepEqual(c.registrations.map((r) => r.name), ['RENDEZVOUS', 'RELAY_UDP_HIP', 'RELAY_UDP_ESP']);
      assert.match(c.reflexive.address, /^203\.0\.113\.[12]$/, 'the relay sees each at its NAT\'s public address');
    }

    a.core.connect(world.now, b.core.hit, RELAY_EP);
    const up = runUntil(world, () => stateWith(a, b) === 'ESTABLISHED' && stateWith(b, a) === 'ESTABLISHED', 5_000);
    const s = relay.status(world.now);
    console.log(`${kindA} / ${kindB} seed ${world.seed} (set ${SEED_VAR} to replay): A ${stateWith(a, b)} B ${stateWith(b, a)};`,
      `relayed HIP ${s.counters.forwarded.hipToClient} to clients, ${s.counters.forwarded.hipFromClient} from; permissions ${s.clients.map((c) => c.permissions).join('+')};`,
      `control drops ${JSON.stringify(Object.fromEntries(Object.entries(s.counters.control).filter(([, n]) => n > 0)))}`);
    assert.ok(up, `${kindA}/${kindB} seed ${world.seed}: the base exchange through the relay completes`);
    assert.deepEqual(b.core.associations().find((x) => x.peerHitText === hitToText(a.core.hit))?.remote, RELAY_EP, 'B knows A at the relay');
    // RFC 9028's mode between the clients; none with the relay itself (seed 000 §5.1.1).
    assert.deepEqual(b.core.associations().map((x) => [x.peerHitText === hitToText(a.core.hit) ? 'peer' : 'relay', x.natMode] as const).sort((p, q) => p[0].localeCompare(q[0])),
      [['peer', NatTraversalMode.ICE_HIP_UDP], ['relay', undefined]]);
    assert.ok(s.counters.forwarded.hipToClient >= 2 && s.counters.forwarded.hipFromClient >= 2, 'I1 and I2 to B, R1 and R2 from B');

    // Each end permits the other's ESP at the relay once it knows the peer is reached through it.
    assert.ok(runUntil(world, () => relay.status(world.now).clients.every((c) => c.permissions >= 1), 3_000), `${kindA}/${kindB}: both permitted their peer`);
    assert.equal(relay.status(world.now).counters.permissions['spi-conflict'], 0);

    // A's ESP for B, sent to the relay with B's inbound SPI, from A's NAT mapping towards the
    // relay, goes to B's registered endpoint; the same SPI from elsewhere goes nowhere.
    const saOf = (h: SimHost, peer: SimHost) => h.commands.filter((c) => c.type === 'install-sa' && hitToText(c.peerHit) === hitToText(peer.core.hit)).at(-1);
    const bSa = saOf(b, a);
    assert.ok(bSa?.type === 'install-sa');
    const aSeenAt = s.clients.find((c) => c.hit === hitToText(a.core.hit))!.reflexive;
    const bSeenAt = s.clients.find((c) => c.hit === hitToText(b.core.hit))!.reflexive;
    const esp = new Uint8Array(64);
    new DataView(esp.buffer).setUint32(0, bSa.sa.inboundSpi);
    new DataView(esp.buffer).setUint32(4, 1);
    const forwarded = relay.data.handle(esp, aSeenAt, world.now);
    assert.ok(forwarded.action === 'forward', JSON.stringify(forwarded));
    assert.deepEqual(forwarded.to, bSeenAt);
    assert.equal(relay.data.handle(esp, { address: '198.51.100.66', port: aSeenAt.port }, world.now).action, 'drop');
  }
});

test('a restarted relay forwards ESP at once and has its clients back within a second; relayed HIP passes again', () => {
  const { world, a, b, node, start } = relayWorld('symmetric', 'port-restricted-cone', 0x7e1a_0101);
  assert.ok(runUntil(world, () => registered(a, world) && registered(b, world), 5_000));
  a.core.connect(world.now, b.core.hit, RELAY_EP);
  assert.ok(runUntil(world, () => stateWith(a, b) === 'ESTABLISHED' && stateWith(b, a) === 'ESTABLISHED' && node.relay.status(world.now).clients.every((c) => c.permissions >= 1), 5_000));
  const aSeenAt = node.relay.status(world.now).clients.find((c) => c.hit === hitToText(a.core.hit))!.reflexive;
  const bSpi = b.commands.filter((c) => c.type === 'install-sa' && hitToText(c.peerHit) === hitToText(a.core.hit)).at(-1);
  assert.ok(bSpi?.type === 'install-sa');

  // The daemon restarts: what it saved is all the new relay knows.
  node.relay = start(JSON.parse(JSON.stringify(node.relay.registrationsJSON())));
  const restartedAt = world.now;
  const esp = new Uint8Array(64);
  new DataView(esp.buffer).setUint32(0, bSpi.sa.inboundSpi);
  new DataView(esp.buffer).setUint32(4, 2);
  assert.equal(node.relay.data.handle(esp, aSeenAt, world.now).action, 'forward', 'relayed ESP needs no step by anyone');
  const back = runUntil(world, () => node.relay.status(world.now).clients.every((c) => c.association === 'ESTABLISHED' || c.association === 'R2-SENT'), 5_000);
  const s = node.relay.status(world.now);
  console.log(`restart seed ${world.seed} (set ${SEED_VAR} to replay): associations with the clients back after ${world.now - restartedAt} ms: ${s.clients.map((c) => c.association).join(', ')}`);
  assert.ok(back && world.now - restartedAt <= 1_000, `back within a second (${world.now - restartedAt} ms)`);

  // A rekey between A and B crosses the control relay under the new keys.
  const before = a.events.length;
  const dropsBefore = { ...node.relay.status(world.now).counters.control };
  a.core.rekey(world.now, b.core.hit);
  assert.ok(runUntil(world, () => a.events.slice(before).some((e) => e.type === 'rekeyed'), 5_000), 'the rekey through the relay completes');
  assert.deepEqual(node.relay.status(world.now).counters.control, dropsBefore, 'nothing of it dropped at the relay');
});
