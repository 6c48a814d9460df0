// The flow-binding model as the UI and CLI use it: add, edit (replace by FID), move to another
// interface, remove — every refusal with a message a person can act on and the table unchanged;
// where each flow goes as uplinks and pairs come and go; and flows.json across restarts.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PeerStatus, Uplink } from '../../src-shared/control-api.js';
import { FlowService, flowWorld } from '../../src-main/flows/flow-service.js';
import { placeFromStatus, type FlowPair, type FlowWorld } from '../../src-main/flows/flow-state.js';
import { loadFlows } from '../../src-main/flows/flow-store.js';
import { FlowTable, type FlowBinding } from '../../src-main/flows/flow-table.js';

const PEERS = ['bob', 'carol'];
const web: FlowBinding = { fid: 1, peer: 'bob', selector: { protocol: 'tcp', remotePorts: { from: 443, to: 443 } }, interface: 'wlan0' };
const voice: FlowBinding = { fid: 2, peer: 'bob', selector: { protocol: 'udp', remotePorts: { from: 5060, to: 5061 } }, interface: 'wwan0' };

function must<T>(r: { ok: true; table: FlowTable; value: T } | { ok: false; error: { message: string } }): { table: FlowTable; value: T } {
  assert.ok(r.ok, `change accepted: ${r.ok ? '' : r.error.message}`);
  return r;
}

test('add, edit by FID, move to interface, remove', () => {
  let t = FlowTable.empty();
  const added = must(t.set(web, PEERS));
  assert.equal(added.value.replaced, false);
  t = must(added.table.set(voice, PEERS)).table;
  assert.deepEqual(t.list().map((b) => b.fid), [1, 2]);
  const edited = must(t.set({ ...web, selector: { protocol: 'tcp', remotePorts: { from: 80, to: 443 } } }, PEERS));
  assert.equal(edited.value.replaced, true, 'the same FID replaces');
  t = edited.table;
  assert.deepEqual(t.get(1)?.selector.remotePorts, { from: 80, to: 443 });
  t = must(t.moveToInterface(2, 'eth0')).table;
  assert.equal(t.get(2)?.interface, 'eth0', 'moved');
  t = must(t.moveToInterface(2, null)).table;
  assert.equal(t.get(2)?.interface, null, 'back on the primary pair');
  const removed = must(t.remove(1));
  assert.equal(removed.value.fid, 1);
  assert.deepEqual(removed.table.list().map((b) => b.fid), [2]);
  assert.equal(removed.table.nextFreeFid(), 1, 'a freed FID is offered again');
});

test('every invalid change is refused with what is allowed, and the table is unchanged', () => {
  const t = must(FlowTable.empty().set(web, PEERS)).table;
  const cases: Array<[ReturnType<FlowTable['set']>, string, string]> = [
    [t.set({ ...voice, fid: 0 }, PEERS), 'invalid-params', 'flow 0: the FID is a whole number 1..65535, not 0'],
    [t.set({ ...voice, fid: 70000 }, PEERS), 'invalid-params', 'flow 70000: the FID is a whole number 1..65535, not 70000'],
    [t.set({ ...voice, peer: 'dave' }, PEERS), 'unknown-peer', 'flow 2: unknown peer "dave" (known: bob, carol); add the peer first'],
    [t.set({ ...voice, peer: 'dave' }, []), 'unknown-peer', 'flow 2: unknown peer "dave" (no peers configured); add the peer first'],
    [t.set({ ...voice, selector: { protocol: 'icmp', remotePorts: { from: 1, to: 1 } } }, PEERS), 'invalid-params', 'flow 2: ICMP has no ports: remove the port range, or choose tcp or udp'],
    [t.set({ ...voice, selector: { protocol: 'udp', localPorts: { from: 10, to: 1 } } }, PEERS), 'invalid-params', 'flow 2: local ports: the range ends (1) before it starts (10)'],
    [t.set({ ...voice, selector: { protocol: 'any', remotePrefix: '1.0.0.2/24' } }, PEERS), 'invalid-params', 'flow 2: "1.0.0.2/24" has bits set past its /24; did you mean 1.0.0.0/24?'],
    [t.set({ ...voice, interface: 'wlan 0' }, PEERS), 'invalid-params', 'flow 2: "wlan 0" is not an interface name (up to 15 letters, digits, "_", ".", ":", "-")'],
    [t.set({ ...voice, selector: web.selector }, PEERS), 'conflict', 'flow 1 already selects tcp to port 443 towards bob; edit that flow (or move it to another interface) instead of adding FID 2'],
  ];
  for (const [r, code, message] of cases) {
    assert.equal(r.ok, false, `refused: ${message}`);
    assert.deepEqual((r as { error: unknown }).error, { code, message });
  }
  assert.deepEqual(t.set({ ...voice, peer: 'carol', selector: web.selector }, PEERS).ok, true, 'the same selector towards another peer is another flow');
  assert.deepEqual((t.remove(9) as { error: unknown }).error, { code: 'unknown-flow', message: 'no flow with FID 9 (FIDs in use: 1)' });
  assert.deepEqual((t.moveToInterface(9, 'eth0') as { error: unknown }).error, { code: 'unknown-flow', message: 'no flow with FID 9 to move' });
  assert.equal(t.moveToInterface(1, '../etc').ok, false, 'a path is not an interface');
  assert.deepEqual(t.list(), [web], 'nothing changed');
});

