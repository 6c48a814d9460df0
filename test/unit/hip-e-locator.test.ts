// E-LOCATOR on the wire (seed 002 §4): the layout worked out by hand, what a peer reads back from
// what we announce, no LSI ever leaving the host, the parameter's non-critical type, and every
// malformed or unusable input refused with a reason, never a throw.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeParamValue, encodeParamValue } from '../../src-main/hip/wire/param-codec.js';
import { decodePacket, encodePacket, encodeParam } from '../../src-main/hip/wire/codec.js';
import { isCriticalParamType, PacketType, ParamType } from '../../src-main/hip/wire/constants.js';
import { encodeFlowOption, decodeFlowIdentification } from '../../src-main/hip/wire/flow-identification.js';
import type { ELocator } from '../../src-main/hip/wire/params.js';
import { buildLocatorSet, type OwnLocator } from '../../src-main/hip/local-locators.js';
import { FlowBindings, buildELocator, peerFlowsFrom, wireSelector, type AnnouncedFlow } from '../../src-main/hip/flow-announcement.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const WIFI: OwnLocator = { address: '192.0.2.1', port: 10500, ifname: 'wifi0', kind: 'wifi', preferred: true };
const CELL: OwnLocator = { address: '203.0.113.7', port: 10500, ifname: 'cell0', kind: 'cellular', preferred: false };
const SPI = 0x0badcafe;
const listing = buildLocatorSet([WIFI, CELL].map((l) => ({ locator: { address: l.address, port: l.port }, spi: SPI, preferred: l.preferred })), 120);
const HTTPS: AnnouncedFlow = { fid: 7, selector: { protocol: 'tcp', remotePorts: { from: 443, to: 443 } }, ifname: 'cell0' };
const RTP: AnnouncedFlow = { fid: 9, selector: { protocol: 'udp', localPorts: { from: 5004, to: 5010 } }, ifname: 'wifi0' };

test('the type is experimental and not critical: a host that does not know it ignores it (RFC 7401 §5.2.1)', () => {
  assert.ok(ParamType.E_LOCATOR >= 32768 && ParamType.E_LOCATOR <= 49151, 'in the range kept for experiments');
  assert.equal(isCriticalParamType(ParamType.E_LOCATOR), false);
  // below HIP_MAC and the signatures, so both cover it
  assert.ok(ParamType.E_LOCATOR < ParamType.HIP_MAC);
});

test('layout: locator header with F and P, the type-2 locator, then the flow option padded to 4 octets', () => {
  const { param, unbound } = buildELocator([HTTPS], [WIFI, CELL], listing);
  assert.equal(unbound, 0);
  const tlv = encodeParam(param);
  assert.equal(toHex(tlv.subarray(0, 2)), 'a042', 'type 41026');
  const v = encodeParamValue(param);
  // traffic type 0, locator type 2, 7 units, flags F|P... the cell locator is not preferred: F only
  assert.equal(toHex(v.subarray(0, 4)), '00020702');
  assert.equal(toHex(v.subarray(4, 8)), '00000078', 'lifetime 120 s');
  const option = v.subarray(8 + 28);
  assert.equal(option[0], 36, 'RFC 6089 Flow Identification option follows the locator');
  assert.equal(option.length % 4, 0, 'padded so a next locator would start aligned');
  assert.equal(option[1]! + 2, option.length);
  // FID 7, FID-PRI 0, status 0, traffic selector sub-option of 9 octets (format, reserved, flags,
  // port, protocol) in IPv4 binary format; 19 octets in all, so one Pad1 octet ends it
  assert.equal(toHex(option.subarray(2, 12)), '0007' + '0000' + '00' + '00' + '03' + '09' + '01' + '00');
  assert.equal(option.length, 20);
  assert.equal(option[19], 0, 'Pad1');
  const fid = decodeFlowIdentification(option);
  assert.ok(fid.ok);
  // The peer sends this flow from its port 443: on the wire that is the SOURCE port (mirrored).
  assert.deepEqual(fid.value.selector, { family: 4, sourcePort: { start: 443 }, protocol: { start: 6 } });
});

