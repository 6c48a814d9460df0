// Measuring a handover: a 100 packets/s UDP stream each way and a long TCP transfer run through
// a tunnel between the mobile host and the server while a scenario step happens; the result says
// how long delivery stopped, what was lost, and whether the TCP connection lived through it.
//
//   const result = await measureHandover(path, async (mark) => {
//     await mobility.takeDownWifi();
//     await sleep(2_000);
//     await mobility.bringUpCell();
//     mark('cell0 up');
//   });
//   result.gapMs; result.lost; result.tcpSurvived; result.resumeAfter('cell0 up');

import { REPO_ROOT, sleep } from './hipvpn.js';
import type { Host } from './host.js';
import type { LabProcess } from './process.js';
import { epochMs, type ArrivalGap, type StreamReport } from './stream-analysis.js';
import { toolArgs } from './tool-command.js';

/** Where each end of the stream listens (the mobile sends to the server's, the server to the mobile's). */
export const STREAM_PORT = 7100;
const TCP_PORT = 7200;
const TOOL_START_MS = 20_000;

/** A path through a tunnel (or plain routing) between the two hosts, as applications see it. */
export interface PathUnderTest {
  /** What carries the traffic: hipvpn, wireguard-go, plain routing. */
  readonly label: string;
  readonly mobile: Host;
  readonly server: Host;
  /** The server's address as the mobile sends to it (an LSI, a tunnel address). */
  readonly serverAddress: string;
  /**
   * The mobile's address as the server sends to it; null measures the mobile → server direction
   * only (plain routing, where the server cannot follow the mobile's address).
   */
  readonly mobileAddress: string | null;
}

/** Records that something happened now, under a name, for resumeAfter(). */
export type Mark = (name: string) => void;
export type HandoverStep = (mark: Mark) => Promise<void>;

export interface HandoverOptions {
  /** UDP packets per second each way (default 100). */
  readonly rate?: number;
  /** Traffic before the step; it must flow by then or the measurement refuses (default 1,500 ms). */
  readonly warmupMs?: number;
  /** After the step, how long to wait for delivery to resume (default 30,000 ms). */
  readonly recoverWithinMs?: number;
  /** Traffic kept up after recovery, so a relapse shows (default 1,000 ms). */
  readonly afterMs?: number;
  /** Run the TCP transfer alongside (default true). */
  readonly tcp?: boolean;
  /** Pace of the TCP transfer (default 1 MB/s). */
  readonly tcpBytesPerSecond?: number;
  /** Called while the measurement runs, for progress output. */
  readonly log?: (line: string) => void;
}

export interface DirectionResult {
  /** "mobile -> server" or "server -> mobile". */
  readonly direction: string;
  /** Packets sent from the start of the step on. */
  readonly sent: number;
  /** Of those, how many never arrived. */
  readonly lost: number;
  /** Did a packet sent after the step ended arrive within recoverWithinMs? */
  readonly recovered: boolean;
  /** The longest stretch without delivery that ended after the step began. */
  readonly gap: ArrivalGap | null;
  readonly report: StreamReport;
}

export interface TcpResult {
  readonly sentBytes: number | null;
  readonly receivedBytes: number | null;
  /** Both ends finished cleanly with the same byte count and SHA-256. */
  readonly intact: boolean;
  /** The longest time the receiver's byte count stood still after the step began. */
  readonly longestStallMs: number;
  readonly error?: string;
}

export interface HandoverMeasurement {
  readonly label: string;
  /** Delivery gap in ms (the worse direction); null when delivery did not resume in time. */
  readonly gapMs: number | null;
  /** Packets lost in both directions from the step on. */
  readonly lost: number;
  /** null when no TCP transfer ran. */
  readonly tcpSurvived: boolean | null;
  readonly recovered: boolean;
  readonly stepStartMs: number;
  readonly stepEndMs: number;
  readonly marks: Readonly<Record<string, number>>;
  readonly directions: readonly DirectionResult[];
  readonly tcp: TcpResult | null;
  /**
   * How long after the named mark delivery was flowing again in every direction (0 when it
   * never stopped at that moment); null when some direction did not recover.
   */
  resumeAfter(markName: string): number | null;
}

