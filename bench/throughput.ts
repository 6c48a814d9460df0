// Tunnel throughput: iperf3 TCP (and UDP at a fixed rate, for loss) between two network
// namespaces over the plain veth, through wireguard-go and through hipvpn — same namespaces,
// same run — with the CPU each took. The last line is the ratio the issue sets a target for.
// Needs root. Run: npm run bench:throughput
//
// Knobs: THROUGHPUT_SECONDS (TCP/UDP measuring time, default 5), THROUGHPUT_UDP_MBIT (default 200),
// THROUGHPUT_ONLY (comma list of plain,wireguard-go,hipvpn).

import { CpuMeter, type CpuUsage } from '../lab/cpu.js';
import { iperf, type IperfResult } from '../lab/iperf.js';
import type { Host } from '../lab/host.js';
import { startTunnel, twoHosts } from '../lab/scenarios.js';
import { startWireguard } from '../lab/wireguard.js';

const SECONDS = Number(process.env.THROUGHPUT_SECONDS ?? 5);
const UDP_MBIT = Number(process.env.THROUGHPUT_UDP_MBIT ?? 200);
/** Fits inside both tunnels' MTU (wireguard-go 1420, hipvpn 1400) without fragmenting. */
const UDP_LENGTH = 1200;
const ONLY = new Set((process.env.THROUGHPUT_ONLY ?? 'plain,wireguard-go,hipvpn').split(','));

interface Measurement {
  readonly tcp: IperfResult;
  readonly tcpCpu: CpuUsage;
  readonly udp: IperfResult;
}

/** TCP then UDP from `client` to `target`, CPU taken over the TCP run. */
async function measure(client: Host, server: Host, target: string, tunnelPids: readonly number[]): Promise<Measurement> {
  const meter = new CpuMeter(tunnelPids);
  const tcp = await iperf(client, server, target, { seconds: SECONDS, omitSeconds: 1 });
  const tcpCpu = meter.stop();
  const udp = await iperf(client, server, target, { seconds: Math.min(SECONDS, 3), udpMbit: UDP_MBIT, udpLength: UDP_LENGTH });
  return { tcp, tcpCpu, udp };
}

function line(name: string, m: Measurement, hasTunnelProcess: boolean): string {
  const tunnelCpu = hasTunnelProcess ? `${m.tcpCpu.processPercent.toFixed(0).padStart(4)}% of a core in the tunnel processes` : '';
  return (
    `${name.padEnd(13)} TCP ${m.tcp.mbps.toFixed(1).padStart(8)} Mbit/s (retransmits ${m.tcp.retransmits ?? 0}), ` +
    `CPU ${m.tcpCpu.systemPercent.toFixed(0).padStart(3)}% of ${m.tcpCpu.cores} cores${tunnelCpu ? `, ${tunnelCpu}` : ''}; ` +
    `UDP ${UDP_MBIT} Mbit/s offered: ${m.udp.mbps.toFixed(1)} Mbit/s received, ${(m.udp.lostPercent ?? 0).toFixed(2)}% lost`
  );
}

function pidsOf(processes: ReadonlyArray<{ pid: number | undefined }>): number[] {
  return processes.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
}

async function main(): Promise<number> {
  console.log(`throughput: iperf3 alice -> bob, TCP ${SECONDS} s, UDP ${UDP_MBIT} Mbit/s in ${UDP_LENGTH}-octet datagrams; same namespaces for all`);
  const { lab, alice, bob } = await twoHosts();
  const results = new Map<string, Measurement>();
  let failed = false;
  try {
    if (ONLY.has('plain')) {
      const m = await measure(alice, bob, bob.address('eth0'), []);
      results.set('plain', m);
      console.log(line('plain veth', m, false));
    }

    if (ONLY.has('wireguard-go')) {
      try {
        const wg = await startWireguard(lab, alice, bob, 'eth0');
        try {
          const m = await measure(alice, bob, wg.sides[1].innerAddress, pidsOf(wg.sides.map((side) => side.process)));
          results.set('wireguard-go', m);
          console.log(line('wireguard-go', m, true));
        } finally {
          await wg.stop();
        }
      } catch (error) {
        failed = true;
        console.log(`wireguard-go  failed: ${(error as Error).message}`);
      }
    }

    if (ONLY.has('hipvpn')) {
      try {
        const tunnel = await startTunnel(alice, bob);
        try {
          const peer = await tunnel.aliceVpn.peer(bob.name);
          if (!peer?.lsi) throw new Error('alice has no LSI for bob');
          const daemons = [tunnel.aliceVpn.daemon, tunnel.bobVpn.daemon].filter((d) => d !== undefined);
          const m = await measure(alice, bob, peer.lsi, pidsOf(daemons));
          results.set('hipvpn', m);
          console.log(line('hipvpn', m, true));
        } finally {
          await Promise.all([tunnel.aliceVpn.stop(), tunnel.bobVpn.stop()]);
        }
      } catch (error) {
        failed = true;
        console.log(`hipvpn        failed: ${(error as Error).message}`);
      }
    }
  } finally {
    await lab.teardown();
  }

  const hip = results.get('hipvpn');
  const wg = results.get('wireguard-go');
  if (hip && wg) {
    console.log(`throughput ratio hipvpn/wireguard-go: ${(hip.tcp.mbps / wg.tcp.mbps).toFixed(2)}`);
  } else {
    console.log('throughput ratio hipvpn/wireguard-go: n/a (see the failures above)');
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:throughput: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
