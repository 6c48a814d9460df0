// Recovery behind NATs (issue 12): the laptop's Wi-Fi behind a port-preserving home NAT, its
// cellular behind a symmetric carrier NAT, the server behind its own router with the HIP port
// forwarded to it (seed 000 §5.1.3), no relay; a 100 packets/s stream each way through the tunnel.
// Break-before-make, HANDOVER_ROUNDS rounds (default 5) to cellular and back: the old uplink goes, the
// new one comes up 2 s later, and traffic flows both ways within 1 s of it. Then, on cellular alone, the
// carrier NAT forgets every mapping (`conntrack -F`) while traffic flows, so the mobile's next
// packet leaves from a new public port: traffic both ways within 1 s. Needs root.
//
//   node --import tsx --test test/system/handover-nat-recovery.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMeasurement, measureHandover, type HandoverMeasurement } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import { forgetMappings } from '../../lab/nat.js';
import { MobilityLab, startMobilityHipvpn } from '../../lab/scenarios.js';

const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 5);
/** Issue 12: traffic again within this long after the new uplink is up, or after the NAT flush. */
const RECOVER_MS = 1_000;
/** Break-before-make: how long the laptop has no uplink at all. */
const NO_UPLINK_MS = 2_000;
/** After the new uplink is up: time for the server to follow before the round turns back. */
const SETTLE_MS = 1_000;
/** Rounds of `conntrack -F`: each is quick, and a second flush shows the first left nothing stale. */
const FLUSHES = 3;
const FLUSH_INTERVAL_MS = 1_500;

test(`behind a home NAT and a carrier NAT, port-forwarded server: break-before-make to cellular and back, ${ROUNDS} rounds, traffic within ${RECOVER_MS} ms of the new uplink; conntrack -F on the carrier NAT under traffic, back within ${RECOVER_MS} ms`, { timeout: 90_000 + ROUNDS * 30_000 }, async () => {
  const mobility = await MobilityLab.create({ cell0: 'down', mobileBehindNats: true, server: 'port-forwarded' });
  try {
    const tunnel = await startMobilityHipvpn(mobility, { initiator: 'mobile' });
    const serverSees = async (): Promise<string> => {
      const peer = await tunnel.serverVpn.peer('mobile');
      return `${peer?.remote?.address ?? '?'}:${peer?.remote?.port ?? '?'}`;
    };
    const failures: string[] = [];
    const check = (ok: boolean, what: string): void => {
      if (!ok) failures.push(what);
    };
    const measure = (step: (mark: (name: string) => void) => Promise<void>): Promise<HandoverMeasurement> =>
      // No TCP: after a 2 s outage its retransmission back-off, not the tunnel, decides when it resumes.
      measureHandover(tunnel, step, { recoverWithinMs: 10_000, tcp: false });
    const cellPublic = mobility.cellRouter.address('up0');
    const wifiPublic = mobility.wifiRouter.address('up0');
    for (let round = 1; round <= ROUNDS; round++) {
      // One measurement per round (the stream's tools start once): Wi-Fi goes, cellular comes up
      // NO_UPLINK_MS later; once the server follows, cellular goes and Wi-Fi comes back.
      let atCell = '';
      const result = await measure(async (mark) => {
        await mobility.wifi.cutLink('down');
        mark('wifi0 down');
        await sleep(NO_UPLINK_MS);
        await mobility.cell.restore();
        mark('cell0 up');
        await sleep(SETTLE_MS);
        atCell = await serverSees();
        await mobility.cell.cutLink('down');
        mark('cell0 down');
        await sleep(NO_UPLINK_MS);
        await mobility.wifi.restore();
        mark('wifi0 up');
      });
      const atWifi = await serverSees();
      const toCell = result.resumeAfter('cell0 up');
      const toWifi = result.resumeAfter('wifi0 up');
      const line = `break-before-make round ${round}: traffic again ${toCell?.toFixed(0) ?? 'never'} ms after cell0 up and ${toWifi?.toFixed(0) ?? 'never'} ms after wifi0 up; ${describeMeasurement(result)}; server sent to ${atCell}, then ${atWifi}`;
      console.log(`# ${line}`);
      check(toCell !== null && toCell <= RECOVER_MS && toWifi !== null && toWifi <= RECOVER_MS, line);
      check(atCell.startsWith(`${cellPublic}:`) && atWifi.startsWith(`${wifiPublic}:`), `${line}: not to ${cellPublic}, then ${wifiPublic}`);
    }

    // On cellular alone: the carrier NAT's mappings are the only way back to the laptop.
    await mobility.cell.restore();
    await sleep(2_000);
    await mobility.wifi.cutLink('down');
    await sleep(1_000);
    // One measurement for all the flushes, a second apart: the longest delivery gap in it
    // counts (the flush command itself takes up to 150 ms, so what came after it returned is not enough).
    const seen = [await serverSees()];
    const result = await measure(async (mark) => {
      for (let flush = 1; flush <= FLUSHES; flush++) {
        await forgetMappings(mobility.cellRouter);
        mark(`conntrack -F ${flush}`);
        await sleep(FLUSH_INTERVAL_MS);
        seen.push(await serverSees());
      }
    });
    const line = `conntrack -F ${FLUSHES} times under traffic: ${describeMeasurement(result)}; the server sent to ${seen.join(', then ')}`;
    console.log(`# ${line}`);
    check(result.gapMs !== null && result.gapMs <= RECOVER_MS, line);
    // Each flush took: the mobile's traffic left from a new port of the carrier NAT, and the server followed.
    check(seen.every((at, i) => at.startsWith(`${cellPublic}:`) && (i === 0 || at !== seen[i - 1])), `${line}: the server did not follow each new mapping`);
    assert.deepEqual(failures, []);
    assert.equal((await tunnel.serverVpn.peer('mobile'))?.state, 'ESTABLISHED');
  } finally {
    await mobility.teardown();
  }
});