function world(opts: { up?: string[] | null; pairs?: Record<string, FlowPair[]>; peers?: string[] }): FlowWorld {
  return {
    uplinksUp: opts.up === null ? null : new Set(opts.up ?? []),
    pairsOf: (p) => opts.pairs?.[p],
    knows: (p) => (opts.peers ?? PEERS).includes(p),
  };
}

const ep = (address: string, port = 10500) => ({ address, port });
const wifiPair: FlowPair = { local: ep('192.168.1.5'), remote: ep('203.0.113.9'), interface: 'wlan0', state: 'operational', primary: true };
const cellPair: FlowPair = { local: ep('100.64.0.7'), remote: ep('203.0.113.9'), interface: 'wwan0', state: 'operational', primary: false };

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const on = (p: FlowPair) => ({ local: p.local, remote: p.remote });

test('placement from status: bound on its interface, pending while a pair there is checked, fallback when the uplink is gone; the engine\'s words and reasons', () => {
  const both = { bob: [wifiPair, cellPair] };
  const place = (b: FlowBinding, w: FlowWorld) => {
    const { fid: _fid, ...rest } = placeFromStatus(b, w);
    return rest;
  };
  assert.deepEqual(place(voice, world({ up: ['wlan0', 'wwan0'], pairs: both })), { state: 'bound', ...on(cellPair) }, 'voice on cellular');
  assert.deepEqual(place(web, world({ up: ['wlan0', 'wwan0'], pairs: both })), { state: 'bound', ...on(wifiPair) });
  const testing = { bob: [wifiPair, { ...cellPair, state: 'testing' as const }] };
  assert.deepEqual(place(voice, world({ up: ['wlan0', 'wwan0'], pairs: testing })), { state: 'pending', reason: 'a pair on wwan0 is still being checked', ...on(wifiPair) }, 'rides the primary until cellular is proven');
  const unverified = { bob: [wifiPair, { ...cellPair, remoteState: 'UNVERIFIED' as const }] };
  assert.deepEqual(place(voice, world({ up: ['wlan0', 'wwan0'], pairs: unverified })), { state: 'pending', reason: 'a pair on wwan0 is still being checked', ...on(wifiPair) }, 'an unverified peer address carries no flow of its own');
  assert.deepEqual(place(voice, world({ up: ['wlan0'], pairs: { bob: [wifiPair] } })), { state: 'fallback', reason: 'wwan0 is down', ...on(wifiPair) }, 'cellular gone: falls back to the primary');
  assert.deepEqual(place(voice, world({ up: ['wlan0', 'wwan0'], pairs: { bob: [wifiPair, { ...cellPair, state: 'failed' }] } })), { state: 'fallback', reason: 'no working pair on wwan0', ...on(wifiPair) });
  assert.deepEqual(place(voice, world({ up: ['wlan0'] })), { state: 'pending', reason: 'no association with the peer yet' }, 'no association: no pair to name');
  assert.deepEqual(place({ ...voice, interface: null }, world({ up: ['wlan0'], pairs: { bob: [wifiPair] } })), { state: 'bound', ...on(wifiPair) }, 'unbound follows the primary');
  assert.deepEqual(place(voice, world({ up: null, pairs: { bob: [wifiPair] } })), { state: 'pending', reason: 'no pair on wwan0 yet', ...on(wifiPair) }, 'a host that does not follow its interfaces cannot call it gone');
  assert.deepEqual(place({ ...voice, policy: 'only' }, world({ up: ['wlan0'], pairs: { bob: [wifiPair] } })), { state: 'pending', reason: 'held for wwan0 (only on wwan0): wwan0 is down' }, '"only": held, on no pair');
});