test('round trip: the peer reads each FID bound to our locator on its interface, selector as we wrote it', () => {
  const { param } = buildELocator([HTTPS, RTP, { fid: 11, selector: { protocol: 'any' }, ifname: null }], [WIFI, CELL], listing);
  const pkt = { packetType: PacketType.UPDATE, controls: 0, senderHit: new Uint8Array(16).fill(0x20), receiverHit: new Uint8Array(16).fill(0x21), params: [listing, param] };
  const decoded = decodePacket(encodePacket(pkt));
  assert.ok(decoded.ok);
  const back = decoded.packet.params.find((p): p is ELocator => p.kind === 'E_LOCATOR')!;
  const read = peerFlowsFrom([back], 10500, [WIFI, CELL]);
  assert.ok(read.ok);
  assert.deepEqual(read.bindings, [
    { fid: 7, selector: HTTPS.selector, locator: { address: CELL.address, port: 10500 } },
    { fid: 9, selector: RTP.selector, locator: { address: WIFI.address, port: 10500 } },
  ], 'a flow with no interface is not announced');
  assert.equal(read.unlisted, 0);
});

test('no LSI goes on the wire; a HIT prefix does', () => {
  const lsiFlow: AnnouncedFlow = { fid: 3, selector: { protocol: 'tcp', localPrefix: '1.0.3.4', remotePrefix: '1.7.0.0/16', localPorts: { from: 22, to: 22 } }, ifname: 'wifi0' };
  const ts = wireSelector(lsiFlow.selector);
  assert.ok(ts.ok);
  assert.deepEqual(ts.value, { family: 4, destinationPort: { start: 22 }, protocol: { start: 6 } });
  const bytes = encodeParamValue(buildELocator([lsiFlow], [WIFI], listing).param);
  assert.ok(!toHex(bytes).includes('01000304') && !toHex(bytes).includes('01070000'), 'neither LSI is in the parameter');
  const hit = wireSelector({ protocol: 'any', remotePrefix: '2001:20::/28' });
  assert.ok(hit.ok);
  assert.equal(hit.value.family, 6);
  assert.ok(hit.value.source !== undefined, 'the peer HIT prefix stays: a HIT means the same on both hosts');
});

test('malformed framing is refused by the codec with a reason', () => {
  const good = encodeParamValue(buildELocator([HTTPS], [WIFI, CELL], listing).param);
  const cases: [string, Uint8Array, RegExp][] = [
    ['F flag with nothing after the locator', good.slice(0, 36), /F flag but no flow identification option/],
    ['another option type', (() => { const c = good.slice(); c[36] = 35; return c; })(), /option type 35 .* is not flow identification/],
    ['option longer than the parameter', (() => { const c = good.slice(); c[37] = 200; return c; })(), /runs \d+ octets past the parameter/],
    ['option not padded to 4', (() => { const c = good.slice(0, good.length - 1); c[37] = c[37]! - 1; return c; })(), /not padded to a multiple of 4/],
    ['type-2 locator of the wrong length', (() => { const c = good.slice(); c[2] = 6; return c; })(), /locator type 2 has length 6, must be 7/],
    ['a header cut short', good.slice(0, 5), /a locator header needs 8/],
  ];
  for (const [what, value, reason] of cases) {
    const r = decodeParamValue(ParamType.E_LOCATOR, value, []);
    assert.ok(!r.ok, `${what}: refused`);
    assert.match(r.detail, reason, what);
  }
});

