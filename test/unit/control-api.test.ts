// The control API schema at the boundary: what a client may send, what the daemon may answer,
// and the one-line reasons for refusing anything else. Strictness is the point: a misspelt
// field or a wrong type must be refused by name, never half-applied.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CANDIDATE_KINDS, candidateKind, checkResponseValue, checkResult, decodeRequest, decodeServerFrame, encodeFrame,
  type ControlRequest, type DaemonStatus, type HandoverRecord, type LocatorPair, type PeerStatus,
} from '../../src-shared/control-api.js';
import { formatPairs, formatStatus, ageText } from '../../src-shared/status-format.js';
import { eventLine } from '../../src-main/daemon/event-log.js';

const HIT = '2001:22:9184:d55f:7016:8deb:7eb1:bf70';

function refused(line: string): { code: string; message: string; id: number | null } {
  const d = decodeRequest(line);
  assert.ok(!d.ok, `expected ${line} to be refused`);
  return { ...d.error, id: d.id };
}

test('well-formed requests decode to typed requests, and frames round-trip through encodeFrame', () => {
  const add: ControlRequest = { id: 7, method: 'peer.add', params: { name: 'bob', hit: HIT, locators: [{ address: '127.0.0.1', port: 10500 }] } };
  const d = decodeRequest(encodeFrame(add).trim());
  assert.ok(d.ok, 'peer.add must decode');
  assert.deepEqual(d.request, add);
  const status = decodeRequest('{"id":1,"method":"status"}');
  assert.ok(status.ok, 'params may be left out when a method takes none');
  assert.deepEqual(status.request.params, {});
  const ping = decodeRequest('{"id":2,"method":"ping","params":{"peer":"bob","timeoutMs":1500}}');
  assert.ok(ping.ok && ping.request.method === 'ping' && ping.request.params.timeoutMs === 1500, 'ping with a timeout');
});

test('malformed frames, unknown methods and bad params are refused with a code and a message naming the field', () => {
  assert.deepEqual(refused('not json'), { code: 'bad-frame', message: 'frame is not JSON', id: null });
  assert.equal(refused('[1,2]').code, 'bad-frame');
  assert.equal(refused('{"method":"status"}').message, 'id: missing (expected an integer 0..9007199254740991)');
  const unknown = refused('{"id":3,"method":"reboot"}');
  assert.equal(unknown.code, 'unknown-method');
  assert.equal(unknown.id, 3, 'the id is echoed so the client can match the refusal');
  assert.match(unknown.message, /known: status, peer\.add/);

  const extra = refused(`{"id":4,"method":"peer.add","params":{"name":"bob","hit":"${HIT}","locators":[],"locator":"x"}}`);
  assert.equal(extra.code, 'invalid-params');
  assert.equal(extra.message, 'params.locator: unknown field (expected name, hit, locators, relay)');
  const wrongType = refused(`{"id":5,"method":"peer.add","params":{"name":"bob","hit":"${HIT}","locators":[{"address":"127.0.0.1","port":"10500"}]}}`);
  assert.equal(wrongType.message, 'params.locators[0].port: expected an integer 0..65535, got "10500"');
  const missing = refused('{"id":6,"method":"peer.remove","params":{}}');
  assert.match(missing.message, /^params\.name: missing/);
  const badName = refused('{"id":7,"method":"peer.remove","params":{"name":"a b"}}');
  assert.match(badName.message, /^params\.name: expected a peer name/);
  const bigTimeout = refused('{"id":8,"method":"ping","params":{"peer":"bob","timeoutMs":1e9}}');
  assert.equal(bigTimeout.message, 'params.timeoutMs: expected an integer 1..60000, got 1000000000');
  assert.equal(refused('{"id":9,"method":"status","params":{"verbose":true}}').message, 'params.verbose: unknown field');
});

