// iperf3 between two lab hosts, with the numbers taken from its JSON report.

import type { Host } from './host.js';

export interface IperfOptions {
  readonly seconds: number;
  /** UDP at this offered rate instead of TCP. */
  readonly udpMbit?: number;
  /** UDP datagram size (default: iperf3's, path MTU based). */
  readonly udpLength?: number;
  readonly port?: number;
  /** Start the measurement after this many seconds (TCP slow start, BEX on first packet). */
  readonly omitSeconds?: number;
  /** Both directions at once (`--bidir`): the result's `reverse` is the server's stream to the client. */
  readonly bidir?: boolean;
  /** The client's (first) source port (`--cport`); parallel streams take the ports after it. */
  readonly clientPort?: number;
  /** Parallel streams (`-P`); the result sums them. */
  readonly parallel?: number;
}

export interface IperfResult {
  /** Goodput the receiver saw. */
  readonly mbps: number;
  readonly bytes: number;
  /** UDP only: share of datagrams lost, in percent. */
  readonly lostPercent?: number;
  /** TCP only: sender retransmissions. */
  readonly retransmits?: number;
  /** What the sender sent (bytes handed to its socket). */
  readonly sentBytes?: number;
  /** With `bidir`: the server-to-client stream. */
  readonly reverse?: { readonly bytes: number; readonly sentBytes: number };
}

let nextPort = 5201;

/** Run iperf3 from `client` to `target` (an address of `server`). */
export async function iperf(client: Host, server: Host, target: string, options: IperfOptions): Promise<IperfResult> {
  const port = options.port ?? nextPort++;
  const daemon = server.spawn('iperf3', ['-s', '-1', '--forceflush', '-p', String(port)], { label: `${server.name}:iperf3-server` });
  try {
    await daemon.waitForLine(/Server listening/, 10_000);
    const args = ['-c', target, '-p', String(port), '-t', String(options.seconds), '-J'];
    if (options.omitSeconds) args.push('-O', String(options.omitSeconds));
    if (options.udpMbit !== undefined) args.push('-u', '-b', `${options.udpMbit}M`);
    if (options.udpLength !== undefined) args.push('-l', String(options.udpLength));
    if (options.bidir) args.push('--bidir');
    if (options.clientPort !== undefined) args.push('--cport', String(options.clientPort));
    if (options.parallel !== undefined) args.push('-P', String(options.parallel));
    const result = await client.exec('iperf3', args, {
      allowFailure: true,
      timeoutMs: (options.seconds + (options.omitSeconds ?? 0) + 20) * 1000,
    });
    return parseIperfReport(result.stdout, options.udpMbit !== undefined);
  } finally {
    await daemon.stop(1_000);
  }
}

interface IperfSum {
  bytes?: number;
  bits_per_second?: number;
  lost_percent?: number;
  retransmits?: number;
}

interface IperfJson {
  error?: string;
  end?: { sum_received?: IperfSum; sum_sent?: IperfSum; sum?: IperfSum; sum_sent_bidir_reverse?: IperfSum; sum_received_bidir_reverse?: IperfSum };
}

export function parseIperfReport(stdout: string, udp: boolean): IperfResult {
  let report: IperfJson;
  try {
    report = JSON.parse(stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 printed no JSON report:\n${stdout.slice(0, 500)}`);
  }
  if (report.error) throw new Error(`iperf3: ${report.error}`);
  const end = report.end ?? {};
  const sentBytes = end.sum_sent?.bytes;
  const reverse = end.sum_sent_bidir_reverse && end.sum_received_bidir_reverse
    ? { bytes: end.sum_received_bidir_reverse.bytes ?? 0, sentBytes: end.sum_sent_bidir_reverse.bytes ?? 0 }
    : undefined;
  const extra = { ...(sentBytes !== undefined ? { sentBytes } : {}), ...(reverse ? { reverse } : {}) };
  if (udp) {
    // iperf3 3.12 puts the receiver's view of UDP into `sum`; later versions add sum_received.
    const received = end.sum_received ?? end.sum;
    const lost = end.sum?.lost_percent ?? end.sum_received?.lost_percent;
    if (!received?.bits_per_second) throw new Error('iperf3 UDP report has no received sum');
    return { mbps: received.bits_per_second / 1e6, bytes: received.bytes ?? 0, lostPercent: lost ?? 0, ...extra };
  }
  const received = end.sum_received;
  if (!received?.bits_per_second) throw new Error('iperf3 TCP report has no received sum');
  return { mbps: received.bits_per_second / 1e6, bytes: received.bytes ?? 0, retransmits: end.sum_sent?.retransmits ?? 0, ...extra };
}