/** The measurement could not be made (no traffic before the step, a tool died): not a result. */
export class HandoverHarnessError extends Error {
  override name = 'HandoverHarnessError';
}

interface StreamEnd {
  readonly host: Host;
  readonly process: LabProcess;
  readonly direction: string;
}

interface Progress {
  received: number;
  newestSentAtMs: number | null;
}

function lastJson<T>(process: LabProcess, prefix: string): T | undefined {
  for (let i = process.lines.length - 1; i >= 0; i--) {
    const line = process.lines[i]!;
    if (line.startsWith(`${prefix} `)) return JSON.parse(line.slice(prefix.length + 1)) as T;
  }
  return undefined;
}

/** `lab/tools/<tool>.ts` run by node on `host`. */
function nodeTool(host: Host, tool: string, args: readonly string[], label: string, stdin = false): LabProcess {
  return host.spawn(process.execPath, toolArgs(tool, args), { cwd: REPO_ROOT, label: `${host.name}:${label}`, stdin });
}

/** Run the stream (and TCP transfer) over `path`, perform `step`, and measure what it did to them. */
export async function measureHandover(path: PathUnderTest, step: HandoverStep, options: HandoverOptions = {}): Promise<HandoverMeasurement> {
  const rate = options.rate ?? 100;
  const warmupMs = options.warmupMs ?? 1_500;
  const recoverWithinMs = options.recoverWithinMs ?? 30_000;
  const afterMs = options.afterMs ?? 1_000;
  const withTcp = options.tcp ?? true;
  const log = options.log ?? (() => {});
  const started: LabProcess[] = [];

  try {
    // The stream: one process per host, each receiving the other's packets.
    const streamArgs = (to: string | null): string[] => [
      '--listen', String(STREAM_PORT), '--rate', String(rate),
      ...(to === null ? [] : ['--to', to, '--port', String(STREAM_PORT)]),
    ];
    const atMobile = nodeTool(path.mobile, 'udp-stream', streamArgs(path.serverAddress), 'udp-stream', true);
    const atServer = nodeTool(path.server, 'udp-stream', streamArgs(path.mobileAddress), 'udp-stream', true);
    started.push(atMobile, atServer);
    const receivers: StreamEnd[] = [{ host: path.server, process: atServer, direction: 'mobile -> server' }];
    if (path.mobileAddress !== null) receivers.push({ host: path.mobile, process: atMobile, direction: 'server -> mobile' });

    let sink: LabProcess | undefined;
    let source: LabProcess | undefined;
    if (withTcp) {
      sink = nodeTool(path.server, 'tcp-transfer', ['sink', '--port', String(TCP_PORT), '--progress-ms', '50'], 'tcp-sink');
      started.push(sink);
    }
    await Promise.all([atMobile, atServer, ...(sink ? [sink] : [])].map((p) => p.waitForLine(/^listening/, TOOL_START_MS)));
    if (withTcp) {
      source = nodeTool(
        path.mobile,
        'tcp-transfer',
        ['source', '--host', path.serverAddress, '--port', String(TCP_PORT), '--rate', String(options.tcpBytesPerSecond ?? 1_000_000)],
        'tcp-source',
      );
      started.push(source);
      await source.waitForLine(/^connected/, TOOL_START_MS).catch((error: Error) => {
        throw new HandoverHarnessError(`TCP through ${path.label} did not connect before the step: ${error.message}`);
      });
    }
    atMobile.send('send');
    atServer.send('send');
    await sleep(warmupMs);
    assertFlowing(path, receivers, sink, rate, warmupMs);

    // The step, with the stream marked at its start.
    const stepStartMs = epochMs();
    for (const p of [atMobile, atServer]) p.send(`mark ${stepStartMs}`);
    const marks: Record<string, number> = {};
    log(`${path.label}: step starts`);
    await step((name) => {
      marks[name] = epochMs();
      log(`${path.label}: ${name} at +${(marks[name] - stepStartMs).toFixed(0)} ms`);
    });
    const stepEndMs = epochMs();

    const recovered = await waitForRecovery(receivers, stepEndMs, recoverWithinMs);
    log(`${path.label}: ${[...recovered.values()].every(Boolean) ? 'recovered' : 'not recovered'} ${((epochMs() - stepEndMs) / 1000).toFixed(1)} s after the step`);
    if ([...recovered.values()].every(Boolean)) await sleep(afterMs);

    // Stop sending, let the last packets land, collect.
    atMobile.send('stop');
    atServer.send('stop');
    await Promise.all([atMobile, atServer].map((p) => p.waitForLine(/^sent /, 5_000)));
    await sleep(300);
    atMobile.send('report');
    atServer.send('report');
    await Promise.all([atMobile, atServer].map((p) => p.waitForLine(/^report /, 5_000)));

    const senderOf = (receiver: StreamEnd): LabProcess => (receiver.process === atServer ? atMobile : atServer);
    const directions = receivers.map((receiver): DirectionResult => {
      const report = lastJson<{ receive: StreamReport }>(receiver.process, 'report')!.receive;
      const sent = lastJson<{ sentSinceMark: number }>(senderOf(receiver), 'sent')!.sentSinceMark;
      const marked = report.sinceMark;
      return {
        direction: receiver.direction,
        sent,
        lost: Math.max(0, sent - (marked?.received ?? 0)),
        recovered: recovered.get(receiver) ?? false,
        gap: marked?.largestGap ?? null,
        report,
      };
    });
    const allRecovered = directions.every((d) => d.recovered);
    const outageMs = Math.max(...directions.map((d) => d.gap?.ms ?? 0));
    const tcp = source && sink ? await finishTcp(source, sink, stepStartMs, allRecovered, outageMs) : null;

    return {
      label: path.label,
      gapMs: allRecovered ? outageMs : null,
      lost: directions.reduce((sum, d) => sum + d.lost, 0),
      tcpSurvived: tcp ? tcp.intact : null,
      recovered: allRecovered,
      stepStartMs,
      stepEndMs,
      marks,
      directions,
      tcp,
      resumeAfter(markName: string): number | null {
        const at = marks[markName];
        if (at === undefined) throw new Error(`no mark named ${markName} (marks: ${Object.keys(marks).join(', ') || 'none'})`);
        if (!allRecovered) return null;
        return Math.max(...directions.map((d) => resumeAfterInstant(d.report, at)));
      },
    };
  } finally {
    await Promise.all(started.map((p) => p.stop(1_000)));
  }
}

