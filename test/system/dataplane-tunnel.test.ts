// Two hosts in network namespaces, each an engine with a real TUN and the worker-thread data
// plane: ping by LSI and by HIT both ways, and 50 MB of TCP through the tunnel arriving
// byte-identical. Needs root (CI runs as root).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DataplaneLab, inNs, type LabHost } from '../support/dataplane-lab.js';

const lab = new DataplaneLab();
let a: LabHost;
let b: LabHost;

before(async () => {
  lab.setupNetwork();
  [a, b] = await lab.startHosts();
});

after(async () => {
  await lab.teardown();
});

function ping(ns: string, target: string, v6 = false): { sent: number; received: number } {
  const out = inNs(ns, 'ping', [...(v6 ? ['-6'] : []), '-c', '5', '-i', '0.2', '-W', '2', target], { timeoutMs: 20_000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert.ok(m, `ping output has a summary: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

test('each host sees its own HIT and LSI on the TUN and gives the peer an LSI', () => {
  const addrs = inNs(lab.nsA, 'ip', ['addr', 'show', 'dev', 'hip0']);
  assert.ok(addrs.includes(`${a.hit}/28`), `A's TUN carries its HIT: ${addrs}`);
  assert.ok(addrs.includes(`${a.lsi}/8`), `A's TUN carries its LSI: ${addrs}`);
  assert.match(a.peerLsi, /^1\.\d+\.\d+\.\d+$/);
  assert.notEqual(a.peerLsi, a.lsi);
});

test('ping by LSI works both ways', () => {
  assert.deepEqual(ping(lab.nsA, a.peerLsi), { sent: 5, received: 5 });
  assert.deepEqual(ping(lab.nsB, b.peerLsi), { sent: 5, received: 5 });
});

test('ping by HIT works both ways', () => {
  assert.deepEqual(ping(lab.nsA, b.hit, true), { sent: 5, received: 5 });
  assert.deepEqual(ping(lab.nsB, a.hit, true), { sent: 5, received: 5 });
});

const SERVER = `
const { createHash } = require('node:crypto');
const net = require('node:net');
const srv = net.createServer((s) => {
  const h = createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); });
});
srv.listen(7000, '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

const CLIENT = `
const { createHash, randomBytes } = require('node:crypto');
const net = require('node:net');
const total = 50 * 1024 * 1024; const chunk = 1 << 20;
const h = createHash('sha256'); let sent = 0;
const s = net.connect(7000, process.argv[1], () => {
  const pump = () => {
    while (sent < total) {
      const b = randomBytes(chunk); h.update(b); sent += b.length;
      if (!s.write(b)) return s.once('drain', pump);
    }
    s.end();
  };
  pump();
});
s.on('close', () => process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex') }) + '\\n'));
`;

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

test('50 MB of TCP over the LSIs arrives byte-identical', async () => {
  let listening!: () => void;
  const up = new Promise<void>((r) => (listening = r));
  const server = runNode(lab.nsB, SERVER, [], (line) => { if (line === 'listening') listening(); });
  await up;
  const client = JSON.parse(await runNode(lab.nsA, CLIENT, [a.peerLsi])) as { bytes: number; sha256: string };
  const received = JSON.parse((await server).split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
  assert.equal(client.bytes, 50 * 1024 * 1024);
  assert.deepEqual(received, client, 'the server received exactly what the client sent');
});

test('the engine answers within 200 ms while iperf3 saturates the tunnel', async () => {
  const server = spawn('ip', ['netns', 'exec', lab.nsB, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const client = spawn('ip', ['netns', 'exec', lab.nsA, 'iperf3', '-c', a.peerLsi, '-t', '4'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const before = a.events.length;
      const sentAt = Date.now();
      a.command('snapshot');
      const snap = await a.waitFor((o) => o['type'] === 'snapshot' && a.events.indexOf(o) >= before, 2000, 'snapshot');
      latencies.push(Date.now() - sentAt);
      const assoc = (snap['snapshot'] as { associations: Array<{ espBytesOut: number; lsi?: string }> }).associations[0];
      assert.ok(assoc && assoc.lsi === a.peerLsi, 'the snapshot shows the association with its LSI');
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.ok(Math.max(...latencies) < 200, `snapshot latencies under load: ${latencies.join(', ')} ms`);
  } finally {
    client.kill();
    server.kill();
  }
});

test('a host killed without a CLOSE comes back and the tunnel works again', async () => {
  a = await lab.restartHost(a);
  await a.waitFor((o) => o['event'] === 'established', 15_000, 'A established again');
  assert.deepEqual(ping(lab.nsA, a.peerLsi), { sent: 5, received: 5 });
  assert.deepEqual(ping(lab.nsB, a.hit, true), { sent: 5, received: 5 });
});
