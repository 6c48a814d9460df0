// `hipvpn relay serve` as an operator runs it and as its clients meet it: the compiled CLI as a
// subprocess on loopback UDP (unprivileged, no TUN), real HIP hosts in this process on their own
// UDP sockets. Checked: a listed client registers and learns its reflexive address; the relay's
// status (text and --json) shows it; registrations.json is 0600; a client not on the list gets
// REG_FAILED and nothing reaches it; the registrations survive a restart.
// Run `npx tsc -p tsconfig.build.json` first: the CLI runs from dist/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeCrypto } from '../../src-main/hip/crypto/index.js';
import { generateIdentity, type LocalHostIdentity } from '../../src-main/hip/identity/host-identity.js';
import { HipHost, type Endpoint } from '../../src-main/hip/host.js';
import type { RegistrationAnswer } from '../../src-main/hip/registration.js';
import { decodePacket, encodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { PacketType, RegistrationType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp, hitToText, textToHit } from '../../src-main/hip/wire/address.js';
import { RegFailureType } from '../../src-main/relay/registrations.js';
import type { DaemonStatus, RelayServerStatus } from '../../src-shared/control-api.js';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { ServeProcess, hipvpn, tempState } from '../support/serve-process.js';
import { until, sleep } from '../support/wait.js';

const WANTED = [RegistrationType.RELAY_UDP_HIP, RegistrationType.RELAY_UDP_ESP];
const roots: string[] = [];
const relays: ServeProcess[] = [];
const clients: UdpClient[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const r of relays) await r.stop();
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A HIP host on its own loopback UDP socket, speaking RFC 9028's framing. */
class UdpClient {
  readonly host: HipHost;
  readonly socket = dgram.createSocket('udp4');
  readonly received: { bytes: Uint8Array; from: Endpoint }[] = [];
  readonly answers: RegistrationAnswer[] = [];
  private timer: NodeJS.Timeout | undefined;
  local!: Endpoint;

  private constructor(readonly identity: LocalHostIdentity) {
    this.host = new HipHost({
      identity, crypto: nodeCrypto,
      registrationRequestFor: () => ({ kind: 'REG_REQUEST', lifetime: 120, regTypes: WANTED }),
    }, performance.now());
  }

  static async open(): Promise<UdpClient> {
    const c = new UdpClient(generateIdentity(nodeCrypto, 'ecdsa-p256'));
    clients.push(c);
    await new Promise<void>((resolve) => c.socket.bind(0, '127.0.0.1', resolve));
    c.local = { address: '127.0.0.1', port: c.socket.address().port };
    c.socket.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg);
      const from = { address: rinfo.address, port: rinfo.port };
      c.received.push({ bytes, from });
      if (bytes.length >= 4 && (bytes[0]! | bytes[1]! | bytes[2]! | bytes[3]!) === 0) c.host.handlePacket(performance.now(), bytes.subarray(4), from, c.local);
      c.pump();
    });
    return c;
  }

  get hit(): string { return hitToText(this.identity.hit); }

  connect(relayHit: string, relay: Endpoint): void {
    this.host.connect(performance.now(), textToHit(relayHit)!, relay, this.local);
    this.pump();
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    this.socket.send(bytes, to.port, to.address);
  }

  private pump(): void {
    for (let t = this.host.pollTransmit(); t; t = this.host.pollTransmit()) {
      const framed = new Uint8Array(t.bytes.length + 4);
      framed.set(t.bytes, 4);
      this.send(framed, t.to);
    }
    for (let e = this.host.pollEvent(); e; e = this.host.pollEvent()) if (e.type === 'registration') this.answers.push(e.answer);
    if (this.timer) clearTimeout(this.timer);
    const next = this.host.nextTimeout();
    if (next !== undefined) {
      this.timer = setTimeout(() => { this.host.handleTimeout(performance.now()); this.pump(); }, Math.max(0, next - performance.now()));
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.socket.close();
  }
}