test('clients check responses and events against the schema too', () => {
  const ok = decodeServerFrame('{"id":1,"ok":true,"result":{"subscribed":true}}');
  assert.ok(ok.ok && ok.kind === 'response' && ok.response.ok, 'a good response');
  assert.ok(checkResult('subscribe', { subscribed: true }).ok, 'subscribe result');
  const bad = checkResult('ping', { name: 'bob', hit: HIT, rttMs: -1, local: { address: '127.0.0.1', port: 1 }, remote: { address: '127.0.0.1', port: 2 } });
  assert.ok(!bad.ok && bad.error === 'result.rttMs: expected a finite number ≥ 0, got -1', 'negative RTT refused');

  const failed = decodeServerFrame('{"id":2,"ok":false,"error":{"code":"unknown-peer","message":"unknown peer \\"x\\""}}');
  assert.ok(failed.ok && failed.kind === 'response' && !failed.response.ok && failed.response.error.code === 'unknown-peer', 'an error response');
  const badCode = decodeServerFrame('{"id":2,"ok":false,"error":{"code":"oops","message":"x"}}');
  assert.ok(!badCode.ok && /error\.code: expected one of/.test(badCode.error), 'unknown error codes are refused');
  assert.ok(!decodeServerFrame('{"id":3,"ok":true}').ok, 'success without a result');
  assert.ok(!decodeServerFrame('{"id":3,"ok":false,"result":{},"error":{"code":"internal","message":"x"}}').ok, 'both result and error');

  const event = decodeServerFrame(`{"event":{"type":"closed","peer":"bob","hit":"${HIT}","byPeer":true}}`);
  assert.ok(event.ok && event.kind === 'event' && event.event.type === 'closed' && event.event.byPeer, 'a closed event');
  const badEvent = decodeServerFrame(`{"event":{"type":"teleported","peer":"bob","hit":"${HIT}"}}`);
  assert.ok(!badEvent.ok && /event\.type: expected "association"/.test(badEvent.error), 'unknown event types are refused');
});

const STATUS: DaemonStatus = {
  version: 1,
  identity: { hit: '2001:22:9028:1416:2d73:4c1a:abc:6021', lsi: '1.237.150.247' },
  listening: [{ address: '127.0.0.1', port: 10500 }],
  tun: 'hip0',
  acceptAny: false,
  uptimeMs: 5000,
  peers: [
    {
      name: 'bob', hit: HIT, lsi: '1.30.79.19', state: 'ESTABLISHED', configuredLocators: [{ address: '127.0.0.1', port: 10501 }],
      local: { address: '127.0.0.1', port: 10500 }, remote: { address: '127.0.0.1', port: 10501 }, lastHeardMs: 1234,
      counters: { espPacketsIn: 5, espPacketsOut: 3 },
    },
    { name: 'carol', hit: '2001:20::1', lsi: '1.0.0.9', state: 'UNASSOCIATED', configuredLocators: [], counters: { espPacketsIn: 0, espPacketsOut: 0 } },
  ],
  counters: { hipIn: 4, hipOut: 4, espIn: 5, espOut: 3, dropped: { 'hip-policy': 2 }, droppedTotal: 2 },
};

test('status reads like tailscale status: this host, then one aligned line per peer, then counters', () => {
  assert.ok(checkResult('status', STATUS).ok, 'the sample is a valid status');
  const lines = formatStatus(STATUS).trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^1\.237\.150\.247 +\(this host\) +2001:22:9028:1416:2d73:4c1a:abc:6021 +tun hip0 +listening 127\.0\.0\.1:10500$/);
  assert.match(lines[1]!, /^1\.30\.79\.19 +bob +2001:22:9184:d55f:7016:8deb:7eb1:bf70 +ESTABLISHED +- +127\.0\.0\.1:10500 <-> 127\.0\.0\.1:10501 +heard 1\.2s ago +tx 3 rx 5$/);
  assert.match(lines[2]!, /^1\.0\.0\.9 +carol +2001:20::1 +UNASSOCIATED +waits for the peer +- +- +tx 0 rx 0$/);
  assert.equal(lines[3], 'HIP in 4 out 4, ESP in 5 out 3, dropped 2 (hip-policy 2)');
  // Columns line up: the HIT column starts at the same offset on every peer line.
  assert.equal(lines[1]!.indexOf('2001:'), lines[2]!.indexOf('2001:'));
  assert.deepEqual([850, 4200, 190_000, 7_500_000, 300_000_000].map(ageText), ['850ms', '4.2s', '3m10s', '2h05m', '3d11h']);
});

test('status shows the puzzle difficulty and the kernel\'s socket drops, one line each, when the engine reports them', () => {
  const s: DaemonStatus = { ...STATUS, puzzle: { difficulty: 5, baseDifficulty: 1 }, socketDrops: 50_213 };
  assert.ok(checkResult('status', s).ok, 'the fields are in the schema');
  assert.ok(!checkResult('status', { ...s, socketDrops: -1 }).ok, 'a negative drop count is refused');
  const lines = formatStatus(s).trimEnd().split('\n');
  assert.equal(lines[4], 'puzzle difficulty 5 (1 when idle)');
  assert.equal(lines[5], 'socket drops 50213 (datagrams the kernel dropped: our receive buffers were full)');
  const flooded = formatStatus({ ...s, puzzle: { difficulty: 1, baseDifficulty: 1, busiestPrefixDifficulty: 11 } }).split('\n');
  assert.ok(flooded.includes('puzzle difficulty 1 (1 when idle), 11 for the busiest source prefix'), 'a flood from one prefix shows');
});

