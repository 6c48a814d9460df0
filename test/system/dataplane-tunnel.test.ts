// Two hosts in network namespaces, each an engine with a real TUN and the worker-thread data
// plane: ping by LSI and by HIT both ways, and 50 MB of TCP through the tunnel arriving
// byte-identical. Needs root (CI runs as root).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DataplaneLab, inNs, type LabHost } from '../../lab/dataplane-lab.js';
import { tcpTransfer } from '../support/dataplane-transfer.js';

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

test('50 MB of TCP over the LSIs arrives byte-identical', async () => {
  const { sent, received } = await tcpTransfer(lab.nsB, lab.nsA, a.peerLsi, 50 * 1024 * 1024);
  assert.equal(sent.bytes, 50 * 1024 * 1024);
  assert.deepEqual(received, sent, 'the server received exactly what the client sent');
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
