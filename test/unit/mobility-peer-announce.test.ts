// What we announce and how we read what the peer announces: the address filter (RFC 8047 §6.1),
// LOCATOR_SET encoding and parsing (type 2 over UDP, types 0/1 from other peers), the next
// LOCATOR_SET step in each multihoming mode, and the pair-probe report parameter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { announceable, buildLocatorSet, parseLocatorSet, unusableLocatorReason, type OwnLocator } from '../../src-main/hip/local-locators.js';
import { listingFingerprint, nextLocatorStep } from '../../src-main/hip/locator-plan.js';
import {
  decodeProbeReport, decodeProbeSpi, encodeProbeReport, encodeProbeSpi, MAX_REPORTED_PROBES, PAIR_PROBE_REPORT_TYPE, PAIR_PROBE_SPI_TYPE, probeIdFromOpaque, probeIdOpaque,
} from '../../src-main/hip/pair-probe.js';
import { decodeParams, encodeParam } from '../../src-main/hip/wire/codec.js';
import { ipToBytes16 } from '../../src-main/hip/wire/address.js';
import { LocatorType } from '../../src-main/hip/wire/constants.js';
import type { LocatorSet } from '../../src-main/hip/wire/params.js';
import { DEFAULT_TIMERS } from '../../src-main/hip/timers.js';

const loc = (address: string, ifname: string, preferred = false, port = 10500): OwnLocator => ({ address, port, ifname, kind: 'wifi', preferred });

test('never announced: unspecified, multicast, broadcast, link-local; loopback and global addresses are', () => {
  const cases: [string, string | undefined][] = [
    ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'], ['255.255.255.255', 'broadcast'], ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'], ['not an ip', 'not-an-address'],
    ['192.0.2.1', undefined], ['127.0.0.1', undefined], ['2001:db8::1', undefined], ['fec0::1', undefined], ['::1', undefined],
  ];
  for (const [address, reason] of cases) assert.equal(unusableLocatorReason(address), reason, address);
  const kept = announceable([loc('fe80::1', 'wifi0'), loc('192.0.2.1', 'wifi0'), loc('192.0.2.1', 'wifi0'), loc('192.0.2.2', 'wifi0', false, 0)]);
  assert.deepEqual(kept.map((l) => l.address), ['192.0.2.1'], 'unusable, duplicate and port-0 locators dropped');
});

test('a LOCATOR_SET we build is type 2 (UDP) with each candidate\'s kind and ICE priority, and survives the codec unchanged', () => {
  const set = buildLocatorSet([
    { locator: { address: '192.0.2.1', port: 10500 }, spi: 0x1234, preferred: true },
    { locator: { address: '2001:db8::5', port: 4500 }, spi: 0x5678, preferred: false },
    { locator: { address: '198.51.100.7', port: 61000 }, spi: 0x1234, preferred: false, candidate: 'srflx' },
    { locator: { address: '203.0.113.9', port: 10500 }, spi: 0x1234, preferred: false, candidate: 'relayed' },
  ]);
  const round = decodeParams(encodeParam(set));
  assert.ok(round.ok, 'decodes');
  const back = round.params[0] as LocatorSet;
  assert.deepEqual(back.locators.map((l) => [l.locatorType, l.protocol, l.candidateKind, l.port, l.spi, l.preferred, l.trafficType]), [
    [LocatorType.TRANSPORT, 17, 0, 10500, 0x1234, true, 0],
    [LocatorType.TRANSPORT, 17, 0, 4500, 0x5678, false, 0],
    [LocatorType.TRANSPORT, 17, 1, 61000, 0x1234, false, 0],
    [LocatorType.TRANSPORT, 17, 3, 10500, 0x1234, false, 0],
  ]);
  // RFC 8445 §5.1.2.1 with type preferences host 126, srflx 100, relayed 0; earlier entries rank higher.
  const priorities = back.locators.map((l) => l.priority!);
  assert.equal(priorities[0], 126 * 2 ** 24 + 65535 * 256 + 255);
  assert.ok(priorities[0] > priorities[1]! && priorities[1]! > priorities[2]! && priorities[2]! > priorities[3]!, `priorities ${priorities.join(', ')}`);
  const parsed = parseLocatorSet(back, 10500, 0x9999);
  const lifetimeS = DEFAULT_TIMERS.locatorLifetimeMs / 1000;
  assert.deepEqual(parsed.locators, [
    { address: '192.0.2.1', port: 10500, spi: 0x1234, preferred: true, lifetimeS, candidate: 'host' },
    { address: '2001:db8::5', port: 4500, spi: 0x5678, preferred: false, lifetimeS, candidate: 'host' },
    { address: '198.51.100.7', port: 61000, spi: 0x1234, preferred: false, lifetimeS, candidate: 'srflx' },
    { address: '203.0.113.9', port: 10500, spi: 0x1234, preferred: false, lifetimeS, candidate: 'relayed' },
  ]);
  assert.equal(parsed.refused, 0);
});

