// Handovers of a laptop whose uplinks are both behind NATs, as in the field: Wi-Fi behind a
// port-preserving home router, cellular behind a symmetric carrier NAT, each dropping what nobody
// behind it asked for. The server only ever sees the NATs' public addresses; the laptop's
// LOCATOR_SETs can only name its private ones. The server is either public or behind its own NAT
// with the HIP port forwarded to it (seed 000 §5.1.3), no relay in either case. Make-before-break
// both ways, HANDOVER_ROUNDS rounds (default 5, issue 12), under a 100 packets/s stream each way
// and a TCP transfer: nothing lost in any round. Needs root.
//
//   node --import tsx --test test/system/handover-nat.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMeasurement, measureHandover } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import { MobilityLab, startMobilityHipvpn } from '../../lab/scenarios.js';

const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 5);
const RECOVER_WITHIN_MS = 10_000;
/** cell0 (or wifi0) is up this long before the other uplink goes: time to notice and test it. */
const LEAD_MS = 2_000;
/** After the old uplink goes: time for the server to follow before the round turns back. */
const SETTLE_MS = 1_000;

for (const server of ['public', 'port-forwarded'] as const) {
  test(`behind a home NAT and a carrier NAT, ${server} server: make-before-break to cellular and back to Wi-Fi, ${ROUNDS} rounds, loses nothing`, { timeout: 60_000 + ROUNDS * 30_000 }, async () => {
    const mobility = await MobilityLab.create({ cell0: 'down', mobileBehindNats: true, server: server === 'public' ? 'direct' : 'port-forwarded' });
    try {
      const tunnel = await startMobilityHipvpn(mobility, { initiator: 'mobile' });
      const serverSees = async (): Promise<string> => {
        const peer = await tunnel.serverVpn.peer('mobile');
        return `${peer?.remote?.address ?? '?'}:${peer?.remote?.port ?? '?'}`;
      };
      const mobileSees = async (): Promise<string> => {
        const peer = await tunnel.mobileVpn.peer('server');
        return `${peer?.remote?.address ?? '?'}:${peer?.remote?.port ?? '?'}`;
      };
      const wifiPublic = mobility.wifiRouter.address('up0');
      const cellPublic = mobility.cellRouter.address('up0');
      const serverPublic = `${mobility.serverAddress}:${tunnel.serverVpn.port}`;
      // Every round runs and is printed; the failures are asserted together at the end.
      const failures: string[] = [];
      const check = (ok: boolean, what: string): void => {
        if (!ok) failures.push(what);
      };
      for (let round = 1; round <= ROUNDS; round++) {
        // One measurement per round (the stream's tools start once): cellular comes up, LEAD_MS
        // later Wi-Fi goes; once the server follows, Wi-Fi comes back and LEAD_MS later cellular goes.
        let atCell = '';
        let mobileAtCell = '';
        const result = await measureHandover(
          tunnel,
          async (mark) => {
            await mobility.cell.restore();
            mark('cell0 up');
            await sleep(LEAD_MS);
            await mobility.wifi.cutLink('down');
            mark('wifi0 down');
            await sleep(SETTLE_MS);
            [atCell, mobileAtCell] = await Promise.all([serverSees(), mobileSees()]);
            await mobility.wifi.restore();
            mark('wifi0 up');
            await sleep(LEAD_MS);
            await mobility.cell.cutLink('down');
            mark('cell0 down');
          },
          { recoverWithinMs: RECOVER_WITHIN_MS },
        );
        const [atWifi, mobileAtWifi] = await Promise.all([serverSees(), mobileSees()]);
        const line = `${server} server, round ${round}, Wi-Fi to cellular and back: ${describeMeasurement(result)}; server sent to ${atCell}, then ${atWifi}`;
        console.log(`# ${line}`);
        check(result.lost === 0 && result.tcpSurvived === true, line);
        check(atCell.startsWith(`${cellPublic}:`), `${line}: on cellular the server sends to ${atCell}, not to the carrier NAT (${cellPublic})`);
        check(atWifi === `${wifiPublic}:${tunnel.mobileVpn.port}`, `${line}: back on Wi-Fi the server sends to ${atWifi}, not to the home NAT's mapping ${wifiPublic}:${tunnel.mobileVpn.port}`);
        check(mobileAtCell === serverPublic && mobileAtWifi === serverPublic, `${line}: the mobile sends to ${mobileAtCell} and ${mobileAtWifi}, not to the server's public address ${serverPublic}`);
      }
      assert.deepEqual(failures, []);
      assert.equal((await tunnel.serverVpn.peer('mobile'))?.state, 'ESTABLISHED');
    } finally {
      await mobility.teardown();
    }
  });
}
