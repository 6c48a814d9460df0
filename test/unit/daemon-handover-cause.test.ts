// The cause a handover is shown with: the engine's reason, sharpened by what the interface
// monitor said of the address the traffic left (uplink down versus address gone), which the
// handover carries when that report is what moved it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { handoverCause } from '../../src-main/daemon/handover-cause.js';
import { localLosses } from '../../src-main/mobility/local-loss.js';

const WIFI = '192.168.1.2';

test('a pair deleted because its interface went down reads "interface-down", not "address-lost"', () => {
  const losses = localLosses([{ type: 'not-operational', address: WIFI, ifname: 'wifi0', detail: 'interface down' }]);
  assert.equal(losses.get(WIFI), 'interface-down');
  assert.equal(handoverCause({ cause: 'pair-deleted', localCause: losses.get(WIFI) }), 'interface-down');
  // Down and withdrawn in one report: the uplink going down is still the reason.
  const both = localLosses([
    { type: 'not-operational', address: WIFI, ifname: 'wifi0' },
    { type: 'withdrawn', address: WIFI, ifname: 'wifi0' },
  ]);
  assert.equal(both.get(WIFI), 'interface-down');
});

test('a pair deleted because its address went away reads "address-lost"', () => {
  const losses = localLosses([{ type: 'lost', address: WIFI, ifname: 'wifi0' }]);
  assert.equal(handoverCause({ cause: 'pair-deleted', localCause: losses.get(WIFI) }), 'address-lost');
  assert.equal(handoverCause({ cause: 'pair-added', localCause: losses.get(WIFI) }), 'address-lost', 'the break-before-make move off the lost address too');
});

test('without the monitor\'s word the engine\'s reason stands; addresses that appear are no loss', () => {
  assert.equal(handoverCause({ cause: 'pair-deleted' }), 'address-lost');
  assert.equal(handoverCause({ cause: 'pair-added' }), 'interface-down');
  assert.equal(localLosses([{ type: 'appeared', address: WIFI, ifname: 'wifi0' }, { type: 'operational', address: WIFI, ifname: 'wifi0' }]).size, 0);
});

test('other engine causes map as they are, whatever the monitor said', () => {
  assert.equal(handoverCause({ cause: 'data-silence', localCause: 'interface-down' }), 'pair-failed');
  assert.equal(handoverCause({ cause: 'manual' }), 'user');
  assert.equal(handoverCause({ cause: 'better-pair' }), 'better-path');
  assert.equal(handoverCause({ cause: 'something-new' as never }), 'policy');
});