test('parsing a peer\'s LOCATOR_SET: types 0 and 1 take the packet\'s port; unusable and unknown locators are refused', () => {
  const addr = (s: string): Uint8Array => ipToBytes16(s)!;
  const set: LocatorSet = {
    kind: 'LOCATOR_SET',
    locators: [
      { trafficType: 0, locatorType: 0, preferred: false, lifetime: 60, address: addr('192.0.2.10') },
      { trafficType: 0, locatorType: 1, preferred: true, lifetime: 60, address: addr('192.0.2.11'), spi: 0x4444 },
      { trafficType: 0, locatorType: 2, preferred: false, lifetime: 60, address: addr('192.0.2.12'), port: 1234, protocol: 6, candidateKind: 0, priority: 0, spi: 1 },
      { trafficType: 0, locatorType: 2, preferred: false, lifetime: 60, address: addr('224.1.1.1'), port: 1234, protocol: 17, candidateKind: 0, priority: 0, spi: 1 },
      { trafficType: 0, locatorType: 1, preferred: false, lifetime: 60, address: addr('fe80::2'), spi: 0x4444 },
      { trafficType: 0, locatorType: 7, preferred: false, lifetime: 60, address: new Uint8Array(0), raw: new Uint8Array(8) },
      { trafficType: 0, locatorType: 2, preferred: false, lifetime: 60, address: addr('192.0.2.13'), port: 1234, protocol: 17, candidateKind: 0, priority: 0, spi: 0 },
    ],
  };
  const parsed = parseLocatorSet(set, 10500, 0x7777);
  assert.deepEqual(parsed.locators.map((l) => [l.address, l.port, l.spi, l.preferred]), [
    ['192.0.2.10', 10500, 0x7777, false],
    ['192.0.2.11', 10500, 0x4444, true],
    ['192.0.2.13', 1234, 0x7777, false],
  ]);
  assert.equal(parsed.refused, 4, 'TCP, multicast, link-local, unknown type');
});

test('fault tolerance: one gratuitous UPDATE on the one SA lists every locator; nothing when already announced', () => {
  const own = [loc('192.0.2.1', 'wifi0'), loc('203.0.113.7', 'cell0', true)];
  const step = nextLocatorStep('fault-tolerance', own, [{ inboundSpi: 0x100, ifname: 'wifi0' }], undefined);
  assert.equal(step.kind, 'gratuitous');
  if (step.kind !== 'gratuitous') return;
  assert.equal(step.spi, 0x100);
  assert.deepEqual(step.listing.map((e) => [e.locator.address, e.spi, e.preferred]), [['192.0.2.1', 0x100, false], ['203.0.113.7', 0x100, true]]);
  assert.deepEqual(nextLocatorStep('fault-tolerance', own, [{ inboundSpi: 0x100, ifname: 'wifi0' }], listingFingerprint(step.listing)), { kind: 'none' });
  assert.deepEqual(nextLocatorStep('fault-tolerance', [], [{ inboundSpi: 0x100, ifname: 'wifi0' }], undefined), { kind: 'none' }, 'no address: nothing to say');
  const one = nextLocatorStep('fault-tolerance', [loc('192.0.2.1', 'wifi0')], [{ inboundSpi: 0x100, ifname: 'wifi0' }], undefined);
  assert.ok(one.kind === 'gratuitous' && one.listing[0]!.preferred, 'with no preference the first locator is preferred');
});

