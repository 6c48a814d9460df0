// The client side of relays with real daemons on loopback, before any relay answers: what
// `status` and `status --json` show (relays listed, not registered, each peer's via), where a
// peer known by HIT alone is sought (its I1 goes to the relay), the `relays` setting through the
// control API (validated, persisted, read at the next start, `--relay` added for the run), and a
// peer's own relay from `peer add --relay` or an invite. The relay address is a UDP socket of the
// test's own that records what arrives and answers nothing, so nothing registers.
//
//   npx tsc -p tsconfig.build.json && node --import tsx --test test/integration/relay-client.test.ts

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { ApiError } from '../../src-shared/api-client.js';
import { encodeInvite } from '../../src-main/daemon/invite-text.js';
import { hitToText } from '../../src-main/hip/wire/address.js';
import type { DaemonStatus } from '../../src-shared/control-api.js';
import { ServeProcess, hipvpn, tempState } from '../support/serve-process.js';

/** A relay's address that answers nothing: the HIP packets that reach it, by type and receiver HIT. */
class RelaySink {
  readonly packets: Array<{ type: number; receiver: string }> = [];
  private constructor(private readonly socket: Socket, readonly port: number) {
    socket.on('message', (m) => {
      // RFC 9028 framing: a zero marker of 4 octets, then the HIP header (packet type at 2, receiver HIT at 24).
      if (m.length < 44 || m.readUInt32BE(0) !== 0) return;
      this.packets.push({ type: m[6]! & 0x7f, receiver: hitToText(Uint8Array.from(m.subarray(28, 44))) });
    });
  }