test('status rows from the daemon\'s peer status, in the control API\'s words; a removed peer\'s binding flagged', async () => {
  const peer: PeerStatus = {
    name: 'bob', hit: '2001:20::b0b', lsi: '1.0.0.2', state: 'ESTABLISHED', configuredLocators: [],
    counters: { espPacketsIn: 0, espPacketsOut: 0 },
    pairs: [
      { ...wifiPair, kind: 'wifi', remoteState: 'ACTIVE' },
      { ...cellPair, kind: 'cellular', remoteState: 'ACTIVE' },
    ],
  };
  const uplinks: Uplink[] = [
    { name: 'wlan0', kind: 'wifi', up: true, addresses: [], preference: 0 },
    { name: 'wwan0', kind: 'cellular', up: false, addresses: [], preference: 1 },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-flows-'));
  dirs.push(dir);
  const svc = await FlowService.open(dir, () => undefined);
  assert.ok((await svc.set(web, PEERS)).ok && (await svc.set(voice, PEERS)).ok && (await svc.set({ ...web, fid: 3, peer: 'carol' }, PEERS)).ok);
  const rows = svc.status(flowWorld([peer], uplinks));
  assert.deepEqual(rows.map((r) => [r.binding.fid, r.state, r.reason, r.local?.address, r.peerRemoved]), [
    [1, 'bound', undefined, wifiPair.local.address, undefined],
    [2, 'fallback', 'wwan0 is down', wifiPair.local.address, undefined],
    [3, 'fallback', 'carol is not on the peer list', undefined, true],
  ]);
  const legacy: PeerStatus = { ...peer, pairs: undefined, local: wifiPair.local, remote: wifiPair.remote };
  delete (legacy as { pairs?: unknown }).pairs;
  assert.equal(placeFromStatus({ ...web, interface: null }, flowWorld([legacy], undefined)).state, 'bound', 'an engine without pair reports: its active pair is the primary');
});

test('flows.json: saved 0600 before the change is acknowledged, read back after a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-flows-'));
  dirs.push(dir);
  const warnings: string[] = [];
  const svc = await FlowService.open(dir, (m) => warnings.push(m));
  assert.deepEqual(await svc.set(web, PEERS), { ok: true, value: { flow: web, replaced: false } });
  assert.equal((await svc.set({ ...voice, peer: 'mallory' }, PEERS)).ok, false);
  const path = join(dir, 'flows.json');
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { version: 1, flows: [web] }, 'the refused flow is not in the file');
  // Two requests at once both land (one at a time, neither overwriting the other).
  const [a, b] = await Promise.all([svc.set(voice, PEERS), svc.set({ ...voice, fid: 3, selector: { protocol: 'icmp' } }, PEERS)]);
  assert.ok(a.ok && b.ok, 'both accepted');
  const again = await FlowService.open(dir, (m) => warnings.push(m));
  assert.deepEqual(again.list().map((f) => f.fid), [1, 2, 3], 'all three after a restart');
  assert.deepEqual((await again.remove(2)).ok, true);
  assert.deepEqual((await FlowService.open(dir, () => undefined)).list().map((f) => f.fid), [1, 3]);
  assert.deepEqual(warnings, []);
  assert.equal((await readdir(dir)).filter((f) => f.endsWith('.tmp')).length, 0, 'no temporary files left');
});

test('flows.json written by hand: good bindings kept, bad ones dropped with a warning naming them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-flows-'));
  dirs.push(dir);
  const path = join(dir, 'flows.json');
  await writeFile(path, JSON.stringify({
    version: 1,
    flows: [web, { ...voice, selector: { protocol: 'icmp', remotePorts: { from: 1, to: 2 } } }, { ...voice, fid: 4, interface: 'eth0', colour: 'red' }, { ...voice, fid: 1 }],
  }));
  const warnings: string[] = [];
  const t = await loadFlows(path, null, (m) => warnings.push(m));
  assert.deepEqual(t.list(), [web]);
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.match(warnings[0]!, /flows\[2\]\.colour: unknown field/);
  assert.match(warnings[1]!, /flow 2: ICMP has no ports/);
  assert.match(warnings[2]!, /flow 1 is listed twice/);
  await writeFile(path, '{"version": 1, "flows": [');
  const broken: string[] = [];
  assert.equal((await loadFlows(path, null, (m) => broken.push(m))).size, 0);
  assert.match(broken[0]!, /not JSON; kept as .*flows\.json\.unreadable-/);
  assert.equal((await readdir(dir)).some((f) => f.startsWith('flows.json.unreadable-')), true, 'the unreadable file is kept aside, not overwritten');
});

test('a policy: "only" kept with its binding, in the API and across a restart; refused without an interface or as another word', async () => {
  const onlyWifi: FlowBinding = { ...web, policy: 'only' };
  const t = must(FlowTable.empty().set(onlyWifi, PEERS)).table;
  assert.deepEqual(t.get(1), onlyWifi);
  const noIface = FlowTable.empty().set({ ...onlyWifi, interface: null }, PEERS);
  assert.deepEqual(noIface.ok ? null : noIface.error.message, 'flow 1: policy "only" keeps the flow on its interface: name one');
  const word = FlowTable.empty().set({ ...web, policy: 'always' as FlowBinding['policy'] }, PEERS);
  assert.match(word.ok ? '' : word.error.message, /the policy is "prefer" \(fall back to another uplink\) or "only" \(never leave on another\), not "always"/);
  const moved = t.moveToInterface(1, null);
  assert.equal(moved.ok, false, 'an "only" flow cannot be moved to the primary pair');
  const dir = await mkdtemp(join(tmpdir(), 'hipvpn-flows-'));
  dirs.push(dir);
  const svc = await FlowService.open(dir, () => undefined);
  assert.deepEqual(await svc.set(onlyWifi, PEERS), { ok: true, value: { flow: onlyWifi, replaced: false } });
  assert.deepEqual(await svc.set(voice, PEERS), { ok: true, value: { flow: voice, replaced: false } }, 'no policy: none is added');
  const warnings: string[] = [];
  assert.deepEqual((await FlowService.open(dir, (m) => warnings.push(m))).list(), [onlyWifi, voice]);
  assert.deepEqual(warnings, []);
});
