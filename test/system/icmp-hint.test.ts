// ICMP as a hint (seed 003 §3.3) in the mobility lab: after the tunnel has been idle, the Wi-Fi
// access router refuses the path it used, answering with ICMP host unreachable. The mobile's
// first pings after the idle spell must get through on cellular within a probe round trip or
// so, not after failure detection notices the silence (the same refusal with ICMP filtered out,
// measured alongside). Needs root.
//
//   node --import tsx --test test/system/icmp-hint.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureFirstPacketAfterIdle, type FirstPacketResult } from '../../lab/first-packet-after-idle.js';
import { sleep } from '../../lab/hipvpn.js';
import { KNOWN_UPLINK_SETTLE_MS } from '../../lab/handover-scenarios.js';
import { MobilityLab, startMobilityHipvpn } from '../../lab/scenarios.js';

/** The ICMP error and one probe round trip on cellular, with room for a loaded machine. */
const ICMP_RECOVERY_MS = 250;

test('after an idle spell, a router refusing the primary path with ICMP unreachable: the first packets get through on cellular at once', async () => {
  const mobility = await MobilityLab.create({ cell0: 'up' });
  try {
    const run = async (refusal: 'reject' | 'drop'): Promise<{ result: FirstPacketResult; hints: Record<string, number>; via: string | undefined; handovers: string[] }> => {
      await mobility.reset();
      const handovers: string[] = [];
      const tunnel = await startMobilityHipvpn(mobility, {
        onDaemonLine: (host, line) => {
          if (host === mobility.mobile.name && / handover /.test(line)) handovers.push(line);
        },
      });
      try {
        await sleep(KNOWN_UPLINK_SETTLE_MS); // cellular's pair is tested in the background
        const result = await measureFirstPacketAfterIdle(mobility, tunnel, refusal);
        const status = await tunnel.mobileVpn.status();
        const server = status.peers.find((p) => p.name === 'server');
        return { result, hints: status.counters.icmpHints ?? {}, via: server?.local?.address, handovers };
      } finally {
        await Promise.all([tunnel.mobileVpn.stop(), tunnel.serverVpn.stop()]);
      }
    };
    const rejected = await run('reject');
    const dropped = await run('drop');
    console.log(
      `first packet after idle: ICMP unreachable ${rejected.result.recoveryMs?.toFixed(0) ?? '-'} ms (seq ${rejected.result.firstAnsweredSeq}), ` +
        `ICMP filtered ${dropped.result.recoveryMs?.toFixed(0) ?? '-'} ms (seq ${dropped.result.firstAnsweredSeq}); hints ${JSON.stringify(rejected.hints)}`,
    );
    assert.ok(rejected.hints['icmp-hint']! >= 1, `the mobile acted on an ICMP hint: ${JSON.stringify(rejected.hints)}`);
    assert.equal(rejected.via, mobility.cell.address, 'the traffic is on cellular');
    assert.ok(rejected.result.recoveryMs !== null && rejected.result.recoveryMs <= ICMP_RECOVERY_MS, `recovered in ${rejected.result.recoveryMs} ms with ICMP unreachable (first answered ping ${rejected.result.firstAnsweredSeq}); the mobile's handovers: ${JSON.stringify(rejected.handovers)}`);
    assert.ok(dropped.result.recoveryMs !== null, 'with ICMP filtered, failure detection still recovers');
    assert.ok(rejected.result.recoveryMs < dropped.result.recoveryMs, 'the hint beats waiting for failure detection');
    assert.equal(dropped.hints['icmp-hint'] ?? 0, 0, 'no ICMP, no hint');
  } finally {
    await mobility.teardown();
  }
});
