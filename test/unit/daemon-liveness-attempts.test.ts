// When a peer was last heard (one record for ESP and HIP, kept past the association) and the
// connect attempt status reports for a peer not connected yet.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerLiveness } from '../../src-main/engine/peer-liveness.js';
import { ConnectAttempts } from '../../src-main/daemon/connect-attempts.js';

const PEER = '2001:20::1';
const REMOTE = { address: '192.0.2.1', port: 10500 };

test('a peer is last heard by whichever came later, ESP or an authenticated HIP exchange', () => {
  const live = new PeerLiveness();
  assert.equal(live.agoMs(PEER, 1000, null), undefined, 'never heard');
  assert.equal(live.agoMs(PEER, 1000, 40.4), 40, 'ESP only');
  live.hipHeard(PEER, 900);
  assert.equal(live.agoMs(PEER, 1000, 250), 100, 'the HIP exchange is the later');
  assert.equal(live.agoMs(PEER, 1000, 30), 30, 'the ESP is the later');
  assert.equal(live.agoMs(PEER, 5000, undefined), 4100, 'without ESP stats (association gone) the HIP record stands');
});

test('a connect attempt is reported from the first I1 until keys, with its first failure', () => {
  const attempts = new ConnectAttempts();
  attempts.stateChanged(PEER, 'I1-SENT', 100);
  attempts.stateChanged(PEER, 'I2-SENT', 150);
  assert.deepEqual(attempts.status(PEER, 'I2-SENT', REMOTE, 400), { remote: REMOTE, sinceMs: 300, answered: true });
  attempts.failed(PEER, 'timeout', 500);
  attempts.failed(PEER, 'later-reason', 600);
  assert.deepEqual(attempts.status(PEER, 'E-FAILED', REMOTE, 700), { remote: REMOTE, sinceMs: 600, answered: true, failedAgoMs: 200, reason: 'timeout' });
  assert.equal(attempts.status(PEER, 'ESTABLISHED', REMOTE, 700), undefined, 'keyed: nothing to report');
  assert.equal(attempts.status(PEER, 'E-FAILED', undefined, 700), undefined, 'nowhere to reach it');
  attempts.stateChanged(PEER, 'I1-SENT', 800);
  assert.deepEqual(attempts.status(PEER, 'I1-SENT', REMOTE, 900), { remote: REMOTE, sinceMs: 100, answered: false }, 'a retry after failing starts afresh');
  attempts.forget(PEER);
  assert.equal(attempts.status(PEER, 'I1-SENT', REMOTE, 900), undefined);
});
