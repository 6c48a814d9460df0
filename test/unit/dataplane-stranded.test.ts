// Datagrams the fast path could not send because their interface went down: they wait for the
// peer's move and then leave on the new pair; nothing waits forever.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { STRANDED_HOLD_MS, StrandedDatagrams, type SendPath } from '../../src-main/dataplane/stranded.js';

const wifi: SendPath = { local: '192.0.2.10', addr16: toAddr16('203.0.113.1')!, port: 10500 };
const cell: SendPath = { local: '198.51.100.20', addr16: toAddr16('203.0.113.1')!, port: 10500 };
const datagram = (n: number): Uint8Array => Uint8Array.of(0, 0, 0, 1, 0, 0, 0, n);

test('datagrams stranded on a dead pair leave, in order, on the pair the peer moves to', () => {
  const s = new StrandedDatagrams();
  assert.equal(s.strand(datagram(1), wifi, 0), undefined, 'held: the peer has not moved yet');
  assert.equal(s.strand(datagram(2), wifi, 5), undefined, 'held: the peer has not moved yet');
  const resend = s.moved(wifi, cell, 12);
  assert.deepEqual(resend.map((d) => d[7]), [1, 2], 'both re-sent, oldest first');
  assert.equal(s.moved(wifi, cell, 13).length, 0, 'each is re-sent once');
  assert.equal(s.expired, 0, 'nothing was given up');
});

test('a datagram that fails on the old pair after the move goes straight to the new one', () => {
  const s = new StrandedDatagrams();
  s.moved(wifi, cell, 0);
  const to = s.strand(datagram(3), wifi, 20);
  assert.ok(to !== undefined && to.local === cell.local, `sent on ${to?.local}, not on cell0`);
});

test('a datagram whose peer never moves is given up after the hold time, and counted', () => {
  const s = new StrandedDatagrams();
  s.strand(datagram(4), wifi, 0);
  assert.equal(s.moved(wifi, cell, STRANDED_HOLD_MS + 1).length, 0, 'a stale datagram is not re-sent');
  assert.equal(s.expired, 1, 'the stale datagram counts as dropped');
});

test('a move onto the pair that was already current re-sends nothing', () => {
  const s = new StrandedDatagrams();
  s.strand(datagram(5), wifi, 0);
  assert.equal(s.moved(wifi, wifi, 1).length, 0, 'no move, no re-send');
  assert.equal(s.moved(wifi, cell, 2).length, 1, 'still held for a real move');
});
