// The kernel's receive-buffer drops on our sockets: read from /proc/net/udp{,6} by socket inode,
// summed, and never going backwards when a socket closes and its counter goes with it.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { SocketDrops, parseUdpTable, procDropSources, type DropSources } from '../../src-main/platform/socket-drops.js';

const HEADER = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ';
const row = (inode: number, drops: number): string =>
  ` 5662: 0200007F:A979 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ${inode} 2 0000000017ab33d5 ${drops}         `;

test('parseUdpTable reads the inode and drops columns of each socket', () => {
  const table = [HEADER, row(40317, 0), row(40316, 51234), ''].join('\n');
  assert.deepEqual([...parseUdpTable(table)], [['40317', 0], ['40316', 51234]]);
  assert.equal(parseUdpTable(HEADER).size, 0);
});

/** Sources whose open sockets and counters a test sets. */
function fakeSources(): DropSources & { open: Map<string, number>; others: Map<string, number> } {
  const open = new Map<string, number>();
  const others = new Map<string, number>();
  return {
    open,
    others,
    socketInodes: () => [...open.keys(), '999999'], // a socket of ours that is not UDP
    udpTables: () => [[HEADER, ...[...open, ...others].map(([i, d]) => row(Number(i), d))].join('\n')],
  };
}

test('the total counts only our sockets, and keeps a closed socket\'s last count', () => {
  const src = fakeSources();
  const drops = new SocketDrops(src, 0);
  src.open.set('100', 5);
  src.others.set('200', 1_000); // another process's socket in the same table
  assert.equal(drops.total(0), 5);
  src.open.set('100', 7);
  src.open.set('101', 3);
  assert.equal(drops.total(1), 10);
  src.open.delete('100'); // closed: its 7 stay counted
  src.open.set('101', 4);
  assert.equal(drops.total(2), 11);
  src.open.delete('101');
  assert.equal(drops.total(3), 11, 'never backwards');
});

test('a reading is reused for the cache time, then taken again', () => {
  const src = fakeSources();
  const drops = new SocketDrops(src, 1_000);
  src.open.set('100', 1);
  assert.equal(drops.total(0), 1);
  src.open.set('100', 9);
  assert.equal(drops.total(999), 1);
  assert.equal(drops.total(1_000), 9);
});

test('/proc finds this process\'s own UDP sockets', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  try {
    const inodes = new Set(procDropSources.socketInodes());
    const ours = procDropSources.udpTables().flatMap((t) => [...parseUdpTable(t).keys()]).filter((i) => inodes.has(i));
    assert.ok(ours.length >= 1, 'the bound socket is in /proc/self/net/udp and behind one of our fds');
    const started = performance.now();
    new SocketDrops(procDropSources, 0).total(0);
    // Status reads this on every call (cached for a second): it must stay cheap.
    assert.ok(performance.now() - started < 50, `one reading took ${(performance.now() - started).toFixed(1)} ms`);
  } finally {
    socket.close();
  }
});
