// The relay's UDP transport (BatchedUdp) on real loopback sockets, through the native addon
// (recvmmsg/sendmmsg with UDP GSO) and through node:dgram:
//   - a HIP datagram and the ESP datagrams queued after it to the same peer may leave in one
//     GSO send; the peer still gets each as its own datagram, octet for octet. (A capture on the
//     relay's link shows such a send as one frame that starts with the HIP marker: counting ESP
//     by the first octets of each frame misses the ESP inside it.)
//   - every datagram that was to be sent and did not leave is counted in `unsent`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { BatchedUdp } from '../../src-main/platform/batched-udp.js';
import { loadNativeIo } from '../../src-main/platform/native.js';

function nativeMissing(): string | false {
  try {
    loadNativeIo();
    return false;
  } catch (err) {
    return `native addon not built: ${(err as Error).message}`;
  }
}

const modes = [
  { name: 'native recvmmsg/sendmmsg', dgram: false, skip: nativeMissing() },
  { name: 'node:dgram', dgram: true, skip: false as const },
];

async function receiver(): Promise<{ port: number; got: Buffer[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, got, close: () => socket.close() };
}

async function until(cond: () => boolean, what: string, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function hipDatagram(length: number): Uint8Array {
  const b = new Uint8Array(length).fill(0xa5);
  b.fill(0, 0, 4); // the zero marker
  return b;
}

function espDatagram(length: number, spi: number, seq: number): Uint8Array {
  const b = new Uint8Array(length).fill(seq & 0xff);
  new DataView(b.buffer).setUint32(0, spi);
  new DataView(b.buffer).setUint32(4, seq);
  return b;
}

for (const mode of modes) {
  test(`relay transport (${mode.name}): a HIP datagram and the ESP after it to the same peer arrive as separate datagrams, intact`, { skip: mode.skip }, async () => {
    const peer = await receiver();
    const udp = await BatchedUdp.open({ addresses: ['127.0.0.1'], port: 0, onDatagram: () => undefined, onBatchEnd: () => undefined, dgram: mode.dgram });
    try {
      const to = { address: '127.0.0.1', port: peer.port };
      // The sizes of the handover captures: a relayed UPDATE (268 octets) then full-size ESP (264),
      // then ESP shorter than the one before (the last of a GSO run may be shorter).
      const sent = [hipDatagram(268), espDatagram(264, 0x03ade248, 1), espDatagram(264, 0x03ade248, 2), espDatagram(200, 0x03ade248, 3)];
      for (const d of sent) assert.equal(udp.send(d, to), true);
      udp.flush();
      await until(() => peer.got.length >= sent.length, `${sent.length} datagrams at the peer (got ${peer.got.length})`);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(peer.got.map((g) => g.toString('hex')), sent.map((d) => Buffer.from(d).toString('hex')));
      assert.equal(udp.unsent, 0);
    } finally {
      udp.close();
      peer.close();
    }
  });

  test(`relay transport (${mode.name}): datagrams that cannot leave are counted, and the rest of the batch still goes`, { skip: mode.skip }, async () => {
    const peer = await receiver();
    const udp = await BatchedUdp.open({ addresses: ['127.0.0.1'], port: 0, onDatagram: () => undefined, onBatchEnd: () => undefined, dgram: mode.dgram });
    try {
      const to = { address: '127.0.0.1', port: peer.port };
      assert.equal(udp.send(espDatagram(100, 7, 1), to), true);
      // Broadcast without SO_BROADCAST: the kernel refuses it (EACCES) on every try.
      assert.equal(udp.send(espDatagram(100, 7, 2), { address: '255.255.255.255', port: peer.port }), true);
      assert.equal(udp.send(espDatagram(100, 7, 3), to), true);
      // No IPv6 socket: nothing to send it from.
      assert.equal(udp.send(espDatagram(100, 7, 4), { address: '::1', port: peer.port }), false);
      udp.flush();
      await until(() => udp.unsent === 2, `2 unsent counted (counted ${udp.unsent})`);
      await until(() => peer.got.length === 2, 'the two sendable datagrams at the peer');
      assert.deepEqual(peer.got.map((g) => g.readUInt32BE(4)), [1, 3]);
    } finally {
      udp.close();
      peer.close();
    }
  });
}