test('simultaneous: a new interface first gets an SA; then gone interfaces are deprecated; then listings refreshed', () => {
  const wifi = loc('192.0.2.1', 'wifi0', true);
  const cell = loc('203.0.113.7', 'cell0');
  const cell2 = loc('203.0.113.8', 'cell0');
  const add = nextLocatorStep('simultaneous', [wifi, cell, cell2], [{ inboundSpi: 0x100, ifname: 'wifi0' }], undefined);
  assert.equal(add.kind, 'new-sa');
  if (add.kind !== 'new-sa') return;
  assert.equal(add.ifname, 'cell0');
  assert.equal(add.from.address, '203.0.113.7');
  assert.deepEqual(add.listing(0x200).map((e) => [e.locator.address, e.spi]), [['192.0.2.1', 0x100], ['203.0.113.7', 0x200], ['203.0.113.8', 0x200]]);
  const sas = [{ inboundSpi: 0x100, ifname: 'wifi0' }, { inboundSpi: 0x200, ifname: 'cell0' }];
  const drop = nextLocatorStep('simultaneous', [cell], sas, listingFingerprint(add.listing(0x200)));
  assert.equal(drop.kind, 'deprecate');
  if (drop.kind !== 'deprecate') return;
  assert.equal(drop.spi, 0x100);
  assert.deepEqual(drop.listing.map((e) => [e.locator.address, e.spi, e.preferred]), [['203.0.113.7', 0x200, true]]);
  // Wifi is back while its old SA is still listed as ours: it keeps that SA.
  const refresh = nextLocatorStep('simultaneous', [wifi, cell], sas, listingFingerprint(drop.listing));
  assert.equal(refresh.kind, 'gratuitous');
  // A base SA whose interface we never knew counts as gone once another interface has an SA.
  assert.equal(nextLocatorStep('simultaneous', [cell], [{ inboundSpi: 0x100, ifname: undefined }], undefined).kind, 'new-sa');
  assert.equal(nextLocatorStep('simultaneous', [cell], [{ inboundSpi: 0x100, ifname: undefined }, { inboundSpi: 0x200, ifname: 'cell0' }], undefined).kind, 'deprecate');
});

test('pair-probe report: probe ids round-trip; malformed or oversized reports are ignored', () => {
  assert.equal(probeIdFromOpaque(probeIdOpaque(0xdeadbeef)), 0xdeadbeef);
  assert.equal(probeIdFromOpaque(new Uint8Array(16)), undefined, 'a 16-octet nonce is not a probe id');
  const p = encodeProbeReport([1, 2, 0xffffffff]);
  assert.equal(p.critical, false);
  assert.deepEqual(decodeProbeReport([p]), [1, 2, 0xffffffff]);
  assert.deepEqual(decodeProbeReport([encodeProbeReport([])]), []);
  assert.equal(decodeProbeReport([]), undefined);
  assert.equal(decodeProbeReport([{ ...p, value: new Uint8Array(5) }]), undefined);
  assert.equal(decodeProbeReport([{ ...p, value: new Uint8Array(4 * (MAX_REPORTED_PROBES + 1)) }]), undefined);
  const many = Array.from({ length: 100 }, (_, i) => i);
  assert.deepEqual(decodeProbeReport([encodeProbeReport(many)]), many.slice(-MAX_REPORTED_PROBES), 'the most recent ids are kept');
  const round = decodeParams(encodeParam(p));
  assert.ok(round.ok && round.params[0]?.kind === 'UNKNOWN', 'an unknown, non-critical parameter to the codec');
});

test('pair-probe SPI: the SA pair a probe or echo answer names for its source round-trips; 0, malformed or absent names none', () => {
  const p = encodeProbeSpi(0xfedcba98);
  assert.equal(p.critical, false);
  assert.equal(p.type % 2, 0, 'even: non-critical, so a peer that does not know it ignores it');
  assert.ok(p.type > PAIR_PROBE_REPORT_TYPE && p.type < 49152, 'in the experimental range, after the report, below HIP_MAC');
  assert.equal(p.type, PAIR_PROBE_SPI_TYPE);
  assert.equal(decodeProbeSpi([encodeProbeReport([7]), p]), 0xfedcba98);
  assert.equal(decodeProbeSpi([encodeProbeSpi(0)]), undefined);
  assert.equal(decodeProbeSpi([{ ...p, value: new Uint8Array(8) }]), undefined);
  assert.equal(decodeProbeSpi([encodeProbeReport([7])]), undefined);
  const round = decodeParams(encodeParam(p));
  assert.ok(round.ok && round.params[0]?.kind === 'UNKNOWN', 'an unknown, non-critical parameter to the codec');
});