/** Refuse to measure a handover on a path that was not carrying traffic before it. */
function assertFlowing(path: PathUnderTest, receivers: readonly StreamEnd[], sink: LabProcess | undefined, rate: number, warmupMs: number): void {
  // Half the packets of the warm-up is plenty for "flowing" and tolerant of a slow tool start.
  const expected = Math.floor((rate * warmupMs) / 1000 / 2);
  for (const receiver of receivers) {
    const progress = lastJson<Progress>(receiver.process, 'progress');
    if ((progress?.received ?? 0) < expected) {
      throw new HandoverHarnessError(
        `no traffic ${receiver.direction} through ${path.label} before the step: ${progress?.received ?? 0} packets in ${warmupMs} ms, expected at least ${expected}\n${receiver.process.tail(5)}`,
      );
    }
  }
  if (sink) {
    const progress = lastJson<{ bytes: number }>(sink, 'progress');
    if ((progress?.bytes ?? 0) === 0) throw new HandoverHarnessError(`the TCP transfer through ${path.label} carried nothing before the step\n${sink.tail(5)}`);
  }
}

/** Per direction: did a packet sent after `sinceMs` arrive before the deadline? */
async function waitForRecovery(receivers: readonly StreamEnd[], sinceMs: number, withinMs: number): Promise<Map<StreamEnd, boolean>> {
  const result = new Map<StreamEnd, boolean>();
  const deadline = epochMs() + withinMs;
  for (;;) {
    for (const receiver of receivers) {
      const progress = lastJson<Progress>(receiver.process, 'progress');
      result.set(receiver, (progress?.newestSentAtMs ?? 0) > sinceMs);
    }
    if ([...result.values()].every(Boolean) || epochMs() > deadline) return result;
    for (const receiver of receivers) {
      if (!receiver.process.running) throw new HandoverHarnessError(`udp-stream on ${receiver.host.name} died\n${receiver.process.tail()}`);
    }
    await sleep(50);
  }
}