test('a set with a FID we cannot apply exactly is refused whole; locators outside the listing are counted', () => {
  const locator = listing.locators[1]!;
  const withOption = (flowOption: Uint8Array): ELocator => ({ kind: 'E_LOCATOR', locators: [{ ...locator, flowOption }] });
  const noSelector = peerFlowsFrom([withOption(encodeFlowOption({ fid: 4, priority: 0, status: 0 }))], 10500, [CELL]);
  assert.deepEqual(noSelector, { ok: false, error: 'locator 1: FID 4 carries no traffic selector' });
  const spi = peerFlowsFrom([withOption(encodeFlowOption({ fid: 4, priority: 0, status: 0, selector: { family: 4, spi: { start: 9 } } }))], 10500, [CELL]);
  assert.deepEqual(spi, { ok: false, error: 'locator 1: FID 4: selecting by IPsec SPI is not supported' });
  const badRange = withOption(encodeFlowOption({ fid: 4, priority: 0, status: 0, selector: { family: 4, sourcePort: { start: 9, end: 3 } } }));
  const range = peerFlowsFrom([badRange], 10500, [CELL]);
  assert.ok(!range.ok && /ends before it starts/.test(range.error));
  const good = withOption(encodeFlowOption({ fid: 4, priority: 0, status: 0, selector: { family: 4, protocol: { start: 17 } } }));
  const unlisted = peerFlowsFrom([good], 10500, [WIFI]);
  assert.deepEqual(unlisted, { ok: true, bindings: [], unlisted: 1 });
  const plain = peerFlowsFrom([{ kind: 'E_LOCATOR', locators: [locator] }], 10500, [CELL]);
  assert.deepEqual(plain, { ok: true, bindings: [], unlisted: 0 }, 'a locator without F binds no flow');
});

test('flow state: a new set is pending until the packet carrying it is acknowledged; an older peer UPDATE changes nothing', () => {
  const drops: string[] = [];
  const f = new FlowBindings(true);
  assert.equal(f.acked, true, 'nothing announced, nothing pending');
  assert.equal(f.eLocator([WIFI, CELL], listing), undefined, 'no E-LOCATOR before any flow was announced');
  assert.equal(f.set([HTTPS]), true);
  assert.equal(f.set([HTTPS]), false, 'the same set again is no change');
  assert.equal(f.pending, true);
  f.sentIn(5);
  f.set([HTTPS, RTP]);
  f.ackedBy(5);
  assert.equal(f.acked, false, 'the acknowledged packet carried an older set');
  f.sentIn(6);
  f.ackedBy(6);
  assert.equal(f.acked, true);
  f.set([]);
  assert.deepEqual(f.eLocator([WIFI, CELL], listing), { kind: 'E_LOCATOR', locators: [] }, 'an empty set withdraws the bindings');

  const peerSet = (fid: number): ELocator => buildELocator([{ ...HTTPS, fid }], [WIFI, CELL], listing).param;
  f.fromPeer(10, [peerSet(1)], 10500, [CELL], (r) => drops.push(r));
  f.fromPeer(9, [peerSet(2)], 10500, [CELL], (r) => drops.push(r));
  assert.deepEqual(f.peerFlows().map((b) => b.fid), [1], 'UPDATE 9 arrived after 10 and is older');
  f.fromPeer(11, [], 10500, [CELL], (r) => drops.push(r));
  assert.deepEqual(f.peerFlows().map((b) => b.fid), [1], 'a packet without E-LOCATOR keeps the set');
  f.fromPeer(12, [peerSet(3)], 10500, [WIFI], (r) => drops.push(r));
  assert.deepEqual(f.peerFlows(), [], 'the new set replaces the old one as a whole');
  assert.deepEqual(drops, ['e-locator-unlisted']);

  const off = new FlowBindings(false, [HTTPS]);
  assert.equal(off.eLocator([WIFI, CELL], listing), undefined, 'a host that does not know E-LOCATOR sends none');
  off.fromPeer(1, [peerSet(1)], 10500, [CELL], (r) => drops.push(r));
  assert.deepEqual(off.peerFlows(), [], '... and reads none');
});
