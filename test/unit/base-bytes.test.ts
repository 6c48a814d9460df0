// The byte helpers every layer compares MACs, nonces and keys with.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatBytes, equalBytes } from '../../src-main/base/bytes.js';

test('equalBytes: equal only with the same length and every octet the same', () => {
  assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), true);
  assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), false, 'a prefix is not equal');
  assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3, 0)), false, 'a zero tail is not equal');
  for (let i = 0; i < 3; i++) {
    const other = Uint8Array.of(1, 2, 3);
    other[i] = other[i]! ^ 0x80;
    assert.equal(equalBytes(Uint8Array.of(1, 2, 3), other), false, `a difference in octet ${i}`);
  }
  const big = new Uint8Array(64).fill(7);
  assert.equal(equalBytes(big.subarray(8, 40), big.subarray(16, 48)), true, 'views compare their own octets');
});

test('concatBytes: the parts in order, views included, into a new array', () => {
  const base = Uint8Array.of(9, 1, 2, 9);
  const out = concatBytes([base.subarray(1, 3), new Uint8Array(0), Uint8Array.of(3)]);
  assert.deepEqual([...out], [1, 2, 3]);
  assert.notEqual(out.buffer, base.buffer, 'the result does not alias an input');
  assert.equal(concatBytes([]).length, 0);
});
