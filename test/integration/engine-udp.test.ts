// Two engines over real UDP sockets on loopback: a base exchange, ESP payloads both ways,
// CLOSE, and what happens to packets that are forged or replayed on the wire. The run is
// captured to a pcap that tshark must decode without a malformed packet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PcapWriter, ipv4UdpPacket } from '../../src-main/platform/pcap.js';
import { collectPayloads, startEngine, until, waitForEvent } from '../support/engines.js';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity } from '../../src-main/hip/identity/host-identity.js';
import type { EngineOptions, HipEngine } from '../../src-main/engine/engine.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const PROTO_UDP_PAYLOAD = 17;

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function establishedPair(opts: { tap?: EngineOptions['tap'] } = {}): Promise<[HipEngine, HipEngine]> {
  const a = await startEngine('127.0.0.1', { tap: opts.tap });
  const b = await startEngine('127.0.0.2', { tap: opts.tap });
  const upA = waitForEvent(a, 'established');
  const upB = waitForEvent(b, 'established');
  a.connect(b.hit, b.locals()[0]!);
  const [ea, eb] = await Promise.all([upA, upB]);
  assert.equal(ea.peer, b.hitText);
  assert.equal(eb.peer, a.hitText);
  assert.equal(ea.initiator, true);
  assert.equal(eb.initiator, false);
  return [a, b];
}

test('two engines complete a base exchange over UDP and carry ESP both ways', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const pcapPath = `${ARTIFACTS}engine-bex-esp.pcap`;
  const capture = new PcapWriter({ path: pcapPath });
  const tap = (dir: 'in' | 'out', datagram: Uint8Array, from: { address: string; port: number }, to: { address: string; port: number }): void => {
    // Each datagram is seen twice on loopback (sent and received); record it once.
    if (dir === 'out') capture.writeIp(ipv4UdpPacket(from.address, to.address, from.port, to.port, datagram), Date.now());
  };
  const [a, b] = await establishedPair({ tap });
  try {
    const atB = collectPayloads(b);
    const atA = collectPayloads(a);
    for (let i = 0; i < 50; i++) {
      assert.equal(a.send(b.hit, bytes(`a→b ${i}`), PROTO_UDP_PAYLOAD), true);
      assert.equal(b.send(a.hit, bytes(`b→a ${i}`), PROTO_UDP_PAYLOAD), true);
    }
    await until(() => atB.length === 50 && atA.length === 50, 5000, '50 payloads each way');
    assert.deepEqual(atB.map((p) => new TextDecoder().decode(p.payload)), Array.from({ length: 50 }, (_, i) => `a→b ${i}`));
    assert.ok(atB.every((p) => p.peer === a.hitText && p.nextHeader === PROTO_UDP_PAYLOAD));
    assert.ok(atA.every((p) => p.peer === b.hitText));

    const sa = a.snapshot();
    const assoc = sa.associations.find((x) => x.peer === b.hitText);
    assert.equal(assoc?.state, 'ESTABLISHED');
    assert.equal(assoc?.espPacketsOut, 50);
    assert.equal(assoc?.espPacketsIn, 50);
    assert.equal(sa.counters.droppedTotal, 0, JSON.stringify(sa.counters.dropped));

    const closedAtB = waitForEvent(b, 'closed');
    const closedAtA = waitForEvent(a, 'closed');
    a.close(b.hit);
    assert.equal((await closedAtB).byPeer, true);
    assert.equal((await closedAtA).byPeer, false);
    assert.equal(a.send(b.hit, bytes('after close'), PROTO_UDP_PAYLOAD), false, 'no ESP after CLOSE');
  } finally {
    await a.stop();
    await b.stop();
    capture.close();
  }

  // tshark decodes HIP on UDP 10500 by default; our ports are ephemeral, so tell it which.
  const decodeArgs = tsharkDecodeArgs(pcapPath);
  const fields = execFileSync('tshark', ['-r', pcapPath, ...decodeArgs, '-T', 'fields', '-e', 'hip.packet_type'], { encoding: 'utf8' });
  const types = fields.split('\n').map((l) => l.split('\t')[0]).filter((t): t is string => !!t);
  for (const t of ['1', '2', '3', '4', '18', '19']) assert.ok(types.includes(t), `capture has HIP packet type ${t}: ${types.join(',')}`);
  // Only HIP frames are judged: tshark has no dissector for ESP on a HIP port, so an ESP frame
  // falls through to whatever protocol owns the other ephemeral port number (DNS, once) and
  // reads as malformed there.
  const malformed = execFileSync('tshark', ['-r', pcapPath, ...decodeArgs, '-Y', 'hip && (_ws.malformed || _ws.expert.severity >= "error")'], { encoding: 'utf8' });
  assert.equal(malformed.trim(), '', `tshark found malformed packets:\n${malformed}`);
});