async function relayStatus(state: string): Promise<RelayServerStatus> {
  const r = await hipvpn('relay', 'status', '--state', state, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as RelayServerStatus;
}

function i1(sender: string, receiver: string): Uint8Array {
  const packet = encodePacket({ packetType: PacketType.I1, controls: 0, senderHit: textToHit(sender)!, receiverHit: textToHit(receiver)!, params: [{ kind: 'DH_GROUP_LIST', groups: [9, 8, 7] }] });
  const framed = new Uint8Array(packet.length + 4);
  framed.set(packet, 4);
  return framed;
}


/**
 * What the relay forwarded to a client: ESP (no zero marker), or HIP from someone else (an I1, a
 * RELAY_FROM). The relay's own packets in the client's base exchange (an R2 re-sent under load, a
 * CLOSE) are not forwarding.
 */
function forwardedTo(client: UdpClient): number {
  return client.received.filter((p) => {
    const d = decodePacket(p.bytes.subarray(4), { udp: true });
    return !d.ok || d.packet.packetType === PacketType.I1 || getParam(d.packet, 'RELAY_FROM') !== undefined;
  }).length;
}
test('hipvpn relay serve: registration, status, 0600 registrations.json, refusal of an unlisted client, survival across a restart', async () => {
  const { root, state } = await tempState('relay');
  roots.push(root);
  const alice = await UdpClient.open();
  const mallory = await UdpClient.open();
  const outsider = await UdpClient.open();
  const added = await hipvpn('peer', 'add', 'alice', '--hit', alice.hit, '--state', state);
  assert.equal(added.code, 0, added.stderr);

  const relay = await ServeProcess.startRelay(state);
  relays.push(relay);
  const relayEp = { address: '127.0.0.1', port: relay.port() };
  const first = await relayStatus(state);
  assert.deepEqual(first.listening, [relayEp]);
  assert.deepEqual(first.clients, []);

  // A listed client: REG_RESPONSE for what it asked, REG_FROM naming its own socket.
  alice.connect(first.hit, relayEp);
  await until(() => alice.answers.length > 0, 'the relay answers Alice', 10_000);
  assert.deepEqual(alice.answers[0]!.response?.regTypes, WANTED);
  assert.deepEqual(alice.answers[0]!.reflexive, alice.local);
  assert.deepEqual(alice.answers[0]!.relayed, relayEp);
  await relay.line(/ registration client=alice .*granted=relay-hip,relay-esp/);

  const status = await relayStatus(state);
  assert.equal(status.clients.length, 1);
  const c = status.clients[0]!;
  assert.equal(c.name, 'alice');
  assert.equal(c.hit, alice.hit);
  assert.deepEqual(c.reflexive, alice.local);
  assert.deepEqual(c.registrations.map((r) => r.name), ['RELAY_UDP_HIP', 'RELAY_UDP_ESP']);
  assert.ok(c.registrations.every((r) => r.lifetimeS > 0 && r.expiresInS > 0));
  const text = await hipvpn('relay', 'status', '--state', state);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^ +alice +${alice.hit} +RELAY_UDP_HIP \\S+ RELAY_UDP_ESP \\S+ +seen at 127\\.0\\.0\\.1:${alice.local.port} `, 'm'));
  assert.match(text.stdout, /^1 client registered$/m);
  assert.match(text.stdout, /^socket drops \d+$/m);
  assert.equal(typeof status.socketDrops, 'number');
  assert.equal(status.oversized, 0);
  assert.equal(status.unsent, 0);

  const path = join(state, 'registrations.json');
  let saved = { registrations: [] as { hit: string }[] };
  for (let i = 0; i < 50 && !saved.registrations.some((r) => r.hit === alice.hit); i++) {
    saved = JSON.parse(await readFile(path, 'utf8').catch(() => '{"registrations":[]}')) as typeof saved;
    if (!saved.registrations.some((r) => r.hit === alice.hit)) await sleep(50);
  }
  assert.ok(saved.registrations.some((r) => r.hit === alice.hit), 'Alice is saved');
  const info = await stat(path);
  assert.equal(info.mode & 0o777, 0o600, 'registrations.json is 0600');

  // A packet for Alice from anyone reaches her through the relay, naming its sender.
  outsider.send(i1(outsider.hit, alice.hit), relayEp);
  const relayedI1 = () => alice.received.map((p) => decodePacket(p.bytes.subarray(4), { udp: true })).find((d) => d.ok && d.packet.packetType === PacketType.I1);
  await until(() => relayedI1() !== undefined, 'Alice gets the relayed I1', 5_000);
  const relayed = relayedI1();
  assert.ok(relayed?.ok);
  const from = getParam(relayed.packet, 'RELAY_FROM')!;
  assert.deepEqual({ address: bytes16ToIp(from.address), port: from.port }, outsider.local);

  // Not on the list: REG_FAILED, and nothing reaches Mallory through the relay.
  mallory.connect(first.hit, relayEp);
  await until(() => mallory.answers.length > 0, 'the relay answers Mallory', 10_000);
  assert.equal(mallory.answers[0]!.response, undefined);
  assert.deepEqual(mallory.answers[0]!.failed.map((f) => f.failureType), [RegFailureType.ADDITIONAL_CREDENTIALS]);
  const malloryHeard = forwardedTo(mallory);
  outsider.send(i1(outsider.hit, mallory.hit), relayEp);
  outsider.send(Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9, 9, 9, 9), relayEp);
  let after1: RelayServerStatus | undefined;
  for (let i = 0; i < 50; i++) {
    after1 = await relayStatus(state);
    if ((after1.counters.control['unknown-receiver'] ?? 0) >= 1 && (after1.counters.data['esp-unknown-spi'] ?? 0) >= 1) break;
    await sleep(50);
  }
  assert.ok((after1!.counters.control['unknown-receiver'] ?? 0) >= 1, JSON.stringify(after1!.counters));
  assert.ok((after1!.counters.data['esp-unknown-spi'] ?? 0) >= 1, JSON.stringify(after1!.counters));
  assert.equal(forwardedTo(mallory), malloryHeard, 'nothing was forwarded to Mallory');
  assert.deepEqual(after1!.clients.map((x) => x.hit), [alice.hit], 'Mallory holds no registration');

  // Restart on the same port: Alice's registration is back, with no step by her.
  assert.equal(await relay.stop(), 0);
  const again = await ServeProcess.startRelay(state, ['127.0.0.1'], [], relayEp.port);
  relays.push(again);
  await again.line(/ registrations-loaded kept=2 /);
  const restored = await relayStatus(state);
  assert.equal(restored.hit, first.hit, 'the same identity');
  assert.deepEqual(restored.clients.map((x) => [x.name, x.hit, x.reflexive]), [['alice', alice.hit, alice.local]]);
  assert.deepEqual(restored.clients[0]!.relayedAddress, relayEp);

  // Taken off the list while the relay runs: the registration ends and nothing more reaches her.
  const removed = await hipvpn('peer', 'remove', 'alice', '--state', state);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /the daemon applied it/);
  assert.deepEqual((await relayStatus(state)).clients, []);
  const aliceHeard = forwardedTo(alice);
  outsider.send(i1(outsider.hit, alice.hit), relayEp);
  await sleep(300);
  assert.equal(forwardedTo(alice), aliceHeard, 'nothing relayed to a removed client');
});

test('two daemons that know each other by HIT alone reach each other through hipvpn relay serve, also after it restarts', async () => {
  const { root, state } = await tempState('relay-e2e');
  roots.push(root);
  const [aliceState, bobState] = [join(root, 'alice'), join(root, 'bob')];
  const hitOf = async (dir: string): Promise<string> => (await hipvpn('identity', '--state', dir, '--hit')).stdout.trim();
  const [relayHit, aliceHit, bobHit] = await Promise.all([hitOf(state), hitOf(aliceState), hitOf(bobState)]);
  for (const [name, hit] of [['alice', aliceHit], ['bob', bobHit]] as const) {
    assert.equal((await hipvpn('peer', 'add', name, '--hit', hit, '--state', state)).code, 0);
  }
  assert.equal((await hipvpn('peer', 'add', 'bob', '--hit', bobHit, '--state', aliceState)).code, 0);
  assert.equal((await hipvpn('peer', 'add', 'alice', '--hit', aliceHit, '--state', bobState)).code, 0);

  const relay = await ServeProcess.startRelay(state);
  relays.push(relay);
  const relayArg = `${relayHit}@127.0.0.1:${relay.port()}`;
  const alice = await ServeProcess.start(aliceState, ['127.0.0.1'], ['--relay', relayArg]);
  const bob = await ServeProcess.start(bobState, ['127.0.0.1'], ['--relay', relayArg]);
  relays.push(alice, bob);
  for (let i = 0; i < 100 && (await relayStatus(state)).clients.length < 2; i++) await sleep(100);
  assert.deepEqual((await relayStatus(state)).clients.map((c) => c.name).sort((x, y) => (x ?? '').localeCompare(y ?? '')), ['alice', 'bob']);

  const ping = await hipvpn('ping', 'bob', '--state', aliceState, '--timeout', '5000');
  assert.equal(ping.code, 0, ping.stderr);
  // The exchange runs through the relay; on one machine bob's host candidate works too, so the
  // answer comes through the relay or already straight from bob.
  assert.match(ping.stdout, new RegExp(`^pong from bob \\(${bobHit}\\) via 127\\.0\\.0\\.1:${alice.port()} <-> 127\\.0\\.0\\.1:(${relay.port()}|${bob.port()}) in `));
  type Seen = { peers: { name: string; via?: string; remote?: { port: number } }[]; relays: { registered: boolean; reflexive: unknown }[] };
  let seen = JSON.parse((await hipvpn('status', '--json', '--state', aliceState)).stdout) as Seen;
  for (let i = 0; i < 20 && seen.peers.find((p) => p.name === 'bob')?.via !== 'direct'; i++) {
    await sleep(100);
    seen = JSON.parse((await hipvpn('status', '--json', '--state', aliceState)).stdout) as Seen;
  }
  const bobRow = seen.peers.find((p) => p.name === 'bob');
  assert.deepEqual([bobRow?.via, bobRow?.remote?.port], ['direct', bob.port()], `alice upgrades to bob's own address within 2 s: ${JSON.stringify(bobRow)}`);
  assert.deepEqual(seen.relays.map((r) => [r.registered, r.reflexive]), [[true, { address: '127.0.0.1', port: alice.port() }]]);
  // Status says how the pair in use was found, and the handovers record the move off the relay.
  const full = JSON.parse((await hipvpn('status', '--json', '--state', aliceState)).stdout) as DaemonStatus;
  const primary = full.peers.find((p) => p.name === 'bob')?.pairs?.find((p) => p.primary);
  assert.deepEqual([primary?.remote.port, primary?.candidate], [bob.port(), 'host'], JSON.stringify(full.peers.find((p) => p.name === 'bob')?.pairs));
  const text = (await hipvpn('status', '--state', aliceState)).stdout;
  assert.match(text, new RegExp(`bob +${bobHit} +ESTABLISHED +direct via 127\\.0\\.0\\.1`), text);
  const control = await connectControl(join(aliceState, 'hipvpn.sock'), aliceState);
  const moves = await control.call('handover.list', {}).finally(() => control.close());
  console.log(`alice's handovers: ${JSON.stringify(moves.handovers.map((h) => [h.from?.candidate, h.from?.relay, h.to.candidate, h.cause]))}`);
  const offRelay = moves.handovers.find((h) => h.peer === 'bob' && h.from?.candidate === 'relayed' && h.to.candidate !== 'relayed');
  assert.ok(offRelay !== undefined, `a handover from the relayed pair to a direct one: ${JSON.stringify(moves.handovers)}`);
  assert.equal(offRelay.from?.relay, relayHit, 'the relayed end names the relay (its HIT: it has no name)');
  assert.equal(offRelay.to.remote.port, bob.port());
  const carried = await relayStatus(state);
  assert.ok(carried.counters.forwarded.hipToClient >= 3 && carried.counters.forwarded.hipFromClient >= 3, JSON.stringify(carried.counters.forwarded));

  // The relay restarts on its port: the next ping gets through within 5 s with no step by anyone.
  await relay.stop();
  const again = await ServeProcess.startRelay(state, ['127.0.0.1'], [], relay.port());
  relays.push(again);
  const restartedAt = Date.now();
  let pong = await hipvpn('ping', 'bob', '--state', aliceState, '--timeout', '1000');
  while (pong.code !== 0 && Date.now() - restartedAt < 5_000) pong = await hipvpn('ping', 'bob', '--state', aliceState, '--timeout', '1000');
  console.log(`ping through the restarted relay answered ${Date.now() - restartedAt} ms after its start`);
  assert.equal(pong.code, 0, pong.stderr);
});

test('hipvpn relay with a bad command line: usage errors, exit 2', async () => {
  const { root, state } = await tempState('relay-usage');
  roots.push(root);
  const runs = await Promise.all([
    hipvpn('relay', '--state', state),
    hipvpn('relay', 'frob', '--state', state),
    hipvpn('relay', 'serve', '--state', state, '--port', '70000'),
    hipvpn('relay', 'serve', '--state', state, '--listen', 'nowhere'),
  ]);
  for (const r of runs) assert.equal(r.code, 2, r.stderr);
  assert.match(runs[1].stderr, /hipvpn relay needs serve or status, not "frob"/);
  const help = await hipvpn('relay', 'serve', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: hipvpn relay serve --state DIR \[--listen ADDR \.\.\.\] \[--port 10500\] \[--accept-any\]/);
  const notRunning = await hipvpn('relay', 'status', '--state', state);
  assert.equal(notRunning.code, 3, notRunning.stderr);
});