/** When, after `atMs`, delivery was flowing again: 0 if no gap spans that instant. */
function resumeAfterInstant(report: StreamReport, atMs: number): number {
  const spanning = report.gaps.find((gap) => gap.fromMs <= atMs && gap.toMs > atMs);
  return spanning ? spanning.toMs - atMs : 0;
}

interface TransferReport {
  bytes: number;
  sha256: string;
}

async function finishTcp(source: LabProcess, sink: LabProcess, stepStartMs: number, recovered: boolean, outageMs: number): Promise<TcpResult> {
  source.signal('SIGTERM');
  // After an outage TCP retransmits on an exponential back-off, so its next try may come about
  // as long after the outage as the outage lasted: give it that, twice, and a margin.
  const waitMs = recovered ? Math.min(30_000, 5_000 + 2 * outageMs) : 2_000;
  const [sent, received] = await Promise.all([
    source.waitForLine(/^\{/, waitMs).then((line) => JSON.parse(line) as TransferReport, () => null),
    sink.waitForLine(/^\{/, waitMs).then((line) => JSON.parse(line) as TransferReport, () => null),
  ]);
  const intact = sent !== null && received !== null && sent.bytes === received.bytes && sent.sha256 === received.sha256;
  const error = [source, sink].flatMap((p) => p.lines.filter((line) => /^(source|sink): /.test(line))).join('; ');
  return {
    sentBytes: sent?.bytes ?? null,
    receivedBytes: received?.bytes ?? null,
    intact,
    longestStallMs: longestStall(sink, stepStartMs),
    ...(error ? { error } : {}),
  };
}

/** The longest time the sink's byte count did not move, from the step on (progress lines). */
function longestStall(sink: LabProcess, sinceMs: number): number {
  let longest = 0;
  let lastChange: { bytes: number; atMs: number } | undefined;
  for (const line of sink.lines) {
    if (!line.startsWith('progress ')) continue;
    const progress = JSON.parse(line.slice('progress '.length)) as { bytes: number; atMs: number };
    if (lastChange === undefined || progress.bytes !== lastChange.bytes) {
      lastChange = progress;
    } else if (progress.atMs >= sinceMs) {
      // Still standing: the stall so far, counted from the step at the earliest.
      longest = Math.max(longest, progress.atMs - Math.max(lastChange.atMs, sinceMs));
    }
  }
  return longest;
}

/** One line for an assertion message: the gap, each direction's count, what TCP went through. */
export function describeMeasurement(result: HandoverMeasurement): string {
  const directions = result.directions.map((d) => `${d.direction}: sent ${d.sent}, lost ${d.lost}`).join('; ');
  const tcp = result.tcp ? `TCP ${result.tcp.intact ? 'intact' : 'broken'}, longest stall ${result.tcp.longestStallMs.toFixed(0)} ms` : 'no TCP';
  const gap = result.recovered ? `gap ${result.gapMs?.toFixed(0)} ms` : 'not recovered';
  const marks = Object.entries(result.marks).map(([name, at]) => `${name} at +${(at - result.stepStartMs).toFixed(0)} ms`).join(', ');
  return `${gap}; ${directions}; ${tcp}${marks ? `; ${marks}` : ''}`;
}