/** The ports our engines used, mapped to the HIP dissector. */
function tsharkDecodeArgs(pcapPath: string): string[] {
  const out = execFileSync('tshark', ['-r', pcapPath, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport'], { encoding: 'utf8' });
  const ports = new Set(out.split(/\s+/).filter(Boolean));
  return [...ports].flatMap((p) => ['-d', `udp.port==${p},hip`]);
}

test('forged, replayed and garbage datagrams are dropped, counted, and change nothing', async () => {
  const [a, b] = await establishedPair();
  const attacker = dgram.createSocket('udp4');
  try {
    const atB = collectPayloads(b);
    // The initiator's first RTT probe confirms R2 at once, with no data sent yet.
    await until(() => b.snapshot().associations[0]?.state === 'ESTABLISHED', 3000, 'the responder to leave R2-SENT');
    const before = b.snapshot();
    const target = b.locals()[0]!;
    const send = (data: Uint8Array): Promise<void> =>
      new Promise((resolve) => attacker.send(data, target.port, target.address, () => resolve()));

    await send(new Uint8Array([1, 2])); // runt
    await send(new Uint8Array(64).fill(0)); // HIP marker with a zero header
    const bogusSpi = new Uint8Array(64);
    bogusSpi.set([0xde, 0xad, 0xbe, 0xef]);
    await send(bogusSpi); // ESP for no SA
    const inboundSpi = before.associations[0]!.inboundSpi!;
    const forged = new Uint8Array(100);
    new DataView(forged.buffer).setUint32(0, inboundSpi);
    new DataView(forged.buffer).setUint32(4, 1);
    await send(forged); // right SPI, no valid ICV
    for (let i = 0; i < 200; i++) {
      const junk = new Uint8Array(40 + ((i * 37) % 200)).map((_, k) => (k * 131 + i * 17) & 0xff);
      if (i % 2 === 0) junk.set([0, 0, 0, 0]);
      await send(junk);
    }
    await until(() => b.snapshot().counters.droppedTotal >= 203, 3000, 'drops counted');
    const after = b.snapshot();
    assert.equal(after.associations.length, 1);
    assert.equal(after.associations[0]!.state, before.associations[0]!.state, 'junk does not move the state machine');
    assert.equal(after.associations[0]!.inboundSpi, before.associations[0]!.inboundSpi);
    assert.equal(after.associations[0]!.remote?.address, '127.0.0.1', 'the peer locator did not move');
    assert.equal(atB.length, 0, 'nothing forged was delivered');
    assert.ok((after.counters.dropped['esp-unknown-spi'] ?? 0) >= 1);
    assert.ok((after.counters.dropped['esp-auth-failed'] ?? 0) >= 1);
    assert.ok((after.counters.dropped['udp-runt'] ?? 0) >= 1);

    // The tunnel still works afterwards.
    assert.equal(a.send(b.hit, bytes('still here'), PROTO_UDP_PAYLOAD), true);
    await until(() => atB.length === 1, 3000, 'genuine payload after the attack');
  } finally {
    attacker.close();
    await a.stop();
    await b.stop();
  }
});

test('a replayed ESP packet is delivered once', async () => {
  let lastEsp: { datagram: Uint8Array; to: { address: string; port: number } } | undefined;
  const tap = (dir: 'in' | 'out', datagram: Uint8Array, _from: unknown, to: { address: string; port: number }): void => {
    if (dir === 'out' && (datagram[0]! | datagram[1]! | datagram[2]! | datagram[3]!) !== 0) lastEsp = { datagram: datagram.slice(), to };
  };
  const a = await startEngine('127.0.0.1', { tap });
  const b = await startEngine('127.0.0.2');
  const up = Promise.all([waitForEvent(a, 'established'), waitForEvent(b, 'established')]);
  a.connect(b.hit, b.locals()[0]!);
  await up;
  const attacker = dgram.createSocket('udp4');
  try {
    const atB = collectPayloads(b);
    a.send(b.hit, bytes('once'), PROTO_UDP_PAYLOAD);
    await until(() => atB.length === 1, 3000, 'first delivery');
    assert.ok(lastEsp);
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((r) => attacker.send(lastEsp!.datagram, lastEsp!.to.port, lastEsp!.to.address, () => r()));
    }
    await until(() => (b.snapshot().counters.dropped['esp-replay'] ?? 0) === 5, 3000, 'replays counted');
    assert.equal(atB.length, 1);
  } finally {
    attacker.close();
    await a.stop();
    await b.stop();
  }
});

test('without a TUN, a rekey keeps the peer\'s ESP counters and its replay protection, as the data plane counts them with one', async () => {
  let lastEsp: { datagram: Uint8Array; to: { address: string; port: number } } | undefined;
  // Both engines share the tap: keep what goes to b (127.0.0.2).
  const tap = (dir: 'in' | 'out', datagram: Uint8Array, _from: unknown, to: { address: string; port: number }): void => {
    if (dir === 'out' && to.address === '127.0.0.2' && (datagram[0]! | datagram[1]! | datagram[2]! | datagram[3]!) !== 0) lastEsp = { datagram: datagram.slice(), to };
  };
  const [a, b] = await establishedPair({ tap });
  const attacker = dgram.createSocket('udp4');
  try {
    const atB = collectPayloads(b);
    const atA = collectPayloads(a);
    const exchange = async (n: number, total: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        assert.equal(a.send(b.hit, bytes(`a→b ${i}`), PROTO_UDP_PAYLOAD), true);
        assert.equal(b.send(a.hit, bytes(`b→a ${i}`), PROTO_UDP_PAYLOAD), true);
      }
      await until(() => atB.length === total && atA.length === total, 5000, `${total} payloads each way`);
    };
    await exchange(10, 10);
    const sealedBeforeRekey = lastEsp!;
    const before = a.snapshot().associations.find((x) => x.peer === b.hitText)!;
    const rekeyed = Promise.all([waitForEvent(a, 'rekeyed'), waitForEvent(b, 'rekeyed')]);
    a.rekey(b.hit);
    await rekeyed;
    await exchange(5, 15);

    const after = a.snapshot().associations.find((x) => x.peer === b.hitText)!;
    assert.notEqual(after.inboundSpi, before.inboundSpi, 'the rekey installed new SAs');
    // What a user reads in status: the peer's traffic so far, not the new SA's alone.
    assert.equal(after.espPacketsOut, 15);
    assert.equal(after.espPacketsIn, 15);
    assert.ok(after.espBytesIn > before.espBytesIn && after.espBytesOut > before.espBytesOut);

    // A packet sealed on the old SA, replayed within the overlap, is refused by that SA's window.
    await new Promise<void>((r) => attacker.send(sealedBeforeRekey.datagram, sealedBeforeRekey.to.port, sealedBeforeRekey.to.address, () => r()));
    await until(() => (b.snapshot().counters.dropped['esp-replay'] ?? 0) === 1, 3000, 'the replay counted');
    assert.equal(atB.length, 15);
    const bView = b.snapshot().associations.find((x) => x.peer === a.hitText)!;
    assert.equal(bView.espPacketsIn, 15);
  } finally {
    attacker.close();
    await a.stop();
    await b.stop();
  }
});

test('a peer that never answers makes the exchange fail, not hang', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.3', () => r()));
  const a = await startEngine('127.0.0.1', { host: { timers: { initialRetransmitMs: 50, maxRetransmitMs: 200, i1RetriesMax: 3 } } });
  try {
    const peerHit = generateIdentity(nodeCrypto).hit; // a real HIT, but nobody answers for it at 127.0.0.3
    const failed = waitForEvent(a, 'failed', () => true, 10000);
    a.connect(peerHit, { address: '127.0.0.3', port: silent.address().port });
    const e = await failed;
    assert.match(e.reason, /.+/);
  } finally {
    silent.close();
    await a.stop();
  }
});
