// Which errors from a socket's error queue are a destination-unreachable hint for pair selection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unreachableDestination } from '../../src-main/platform/native.js';
import { toAddr16 } from '../../src-main/base/addr16.js';

const address = toAddr16('198.51.100.2')!;

test('ICMP and ICMPv6 destination unreachable name the refused destination; PMTU, local and other errors do not', () => {
  const icmp = (origin: number, icmpType: number, icmpCode: number, withAddress = true) =>
    unreachableDestination({ origin, icmpType, icmpCode, ...(withAddress ? { address, port: 10500 } : {}) });
  assert.deepEqual(icmp(2, 3, 1), { address, port: 10500 }, 'host unreachable');
  assert.deepEqual(icmp(2, 3, 3), { address, port: 10500 }, 'port unreachable');
  assert.deepEqual(icmp(3, 1, 3), { address, port: 10500 }, 'ICMPv6 address unreachable');
  assert.equal(icmp(2, 3, 4), undefined, 'fragmentation needed is path MTU, not a dead path');
  assert.equal(icmp(2, 11, 0), undefined, 'time exceeded');
  assert.equal(icmp(1, 0, 0), undefined, 'a local error');
  assert.equal(icmp(2, 3, 1, false), undefined, 'no destination to match a pair with');
});
