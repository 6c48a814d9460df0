// The responder's load accounting: which sources share a prefix, and that the table of
// prefixes stays bounded however many sources a flood forges.

import test from 'node:test';
import assert from 'node:assert/strict';
import { ResponderLoad, sourcePrefix } from '../../src-main/hip/responder-load.js';
import { DEFAULT_PUZZLE_POLICY } from '../../src-main/hip/timers.js';

test('IPv4 sources share a /24, IPv6 sources a /56', () => {
  assert.equal(sourcePrefix('203.0.113.9'), sourcePrefix('203.0.113.250'));
  assert.notEqual(sourcePrefix('203.0.113.9'), sourcePrefix('203.0.114.9'));
  assert.equal(sourcePrefix('2001:db8:aa:bb00::1'), sourcePrefix('2001:db8:aa:bbff:ffff::9'));
  assert.notEqual(sourcePrefix('2001:db8:aa:bb00::1'), sourcePrefix('2001:db8:aa:bc00::1'));
  assert.equal(sourcePrefix('::ffff:203.0.113.9'), sourcePrefix('203.0.113.1'), 'an IPv4-mapped source is its IPv4 /24');
  assert.notEqual(sourcePrefix('203.0.113.9'), sourcePrefix('::cb00:7109'), 'an IPv6 source never shares an IPv4 prefix');
});

test('a flood from more prefixes than the table holds keeps it bounded and still prices the busiest', () => {
  const policy = { ...DEFAULT_PUZZLE_POLICY, maxPrefixes: 64 };
  const load = new ResponderLoad(policy, 0);
  // 10,000 sources, 100 a second, each in its own /24; then one prefix floods.
  for (let n = 0; n < 10_000; n++) load.note(n * 10, `10.${(n >> 8) & 0xff}.${n & 0xff}.1`);
  const t = 100_000;
  for (let n = 0; n < 200; n++) load.note(t + n, '198.51.100.7');
  const s = load.snapshot(t + 200);
  assert.ok(s.prefixes <= 64, `prefixes tracked: ${s.prefixes}`);
  assert.ok(load.k(t + 200, '198.51.100.99') > policy.baseK, 'the busy prefix pays more');
  assert.equal(load.k(t + 200, '192.0.2.1'), policy.baseK, 'a quiet prefix pays the idle price');
});
