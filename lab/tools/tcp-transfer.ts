// One TCP transfer, run inside lab hosts: `sink` receives and hashes, `source` sends
// deterministic pseudo-random bytes and hashes what it sent. Each prints one JSON line when done,
// so the test compares byte counts and SHA-256 without storing the data anywhere.
//
//   node --import tsx lab/tools/tcp-transfer.ts sink --port 7000
//   node --import tsx lab/tools/tcp-transfer.ts source --host 1.0.0.2 --port 7000 --bytes 52428800
//
// For a long-lived connection (handover measurements): `source --rate BYTES_PER_SECOND` sends at
// that pace until SIGTERM, then closes the connection and reports; `sink --progress-ms N` prints
// `progress {"bytes":…,"atMs":…}` every N ms, so stalls can be timed.

import { createCipheriv, createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

export interface TransferReport {
  readonly bytes: number;
  readonly sha256: string;
  readonly seconds: number;
}

const CHUNK = 64 * 1024;

/** Pseudo-random bytes from a seed: AES-CTR keystream, fast and reproducible. */
function keystream(seed: string): (length: number) => Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  return (length) => cipher.update(zeros.subarray(0, length));
}

function report(bytes: number, hash: ReturnType<typeof createHash>, started: number): void {
  const result: TransferReport = { bytes, sha256: hash.digest('hex'), seconds: (performance.now() - started) / 1000 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function sink(port: number, progressMs: number): void {
  const server = createServer((socket) => {
    server.close();
    const hash = createHash('sha256');
    let bytes = 0;
    const started = performance.now();
    const progress =
      progressMs > 0
        ? setInterval(() => process.stdout.write(`progress ${JSON.stringify({ bytes, atMs: performance.timeOrigin + performance.now() })}\n`), progressMs)
        : undefined;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.on('end', () => {
      if (progress) clearInterval(progress);
      report(bytes, hash, started);
      socket.end();
    });
    socket.on('error', (error) => {
      process.stderr.write(`sink: ${error.message}\n`);
      process.exitCode = 1;
    });
  });
  server.on('error', (error) => {
    process.stderr.write(`sink: ${error.message}\n`);
    process.exit(1);
  });
  // `::` accepts IPv4 too (dual stack), so one sink serves HIT and LSI transfers.
  server.listen(port, '::', () => process.stdout.write(`listening on ${port}\n`));
}

function source(host: string, port: number, total: number, seed: string): void {
  const next = keystream(seed);
  const hash = createHash('sha256');
  const started = performance.now();
  let sent = 0;
  const socket = connect({ host, port });
  const pump = (): void => {
    while (sent < total) {
      const chunk = next(Math.min(CHUNK, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  socket.on('connect', pump);
  socket.on('close', (hadError) => {
    if (!hadError) report(sent, hash, started);
  });
  socket.on('error', (error) => {
    process.stderr.write(`source: ${error.message}\n`);
    process.exitCode = 1;
  });
}

/** Send at `bytesPerSecond` until SIGTERM, then close the connection and report. */
function pacedSource(host: string, port: number, bytesPerSecond: number, seed: string): void {
  const next = keystream(seed);
  const hash = createHash('sha256');
  const started = performance.now();
  const tickMs = 10;
  let sent = 0;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const socket = connect({ host, port });
  const pump = (): void => {
    if (stopping) return;
    const due = Math.floor(((performance.now() - started) / 1000) * bytesPerSecond);
    // Only what the socket takes without queueing: a stalled connection must not pile up data
    // in this process that would then be reported as sent.
    while (sent < due && socket.writableLength < CHUNK) {
      const chunk = next(Math.min(CHUNK, due - sent));
      hash.update(chunk);
      sent += chunk.length;
      socket.write(chunk);
    }
    timer = setTimeout(pump, tickMs);
  };
  socket.on('connect', () => {
    process.stdout.write('connected\n');
    pump();
  });
  socket.on('close', (hadError) => {
    if (!hadError && stopping) report(sent, hash, started);
  });
  socket.on('error', (error) => {
    process.stderr.write(`source: ${error.message}\n`);
    process.exitCode = 1;
  });
  process.on('SIGTERM', () => {
    stopping = true;
    if (timer) clearTimeout(timer);
    socket.end();
  });
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '7000' },
      bytes: { type: 'string', default: String(50 * 1024 * 1024) },
      seed: { type: 'string', default: 'hipvpn-lab' },
      rate: { type: 'string' },
      'progress-ms': { type: 'string', default: '0' },
    },
  });
  const port = Number(values.port);
  if (positionals[0] === 'sink') return sink(port, Number(values['progress-ms']));
  if (positionals[0] === 'source' && values.host && values.rate) return pacedSource(values.host, port, Number(values.rate), values.seed);
  if (positionals[0] === 'source' && values.host) return source(values.host, port, Number(values.bytes), values.seed);
  process.stderr.write('usage: tcp-transfer.ts sink --port P [--progress-ms N] | source --host H --port P [--bytes N | --rate BYTES/S] [--seed S]\n');
  process.exit(2);
}

main();
