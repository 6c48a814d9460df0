// Recovery behind NATs (issue 12): the laptop's Wi-Fi behind a port-preserving home NAT, its
// cellular behind a symmetric carrier NAT, the server behind its own router with the HIP port
// forwarded to it (seed 000 §5.1.3), no relay; a 100 packets/s stream each way through the tunnel.
// Break-before-make, HANDOVER_ROUNDS rounds each way (default 5): the old uplink goes, the new one
// comes up 2 s later, and traffic flows both ways within 1 s of it. Then, on cellular alone, the
// carrier NAT forgets every mapping (`conntrack -F`) while traffic flows, so the mobile's next
// packet leaves from a new public port: traffic both ways within 1 s. Needs root.
//
//   node --import tsx --test test/system/handover-nat-recovery.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMeasurement, measureHandover, type HandoverMeasurement } from '../../lab/handover.js';
import { sleep } from '../../lab/hipvpn.js';
import type { LinkEnd } from '../../lab/link.js';
import { forgetMappings } from '../../lab/nat.js';
import { MobilityLab, startMobilityHipvpn } from '../../lab/scenarios.js';

const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 5);
/** Issue 12: traffic again within this long after the new uplink is up, or after the NAT flush. */
const RECOVER_MS = 1_000;
/** Break-before-make: how long the laptop has no uplink at all. */
const NO_UPLINK_MS = 2_000;
/** Rounds of `conntrack -F`: each is quick, and a second flush shows the first left nothing stale. */
const FLUSHES = 3;

test(`behind a home NAT and a carrier NAT, port-forwarded server: break-before-make ${ROUNDS} rounds each way, traffic within ${RECOVER_MS} ms of the new uplink; conntrack -F on the carrier NAT under traffic, back within ${RECOVER_MS} ms`, { timeout: 90_000 + ROUNDS * 40_000 }, async () => {
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
    const breakBeforeMake = (down: LinkEnd, up: LinkEnd): Promise<HandoverMeasurement> =>
      measure(async (mark) => {
        await down.cutLink('down');
        mark(`${down.ifname} down`);
        await sleep(NO_UPLINK_MS);
        await up.restore();
        mark(`${up.ifname} up`);
      });

    const cellPublic = mobility.cellRouter.address('up0');
    const wifiPublic = mobility.wifiRouter.address('up0');
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [down, up, publicAddress] of [[mobility.wifi, mobility.cell, cellPublic], [mobility.cell, mobility.wifi, wifiPublic]] as const) {
        const result = await breakBeforeMake(down, up);
        const resumed = result.resumeAfter(`${up.ifname} up`);
        const sees = await serverSees();
        const line = `break-before-make round ${round}, ${down.ifname} to ${up.ifname}: traffic again ${resumed?.toFixed(0) ?? 'never'} ms after ${up.ifname} up; ${describeMeasurement(result)}; server sends to ${sees}`;
        console.log(`# ${line}`);
        check(resumed !== null && resumed <= RECOVER_MS, line);
        check(sees.startsWith(`${publicAddress}:`), `${line}: not to ${publicAddress}`);
      }
    }

    // On cellular alone: the carrier NAT's mappings are the only way back to the laptop.
    await mobility.cell.restore();
    await sleep(2_000);
    await mobility.wifi.cutLink('down');
    await sleep(1_000);
    for (let flush = 1; flush <= FLUSHES; flush++) {
      const before = await serverSees();
      const result = await measure(async (mark) => {
        await forgetMappings(mobility.cellRouter);
        mark('conntrack -F');
      });
      const resumed = result.resumeAfter('conntrack -F');
      const after = await serverSees();
      const line = `conntrack -F ${flush}: traffic again ${resumed?.toFixed(0) ?? 'never'} ms after the flush; ${describeMeasurement(result)}; server sent to ${before}, then to ${after}`;
      console.log(`# ${line}`);
      // The flush command itself takes a while, so the whole delivery gap counts, not only what came after it returned.
      check(result.gapMs !== null && result.gapMs <= RECOVER_MS, line);
      // The flush took: the mobile's traffic leaves from a new port of the carrier NAT, and the server follows.
      check(after.startsWith(`${cellPublic}:`) && after !== before, `${line}: the server did not follow the carrier NAT's new mapping`);
    }
    assert.deepEqual(failures, []);
    assert.equal((await tunnel.serverVpn.peer('mobile'))?.state, 'ESTABLISHED');
  } finally {
    await mobility.teardown();
  }
});
