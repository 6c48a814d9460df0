// The cause a handover is shown with: the engine's reason, sharpened by what the interface
// monitor said of the address the traffic left (uplink down versus address gone).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandoverCauses } from '../../src-main/daemon/handover-cause.js';

const WIFI = '192.168.1.2';

test('a pair deleted because its interface went down reads "interface-down", not "address-lost"', () => {
  const c = new HandoverCauses();
  c.noteLocatorCauses([{ type: 'not-operational', address: WIFI, ifname: 'wifi0', detail: 'interface down' }], 1_000);
  assert.equal(c.causeOf('pair-deleted', WIFI, 1_020), 'interface-down');
  // Withdrawn after the hold, it was still the uplink going down that moved the traffic.
  c.noteLocatorCauses([{ type: 'withdrawn', address: WIFI, ifname: 'wifi0' }], 3_000);
  assert.equal(c.causeOf('pair-deleted', WIFI, 3_010), 'interface-down');
});

test('a pair deleted because its address went away reads "address-lost"', () => {
  const c = new HandoverCauses();
  c.noteLocatorCauses([{ type: 'lost', address: WIFI, ifname: 'wifi0' }], 1_000);
  assert.equal(c.causeOf('pair-deleted', WIFI, 1_010), 'address-lost');
  assert.equal(c.causeOf('pair-added', WIFI, 1_010), 'address-lost', 'the break-before-make move off the lost address too');
});

test('the monitor\'s word goes stale, and an address that came back forgets it', () => {
  const c = new HandoverCauses();
  c.noteLocatorCauses([{ type: 'not-operational', address: WIFI, ifname: 'wifi0', detail: 'no carrier' }], 1_000);
  assert.equal(c.causeOf('pair-deleted', WIFI, 20_000), 'address-lost', 'ten seconds later it says nothing: the engine\'s reason stands');
  c.noteLocatorCauses([{ type: 'not-operational', address: WIFI, ifname: 'wifi0' }], 30_000);
  c.noteLocatorCauses([{ type: 'operational', address: WIFI, ifname: 'wifi0' }], 30_500);
  assert.equal(c.causeOf('pair-deleted', WIFI, 30_600), 'address-lost');
});

test('other engine causes map as they are, whatever the monitor said', () => {
  const c = new HandoverCauses();
  c.noteLocatorCauses([{ type: 'not-operational', address: WIFI, ifname: 'wifi0' }], 0);
  assert.equal(c.causeOf('data-silence', WIFI, 10), 'pair-failed');
  assert.equal(c.causeOf('manual', WIFI, 10), 'user');
  assert.equal(c.causeOf('better-pair', WIFI, 10), 'better-path');
  assert.equal(c.causeOf('something-new', WIFI, 10), 'policy');
});
