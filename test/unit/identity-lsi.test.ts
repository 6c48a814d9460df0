import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LsiAllocator } from '../../src-main/hip/identity/lsi.js';

const hit = (): Uint8Array => new Uint8Array(randomBytes(16));

test('LSIs are unique across thousands of peers, all in 1.0.0.0/8, never the network or broadcast address', () => {
  const alloc = new LsiAllocator(1234);
  const seen = new Set<string>();
  for (let n = 0; n < 20000; n++) {
    const lsi = alloc.lsiFor(hit());
    assert.match(lsi, /^1\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    assert.notEqual(lsi, '1.0.0.0');
    assert.notEqual(lsi, '1.255.255.255');
    assert.equal(seen.has(lsi), false, `duplicate ${lsi}`);
    seen.add(lsi);
  }
  assert.equal(alloc.size, 20000);
});

test('a peer keeps its LSI while known, across allocators with the same seed (restarts), and can be looked up', () => {
  const hits = Array.from({ length: 500 }, hit);
  const a = new LsiAllocator(7);
  const b = new LsiAllocator(7);
  const first = hits.map((h) => a.lsiFor(h));
  assert.deepEqual(hits.map((h) => a.lsiFor(h)), first, 'asking again changes nothing');
  assert.deepEqual(hits.map((h) => b.lsiFor(h)), first, 'same seed, same LSIs');
  assert.deepEqual(a.hitFor(first[3]!), hits[3]);
  assert.equal(a.hitFor('10.0.0.1'), null);
  assert.equal(a.hitFor('1.2.3.999'), null);
});

test('collisions are resolved, and a released LSI becomes free for the next peer', () => {
  // 2^16 peers in a 2^24 space: about 128 preferred slots collide (birthday bound) and must be probed past.
  const alloc = new LsiAllocator();
  const hits = Array.from({ length: 1 << 16 }, hit);
  const lsis = new Set(hits.map((h) => alloc.lsiFor(h)));
  assert.equal(lsis.size, hits.length);
  const gone = hits[10]!;
  const lsi = alloc.lsiFor(gone);
  alloc.release(gone);
  assert.equal(alloc.hitFor(lsi), null);
  assert.equal(alloc.size, hits.length - 1);
  assert.equal(alloc.lsiFor(gone), lsi, 'back in the same free slot');
  alloc.release(hit()); // unknown HIT: nothing happens
  assert.equal(alloc.size, hits.length);
});
