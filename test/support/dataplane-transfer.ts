// A TCP transfer through the tunnel with both ends hashing what they saw: random bytes from a
// node client in one namespace to a node server in the other.

import { spawn } from 'node:child_process';

const SERVER = `
const { createHash } = require('node:crypto');
const net = require('node:net');
const srv = net.createServer((s) => {
  const h = createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); });
});
srv.listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

const CLIENT = `
const { createHash, randomBytes } = require('node:crypto');
const net = require('node:net');
const total = Number(process.argv[3]); const chunk = 1 << 20;
const h = createHash('sha256'); let sent = 0;
const s = net.connect(Number(process.argv[2]), process.argv[1], () => {
  const pump = () => {
    while (sent < total) {
      const b = randomBytes(Math.min(chunk, total - sent)); h.update(b); sent += b.length;
      if (!s.write(b)) return s.once('drain', pump);
    }
    s.end();
  };
  pump();
});
s.on('close', () => process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex') }) + '\\n'));
`;

export interface TransferEnd { bytes: number; sha256: string }

function runNode(ns: string, script: string, args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${ns}: node script timed out`)); }, 120_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) if (line) onLine?.(line);
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${ns}: node script exited with ${code}: ${out}`));
    });
  });
}

/** Sends `bytes` random octets from nsClient to target:port served in nsServer; both ends' view. */
export async function tcpTransfer(nsServer: string, nsClient: string, target: string, bytes: number, port = 7000): Promise<{ sent: TransferEnd; received: TransferEnd }> {
  let listening!: () => void;
  const up = new Promise<void>((r) => (listening = r));
  const server = runNode(nsServer, SERVER, [String(port)], (line) => { if (line === 'listening') listening(); });
  await up;
  const sent = JSON.parse(await runNode(nsClient, CLIENT, [target, String(port), String(bytes)])) as TransferEnd;
  const received = JSON.parse((await server).split('\n').find((l) => l.startsWith('{'))!) as TransferEnd;
  return { sent, received };
}
