// The tray, handover notifications and the resume hook: pure main-process logic, mapped from
// status and events the way a person meets it (icon colour, menu, one notification per burst).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonStatus, HandoverRecord, PeerStatus } from '../../src-shared/control-api.js';
import { ICON_FOR_STATE, trayIconBitmap, trayModel, type TrayMenuItem } from '../../src-main/electron/tray-model.js';
import { HandoverNotifier } from '../../src-main/electron/handover-notifier.js';
import { recheckAfterResume, type Call } from '../../src-main/electron/resume-check.js';

const A = { address: '10.1.0.1', port: 10500 };
const B = { address: '10.1.0.2', port: 10500 };

function peer(name: string, state: PeerStatus['state'], extra: Partial<PeerStatus> = {}): PeerStatus {
  return { name, hit: `2001:20::${name.charCodeAt(0)}`, lsi: '1.0.0.2', state, configuredLocators: [B], counters: { espPacketsIn: 0, espPacketsOut: 0 }, ...extra };
}
function status(peers: PeerStatus[]): DaemonStatus {
  return { version: 1, identity: { hit: '2001:20::1', lsi: '1.0.0.1' }, listening: [A], tun: 'hip0', acceptAny: false, uptimeMs: 1, peers, counters: { hipIn: 0, hipOut: 0, espIn: 0, espOut: 0, dropped: {}, droppedTotal: 0 } };
}
const labels = (items: TrayMenuItem[]): string[] => items.map((i) => (i.type === 'separator' ? '---' : i.label));
const find = (items: TrayMenuItem[], label: string) => items.find((i) => i.type !== 'separator' && i.label === label) as Extract<TrayMenuItem, { type: 'item' }> | undefined;

test('one icon per state, and a click toggles the tunnel', () => {
  assert.deepEqual(ICON_FOR_STATE, { disconnected: 'unsecured', connecting: 'connecting', connected: 'secured', degraded: 'degraded' });
  const off = trayModel(status([peer('bob', 'UNASSOCIATED')]), true);
  assert.equal(off.icon, 'unsecured');
  assert.deepEqual(off.click, { kind: 'toggle', up: true }, 'clicking a disconnected tray connects');
  assert.equal(trayModel(status([peer('bob', 'I2-SENT')]), true).icon, 'connecting');
  const on = trayModel(status([peer('bob', 'ESTABLISHED')]), true);
  assert.equal(on.icon, 'secured');
  assert.deepEqual(on.click, { kind: 'toggle', up: false }, 'clicking a connected tray disconnects');
  assert.equal(on.tooltip, 'hipvpn: Connected · 1 of 1 peers up');
  assert.equal(trayModel(status([peer('bob', 'ESTABLISHED'), peer('carol', 'I1-SENT')]), true).icon, 'degraded');
  const down = trayModel(status([peer('bob', 'ESTABLISHED')]), false);
  assert.equal(down.icon, 'unsecured', 'no engine: unsecured whatever the last status said');
  assert.equal(down.tooltip, 'hipvpn: engine not running');
  assert.equal(find(down.menu, 'Connect')?.enabled, false, 'nothing to switch without an engine');
});

test('the menu lists peers with their path, fail over, open and quit', () => {
  const bob = peer('bob', 'ESTABLISHED', {
    local: A, remote: B,
    pairs: [
      { local: A, remote: B, interface: 'wlan0', kind: 'wifi', remoteState: 'ACTIVE', state: 'operational', primary: true, rttMs: 12 },
      { local: { address: '10.2.0.1', port: 10500 }, remote: B, interface: 'wwan0', kind: 'cellular', remoteState: 'ACTIVE', state: 'operational', primary: false },
    ],
  });
  const m = trayModel(status([bob, peer('carol', 'UNASSOCIATED')]), true);
  assert.deepEqual(labels(m.menu), ['Degraded · 1 of 2 peers up', 'Disconnect', '---', '● bob', '○ carol', 'Fail over now', '---', 'Open hipvpn', 'Quit']);
  const sub = m.menu.find((i) => i.type === 'submenu' && i.label === '● bob');
  assert.ok(sub && sub.type === 'submenu', 'bob has a submenu');
  assert.deepEqual(labels(sub.items), ['ESTABLISHED · 10.1.0.1:10500 ⇄ 10.1.0.2:10500', 'direct via Wi-Fi (wlan0) · RTT 12 ms', 'Fail over now']);
  const fo = find(sub.items, 'Fail over now');
  assert.ok(fo?.enabled && fo.action?.kind === 'failover' && fo.action.peer === 'bob', 'per-peer fail over, enabled with a second pair');
  const relayed = trayModel(status([{ ...bob, via: 'relay', relay: 'home' }]), true).menu.find((i) => i.type === 'submenu');
  assert.ok(relayed?.type === 'submenu' && find(relayed.items, 'relayed through home · RTT 12 ms'), 'a relayed peer says so');
  const carolSub = m.menu.find((i) => i.type === 'submenu' && i.label === '○ carol');
  assert.ok(carolSub?.type === 'submenu' && find(carolSub.items, 'Fail over now')?.enabled === false, 'nothing to fail over without an association');
  assert.deepEqual(find(m.menu, 'Quit')?.action, { kind: 'quit' });
});

