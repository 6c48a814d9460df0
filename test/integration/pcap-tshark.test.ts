// tshark, run as a child process, decodes the captures PcapWriter writes (test/unit/pcap.test.ts
// covers the reader and writer on their own): every IP, UDP and HIP checksum good, the HIP
// packet and its sender HIT recognised.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, ipv4Packet, ipv4UdpPacket, ipv6UdpPacket } from '../../src-main/platform/pcap.js';
import { encodePacket, hipChecksum } from '../../src-main/hip/wire/codec.js';
import { HIT_I, HIT_R } from '../fixtures/wire-samples.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hipI1 = encodePacket({ packetType: 1, controls: 0, senderHit: HIT_I, receiverHit: HIT_R, params: [{ kind: 'DH_GROUP_LIST', groups: [7] }] });
const udpHip = () => Uint8Array.from([0, 0, 0, 0, ...hipI1]); // RFC 9028 §5.1: 32 zero bits, then HIP

test('tshark decodes the writer\'s HIP captures with good checksums', () => {
  const probe = spawnSync('tshark', ['-v'], { encoding: 'utf8' });
  assert.ok(!probe.error && probe.status === 0, 'tshark is required (Debian: apt-get install tshark; .ci/run installs it)');
  const dir = mkdtempSync(join(tmpdir(), 'hipvpn-tshark-'));
  try {
    for (const linkType of [LINKTYPE_RAW, LINKTYPE_ETHERNET] as const) {
      const w = new PcapWriter({ linkType });
      w.writeIp(ipv4UdpPacket('192.0.2.1', '192.0.2.2', 10500, 10500, udpHip()), 1_700_000_000_000);
      w.writeIp(ipv6UdpPacket('2001:db8::1', '2001:db8::2', 10500, 10500, udpHip()), 1_700_000_000_001);
      const raw = hipI1.slice();
      const sum = hipChecksum(raw, Uint8Array.from([192, 0, 2, 1]), Uint8Array.from([192, 0, 2, 2]));
      raw[4] = sum >> 8;
      raw[5] = sum & 0xff;
      w.writeIp(ipv4Packet('192.0.2.1', '192.0.2.2', 139, raw), 1_700_000_000_002);
      const path = join(dir, `hip-${linkType}.pcap`);
      writeFileSync(path, w.toBytes());
      const out = spawnSync('tshark', [
        '-r', path, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=,',
        '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'hip.packet_type', '-e', 'hip.checksum.status', '-e', 'hip.hit_sndr',
      ], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      // status 1 = good; IPv6 has no header checksum, raw HIP has no UDP
      const hit = toHex(HIT_I);
      assert.deepEqual(out.stdout.trim().split('\n'), [`1,1,1,1,${hit}`, `,1,1,1,${hit}`, `1,,1,1,${hit}`]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