test('a handover is one log line naming the peer, both pairs (local->remote) and the cause', () => {
  const at = new Date('2026-01-02T03:04:05.000Z');
  const pair = (local: string, remote: string): HandoverRecord['to'] => ({
    local: { address: local, port: 10500 }, remote: { address: remote, port: 10500 }, interface: null, kind: 'other',
  });
  const record: HandoverRecord = {
    seq: 1, at: 0, peer: 'bob', hit: HIT, cause: 'pair-failed', detail: 'keepalive',
    from: pair('192.0.2.1', '2001:db8::2'), to: pair('198.51.100.1', '2001:db8::2'), gapMs: 420,
  };
  assert.ok(checkResult('handover.list', { handovers: [record] }).ok);
  assert.equal(
    eventLine({ type: 'handover', handover: record }, at),
    `2026-01-02T03:04:05.000Z handover peer=bob hit=${HIT} from=192.0.2.1:10500->[2001:db8::2]:10500 to=198.51.100.1:10500->[2001:db8::2]:10500 cause=pair-failed detail=keepalive gapMs=420`,
  );
  const { detail: _, ...manual } = record;
  assert.match(eventLine({ type: 'handover', handover: { ...manual, cause: 'user', from: null } }, at), / from=- to=\S+ cause=user gapMs=420$/);
});

test('each pair carries the kind of the peer\'s address; a daemon or client sending any other kind is refused by name', () => {
  assert.deepEqual([...CANDIDATE_KINDS], ['host', 'srflx', 'prflx', 'relayed']);
  for (const k of CANDIDATE_KINDS) assert.ok(candidateKind.check(k).ok, k);
  assert.ok(!candidateKind.check('stun').ok);
  const pair: LocatorPair = {
    local: { address: '192.0.2.1', port: 10500 }, remote: { address: '198.51.100.7', port: 40001 }, interface: 'wlan0', kind: 'wifi',
    remoteState: 'ACTIVE', state: 'operational', primary: true, candidate: 'srflx',
  };
  const bob: PeerStatus = { ...STATUS.peers[0]!, pairs: [pair], inbound: { local: pair.local, remote: pair.remote, interface: 'wlan0', kind: 'wifi', candidate: 'srflx' } };
  assert.ok(checkResult('status', { ...STATUS, peers: [bob] }).ok, 'every kind in status');
  // Over IPC the renderer checks the response value the same way.
  const bad = { ...STATUS, peers: [{ ...bob, pairs: [{ ...pair, candidate: 'reflexive' }] }] };
  const envelope = checkResponseValue({ id: 1, ok: true, result: bad });
  assert.ok(envelope.ok && envelope.value.ok);
  const checked = checkResult('status', envelope.value.result);
  assert.ok(!checked.ok && /^result\.peers\[0\]\.pairs\[0\]\.candidate: expected one of "host", "srflx", "prflx", "relayed"/.test(checked.error), checked.ok ? 'accepted' : checked.error);
  const handover = { seq: 1, at: 0, peer: 'bob', hit: HIT, cause: 'better-path', gapMs: 0, from: null, to: { ...bob.inbound, candidate: 'turn' } };
  const frame = decodeServerFrame(JSON.stringify({ event: { type: 'handover', handover } }));
  assert.ok(!frame.ok && /event\.handover\.to\.candidate: expected one of/.test(frame.error), frame.ok ? 'accepted' : frame.error);
  const noRelayName = decodeServerFrame(JSON.stringify({ event: { type: 'handover', handover: { ...handover, to: { ...bob.inbound, candidate: 'relayed', relay: '' } } } }));
  assert.ok(!noRelayName.ok, 'an empty relay name is refused');
});

