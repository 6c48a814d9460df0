// Handovers of a laptop whose uplinks are both behind NATs, as in the field: Wi-Fi behind a
// port-preserving home router, cellular behind a symmetric carrier NAT, each dropping what nobody
// behind it asked for. The server only ever sees the NATs' public addresses; the laptop's
// LOCATOR_SETs can only name its private ones. Make-before-break both ways, twice, under a
// 100 packets/s stream each way and a TCP transfer. Needs root.
//
//   node --import tsx --test test/system/handover-nat.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureHandover, type HandoverMeasurement } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import type { LinkEnd } from '../../lab/link.js';
import { MobilityLab, startMobilityHipvpn } from '../../lab/scenarios.js';

const RECOVER_WITHIN_MS = 10_000;
/** cell0 (or wifi0) is up this long before the other uplink goes: time to notice and test it. */
const LEAD_MS = 2_000;

function summary(result: HandoverMeasurement): string {
  const directions = result.directions.map((d) => `${d.direction}: sent ${d.sent}, lost ${d.lost}`).join('; ');
  const tcp = result.tcp ? `TCP ${result.tcp.intact ? 'intact' : 'broken'}, longest stall ${result.tcp.longestStallMs.toFixed(0)} ms` : 'no TCP';
  return `${result.recovered ? `gap ${result.gapMs?.toFixed(0)} ms` : `not recovered within ${RECOVER_WITHIN_MS} ms`}; ${directions}; ${tcp}`;
}

test('behind a home NAT and a carrier NAT: make-before-break to cellular and back to Wi-Fi, twice, loses nothing', { timeout: 150_000 }, async () => {
  const mobility = await MobilityLab.create({ cell0: 'down', mobileBehindNats: true });
  try {
    const tunnel = await startMobilityHipvpn(mobility, { initiator: 'mobile' });
    const serverSees = async (): Promise<string> => {
      const peer = await tunnel.serverVpn.peer('mobile');
      return `${peer?.remote?.address ?? '?'}:${peer?.remote?.port ?? '?'}`;
    };
    // The new uplink comes up, and LEAD_MS later the old one goes down (the host sees both).
    const makeBeforeBreak = (up: LinkEnd, down: LinkEnd): Promise<HandoverMeasurement> =>
      measureHandover(
        tunnel,
        async (mark) => {
          await up.restore();
          mark(`${up.ifname} up`);
          await sleep(LEAD_MS);
          await down.cutLink('down');
          mark(`${down.ifname} down`);
        },
        { recoverWithinMs: RECOVER_WITHIN_MS },
      );
    const wifiPublic = mobility.wifiRouter.address('up0');
    const cellPublic = mobility.cellRouter.address('up0');
    for (let round = 1; round <= 2; round++) {
      const toCell = await makeBeforeBreak(mobility.cell, mobility.wifi);
      assert.equal(toCell.lost, 0, `round ${round}, Wi-Fi to cellular: ${summary(toCell)}`);
      assert.equal(toCell.tcpSurvived, true, `round ${round}, Wi-Fi to cellular, TCP: ${summary(toCell)}`);
      const atCell = await serverSees();
      assert.ok(atCell.startsWith(`${cellPublic}:`), `round ${round}: the server sends to ${atCell}, not to the carrier NAT (${cellPublic})`);

      const toWifi = await makeBeforeBreak(mobility.wifi, mobility.cell);
      assert.equal(toWifi.lost, 0, `round ${round}, cellular back to Wi-Fi: ${summary(toWifi)}`);
      assert.equal(toWifi.tcpSurvived, true, `round ${round}, cellular back to Wi-Fi, TCP: ${summary(toWifi)}`);
      const atWifi = await serverSees();
      assert.equal(atWifi, `${wifiPublic}:${tunnel.mobileVpn.port}`, `round ${round}: the server sends to ${atWifi}, not to the home NAT's mapping`);
    }
    assert.equal((await tunnel.serverVpn.peer('mobile'))?.state, 'ESTABLISHED');
  } finally {
    await mobility.teardown();
  }
});
