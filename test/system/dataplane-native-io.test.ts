// The addon's UDP and TUN paths as the data plane relies on them: batched sends and receives,
// a socket that keeps receiving after an ICMP error (POLLERR re-arm), SO_BINDTODEVICE, and a
// TUN reader that never holds the process open. Needs root (TUN, SO_BINDTODEVICE, unshare).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { loadNativeIo } from '../../src-main/platform/native.js';
import { openNativeDatagramSocket, type DatagramSocket } from '../../src-main/platform/fast-udp.js';
import { UdpTxBatch, rxPacket, type UdpRxBatch } from '../../src-main/base/batch.js';
import { toAddr16, fromAddr16 } from '../../src-main/base/addr16.js';

const io = loadNativeIo();

function collect(socket: DatagramSocket): {
  packets: Array<{ data: Uint8Array; from: string; port: number }>; errors: string[]; unreachable: Array<{ address: string; port: number }>;
} {
  const got = { packets: [] as Array<{ data: Uint8Array; from: string; port: number }>, errors: [] as string[], unreachable: [] as Array<{ address: string; port: number }> };
  socket.start(
    (b: UdpRxBatch) => {
      for (let i = 0; i < b.count; i++) got.packets.push({ data: rxPacket(b, i).slice(), from: fromAddr16(b.addrs16, i * 16), port: b.ports[i]! });
    },
    (m, unreachable) => {
      got.errors.push(m);
      if (unreachable) got.unreachable.push(unreachable);
    },
  );
  return got;
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a batch of 200 datagrams (GSO runs included) arrives whole and in order', async () => {
  const a = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 });
  const b = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 });
  try {
    const got = collect(b);
    const tx = new UdpTxBatch(200, 200 * 1400);
    const to = toAddr16('127.0.0.1')!;
    for (let i = 0; i < 200; i++) {
      // Mostly equal sizes, so sendmmsg can coalesce runs with UDP_SEGMENT; a few odd ones break runs.
      const p = new Uint8Array(i % 50 === 49 ? 300 : 1200).fill(i & 0xff);
      p[0] = i >> 8;
      p[1] = i & 0xff;
      assert.ok(tx.appendTo(p, to, b.local.port), 'the batch has room');
    }
    assert.equal(a.send(tx), 200);
    await until(() => got.packets.length === 200, '200 datagrams');
    got.packets.forEach((p, i) => {
      assert.equal((p.data[0]! << 8) | p.data[1]!, i);
      assert.equal(p.data.length, i % 50 === 49 ? 300 : 1200);
      assert.equal(p.from, '127.0.0.1');
      assert.equal(p.port, a.local.port);
    });
  } finally {
    a.close();
    b.close();
  }
});

test('an ICMP port unreachable is reported and the socket keeps receiving (POLLERR re-arm)', async () => {
  const a = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0 });
  const closed = dgram.createSocket('udp4');
  await new Promise<void>((r) => closed.bind(0, '127.0.0.1', () => r()));
  const deadPort = closed.address().port;
  closed.close();
  const sender = dgram.createSocket('udp4');
  try {
    const got = collect(a);
    const tx = new UdpTxBatch(1, 100);
    tx.appendTo(new Uint8Array(10), toAddr16('127.0.0.1')!, deadPort);
    a.send(tx);
    await until(() => got.errors.length > 0, 'an ICMP error report');
    assert.match(got.errors[0]!, /ECONNREFUSED/);
    assert.deepEqual(got.unreachable[0], { address: '127.0.0.1', port: deadPort }, 'the destination refused, for pair selection');
    for (let i = 0; i < 3; i++) sender.send(Buffer.from([i, 1, 2, 3]), a.local.port, '127.0.0.1');
    await until(() => got.packets.length === 3, 'datagrams after the error');
  } finally {
    a.close();
    sender.close();
  }
});

test('a socket can be bound to its interface (SO_BINDTODEVICE)', async () => {
  const a = openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0, device: 'lo' });
  const sender = dgram.createSocket('udp4');
  try {
    const got = collect(a);
    sender.send(Buffer.from('hello'), a.local.port, '127.0.0.1');
    await until(() => got.packets.length === 1, 'a datagram on the bound socket');
    assert.throws(() => openNativeDatagramSocket(io, { address: '127.0.0.1', port: 0, device: 'nosuchdev0' }), /SO_BINDTODEVICE/);
  } finally {
    a.close();
    sender.close();
  }
});

function exitsOnItsOwn(script: string): { status: number | null; stdout: string; stderr: string } {
  // In a fresh network namespace, so the kernel-named TUN disappears with the process.
  return spawnSync('unshare', ['-n', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../../', import.meta.url), encoding: 'utf8', timeout: 10_000,
  });
}

test('a process reading a TUN exits by itself: unreferenced native reader, and the pure-node reader', () => {
  const native = exitsOnItsOwn(`
    import { loadNativeIo } from './src-main/platform/native.ts';
    const io = loadNativeIo();
    const { handle } = io.tunOpen('', false);
    io.startReading(handle, new Uint8Array(64 * 2048), new Uint32Array(64), 2048, () => {}, undefined);
    io.setRef(handle, false);
    console.log('reading');
  `);
  assert.equal(native.status, 0, `native reader: exited cleanly: ${native.stderr}`);
  assert.match(native.stdout, /reading/);
  const fallback = exitsOnItsOwn(`
    import { loadNativeIo } from './src-main/platform/native.ts';
    import { openFsTun } from './src-main/platform/tun.ts';
    const tun = openFsTun(loadNativeIo(), { name: 'fs0', mtu: 1400 });
    tun.start(() => {}, (m) => console.error(m));
    setTimeout(() => console.log('reading'), 50);
  `);
  assert.equal(fallback.status, 0, `pure-node reader: exited cleanly: ${fallback.stderr}`);
  assert.match(fallback.stdout, /reading/);
});