  static async open(): Promise<RelaySink> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    return new RelaySink(socket, socket.address().port);
  }

  /** Waits for an I1 (type 1) addressed to `hit`. */
  async i1For(hit: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.packets.some((p) => p.type === 1 && p.receiver === hit)) {
      if (Date.now() > deadline) throw new Error(`no I1 for ${hit} reached the relay; it saw ${JSON.stringify(this.packets)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.socket.close();
  }
}

let root: string;
const sinks: RelaySink[] = [];
const daemons: ServeProcess[] = [];

const hitOf = async (state: string): Promise<string> => (await hipvpn('identity', '--state', state, '--hit')).stdout.trim();
const statusOf = async (d: ServeProcess): Promise<DaemonStatus> => {
  const r = await hipvpn('status', '--json', '--state', d.state);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as DaemonStatus;
};

async function sink(): Promise<RelaySink> {
  const s = await RelaySink.open();
  sinks.push(s);
  return s;
}

async function serve(state: string, extra: string[]): Promise<ServeProcess> {
  const d = await ServeProcess.start(state, ['127.0.0.1'], extra);
  daemons.push(d);
  return d;
}

before(async () => {
  root = (await tempState('relay-client')).root;
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const s of sinks) s.close();
  await rm(root, { recursive: true, force: true });
});

test('a peer known by HIT alone is sought through our relay, and status says so before any registration', async () => {
  const relay = await sink();
  const relayHit = await hitOf(join(root, 'relay'));
  const bobHit = await hitOf(join(root, 'bob'));
  const alice = await serve(join(root, 'alice'), ['--relay', `${relayHit}@127.0.0.1:${relay.port}`]);
  assert.match(alice.matching(/ listening /)[0]!, new RegExp(`relays=${relayHit}`));

  const added = await hipvpn('peer', 'add', 'bob', '--hit', bobHit, '--state', alice.state);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added peer bob \(2001:\S+\) with no locator: it contacts us; the daemon applied it/);
  await relay.i1For(relayHit);
  await relay.i1For(bobHit);

  const s = await statusOf(alice);
  assert.deepEqual(s.relays, [{
    name: relayHit, hit: relayHit, address: '127.0.0.1', port: relay.port,
    registered: false, reflexive: null, relayed: null, lifetimeS: null, expiresInS: null, failed: [],
  }]);
  const bob = s.peers.find((p) => p.name === 'bob');
  assert.equal(bob?.via, 'relay');
  assert.equal(bob?.relay, relayHit);
  assert.ok(!s.peers.some((p) => p.hit === relayHit), 'the relay is listed as a relay, not as a peer');

  const text = await hipvpn('status', '--state', alice.state);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`bob\\s+${bobHit}\\s+I1-SENT\\s+relayed through ${relayHit}`));
  assert.match(text.stdout, new RegExp(`Relays\\n  ${relayHit}\\s+127\\.0\\.0\\.1:${relay.port}\\s+not registered; has not told us where it sees us`));

  const ping = await hipvpn('ping', 'bob', '--state', alice.state, '--timeout', '500');
  assert.equal(ping.code, 1);
  assert.match(ping.stderr, new RegExp(`no base exchange with bob through the relay at 127\\.0\\.0\\.1:${relay.port} within 500 ms; check that the peer is registered with that relay`));
});

test('the relays setting goes through the control API, checked and kept, and applies at once; --relay stays added after it', async () => {
  const fromFlag = await sink();
  const home = await sink();
  const [flagHit, homeHit, carolHit] = await Promise.all([hitOf(join(root, 'flag-relay')), hitOf(join(root, 'home-relay')), hitOf(join(root, 'carol'))]);
  const state = join(root, 'dave');
  const flag = ['--relay', `${flagHit}@127.0.0.1:${fromFlag.port}`];
  let dave = await serve(state, flag);
  const control = await connectControl(join(state, 'hipvpn.sock'), state);
  try {
    const wanted = [{ name: 'home', hit: homeHit, address: '127.0.0.1', port: home.port }];
    assert.deepEqual((await control.call('settings.set', { relays: wanted })).relays, wanted);
    await assert.rejects(control.call('settings.set', { relays: [{ hit: '2001:db8::1', address: '127.0.0.1', port: 10500 }] }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'invalid-params');
      assert.match(err.message, /relays\[0\]: "2001:db8::1" is not a HIT \(2001:2x:…\); the relay's `hipvpn identity --hit` prints it/);
      return true;
    });
    await assert.rejects(control.call('settings.set', { relays: [...wanted, { ...wanted[0]!, name: 'again' }] }), /is listed twice; give each relay once/);
    assert.deepEqual((await control.call('settings.get', {})).relays, wanted, 'a refused change changes nothing');
  } finally {
    control.close();
  }
  await dave.line(/relays now=home,/);
  assert.deepEqual((JSON.parse(await readFile(join(state, 'settings.json'), 'utf8')) as { relays: unknown }).relays, [{ name: 'home', hit: homeHit, address: '127.0.0.1', port: home.port }]);
  assert.deepEqual((await statusOf(dave)).relays?.map((r) => r.name), ['home', flagHit], 'the setting applies at once, --relay after it');
  await home.i1For(homeHit);

  await dave.stop();
  dave = await serve(state, flag);
  assert.deepEqual((await statusOf(dave)).relays?.map((r) => [r.name, r.hit, r.port, r.registered]), [['home', homeHit, home.port, false], [flagHit, flagHit, fromFlag.port, false]]);
  // By HIT alone: the first relay is asked first.
  assert.equal((await hipvpn('peer', 'add', 'carol', '--hit', carolHit, '--state', state)).code, 0);
  await home.i1For(carolHit);
  const carol = (await statusOf(dave)).peers.find((p) => p.name === 'carol');
  assert.deepEqual([carol?.via, carol?.relay], ['relay', 'home']);
});

test('peer add --relay and an invite with a relay keep the peer\'s relay, and the peer is sought there', async () => {
  const erin = await sink();
  const [erinRelayHit, erinHit, frankHit] = await Promise.all([hitOf(join(root, 'erin-relay')), hitOf(join(root, 'erin')), hitOf(join(root, 'frank'))]);
  const state = join(root, 'gina');

  const bad = await hipvpn('peer', 'add', 'erin', '--hit', erinHit, '--relay', '127.0.0.1', '--state', state);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--relay: bad relay "127\.0\.0\.1": no "@" between the relay's HIT and its address; expected HIT@ADDR\[:PORT\]/);

  const gina = await serve(state, []);
  const added = await hipvpn('peer', 'add', 'erin', '--hit', erinHit, '--relay', `${erinRelayHit}@127.0.0.1:${erin.port}`, '--state', state);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, new RegExp(`added peer erin \\(${erinHit}\\) with no locator, through relay ${erinRelayHit}@127\\.0\\.0\\.1:${erin.port}; the daemon applied it`));
  await erin.i1For(erinHit);
  // The peer's relay is ours from now on: we register there at once (its I1 reaches it).
  await gina.line(new RegExp(`relays now=${erinRelayHit}`));
  await erin.i1For(erinRelayHit);
  const s = await statusOf(gina);
  const row = s.peers.find((p) => p.name === 'erin');
  assert.deepEqual([row?.via, row?.relay, row?.configuredRelay], ['relay', erinRelayHit, { hit: erinRelayHit, address: '127.0.0.1', port: erin.port }]);
  const saved = JSON.parse(await readFile(join(state, 'peers.json'), 'utf8')) as { peers: Array<{ name: string; relay?: unknown }> };
  assert.deepEqual(saved.peers.find((p) => p.name === 'erin')?.relay, { hit: erinRelayHit, address: '127.0.0.1', port: erin.port });

  // An invite from a host behind a NAT: no locator, its relay instead.
  const invite = encodeInvite({
    hit: frankHit, name: 'frank', locators: [], relay: { hit: erinRelayHit, address: '198.51.100.7', port: 10500 },
    secret: new Uint8Array(16).fill(7), expiresAt: Math.floor(Date.now() / 1000) + 3600,
  });
  const accepted = await hipvpn('peer', 'add', '--invite', invite, '--state', join(root, 'henry'));
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.match(accepted.stdout, new RegExp(`added peer frank \\(${frankHit}\\) with no locator, through relay ${erinRelayHit}@198\\.51\\.100\\.7:10500 from its invite`));
  const listed = JSON.parse((await hipvpn('peer', 'list', '--json', '--state', join(root, 'henry'))).stdout) as { peers: Array<{ relay?: unknown }> };
  assert.deepEqual(listed.peers[0]?.relay, { hit: erinRelayHit, address: '198.51.100.7', port: 10500 });
});

test('a daemon that is no relay: the association with it is made, no registration, and turning the tunnel off keeps it', async () => {
  const notRelay = await serve(join(root, 'plain'), ['--accept-any']);
  const notRelayHit = await hitOf(notRelay.state);
  const ivan = await serve(join(root, 'ivan'), ['--relay', `${notRelayHit}@127.0.0.1:${notRelay.port()}`]);
  const ivanHit = await hitOf(ivan.state);
  const ivanSeen = async (): Promise<string | undefined> => (await statusOf(notRelay)).peers.find((p) => p.hit === ivanHit)?.state;
  for (let i = 0; (await ivanSeen()) !== 'ESTABLISHED'; i++) {
    assert.ok(i < 50, `ivan never established an association with its relay:\n${ivan.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const s = await statusOf(ivan);
  assert.deepEqual(s.relays?.map((r) => [r.hit, r.registered, r.reflexive]), [[notRelayHit, false, null]], 'an association is no registration');
  assert.deepEqual(s.peers, [], 'the relay is no peer');

  const control = await connectControl(join(ivan.state, 'hipvpn.sock'), ivan.state);
  try {
    assert.deepEqual(await control.call('tunnel.set', { up: false }), { up: false });
  } finally {
    control.close();
  }
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await ivanSeen(), 'ESTABLISHED', 'the tunnel switch closes peers\' associations, not the relay\'s');
});
