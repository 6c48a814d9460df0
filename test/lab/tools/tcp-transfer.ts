// One TCP transfer, run inside lab hosts: `sink` receives and hashes, `source` sends
// deterministic pseudo-random bytes and hashes what it sent. Each prints one JSON line when done,
// so the test compares byte counts and SHA-256 without storing the data anywhere.
//
//   node --import tsx test/lab/tools/tcp-transfer.ts sink --port 7000
//   node --import tsx test/lab/tools/tcp-transfer.ts source --host 1.0.0.2 --port 7000 --bytes 52428800

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

function sink(port: number): void {
  const server = createServer((socket) => {
    server.close();
    const hash = createHash('sha256');
    let bytes = 0;
    const started = performance.now();
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.on('end', () => {
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

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '7000' },
      bytes: { type: 'string', default: String(50 * 1024 * 1024) },
      seed: { type: 'string', default: 'hipvpn-lab' },
    },
  });
  const port = Number(values.port);
  if (positionals[0] === 'sink') return sink(port);
  if (positionals[0] === 'source' && values.host) return source(values.host, port, Number(values.bytes), values.seed);
  process.stderr.write('usage: tcp-transfer.ts sink --port P | source --host H --port P [--bytes N] [--seed S]\n');
  process.exit(2);
}

main();
