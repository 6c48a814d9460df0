// Handovers of a laptop behind NATs whose peer is behind a NAT of its own, both registered with a
// relay (seed 000 §5.1.2): alice's wifi0 behind a port-preserving home NAT, her cell0 behind a
// symmetric carrier NAT, bob behind a port-preserving home NAT. On Wi-Fi alice and bob reach each
// other directly; on cellular no direct pair can work (the carrier NAT maps per destination and
// bob's NAT filters), so the relay carries the traffic. Make-before-break both ways under a
// 100 packets/s stream each way, by LSI, must lose nothing (issue 12); break-before-make must have
// the traffic back within 1 s of the new uplink coming up. Needs root.
//
//   node --import tsx --test test/system/handover-relay-nat.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureHandover, type HandoverMeasurement } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import type { LinkEnd } from '../../lab/link.js';
import { buildNatLab, type NatLab } from '../../lab/nat.js';
import { relayedOnWifi } from '../../lab/relay-scenario.js';

const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 5);
// Five rounds of each take ~3.5 min here (each break-before-make round ~10 s of stream): three
// keep the file near 3 min; HANDOVER_ROUNDS=5 runs the issue's five.
const BREAK_ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 3);
/** Make-before-break: the new uplink is up this long before the old one goes. Break-before-make: the outage. */
const LEAD_MS = 2_000;
const RESUME_WITHIN_MS = 1_000;

function summary(r: HandoverMeasurement): string {
  const d = r.directions.map((x) => `${x.direction}: sent ${x.sent}, lost ${x.lost}`).join('; ');
  return `${r.recovered ? `gap ${r.gapMs?.toFixed(0)} ms` : 'not recovered'}; ${d}`;
}

const natLab = (): Promise<NatLab> => buildNatLab({ aliceHome: 'port-preserving', bobHome: 'port-preserving', carrier: 'symmetric' });

test('alice moves between a home NAT and a carrier NAT, bob behind his own NAT, a relay between: make-before-break loses nothing', { timeout: 240_000 }, async () => {
  const net = await natLab();
  try {
    const { path, via } = await relayedOnWifi(net);
    const wifi = net.alice.iface('wifi0');
    const cell = net.alice.iface('cell0');
    const makeBeforeBreak = (up: LinkEnd, down: LinkEnd): Promise<HandoverMeasurement> =>
      measureHandover(path, async (mark) => {
        await up.restore();
        mark(`${up.ifname} up`);
        await sleep(LEAD_MS);
        await down.cutLink('down');
        mark(`${down.ifname} down`);
      }, { recoverWithinMs: 10_000, tcp: false });
    for (let round = 1; round <= ROUNDS; round++) {
      const toCell = await makeBeforeBreak(cell, wifi);
      console.log(`round ${round} wifi0 -> cell0: ${summary(toCell)}; now ${await via()}`);
      const toWifi = await makeBeforeBreak(wifi, cell);
      console.log(`round ${round} cell0 -> wifi0: ${summary(toWifi)}; now ${await via()}`);
      assert.equal(toCell.lost, 0, `round ${round}, Wi-Fi to cellular: ${summary(toCell)}`);
      assert.equal(toWifi.lost, 0, `round ${round}, cellular to Wi-Fi: ${summary(toWifi)}`);
    }
  } finally {
    await net.lab.teardown();
  }
});

test(`the same lab, break-before-make: the old uplink goes, the new one comes ${LEAD_MS / 1000} s later, and traffic is back within ${RESUME_WITHIN_MS} ms of it`, { timeout: 240_000 }, async () => {
  const net = await natLab();
  try {
    const { path, via } = await relayedOnWifi(net);
    const wifi = net.alice.iface('wifi0');
    const cell = net.alice.iface('cell0');
    const breakBeforeMake = async (down: LinkEnd, up: LinkEnd): Promise<{ r: HandoverMeasurement; resumed: number | null }> => {
      const r = await measureHandover(path, async (mark) => {
        await down.cutLink('down');
        mark(`${down.ifname} down`);
        await sleep(LEAD_MS);
        await up.restore();
        mark(`${up.ifname} up`);
      }, { recoverWithinMs: 10_000, tcp: false });
      return { r, resumed: r.resumeAfter(`${up.ifname} up`) };
    };
    for (let round = 1; round <= BREAK_ROUNDS; round++) {
      const toCell = await breakBeforeMake(wifi, cell);
      console.log(`round ${round} wifi0 -> cell0: back ${toCell.resumed?.toFixed(0)} ms after cell0 up; ${summary(toCell.r)}; now ${await via()}`);
      const toWifi = await breakBeforeMake(cell, wifi);
      console.log(`round ${round} cell0 -> wifi0: back ${toWifi.resumed?.toFixed(0)} ms after wifi0 up; ${summary(toWifi.r)}; now ${await via()}`);
      for (const [name, x] of [['Wi-Fi to cellular', toCell], ['cellular to Wi-Fi', toWifi]] as const) {
        assert.ok(x.resumed !== null && x.resumed <= RESUME_WITHIN_MS, `round ${round}, ${name}: back ${x.resumed?.toFixed(0)} ms after the new uplink; ${summary(x.r)}`);
      }
    }
  } finally {
    await net.lab.teardown();
  }
});