test('icons are drawn per state: right size, opaque pixels, different from each other', () => {
  const sizes = new Set<string>();
  for (const icon of ['unsecured', 'connecting', 'secured', 'degraded'] as const) {
    const px = trayIconBitmap(icon, 16);
    assert.equal(px.length, 16 * 16 * 4);
    let opaque = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] === 0xff) opaque++;
    assert.ok(opaque > 30 && opaque < 256, `${icon}: a disc, not empty or full (${opaque} opaque pixels)`);
    sizes.add(Buffer.from(px).toString('base64'));
  }
  assert.equal(sizes.size, 4, 'four distinct icons');
});

function handover(seq: number, peerName = 'bob'): HandoverRecord {
  return {
    seq, at: seq, peer: peerName, hit: '2001:20::1', cause: 'interface-down', gapMs: 140,
    from: { local: A, remote: B, interface: 'wlan0', kind: 'wifi' }, to: { local: { address: '10.2.0.1', port: 10500 }, remote: B, interface: 'wwan0', kind: 'cellular' },
  };
}

test('handover notifications: one at once, a burst held and summarised, none while focused or disabled', () => {
  const n = new HandoverNotifier({ intervalMs: 10_000 });
  const ctx = { focused: false, enabled: true };
  assert.deepEqual(n.offer(handover(1), { ...ctx, now: 0 }), { title: 'hipvpn handover', body: 'bob: moved to cellular (wwan0), 140 ms' });
  assert.equal(n.offer(handover(2), { ...ctx, now: 1000 }), null, 'throttled');
  assert.equal(n.offer(handover(3, 'carol'), { ...ctx, now: 2000 }), null, 'throttled');
  assert.equal(n.dueAt(), 10_000);
  assert.equal(n.flush(9_999), null, 'not before the interval');
  const summary = n.flush(10_000);
  assert.deepEqual(summary, { title: 'hipvpn: 2 handovers', body: '2 peers moved; latest carol: moved to cellular (wwan0), 140 ms' });
  assert.equal(n.dueAt(), null, 'nothing held after a flush');

  assert.equal(n.offer(handover(4), { now: 50_000, focused: true, enabled: true }), null, 'the window has focus');
  assert.equal(n.offer(handover(5), { now: 60_000, focused: false, enabled: false }), null, 'notifications off');
  assert.equal(n.dueAt(), null, 'suppressed ones are not shown later');
  n.offer(handover(6), { ...ctx, now: 70_000 });
  n.offer(handover(7), { ...ctx, now: 71_000 });
  n.focused();
  assert.equal(n.flush(90_000), null, 'focusing the window counts as seeing them');
});

test('on resume: interfaces re-read, every reachable peer probed, failures reported', async () => {
  const calls: string[] = [];
  const st = status([peer('bob', 'ESTABLISHED'), peer('carol', 'UNASSOCIATED'), peer('dave', 'UNASSOCIATED', { configuredLocators: [] })]);
  const call = (async (method: string, params: { peer?: string }) => {
    calls.push(params.peer ? `${method} ${params.peer}` : method);
    if (method === 'interfaces.recheck') return { id: 0, ok: false, error: { code: 'not-supported', message: 'later' } };
    if (method === 'status') return { id: 0, ok: true, result: st };
    if (params.peer === 'carol') return { id: 0, ok: false, error: { code: 'ping-failed', message: 'no answer' } };
    return { id: 0, ok: true, result: { name: params.peer, hit: '2001:20::1', rttMs: 1, local: A, remote: B } };
  }) as unknown as Call;
  const r = await recheckAfterResume(call);
  assert.deepEqual(calls.sort(), ['interfaces.recheck', 'ping bob', 'ping carol', 'status'], 'dave waits to be contacted: not probed');
  assert.deepEqual(r, { interfacesRechecked: false, probed: ['bob'], failed: [{ peer: 'carol', reason: 'no answer' }] });
  const none = await recheckAfterResume((async () => ({ id: 0, ok: false, error: { code: 'unavailable', message: 'x' } })) as unknown as Call);
  assert.deepEqual(none, { interfacesRechecked: false, probed: [], failed: [] }, 'no engine: nothing probed, no throw');
});
