import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePair, established } from '../support/hip-hosts.js';
test('smoke', () => {
  const { net, a, b } = makePair({ seed: 1 });
  a.act((h) => h.connect(net.now, b.host.hit, b.endpoint));
  const ok = net.runUntil(() => established(a) && established(b), 10_000);
  console.log(a.events.map(e=>e.type+(e.type==='state'?` ${e.from}->${e.to}`:'')), b.events.map(e=>e.type), a.host.counters, b.host.counters, String(a.host.lastError), String(b.host.lastError));
  assert.ok(ok);
});
