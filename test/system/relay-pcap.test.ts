// What crosses the relay's interface, decoded by tshark: alice and bob behind NATs run their base
// exchange through `hipvpn relay serve` and send traffic through it; dumpcap on the relay's eth0
// records it all, and tshark must find no malformed packet, decode every HIP packet (I1, R1, I2,
// R2, UPDATE) as HIP with good checksums and parameters that tile the packet, find RELAY_FROM / RELAY_TO / RELAY_HMAC where RFC 9028
// puts them on the relayed packets, and decode every other datagram on UDP 10500 as ESP.
// Needs root, dumpcap and tshark.
//
//   node --import tsx --test test/system/relay-pcap.test.ts

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Capture } from '../../lab/capture.js';
import { buildNatLab, type NatLab } from '../../lab/nat.js';
import { RELAY_PORT, startRelayedPair, waitRegistered, waitRelayedEstablished } from '../../lab/relay-scenario.js';
import { ping, transfer } from '../../lab/traffic.js';
import { PacketType, ParamType } from '../../src-main/hip/wire/constants.js';

/** Wireshark's expert severity for errors (malformed packets are errors too). */
const EXPERT_ERROR = 0x00800000;
/**
 * Warnings a correct packet still gets from tshark 4.0's HIP dissector: it reads HOST_ID with
 * HIPv1's DNSKEY-style header (flags, protocol, algorithm), where RFC 7401 §5.2.9 has a 16-bit
 * algorithm (ours: 7, ECDSA) followed by the key's curve, so it reports an algorithm it does not know.
 */
const DISSECTOR_WARNINGS = new Set(['Unknown algorithm type']);
/**
 * The relay forwards ESP as it came, so each packet crosses its interface twice (in, then out)
 * with one SPI and sequence number, and tshark's per-SPI sequence analysis reads that as repeats,
 * steps back and gaps.
 */
const ESP_SEQUENCE_WARNING = /^esp: Wrong Sequence Number for SPI [0-9a-f]+ - \d+ (repeated|less than expected|missing)$/;
/** Larger than any datagram on a 1500-octet link: a GSO super-packet that never was on a wire. */
const WIRE_MTU = 1500;

interface HipRow {
  readonly frame: number;
  readonly src: string;
  readonly dst: string;
  readonly packetType: number;
  readonly sender: string;
  readonly receiver: string;
  readonly params: number[];
  readonly checksumGood: boolean;
}

