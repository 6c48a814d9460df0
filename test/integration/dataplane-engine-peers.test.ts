// The engine's peer list (in-thread mode, loopback UDP): an allow-list for base exchanges,
// an LSI per peer, eager connects to peers with locators, and what snapshot() reports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEngine, until, waitForEvent } from '../support/engines.js';
import { ownLsiFor } from '../../src-main/engine/peers.js';

test('setPeers connects peers with locators at once and names them in the snapshot', async () => {
  const a = await startEngine('127.0.0.1');
  const b = await startEngine('127.0.0.2');
  try {
    const up = waitForEvent(b, 'established');
    b.setPeers([]); // B admits nobody yet
    b.setPeers([{ name: 'alice', hit: a.hit, locators: [] }]);
    a.setPeers([{ name: 'bob', hit: b.hit, locators: [b.locals()[0]!] }]);
    await up;
    await until(() => a.snapshot().associations[0]?.state === 'ESTABLISHED', 5000, 'A established');
    const view = a.snapshot().associations[0]!;
    assert.equal(view.name, 'bob');
    assert.equal(view.lsi, a.lsiOf(b.hit));
    assert.match(view.lsi, /^1\.\d+\.\d+\.\d+$/);
    assert.equal(a.lsi, ownLsiFor(a.hit), 'our own LSI follows from the HIT alone');
    assert.notEqual(view.lsi, a.lsi);
  } finally {
    await Promise.all([a.stop(200), b.stop(200)]);
  }
});

test('a HIT not on the peer list is refused unless acceptAny', async () => {
  const a = await startEngine('127.0.0.1');
  const b = await startEngine('127.0.0.2');
  const c = await startEngine('127.0.0.3', { acceptAny: true });
  try {
    b.setPeers([]); // configured, and empty: nobody may connect
    c.setPeers([]);
    a.connect(b.hit, b.locals()[0]!);
    await until(() => (b.snapshot().counters.dropped['hip-policy'] ?? 0) > 0, 5000, 'B refusing by policy');
    assert.equal(b.snapshot().associations.length, 0);
    const up = waitForEvent(c, 'established');
    a.connect(c.hit, c.locals()[0]!);
    await up;
  } finally {
    await Promise.all([a.stop(200), b.stop(200), c.stop(200)]);
  }
});
