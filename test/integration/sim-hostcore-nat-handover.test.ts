// Handovers of a mobile host whose uplinks are both behind NATs, on a virtual clock: Wi-Fi behind
// a port-preserving home router (port-restricted cone, Linux `masquerade`), cellular behind a
// symmetric carrier NAT (`masquerade fully-random`). The server is public, or behind its own
// router with the HIP port forwarded to it (seed 000 §5.1.3), no relay either way. What is
// asserted is what a user notices: packets lost each way, how long traffic stopped, where each
// side sends at the end. Seeded (SIM_SEED replays a run) and printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PORT, SimWorld, outcome, type SimHost, type Stream } from '../support/sim-hosts.js';
import { natBehaviour, type SimNat } from '../support/sim-nat.js';

const SEED_VAR = 'SIM_SEED';
/** Packets sent this close to the end may still be in flight. */
const IN_FLIGHT_MS = 200;
const MOBILE_WIFI = '192.168.1.10';
const MOBILE_CELL = '100.64.0.7';
const HOME_PUBLIC = '198.51.100.10';
const CARRIER_PUBLIC = '198.51.100.11';
/** The server's own address when public; its site router's public address when port-forwarded. */
const SERVER_PUBLIC = '203.0.113.20';
const SERVER_PRIVATE = '192.168.50.2';
const ROUNDS = 5;
/** Issue 12: traffic again within this long after the new uplink is up, or after the NAT rebinds. */
const RECOVER_MS = 1_000;

type ServerKind = 'public' | 'port-forwarded';

interface NatHandoverWorld {
  world: SimWorld;
  mobile: SimHost;
  server: SimHost;
  home: SimNat;
  carrier: SimNat;
  site: SimNat | undefined;
}

/**
 * The mobile (wifi0 up, cell0 absent unless `cell: 'present'`) connects over wifi0 to the
 * server's public endpoint; both stream 100 packets/s to each other.
 */
function natHandoverWorld(server: ServerKind, fallbackSeed: number, opts: { cell?: 'present' | 'absent' } = {}): NatHandoverWorld {
  const world = new SimWorld(SEED_VAR, fallbackSeed);
  const home = world.addNat('home', HOME_PUBLIC, natBehaviour('port-restricted-cone'));
  const carrier = world.addNat('carrier', CARRIER_PUBLIC, natBehaviour('symmetric'));
  const site = server === 'port-forwarded' ? world.addNat('site', SERVER_PUBLIC, natBehaviour('port-restricted-cone')) : undefined;
  site?.forwardPort(PORT, { address: SERVER_PRIVATE, port: PORT });
  const mobile = world.addHost('mobile', [
    { ifname: 'wifi0', kind: 'wifi', address: MOBILE_WIFI, delayMs: 5, nat: home },
    { ifname: 'cell0', kind: 'cellular', address: MOBILE_CELL, delayMs: 25, nat: carrier, absent: opts.cell !== 'present' },
  ]);
  const s = world.addHost('server', [{ ifname: 'eth0', kind: 'ethernet', address: site ? SERVER_PRIVATE : SERVER_PUBLIC, delayMs: 5, nat: site }]);
  mobile.peer = s;
  s.peer = mobile;
  mobile.core.connect(world.now, s.core.hit, { address: SERVER_PUBLIC, port: PORT }, { address: MOBILE_WIFI, port: PORT });
  const deadline = world.now + 5_000;
  while (!(mobile.established() && s.established()) && world.now < deadline) world.runFor(10);
  if (!(mobile.established() && s.established())) throw new Error(`base exchange did not complete (seed ${world.seed})`);
  world.runFor(2_000);
  return { world, mobile, server: s, home, carrier, site };
}

function describe(w: NatHandoverWorld, since: number, end: number): string {
  const serverSends = w.server.remoteOf(w.mobile);
  const mobileSends = w.mobile.remoteOf(w.server);
  return `${outcome(w.mobile, w.server, since, end)}; server sends to ${serverSends?.address}:${serverSends?.port}, mobile to ${mobileSends?.address}:${mobileSends?.port}`;
}

/** How long after `at` the first packet sent at or after `at` arrived (Infinity: none did). */
function resumedAfter(stream: Stream, at: number): number {
  let first = Number.POSITIVE_INFINITY;
  for (const p of stream.sent) {
    if (p.sentAt < at) continue;
    const arrival = stream.arrivals.get(p.seq);
    if (arrival !== undefined) first = Math.min(first, arrival.at);
  }
  return first - at;
}

/** Data the server sent to an address of the mobile's that no packet of the mobile's ever came from. */
function sendsToPrivate(server: SimHost): string[] {
  const wrong = new Set(server.unverifiedSends.map((s) => s.address).filter((a) => a === MOBILE_WIFI || a === MOBILE_CELL));
  for (const c of server.commands) if (c.type === 'set-path' && (c.remote.address === MOBILE_WIFI || c.remote.address === MOBILE_CELL)) wrong.add(c.remote.address);
  return [...wrong];
}

