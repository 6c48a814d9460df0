// The wire form of flow bindings (seed 002 §4 carries RFC 6089's Flow Identification option,
// which carries RFC 6088's binary traffic selectors): byte layouts worked out by hand from the
// RFCs' figures, round trips, and every malformed input refused with a reason, never a throw.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeBinarySelector, decodeFlowIdentification, encodeBinarySelector, encodeFlowIdentification, fromBinarySelector, toBinarySelector,
  FLOW_IDENTIFICATION_OPTION, type BinaryTrafficSelector,
} from '../../src-main/flows/binary-selector.js';
import type { FlowSelector } from '../../src-main/flows/traffic-selector.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function binary(s: FlowSelector, family: 4 | 6): BinaryTrafficSelector {
  const r = toBinarySelector(s, family);
  assert.ok(r.ok, `selector converts: ${r.ok ? '' : r.error}`);
  return r.value;
}

test('IPv4 binary selector: peer prefix as a source range, our port as destination, protocol (RFC 6088 §3.1)', () => {
  // The peer sends the flow to us: source = the peer's side, destination = ours.
  const ts = binary({ protocol: 'tcp', localPorts: { from: 443, to: 443 }, remotePrefix: '192.0.2.0/24' }, 4);
  // flags A|B (source start/end), I (destination port start), M (protocol start)
  assert.equal(toHex(encodeBinarySelector(ts)), 'c0880000' + 'c0000200' + 'c00002ff' + '01bb' + '06');
});

test('IPv6 binary selector: a source port range and the next header (RFC 6088 §3.2)', () => {
  const ts = binary({ protocol: 'udp', remotePorts: { from: 5004, to: 5010 } }, 6);
  // flags I|J (source port start/end), O (next header start); G/H are the flow label
  assert.equal(toHex(encodeBinarySelector(ts)), '00c20000' + '138c' + '1392' + '11');
  const icmp = binary({ protocol: 'icmp' }, 6);
  assert.equal(toHex(encodeBinarySelector(icmp)), '00020000' + '3a', 'icmp is ICMPv6 (58) in an IPv6 selector');
  assert.equal(toHex(encodeBinarySelector(binary({ protocol: 'icmp' }, 4))), '00080000' + '01', 'and ICMP (1) in an IPv4 one');
  assert.equal(toHex(encodeBinarySelector(binary({ protocol: 'any' }, 6))), '00000000', '"any" is a selector with no fields');
});

test('Flow Identification option: FID, FID-PRI, status and one traffic selector sub-option (RFC 6089 §4.2)', () => {
  const selector = binary({ protocol: 'tcp', localPorts: { from: 443, to: 443 }, remotePrefix: '192.0.2.0/24' }, 4);
  const option = encodeFlowIdentification({ fid: 7, priority: 7, status: 0, selector });
  assert.equal(toHex(option), [
    FLOW_IDENTIFICATION_OPTION.toString(16).padStart(2, '0'), '19', // type, 25 octets follow
    '0007', '0007', '00', '00', // FID, FID-PRI, reserved, status
    '03', '11', '01', '00', // TS sub-option, 17 octets follow: format IPv4 binary, reserved
    'c0880000c0000200c00002ff01bb06',
  ].join(''));
  const back = decodeFlowIdentification(option);
  assert.ok(back.ok, `decodes: ${back.ok ? '' : back.error}`);
  assert.equal(back.value.fid, 7);
  const flow = fromBinarySelector(back.value.selector!);
  assert.deepEqual(flow, { ok: true, value: { protocol: 'tcp', localPorts: { from: 443, to: 443 }, remotePrefix: '192.0.2.0/24' } }, 'the same flow comes back');
  const padded = hex(toHex(option).replace(/^(..)19/, '$1' + '1d') + '00' + '0101' + '00'); // Pad1, PadN(1), Pad1
  assert.equal(decodeFlowIdentification(padded).ok, true, 'padding sub-options are skipped');
});

