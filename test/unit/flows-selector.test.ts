// Flow selectors as the user writes them: prefixes parsed strictly, and every rule a selector
// breaks refused with words the user can act on (the UI, the CLI and flows.json share them).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrefix, selectorProblem, selectorText } from '../../src-main/flows/traffic-selector.js';

test('prefixes: parsed strictly, host bits refused with the prefix meant', () => {
  assert.deepEqual(parsePrefix('1.0.0.0/8'), { ok: true, value: { family: 4, bytes: Uint8Array.from([1, 0, 0, 0]), length: 8 } });
  assert.equal((parsePrefix('2001:20::/28') as { ok: true; value: { length: number } }).value.length, 28);
  assert.equal((parsePrefix('192.0.2.7') as { ok: true; value: { length: number } }).value.length, 32, 'one address is a /32');
  assert.deepEqual(parsePrefix('192.0.2.7/24'), { ok: false, error: '"192.0.2.7/24" has bits set past its /24; did you mean 192.0.2.0/24?' });
  assert.deepEqual(parsePrefix('10.0.0.0/33'), { ok: false, error: '"10.0.0.0/33": the prefix length is 0..32 for IPv4' });
  assert.match((parsePrefix('lan') as { error: string }).error, /^"lan" is not an address or prefix/);
  assert.match((parsePrefix('2001:db8::/064') as { error: string }).error, /prefix length is 0\.\.128/);
});

test('selectors: every rule refuses with a message saying what is allowed', () => {
  assert.equal(selectorProblem({ protocol: 'tcp', remotePorts: { from: 443, to: 443 } }), null);
  assert.equal(selectorProblem({ protocol: 'icmp', remotePorts: { from: 1, to: 2 } }), 'ICMP has no ports: remove the port range, or choose tcp or udp');
  assert.equal(selectorProblem({ protocol: 'udp', localPorts: { from: 9000, to: 8000 } }), 'local ports: the range ends (8000) before it starts (9000)');
  assert.equal(selectorProblem({ protocol: 'udp', remotePorts: { from: 0, to: 10 } }), 'peer ports are 1..65535, got 0-10');
  assert.equal(selectorProblem({ protocol: 'sctp' as 'tcp' }), 'protocol is one of any, tcp, udp, icmp, not "sctp"');
  assert.equal(selectorProblem({ protocol: 'any', localPrefix: '1.0.0.1', remotePrefix: '2001:20::/28' }), 'the local and peer prefixes are of different address families (one IPv4, one IPv6), so no packet can match both');
  assert.equal(selectorText({ protocol: 'udp', localPorts: { from: 5004, to: 5004 }, remotePrefix: '1.0.0.2', remotePorts: { from: 5004, to: 5010 } }), 'udp from port 5004 to 1.0.0.2 ports 5004-5010');
});
