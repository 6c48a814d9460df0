// RelayClients: where our registration with a relay leaves from, and the srflx candidate each
// uplink has. A bridge (a new uplink while the active one works) moves the registration there
// for its while and back after; each uplink keeps the reflexive address its registration got.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayClients, REQUESTED_LIFETIME } from '../../src-main/core/relay-clients.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import { RegistrationType } from '../../src-main/hip/wire/constants.js';
import type { RegistrationAnswer } from '../../src-main/hip/registration.js';

const RELAY_HIT = new Uint8Array([0x20, 0x01, 0x00, 0x22, ...new Array<number>(11).fill(0), 9]);
const HIT = hitToText(RELAY_HIT);
const WIFI = { address: '192.168.1.10', port: 10500 };
const CELL = { address: '100.64.0.10', port: 10500 };

function granted(reflexive: { address: string; port: number }): RegistrationAnswer {
  return {
    response: { kind: 'REG_RESPONSE', lifetime: REQUESTED_LIFETIME, regTypes: [RegistrationType.RENDEZVOUS, RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP] },
    failed: [], reflexive, relayed: { address: '198.51.100.50', port: 10500 },
  };
}

function clients(): RelayClients {
  return new RelayClients([{ hit: RELAY_HIT, endpoint: { address: '198.51.100.50', port: 10500 }, name: 'relay1' }]);
}

test('a bridge sends the registration from the new uplink at once, and back from the active pair when its while is over', () => {
  const r = clients();
  r.sent(0, HIT, WIFI.address);
  r.answered(10, HIT, granted({ address: '203.0.113.1', port: 10500 }));
  assert.equal(r.registeredVia(HIT), WIFI.address);
  assert.deepEqual(r.dueNow(20), []);

  r.bridge(1_000, HIT, CELL, 5_000);
  assert.deepEqual(r.dueNow(1_000), [HIT], 'due at once');
  assert.deepEqual(r.registerFrom(1_000, HIT), CELL);
  r.sent(1_000, HIT, CELL.address);
  r.answered(1_060, HIT, granted({ address: '203.0.113.9', port: 46_057 }));
  assert.equal(r.registeredVia(HIT), CELL.address, 'the relay now forwards to the cellular uplink');

  assert.equal(r.nextDue(), 6_000, 'the end of the bridge comes before the renewal');
  assert.deepEqual(r.dueNow(5_999), []);
  assert.deepEqual(r.dueNow(6_000), [HIT]);
  assert.equal(r.registerFrom(6_000, HIT), undefined, 'back on the active pair');
  r.sent(6_000, HIT, WIFI.address);
  r.answered(6_020, HIT, granted({ address: '203.0.113.1', port: 10500 }));
  assert.equal(r.registeredVia(HIT), WIFI.address);
  assert.ok(r.nextDue()! > 6_020 + 60_000, `next is the renewal (${r.nextDue()})`);
});

test('each uplink keeps the reflexive address its own registration got, until its address goes', () => {
  const r = clients();
  r.sent(0, HIT, WIFI.address);
  r.answered(10, HIT, granted({ address: '203.0.113.1', port: 10500 }));
  r.sent(100, HIT, CELL.address);
  r.answered(160, HIT, granted({ address: '203.0.113.9', port: 46_057 }));
  assert.deepEqual(r.reflexiveOf(HIT, WIFI.address), { address: '203.0.113.1', port: 10500 });
  assert.deepEqual(r.reflexiveOf(HIT, CELL.address), { address: '203.0.113.9', port: 46_057 });
  r.keepLocals([CELL.address]);
  assert.equal(r.reflexiveOf(HIT, WIFI.address), undefined, 'Wi-Fi gone: its NAT mapping may be too');
  assert.deepEqual(r.reflexiveOf(HIT, CELL.address), { address: '203.0.113.9', port: 46_057 });
});

test('a lost relay association takes its srflx candidates, its registered uplink and its bridge with it', () => {
  const r = clients();
  r.sent(0, HIT, WIFI.address);
  r.answered(10, HIT, granted({ address: '203.0.113.1', port: 10500 }));
  r.bridge(100, HIT, CELL, 5_000);
  r.sent(100, HIT, CELL.address);
  r.answered(160, HIT, granted({ address: '203.0.113.9', port: 46_057 }));
  r.lost(1_000, HIT);
  assert.equal(r.reflexiveOf(HIT, WIFI.address), undefined, 'no srflx candidate from the old association');
  assert.equal(r.reflexiveOf(HIT, CELL.address), undefined);
  assert.equal(r.registeredVia(HIT), undefined, 'no uplink is registered with the relay');
  assert.equal(r.registerFrom(1_000, HIT), undefined, 'the next registration leaves from the active pair');
  // The association comes back over Wi-Fi: only what its answer says is a candidate.
  r.sent(6_000, HIT, WIFI.address);
  r.answered(6_020, HIT, granted({ address: '203.0.113.2', port: 10500 }));
  assert.deepEqual(r.reflexiveOf(HIT, WIFI.address), { address: '203.0.113.2', port: 10500 });
  assert.equal(r.reflexiveOf(HIT, CELL.address), undefined, 'the cellular mapping of the old association is not announced');
  assert.equal(r.registeredVia(HIT), WIFI.address);
});