function tshark(file: string, args: readonly string[]): string {
  const out = spawnSync('tshark', ['-r', file, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(out.status, 0, `tshark ${args.join(' ')}: ${out.stderr}`);
  return out.stdout;
}

function fields(file: string, names: readonly string[], extra: readonly string[] = []): string[][] {
  const out = tshark(file, [...extra, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...names.flatMap((n) => ['-e', n])]);
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

/** tshark prints HITs as 32 hex digits; status prints them as IPv6 text. */
function hitHex(hit: string): string {
  const [head = '', tail = ''] = hit.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = hit.includes('::') ? [...groups(head), ...Array<string>(missing).fill('0'), ...groups(tail)] : groups(hit);
  return all.map((g) => g.padStart(4, '0')).join('');
}

/**
 * tshark's HIP dissector walks the parameters without flagging a length that overruns the packet
 * or leaves a gap, so the layout is checked from its PDML: each parameter's 4 + length octets,
 * padded to 8 (RFC 7401 §5.2.1), start where the previous one ended, and the last ends where the
 * header length says the packet does, which is where the datagram ends.
 */
function parameterLayoutProblems(file: string): string[] {
  const problems: string[] = [];
  const pdml = tshark(file, ['-Y', 'hip', '-T', 'pdml']);
  for (const packet of pdml.split('<packet>').slice(1)) {
    const frame = /name="frame.number"[^>]* show="(\d+)"/.exec(packet)?.[1] ?? '?';
    const frameLen = Number(/name="frame.len"[^>]* show="(\d+)"/.exec(packet)?.[1]);
    const proto = /<proto name="hip" [^>]*size="(\d+)" pos="(\d+)"/.exec(packet);
    const hdrLen = Number(/name="hip.hdr_len"[^>]* show="(\d+)"/.exec(packet)?.[1]);
    if (!proto) {
      problems.push(`frame ${frame}: no HIP protocol tree`);
      continue;
    }
    const [hipSize, hipPos] = [Number(proto[1]), Number(proto[2])];
    const end = hipPos + (hdrLen + 1) * 8;
    if (end !== frameLen) problems.push(`frame ${frame}: the HIP header length ends the packet at ${end}, the frame has ${frameLen} octets`);
    if (hipSize !== (hdrLen + 1) * 8) problems.push(`frame ${frame}: tshark took ${hipSize} octets as HIP, the header length says ${(hdrLen + 1) * 8}`);
    let next = hipPos + 40;
    // Top-level parameters only: six spaces deep in tshark's PDML, under "HIP Parameters".
    for (const param of packet.matchAll(/^ {6}<field name="hip.type" showname="([^"]*)" size="\d+" pos="(\d+)"/gm)) {
      const declared = /\(type=(\d+), length=(\d+)\)/.exec(param[1]!);
      const pos = Number(param[2]);
      if (!declared) {
        problems.push(`frame ${frame}: parameter at ${pos} shown as ${param[1]}`);
        break;
      }
      if (pos !== next) problems.push(`frame ${frame}: parameter ${declared[1]} at ${pos}, expected at ${next}`);
      next = pos + Math.ceil((4 + Number(declared[2])) / 8) * 8;
    }
    if (next !== end) problems.push(`frame ${frame}: the parameters end at ${next}, the packet at ${end}`);
  }
  return problems;
}

/**
 * dumpcap sees a daemon's UDP GSO sends (and what veths forward unsegmented) as one datagram
 * of up to 64 KB holding many ESP packets. Allowing one segment per packet on both ends of the
 * relay's link makes the kernel split them before the capture point, so the pcap holds what a
 * real link carries.
 */
async function wireSizedPackets(net: NatLab): Promise<void> {
  await net.relay.ip(['link', 'set', 'dev', 'eth0', 'gso_max_segs', '1']);
  await net.internet.ip(['link', 'set', 'dev', 'to_relay', 'gso_max_segs', '1']);
}

test('a base exchange and traffic through the relay, captured on its interface, decode in tshark with no malformed packet', { timeout: 120_000 }, async () => {
  const probe = spawnSync('tshark', ['-v'], { encoding: 'utf8' });
  assert.ok(!probe.error && probe.status === 0, 'tshark is required (Debian: apt-get install tshark)');
  const net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'symmetric' });
  try {
    await wireSizedPackets(net);
    const capture = await Capture.start(net.relay, 'eth0', `udp port ${RELAY_PORT}`);
    const pair = await startRelayedPair(net);
    await waitRegistered([pair.aliceVpn, pair.bobVpn]);
    await waitRelayedEstablished(pair);
    const forward = await ping(net.alice, pair.bobId.hit, 5);
    assert.ok(forward.ok, `alice -> bob by HIT:\n${forward.output}`);
    const back = await ping(net.bob, pair.aliceId.hit, 5);
    assert.ok(back.ok, `bob -> alice by HIT:\n${back.output}`);
    const [sent, received] = await transfer(net.bob, net.alice, pair.aliceId.hit, 1024 * 1024, 7101);
    assert.equal(received.sha256, sent.sha256);
    const datagrams = await capture.stop();
    try {
      const relayHit = hitHex((await pair.relay.identity()).hit);
      const [alice, bob] = [hitHex(pair.aliceId.hit), hitHex(pair.bobId.hit)];
      const relayAddress = pair.relay.address;

      const all = fields(capture.file, ['frame.number', 'udp.length']);
      const oversized = all.filter((r) => Number(r[1]) + 20 > WIRE_MTU);
      assert.deepEqual(oversized.map((r) => `${r[0]}: ${r[1]}`), [], 'datagrams larger than the link carries');
      assert.ok(all.length > 1000, `captured ${all.length} frames`);
      assert.equal(all.length, datagrams.length, 'tshark and our reader count the same frames');

      // Each datagram under the dissector for what it is: HIP as tshark decodes UDP 10500 by
      // default, ESP through its UDP-encapsulation dissector (RFC 3948: a non-zero first word is
      // ESP, as RFC 9028 §5.1 frames it). Left to itself, tshark hands ESP on port 10500 to its
      // heuristic dissectors, and an SPI that happens to look like a DNS header then decodes as a
      // malformed DNS response: a misreading of random-looking octets, not a fault in them.
      const judged = [
        ...fields(capture.file, ['frame.number', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message'], ['-Y', 'hip']).map((r) => ({ proto: 'hip', row: r })),
        ...fields(capture.file, ['frame.number', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message'], ['-d', `udp.port==${RELAY_PORT},udpencap`, '-Y', 'esp']).map((r) => ({ proto: 'esp', row: r })),
      ];
      assert.equal(judged.length, datagrams.length, 'every datagram is HIP or ESP');
      assert.deepEqual(judged.filter((j) => j.row[1] !== '').map((j) => `${j.proto} ${j.row[0]}`), [], 'malformed frames');
      const errors = judged.filter((j) => (j.row[2] ?? '').split(',').some((s) => s !== '' && Number(s) >= EXPERT_ERROR));
      assert.deepEqual(errors.map((j) => `${j.proto} ${j.row[0]}: ${j.row[3]}`), [], 'frames with expert errors');
      const warnings = new Set(judged.flatMap((j) => (j.row[3] ?? '').split(',').filter((m) => m !== '').map((m) => `${j.proto}: ${m}`)));
      const unexpected = [...warnings].filter((w) => !(w.startsWith('hip: ') && DISSECTOR_WARNINGS.has(w.slice(5))) && !ESP_SEQUENCE_WARNING.test(w));
      assert.deepEqual(unexpected, [], 'expert warnings');
      const espCount = judged.filter((j) => j.proto === 'esp').length;
      const spis = new Set(fields(capture.file, ['esp.spi'], ['-d', `udp.port==${RELAY_PORT},udpencap`, '-Y', 'esp']).map((r) => r[0]));

      // Every HIP control datagram (zero marker) decodes as HIP, with a good checksum.
      const hip: HipRow[] = fields(capture.file, ['frame.number', 'ip.src', 'ip.dst', 'hip.packet_type', 'hip.hit_sndr', 'hip.hit_rcvr', 'hip.type', 'hip.checksum.status'], ['-Y', 'hip']).map(
        (r) => ({
          frame: Number(r[0]),
          src: r[1]!,
          dst: r[2]!,
          packetType: Number(r[3]),
          sender: r[4]!,
          receiver: r[5]!,
          params: (r[6] ?? '').split(',').filter((t) => t !== '').map(Number),
          checksumGood: r[7] === '1',
        }),
      );
      const controlDatagrams = datagrams.filter((d) => d.payload.length >= 4 && (d.payload[0]! | d.payload[1]! | d.payload[2]! | d.payload[3]!) === 0);
      assert.equal(hip.length, controlDatagrams.length, 'every zero-marker datagram is decoded as HIP');
      assert.deepEqual(hip.filter((r) => !r.checksumGood).map((r) => r.frame), [], 'HIP checksums');
      assert.deepEqual(parameterLayoutProblems(capture.file), [], 'HIP parameter layout');

      // The relayed ones: between alice and bob, each way through the relay.
      const isPair = (r: HipRow): boolean => (r.sender === alice && r.receiver === bob) || (r.sender === bob && r.receiver === alice);
      const relayed = hip.filter(isPair);
      const toRelay = relayed.filter((r) => r.dst === relayAddress);
      const fromRelay = relayed.filter((r) => r.src === relayAddress);
      for (const type of [PacketType.I1, PacketType.R1, PacketType.I2, PacketType.R2, PacketType.UPDATE]) {
        assert.ok(toRelay.some((r) => r.packetType === type), `a relayed packet of type ${type} reaching the relay`);
        assert.ok(fromRelay.some((r) => r.packetType === type), `a relayed packet of type ${type} leaving the relay`);
      }
      const has = (r: HipRow, type: number): boolean => r.params.includes(type);
      // Out of the relay: RELAY_FROM with the relay's RELAY_HMAC, or the sender's RELAY_TO kept for the receiver.
      const unmarked = fromRelay.filter((r) => !(has(r, ParamType.RELAY_FROM) && has(r, ParamType.RELAY_HMAC)) && !has(r, ParamType.RELAY_TO));
      assert.deepEqual(unmarked.map((r) => r.frame), [], 'relayed packets leaving the relay with neither RELAY_FROM + RELAY_HMAC nor RELAY_TO');
      assert.ok(fromRelay.some((r) => has(r, ParamType.RELAY_FROM)), 'a relayed packet carries RELAY_FROM');
      // Into the relay, a client naming the destination authenticates it to the relay.
      const unauthenticated = toRelay.filter((r) => has(r, ParamType.RELAY_TO) && !has(r, ParamType.RELAY_HMAC));
      assert.deepEqual(unauthenticated.map((r) => r.frame), [], 'RELAY_TO without RELAY_HMAC reaching the relay');
      assert.ok(toRelay.some((r) => has(r, ParamType.RELAY_TO)), 'a client sends RELAY_TO');
      // The relay's own exchanges with its clients carry none of the relaying parameters.
      const relayParams = [ParamType.RELAY_FROM, ParamType.RELAY_TO, ParamType.RELAY_HMAC];
      const own = hip.filter((r) => r.sender === relayHit || r.receiver === relayHit);
      assert.ok(own.some((r) => r.packetType === PacketType.R1 && has(r, ParamType.REG_INFO)), 'the relay offers registration in its R1');
      assert.deepEqual(own.filter((r) => relayParams.some((t) => has(r, t))).map((r) => r.frame), [], 'relaying parameters on the relay\'s own packets');

      // ESP in UDP 10500, one SPI each way at least.
      console.log(
        `relay capture: ${datagrams.length} datagrams, ${hip.length} HIP (${relayed.length} relayed between alice and bob), ` +
          `${espCount} ESP on ${spis.size} SPIs; tshark warnings: ${[...new Set([...warnings].map((w) => w.replace(/SPI \w+ - \d+/, 'SPI x - n')))].join('; ') || 'none'}`,
      );
      assert.ok(spis.size >= 2, `ESP seen in UDP ${RELAY_PORT} on ${spis.size} SPIs (one each way)`);
    } catch (error) {
      // The lab and its scratch dir go at teardown; the capture stays for a look in Wireshark.
      const kept = join(tmpdir(), `hipvpn-relay-capture-${Date.now()}.pcapng`);
      copyFileSync(capture.file, kept);
      console.log(`capture kept: ${kept}`);
      throw error;
    }
  } finally {
    await net.lab.teardown();
  }
});
