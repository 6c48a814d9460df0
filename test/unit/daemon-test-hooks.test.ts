// The run-out test hook is armed only by a well-formed HIPVPN_TEST_SEQ_LEFT: unset means no hook,
// and a value the daemon cannot use stops it at start instead of arming something else.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testSeqLeft } from '../../src-main/daemon/test-hooks.js';

test('HIPVPN_TEST_SEQ_LEFT: unset or empty arms nothing; 1 .. 2^24 is taken as is', () => {
  assert.equal(testSeqLeft({}), undefined);
  assert.equal(testSeqLeft({ HIPVPN_TEST_SEQ_LEFT: '' }), undefined);
  assert.equal(testSeqLeft({ HIPVPN_TEST_SEQ_LEFT: '200' }), 200);
  assert.equal(testSeqLeft({ HIPVPN_TEST_SEQ_LEFT: '1' }), 1);
  assert.equal(testSeqLeft({ HIPVPN_TEST_SEQ_LEFT: String(2 ** 24) }), 2 ** 24);
});

test('HIPVPN_TEST_SEQ_LEFT out of range or not a whole number is refused with the range', () => {
  for (const bad of ['0', String(2 ** 24 + 1), '-5', '1e3', '2.5', ' 200', 'abc']) {
    assert.throws(() => testSeqLeft({ HIPVPN_TEST_SEQ_LEFT: bad }), /from 1 to 16777216/, `refuses ${JSON.stringify(bad)}`);
  }
});