for (const [i, kind] of (['public', 'port-forwarded'] as const).entries()) {
  test(`${kind} server: make-before-break Wi-Fi → cellular and back, ${ROUNDS} rounds, nothing lost either way`, () => {
    const w = natHandoverWorld(kind, 0x12a_0001 + i);
    const { world, mobile, server } = w;
    console.log(`${kind} make-before-break seed ${world.seed} (set ${SEED_VAR} to replay)`);
    mobile.appear('cell0');
    world.runFor(2_000);
    const problems: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [from, to, publicTo] of [['wifi0', 'cell0', CARRIER_PUBLIC], ['cell0', 'wifi0', HOME_PUBLIC]] as const) {
        const t = world.now;
        world.at(t + 100, () => mobile.linkUp(to));
        world.at(t + 2_100, () => mobile.linkDown(from));
        world.runFor(5_000);
        const end = world.now - IN_FLIGHT_MS;
        const line = `round ${round} ${from} → ${to}: ${describe(w, t, end)}`;
        console.log(line);
        if (mobile.stream.lost(t, end) !== 0 || server.stream.lost(t, end) !== 0) problems.push(line);
        if (server.remoteOf(mobile)?.address !== publicTo) problems.push(`${line}: the server does not send to ${publicTo}`);
        if (mobile.remoteOf(server)?.address !== SERVER_PUBLIC) problems.push(`${line}: the mobile does not send to ${SERVER_PUBLIC}`);
      }
    }
    console.log(`${w.home.describe()}\n${w.carrier.describe()}${w.site ? `\n${w.site.describe()}` : ''}`);
    assert.deepEqual(problems, []);
    assert.deepEqual(sendsToPrivate(server), [], 'the server never sent data to a private address of the mobile');
  });

  test(`${kind} server: break-before-make, Wi-Fi ↔ cellular with ${2_000} ms without an uplink, ${ROUNDS} rounds: traffic both ways within ${RECOVER_MS} ms of the new uplink`, () => {
    const w = natHandoverWorld(kind, 0x12a_0101 + i);
    const { world, mobile, server } = w;
    console.log(`${kind} break-before-make seed ${world.seed} (set ${SEED_VAR} to replay)`);
    const problems: string[] = [];
    let cellSeen = false;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [from, to, publicTo] of [['wifi0', 'cell0', CARRIER_PUBLIC], ['cell0', 'wifi0', HOME_PUBLIC]] as const) {
        const t = world.now;
        const upAt = t + 2_100;
        world.at(t + 100, () => mobile.linkDown(from));
        world.at(upAt, () => {
          if (to === 'cell0' && !cellSeen) mobile.appear('cell0');
          else mobile.linkUp(to);
          cellSeen = true;
        });
        world.runFor(5_000);
        const end = world.now - IN_FLIGHT_MS;
        const up = resumedAfter(mobile.stream, upAt);
        const down = resumedAfter(server.stream, upAt);
        const line = `round ${round} ${from} → ${to}: mobile → server again ${up} ms after ${to} up, server → mobile ${down} ms; ${describe(w, t, end)}`;
        console.log(line);
        if (!(up <= RECOVER_MS && down <= RECOVER_MS)) problems.push(line);
        if (server.remoteOf(mobile)?.address !== publicTo) problems.push(`${line}: the server does not send to ${publicTo}`);
        if (mobile.remoteOf(server)?.address !== SERVER_PUBLIC) problems.push(`${line}: the mobile does not send to ${SERVER_PUBLIC}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(sendsToPrivate(server), [], 'the server never sent data to a private address of the mobile');
  });

  test(`${kind} server: the carrier NAT forgets its mappings under traffic (the mobile's next packet gets a new port): traffic back within ${RECOVER_MS} ms, ${ROUNDS} times`, () => {
    const w = natHandoverWorld(kind, 0x12a_0201 + i, { cell: 'present' });
    const { world, mobile, server, carrier } = w;
    console.log(`${kind} NAT rebinding seed ${world.seed} (set ${SEED_VAR} to replay)`);
    // On cellular alone, as a phone away from Wi-Fi.
    mobile.linkDown('wifi0');
    world.runFor(3_000);
    assert.equal(server.remoteOf(mobile)?.address, CARRIER_PUBLIC, 'on cellular before the NAT rebinds');
    const problems: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const before = server.remoteOf(mobile);
      const t = world.now;
      const flushAt = t + 100;
      world.at(flushAt, () => carrier.forgetMappings());
      world.runFor(4_000);
      const end = world.now - IN_FLIGHT_MS;
      const after = server.remoteOf(mobile);
      const up = resumedAfter(mobile.stream, flushAt);
      const down = resumedAfter(server.stream, flushAt);
      const line = `round ${round}: server sent to ${before?.address}:${before?.port}, then to ${after?.address}:${after?.port}; mobile → server again ${up} ms after the flush, server → mobile ${down} ms; ${describe(w, t, end)}`;
      console.log(line);
      if (!(up <= RECOVER_MS && down <= RECOVER_MS)) problems.push(line);
      if (after?.address !== CARRIER_PUBLIC || after.port === before?.port) problems.push(`${line}: the server did not follow the new mapping`);
      if (mobile.stream.lost(flushAt + RECOVER_MS, end) !== 0 || server.stream.lost(flushAt + RECOVER_MS, end) !== 0) problems.push(`${line}: losses after recovery`);
    }
    console.log(carrier.describe());
    assert.deepEqual(problems, []);
    assert.deepEqual(sendsToPrivate(server), [], 'the server never sent data to a private address of the mobile');
  });
}
