// A paced UDP stream, run inside lab hosts to measure handovers: it sends sequence-numbered,
// timestamped datagrams at a fixed rate and/or receives such a stream and reports what arrived.
// One process does both directions of a host (one process per host keeps CPU use down on small
// CI machines). It is driven by commands on stdin, one per line:
//
//   send        start sending (to --to, --port) at --rate packets/s
//   mark MS     count from epoch time MS on: packets sent from then, gaps ending after it
//   stop        stop sending; prints `sent {"sent":…,"sentSinceMark":…,"sendErrors":…}`
//   report      prints `report {…, "receive": StreamReport}` and exits (so does SIGTERM)
//
//   node --import tsx lab/tools/udp-stream.ts --listen 7100 --to 1.0.0.2 --port 7100 [--rate 100] [--size 200]
//
// It also prints `listening PORT` once bound and, while receiving,
// `progress {"received":…,"newestSentAtMs":…,"lastArrivalMs":…}` every 100 ms.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RECENT_PACKETS, StreamReceiver, decodeStreamPacket, encodeStreamPacket, epochMs } from '../stream-analysis.js';

const PROGRESS_INTERVAL_MS = 100;

interface SendSummary {
  sent: number;
  sentSinceMark: number;
  sendErrors: number;
  lastError?: string;
}

class PacedSender {
  private sent = 0;
  private sentSinceMark = 0;
  private markMs = Number.POSITIVE_INFINITY;
  private readonly recentSentAt: number[] = [];
  private sendErrors = 0;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private running = false;
  private readonly socket: Socket;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly periodMs: number,
    private readonly size: number,
  ) {
    this.socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    // Errors of an unconnected UDP socket (ICMP unreachable, no route) are per packet: count them.
    this.socket.on('error', (error) => this.countError(error));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAt = epochMs();
    this.tick();
  }

  mark(markMs: number): void {
    this.markMs = markMs;
    // Packets sent between the instant and this command reaching us count, as they do at the receiver.
    this.sentSinceMark = this.recentSentAt.filter((t) => t >= markMs).length;
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  summary(): SendSummary {
    return {
      sent: this.sent,
      sentSinceMark: this.sentSinceMark,
      sendErrors: this.sendErrors,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Send every packet that is due by now, then sleep until the next one is. */
  private tick(): void {
    if (!this.running) return;
    const now = epochMs();
    while (this.startedAt + this.sent * this.periodMs <= now) {
      const sentAt = epochMs();
      this.socket.send(encodeStreamPacket(this.sent, sentAt, this.size), this.port, this.host, (error) => {
        if (error) this.countError(error);
      });
      this.sent++;
      if (sentAt >= this.markMs) this.sentSinceMark++;
      this.recentSentAt.push(sentAt);
      if (this.recentSentAt.length > RECENT_PACKETS) this.recentSentAt.shift();
    }
    const nextDue = this.startedAt + this.sent * this.periodMs;
    this.timer = setTimeout(() => this.tick(), Math.max(0, nextDue - epochMs()));
  }

  private countError(error: Error): void {
    this.sendErrors++;
    this.lastError = error.message;
  }
}

function usage(): never {
  process.stderr.write('usage: udp-stream.ts [--listen PORT] [--to ADDR --port PORT] [--rate PACKETS/S] [--size BYTES]\n');
  process.exit(2);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      to: { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string', default: '100' },
      size: { type: 'string', default: '200' },
    },
  });
  const rate = Number(values.rate);
  const size = Number(values.size);
  if (!(rate > 0 && rate <= 10_000) || !(size >= 16 && size <= 1400)) usage();
  if ((!values.listen && !values.to) || (values.to && !values.port)) usage();
  const periodMs = 1000 / rate;
  const receiver = new StreamReceiver(3 * periodMs);
  const sender = values.to ? new PacedSender(values.to, Number(values.port), periodMs, size) : undefined;
  let progress: NodeJS.Timeout | undefined;

  const listener = values.listen ? createSocket({ type: 'udp6', ipv6Only: false }) : undefined;
  if (listener) {
    listener.on('message', (data) => {
      const arrivedAt = epochMs();
      const packet = decodeStreamPacket(data);
      if (packet) receiver.onPacket(packet.seq, packet.sentAtMs, arrivedAt);
    });
    listener.on('error', (error) => {
      process.stderr.write(`udp-stream: ${error.message}\n`);
      process.exit(1);
    });
    listener.bind(Number(values.listen), '::', () => {
      process.stdout.write(`listening ${values.listen}\n`);
      progress = setInterval(() => {
        const line = { received: receiver.received, newestSentAtMs: receiver.newestSentAt, lastArrivalMs: receiver.lastArrival };
        process.stdout.write(`progress ${JSON.stringify(line)}\n`);
      }, PROGRESS_INTERVAL_MS);
    });
  }

  const finish = (): void => {
    sender?.stop();
    if (progress) clearInterval(progress);
    const summary = sender?.summary() ?? { sent: 0, sentSinceMark: 0, sendErrors: 0 };
    process.stdout.write(`report ${JSON.stringify({ ...summary, receive: receiver.report() })}\n`, () => process.exit(0));
  };

  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const [command, argument] = line.trim().split(/\s+/);
    switch (command) {
      case 'send':
        sender?.start();
        break;
      case 'mark': {
        const markMs = Number(argument);
        if (!Number.isFinite(markMs)) return void process.stderr.write(`udp-stream: bad mark ${JSON.stringify(argument)}\n`);
        sender?.mark(markMs);
        receiver.mark(markMs);
        break;
      }
      case 'stop':
        sender?.stop();
        process.stdout.write(`sent ${JSON.stringify(sender?.summary() ?? { sent: 0, sentSinceMark: 0, sendErrors: 0 })}\n`);
        break;
      case 'report':
        finish();
        break;
      default:
        process.stderr.write(`udp-stream: unknown command ${JSON.stringify(line)}\n`);
    }
  });
  // Whoever drove us is gone: leave without a report.
  commands.on('close', () => process.exit(0));
  process.on('SIGTERM', finish);
}

main();