test('status says the path in words with its round-trip time: direct via the uplink, both ways when they differ, or relayed', () => {
  const wifi = { local: { address: '192.0.2.1', port: 10500 }, remote: { address: '198.51.100.7', port: 10500 }, interface: 'wlan0', kind: 'wifi' as const };
  const cell = { ...wifi, local: { address: '10.64.0.9', port: 10500 }, interface: 'wwan0', kind: 'cellular' as const };
  const row = (over: Partial<PeerStatus>): string => formatStatus({ ...STATUS, peers: [{ ...STATUS.peers[0]!, via: 'direct', ...over }] }).split('\n')[1]!;
  const common = { remoteState: 'ACTIVE', state: 'operational', candidate: 'host' } as const;
  assert.match(row({ pairs: [{ ...wifi, ...common, primary: true, rttMs: 12.34 }], inbound: { ...wifi, candidate: 'host' } }),
    / ESTABLISHED +direct via Wi-Fi \(wlan0\), rtt 12\.3ms +127\.0\.0\.1:10500 <-> 127\.0\.0\.1:10501 +heard /);
  assert.match(row({ pairs: [{ ...wifi, ...common, primary: false, inbound: true }, { ...cell, ...common, primary: true }], inbound: { ...wifi, candidate: 'host' } }),
    / ESTABLISHED +direct, out via cellular \(wwan0\) · in via Wi-Fi \(wlan0\) +127\./, 'no RTT measured: none shown');
  assert.match(row({ via: 'relay', relay: 'home', pairs: [{ ...wifi, ...common, candidate: 'relayed', primary: true, rttMs: 40 }] }),
    / ESTABLISHED +relayed through home, rtt 40\.0ms +127\./);
  assert.match(row({}), / ESTABLISHED +direct +127\.0\.0\.1:10500 <-> /, 'an engine without pairs: direct, no uplink to name');
  const pairs = formatPairs({ ...STATUS, peers: [{ ...STATUS.peers[0]!, pairs: [{ ...wifi, ...common, candidate: 'prflx', primary: true }] }] });
  assert.match(pairs, /wlan0\/wifi +operational +peer ACTIVE +rtt - +heard - +prflx candidate$/m, pairs);
  // Load sharing: several pairs carry our traffic, and status says so rather than naming one.
  const sharing = { multihoming: 'simultaneous' as const, pairs: [{ ...wifi, ...common, primary: true, spread: true }, { ...cell, ...common, primary: false, spread: true }] };
  assert.ok(checkResult('status', { ...STATUS, peers: [{ ...STATUS.peers[0]!, ...sharing }] }).ok);
  assert.match(row(sharing), / ESTABLISHED +direct, shared per flow over Wi-Fi \(wlan0\) and cellular \(wwan0\) +127\./);
  const shared = formatPairs({ ...STATUS, peers: [{ ...STATUS.peers[0]!, ...sharing }] });
  assert.match(shared, /simultaneous, 2 pairs \(\* out, < in, \+ out too \(load shared per flow over 2 pairs\)\)\n {2}\* +192\.0\.2\.1:10500 .*\n {2}\+ +10\.64\.0\.9:10500 /, shared);
});

test('a move off the relay or onto it says so in the log line, in the words status uses', () => {
  const at = new Date('2026-01-02T03:04:05.000Z');
  const relayed = { local: { address: '127.0.0.1', port: 10500 }, remote: { address: '127.0.0.1', port: 10600 }, interface: 'lo', kind: 'other' as const, candidate: 'relayed' as const, relay: 'home' };
  const { relay: _, ...sameUplink } = relayed;
  const direct = { ...sameUplink, remote: { address: '127.0.0.1', port: 10501 }, candidate: 'host' as const };
  const up: HandoverRecord = { seq: 3, at: 0, peer: 'bob', hit: HIT, cause: 'better-path', gapMs: 0, from: relayed, to: direct };
  assert.ok(checkResult('handover.list', { handovers: [up] }).ok);
  assert.match(eventLine({ type: 'handover', handover: up }, at), / cause=better-path gapMs=0 path="relayed through home -> direct via lo"$/);
  assert.match(eventLine({ type: 'handover', handover: { ...up, from: direct, to: relayed, cause: 'pair-failed' } }, at), / path="direct via lo -> relayed through home"$/);
  assert.match(eventLine({ type: 'handover', handover: { ...up, from: direct } }, at), / gapMs=0$/, 'direct to direct: no path field');
});

test('a malformed server frame says what it was meant to be: an event to log, or the response to one request', () => {
  const badEvent = decodeServerFrame(`{"event":{"type":"teleported","peer":"bob","hit":"${HIT}"}}`);
  assert.deepEqual(!badEvent.ok && badEvent.frame, { kind: 'event' });
  const badResponse = decodeServerFrame('{"id":7,"ok":true}');
  assert.deepEqual(!badResponse.ok && badResponse.frame, { kind: 'response', id: 7 });
  const noId = decodeServerFrame('{"ok":true,"result":{}}');
  assert.ok(!noId.ok && noId.frame === undefined, 'nothing to match it to');
  assert.ok(!checkResponseValue({ id: 7, ok: true }).ok, 'the same envelope check for a value');
});
