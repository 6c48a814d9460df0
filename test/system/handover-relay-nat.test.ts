// Handovers of a laptop behind NATs whose peer is behind a NAT of its own, both registered with a
// relay (seed 000 §5.1.2): alice's wifi0 behind a port-preserving home NAT, her cell0 behind a
// symmetric carrier NAT, bob behind a port-preserving home NAT. On Wi-Fi alice and bob reach each
// other directly; on cellular no direct pair can work (the carrier NAT maps per destination and
// bob's NAT filters), so the relay carries the traffic. Make-before-break both ways under a
// 100 packets/s stream each way, by LSI. Needs root.
//
//   node --import tsx --test test/system/handover-relay-nat.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureHandover, type HandoverMeasurement } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import type { LinkEnd } from '../../lab/link.js';
import { buildNatLab } from '../../lab/nat.js';
import { startRelayedPair, waitRegistered, waitRelayedEstablished } from '../../lab/relay-scenario.js';

const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 5);
const LEAD_MS = 2_000;

function summary(r: HandoverMeasurement): string {
  const d = r.directions.map((x) => `${x.direction}: sent ${x.sent}, lost ${x.lost}`).join('; ');
  return `${r.recovered ? `gap ${r.gapMs?.toFixed(0)} ms` : 'not recovered'}; ${d}`;
}

test('alice moves between a home NAT and a carrier NAT, bob behind his own NAT, a relay between: make-before-break loses nothing', { timeout: 240_000 }, async () => {
  const net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'port-preserving', carrier: 'symmetric' });
  try {
    const wifi = net.alice.iface('wifi0');
    const cell = net.alice.iface('cell0');
    await cell.cutLink('down');
    const pair = await startRelayedPair(net);
    await waitRegistered([pair.aliceVpn, pair.bobVpn]);
    const lsis = async (): Promise<[string, string]> => {
      for (let i = 0; i < 100; i++) {
        const [b, a] = await Promise.all([pair.aliceVpn.peer('bob'), pair.bobVpn.peer('alice')]);
        if (b?.lsi && a?.lsi && b.state === 'ESTABLISHED') return [b.lsi, a.lsi];
        await sleep(100);
      }
      throw new Error('no association');
    };
    // The first packet only asks for the association (the data plane holds no SA yet to seal
    // it with): once both ends are established a ping by HIT must be answered.
    await net.alice.exec('ping', ['-n', '-c', '1', '-W', '1', pair.bobId.hit], { allowFailure: true });
    await waitRelayedEstablished(pair);
    const ping = await net.alice.exec('ping', ['-n', '-c', '1', '-W', '5', pair.bobId.hit], { allowFailure: true });
    assert.equal(ping.code, 0, ping.stdout);
    const [bobLsi, aliceLsi] = await lsis();
    const path = { label: 'hipvpn', mobile: net.alice, server: net.bob, serverAddress: bobLsi, mobileAddress: aliceLsi };
    const via = async (): Promise<string> => `${(await pair.aliceVpn.peer('bob'))?.via}/${(await pair.bobVpn.peer('alice'))?.via}`;
    for (let i = 0; i < 40 && (await via()) !== 'direct/direct'; i++) await sleep(50);
    console.log(`start: ${await via()}`);
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
