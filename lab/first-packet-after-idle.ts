// Recovery of the first packet after an idle spell, when the path the tunnel used went away
// while nobody was sending: the Wi-Fi access router stops forwarding, answering with ICMP host
// unreachable ('reject') or saying nothing ('drop', ICMP filtered out). The mobile then pings
// the server through the tunnel every 10 ms; the time from the first ping to the first echo
// that came back is the recovery a user notices. Shared by the system test and bench:handover.

import { sleep } from './hipvpn.js';
import type { MobilityLab } from './mobility.js';
import type { MobilityTunnel } from './scenarios.js';

/** Long enough that failure detection has nothing fresh to go on, well short of the keepalive. */
export const IDLE_MS = 5_000;
const PING_INTERVAL_MS = 10;

export interface FirstPacketResult {
  readonly refusal: 'reject' | 'drop';
  /** From the first ping after the idle spell to the first echo back; null: none within `withinMs`. */
  readonly recoveryMs: number | null;
  /** The first ping answered (1 is the first sent). */
  readonly firstAnsweredSeq: number | null;
}

/**
 * cell0 must be up and known to the tunnel; wifi0 carries the traffic. Leaves the Wi-Fi path
 * refused: `mobility.reset()` (or `refuseWifiPath(null)`) undoes it.
 */
export async function measureFirstPacketAfterIdle(
  mobility: MobilityLab, tunnel: MobilityTunnel, refusal: 'reject' | 'drop', options: { idleMs?: number; withinMs?: number } = {},
): Promise<FirstPacketResult> {
  const withinMs = options.withinMs ?? 10_000;
  const warm = await mobility.mobile.exec('ping', ['-q', '-n', '-c', '3', '-i', '0.2', '-W', '1', tunnel.serverAddress], { allowFailure: true });
  if (!/ 0% packet loss/.test(warm.stdout)) throw new Error(`the tunnel does not carry pings before the idle spell:\n${warm.stdout}`);
  await sleep(options.idleMs ?? IDLE_MS);
  await mobility.refuseWifiPath(refusal);
  const count = Math.ceil(withinMs / PING_INTERVAL_MS);
  const ping = mobility.mobile.spawn('ping', ['-n', '-c', String(count), '-i', String(PING_INTERVAL_MS / 1000), '-W', '2', tunnel.serverAddress], {
    label: `mobile:ping-after-idle-${refusal}`,
  });
  try {
    const line = await ping.waitForLine(/icmp_seq=\d+ ttl=\d+ time=/, withinMs + 5_000).catch(() => null);
    const m = line === null ? null : /icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms/.exec(line);
    if (m === null) return { refusal, recoveryMs: null, firstAnsweredSeq: null };
    const seq = Number(m[1]);
    // Sent (seq − 1) intervals after the first ping, answered its round-trip time later.
    return { refusal, recoveryMs: (seq - 1) * PING_INTERVAL_MS + Number(m[2]), firstAnsweredSeq: seq };
  } finally {
    await ping.stop(500);
  }
}