test('round trips: model selector → binary → bytes → binary → model selector', () => {
  const cases: Array<[FlowSelector, 4 | 6]> = [
    [{ protocol: 'udp', localPorts: { from: 5000, to: 5100 }, remotePorts: { from: 53, to: 53 } }, 4],
    [{ protocol: 'any', localPrefix: '1.0.0.1', remotePrefix: '1.0.0.0/8' }, 4],
    [{ protocol: 'tcp', remotePrefix: '2001:20::/28', localPrefix: '2001:20::a11c' }, 6],
    [{ protocol: 'icmp' }, 6],
  ];
  for (const [s, family] of cases) {
    const bytes = encodeBinarySelector(binary(s, family));
    const decoded = decodeBinarySelector(family, bytes);
    assert.ok(decoded.ok, `decodes ${JSON.stringify(s)}`);
    assert.deepEqual(fromBinarySelector(decoded.value), { ok: true, value: s }, JSON.stringify(s));
  }
});

test('malformed selectors and options are refused with the reason', () => {
  const bad: Array<[4 | 6, string, RegExp]> = [
    [4, '400000', /4-octet flags word/],
    [4, '40000000c0000201', /source: an end value \(flag B\) without its start \(flag A\)/],
    [4, '00020000', /reserved flag bits are set \(0x00020000\)/],
    [4, '80000000c00002', /source: the selector ends inside its fields/],
    [4, '8000000001020304ff', /1 octets after the last field/],
    [4, '030000000050004f', /sourcePort: the range ends before it starts/], // G|H
    [6, '0200000000000001', /flow label fields \(G\/H\) are not supported/],
  ];
  for (const [family, bytes, message] of bad) {
    const r = decodeBinarySelector(family, hex(bytes));
    assert.equal(r.ok, false, `${bytes} is refused`);
    assert.match((r as { error: string }).error, message);
  }
  const unusable: Array<[BinaryTrafficSelector, RegExp]> = [
    [{ family: 4, spi: { start: 1 } }, /IPsec SPI is not supported/],
    [{ family: 4, trafficClass: { start: 46 } }, /DS field is not supported/],
    [{ family: 4, protocol: { start: 50 } }, /protocol 50 is not one this host selects by/],
    [{ family: 4, protocol: { start: 6, end: 17 } }, /protocol 6-17/],
    [{ family: 4, source: { start: hex('c0000201'), end: hex('c0000210') } }, /address range 192\.0\.2\.1-192\.0\.2\.16 is not a prefix/],
    [{ family: 4, destinationPort: { start: 0 } }, /port 0/],
  ];
  for (const [ts, message] of unusable) {
    const r = fromBinarySelector(ts);
    assert.equal(r.ok, false, `${JSON.stringify(ts)} cannot be applied exactly`);
    assert.match((r as { error: string }).error, message);
  }
  const option = (body: string) => hex(FLOW_IDENTIFICATION_OPTION.toString(16) + (body.length / 2).toString(16).padStart(2, '0') + body);
  const badOptions: Array<[Uint8Array, RegExp]> = [
    [hex('00'), /at least 8 octets/],
    [hex('0106000100010000'), /option type 1 is not flow identification/],
    [hex(`${FLOW_IDENTIFICATION_OPTION.toString(16)}09000100010000`), /option length 9 does not match the 6 octets/],
    [option('00010001000002020001'), /binding references/],
    [option('000100010000090100'), /unknown sub-option 9/],
    [option('0001000100000304030000000000'), /traffic selector format 3 is not supported/],
    [option('00010001000003060100000000000306010000000000'), /more than one traffic selector/],
    [option('0001000100000309'), /sub-option 3 runs past the end/],
  ];
  for (const [bytes, message] of badOptions) {
    const r = decodeFlowIdentification(bytes);
    assert.equal(r.ok, false, `${toHex(bytes)} is refused`);
    assert.match((r as { error: string }).error, message);
  }
  assert.deepEqual(toBinarySelector({ protocol: 'any', remotePrefix: '1.0.0.0/8' }, 6), { ok: false, error: '1.0.0.0/8 is IPv4; this selector is IPv6' });
});
