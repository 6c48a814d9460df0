// What the UI and the tray compute from status: the one-word tunnel state, peer rows, pair
// order, the live rate series and the interface order a person edits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonStatus, HandoverRecord, LocatorPair, PeerStatus, Uplink } from '../../src-shared/control-api.js';
import {
  RateSeries, asOfText, attemptText, freshness, handoverText, moveInOrder, orderedUplinks, pathChangeText, pathDirectionsText, pathWithRttText, peerRow, rateText,
  sampleStatus, sortedPairs, tunnelState,
} from '../../src-shared/view-models.js';
import { CANDIDATE_WORDS } from '../../src-shared/status-format.js';
import { CANDIDATE_KINDS } from '../../src-shared/control-api.js';

const A = { address: '10.1.0.1', port: 10500 };
const B = { address: '10.1.0.2', port: 10500 };
const C = { address: '10.2.0.1', port: 10500 };

function peer(name: string, state: PeerStatus['state'], extra: Partial<PeerStatus> = {}): PeerStatus {
  return { name, hit: `2001:20::${name.length}${name.charCodeAt(0)}`, lsi: '1.0.0.2', state, configuredLocators: [B], counters: { espPacketsIn: 0, espPacketsOut: 0 }, ...extra };
}

function status(peers: PeerStatus[], extra: Partial<DaemonStatus> = {}): DaemonStatus {
  return {
    version: 1, identity: { hit: '2001:20::1', lsi: '1.0.0.1' }, listening: [A], tun: 'hip0', acceptAny: false, uptimeMs: 1, peers,
    counters: { hipIn: 0, hipOut: 0, espIn: 0, espOut: 0, dropped: {}, droppedTotal: 0 }, ...extra,
  };
}

function pair(over: Partial<LocatorPair>): LocatorPair {
  return { local: A, remote: B, interface: 'wlan0', kind: 'wifi', remoteState: 'ACTIVE', state: 'operational', primary: false, ...over };
}

test('tunnel state: disconnected, connecting, connected, degraded', () => {
  assert.equal(tunnelState(null), 'disconnected', 'no status yet');
  assert.equal(tunnelState(status([])), 'disconnected', 'no peers');
  assert.equal(tunnelState(status([peer('bob', 'UNASSOCIATED')])), 'disconnected', 'nothing started');
  assert.equal(tunnelState(status([peer('bob', 'I1-SENT')])), 'connecting', 'base exchange under way');
  assert.equal(tunnelState(status([peer('bob', 'ESTABLISHED')])), 'connected');
  assert.equal(tunnelState(status([peer('bob', 'R2-SENT')])), 'connected', 'the responder is keyed in R2-SENT');
  assert.equal(tunnelState(status([peer('bob', 'ESTABLISHED'), peer('carol', 'I1-SENT')])), 'degraded', 'one of two reachable peers is down');
  assert.equal(tunnelState(status([peer('bob', 'ESTABLISHED'), peer('dave', 'UNASSOCIATED', { configuredLocators: [] })])), 'connected', 'a peer that waits to be contacted does not degrade');
  assert.equal(tunnelState(status([peer('bob', 'ESTABLISHED', { pairs: [pair({ primary: true, state: 'testing' })] })])), 'degraded', 'the primary pair is in doubt');
  assert.equal(tunnelState(status([peer('bob', 'ESTABLISHED')], { tunnelUp: false })), 'disconnected', 'the switch is off');
});

test('peer rows show the primary pair, its uplink and RTT, and byte counts when reported', () => {
  const p = peer('bob', 'ESTABLISHED', {
    local: A, remote: B, lastHeardMs: 1500,
    counters: { espPacketsIn: 12, espPacketsOut: 10, espBytesIn: 2048, espBytesOut: 100 },
    pairs: [pair({ primary: false, local: C, interface: 'wwan0', kind: 'cellular' }), pair({ primary: true, rttMs: 3.25 })],
  });
  const row = peerRow(p);
  assert.equal(row.pair, '10.1.0.1:10500 ⇄ 10.1.0.2:10500');
  assert.equal(row.via, 'wlan0 (wifi)');
  assert.equal(row.rtt, '3.3 ms');
  assert.equal(row.rx, '12 pkts · 2.0 KiB');
  assert.equal(row.tx, '10 pkts · 100 B');
  assert.equal(row.heard, '1.5s ago');
  assert.equal(peerRow(peer('carol', 'UNASSOCIATED', { configuredLocators: [] })).pair, 'waits for the peer');
  assert.equal(peerRow({ ...peer('x', 'ESTABLISHED'), name: null }).name, '(unlisted)');
});

test('pairs keep their order whatever is primary, working or fast: by uplink, then address', () => {
  const list = [
    pair({ state: 'failed', interface: 'wwan0', kind: 'cellular', local: { address: '10.9.0.1', port: 1 } }),
    pair({ state: 'operational', rttMs: 40, local: { address: '10.10.0.1', port: 1 } }),
    pair({ state: 'testing', interface: null, local: { address: '10.4.0.1', port: 1 } }),
    pair({ state: 'operational', rttMs: 5, local: { address: '10.5.0.1', port: 1 } }),
    pair({ state: 'operational', primary: true, rttMs: 50, local: { address: '10.6.0.1', port: 1 } }),
  ];
  const order = (ps: LocatorPair[]): string[] => sortedPairs(ps).map((p) => p.local.address);
  assert.deepEqual(order(list), ['10.5.0.1', '10.6.0.1', '10.10.0.1', '10.9.0.1', '10.4.0.1'], 'wlan0 (numeric address order), wwan0, no uplink last');
  // The user picks another pair, it fails, RTTs change: the rows stay where they were.
  const after = list.map((p) => ({ ...p, primary: p.local.address === '10.10.0.1', state: p.local.address === '10.6.0.1' ? 'failed' as const : p.state, rttMs: 1 }));
  assert.deepEqual(order(after), order(list));
});

test('a peer\'s path in words: one way when both directions share a pair, out and in when they do not', () => {
  const wifi = { local: A, remote: B, interface: 'wlan0', kind: 'wifi' as const };
  const cell = { local: C, remote: B, interface: 'wwan0', kind: 'cellular' as const };
  const both = peer('bob', 'ESTABLISHED', { pairs: [pair({ ...wifi, primary: true, inbound: true }), pair({ ...cell })], inbound: wifi });
  assert.equal(pathDirectionsText(both), 'direct via Wi-Fi (wlan0)');
  const split = peer('bob', 'ESTABLISHED', { pairs: [pair({ ...wifi }), pair({ ...cell, primary: true })], inbound: wifi });
  assert.equal(pathDirectionsText(split), 'direct, out via cellular (wwan0) · in via Wi-Fi (wlan0)');
  assert.equal(pathDirectionsText(peer('bob', 'ESTABLISHED', { pairs: [pair({ ...cell, primary: true })] })), 'direct via cellular (wwan0)', 'an engine that does not report the inbound pair');
  assert.equal(pathDirectionsText(peer('bob', 'I1-SENT')), null);
});

test('the path in words: through a NAT is still direct, a relay says so, an uplink of no known kind goes by its name, RTT where known', () => {
  const viaNat = peer('bob', 'ESTABLISHED', { via: 'direct', pairs: [pair({ primary: true, candidate: 'srflx', rttMs: 12.4 })] });
  assert.equal(pathDirectionsText(viaNat), 'direct via Wi-Fi (wlan0)', 'the peer\'s NAT mapping is a direct path');
  assert.equal(pathWithRttText(viaNat), 'direct via Wi-Fi (wlan0) · RTT 12 ms');
  const relayed = peer('bob', 'ESTABLISHED', { via: 'relay', relay: 'home', pairs: [pair({ primary: true, candidate: 'relayed', remote: C, rttMs: 3 })] });
  assert.equal(pathDirectionsText(relayed), 'relayed through home');
  assert.equal(pathWithRttText(relayed), 'relayed through home · RTT 3.0 ms');
  const unnamed = peer('bob', 'ESTABLISHED', { via: 'relay', relay: '2001:2a:1111:2222:3333:4444:5555:6666' });
  assert.match(pathDirectionsText(unnamed) ?? '', /^relayed through 2001:2a:…/, 'an unnamed relay by its short HIT');
  const loopback = peer('bob', 'ESTABLISHED', { pairs: [pair({ primary: true, interface: 'lo', kind: 'other', candidate: 'host' })] });
  assert.equal(pathDirectionsText(loopback), 'direct via lo');
  const outDirectInRelayed = peer('bob', 'ESTABLISHED', {
    via: 'direct', pairs: [pair({ primary: true, candidate: 'host' }), pair({ remote: C, candidate: 'relayed', inbound: true })],
    inbound: { local: A, remote: C, interface: 'wlan0', kind: 'wifi', candidate: 'relayed', relay: 'home' },
  });
  assert.equal(pathDirectionsText(outDirectInRelayed), 'out direct via Wi-Fi (wlan0) · in relayed through home');
  assert.equal(peerRow(viaNat).path, 'direct via Wi-Fi (wlan0)', 'the Peers view shows the words');
  assert.equal(peerRow(peer('bob', 'I1-SENT')).path, null);
});

test('each candidate kind has words a user understands and its ICE term for the tooltip', () => {
  assert.deepEqual(Object.keys(CANDIDATE_WORDS).sort(), [...CANDIDATE_KINDS].sort());
  assert.deepEqual(CANDIDATE_KINDS.map((k) => CANDIDATE_WORDS[k].text), ['its own address', 'its NAT\'s public address', 'the address its checks came from', 'through a relay']);
  assert.match(CANDIDATE_WORDS.srflx.term, /^Server-reflexive/);
  assert.match(CANDIDATE_WORDS.prflx.term, /^Peer-reflexive/);
});

test('rate series turn counters into bit rates, restart on a counter reset and stay bounded', () => {
  const s = new RateSeries(3);
  s.add('k', { atMs: 0, bytesIn: 0, bytesOut: 0 });
  s.add('k', { atMs: 1000, bytesIn: 125_000, bytesOut: 1250 });
  assert.deepEqual(s.series('k').map((p) => [p.inBps, p.outBps]), [[125_000, 1250]]);
  assert.equal(rateText(125_000), '1.0 Mbit/s');
  assert.equal(rateText(1250), '10.0 kbit/s');
  s.add('k', { atMs: 2000, bytesIn: 100, bytesOut: 0 });
  assert.equal(s.series('k').length, 0, 'a counter that went down (new association) restarts the series');
  for (let i = 3; i < 10; i++) s.add('k', { atMs: i * 1000, bytesIn: i * 1000, bytesOut: 0 });
  assert.equal(s.series('k').length, 3, 'only the last `keep` points are kept');

  const rs = new RateSeries();
  const p = peer('bob', 'ESTABLISHED', { counters: { espPacketsIn: 1, espPacketsOut: 1, espBytesIn: 0, espBytesOut: 0 }, pairs: [pair({ primary: true, rttMs: 7, bytesIn: 0, bytesOut: 0 })] });
  sampleStatus(rs, status([p]), 0);
  p.counters.espBytesIn = 500;
  p.pairs![0]!.bytesIn = 500;
  sampleStatus(rs, status([p]), 500);
  assert.deepEqual(rs.keys().sort(), [`pair:${p.hit}:10.1.0.1:10500>10.1.0.2:10500`, `peer:${p.hit}`]);
  assert.equal(rs.series(`peer:${p.hit}`)[0]?.inBps, 1000, 'per peer');
  assert.equal(rs.series(`peer:${p.hit}`)[0]?.rttMs, 7, 'the primary pair\'s RTT rides along');
});

test('interface order: named first as the user ordered them, then by preference; moves stay in bounds', () => {
  const up = (name: string, preference: number): Uplink => ({ name, kind: 'ethernet', up: true, addresses: [], preference });
  const list = orderedUplinks([up('eth0', 0), up('wlan0', 1), up('wwan0', 2)], ['wwan0']);
  assert.deepEqual(list.map((u) => u.name), ['wwan0', 'eth0', 'wlan0']);
  assert.deepEqual(moveInOrder(['a', 'b', 'c'], 'c', -1), ['a', 'c', 'b']);
  assert.deepEqual(moveInOrder(['a', 'b', 'c'], 'a', -1), ['a', 'b', 'c'], 'the first cannot move up');
  assert.deepEqual(moveInOrder(['a', 'b', 'c'], 'x', 1), ['a', 'b', 'c'], 'unknown names change nothing');
});

test('handover text names where traffic went and the gap', () => {
  const h: HandoverRecord = {
    seq: 1, at: 0, peer: 'bob', hit: '2001:20::1', cause: 'interface-down', gapMs: 140.4,
    from: { local: A, remote: B, interface: 'wlan0', kind: 'wifi' }, to: { local: C, remote: B, interface: 'wwan0', kind: 'cellular' },
  };
  assert.equal(handoverText(h), 'bob: moved to cellular (wwan0), 140 ms');
  assert.equal(handoverText({ ...h, gapMs: null, peer: null }), '2001:20::1: moved to cellular (wwan0)');
  assert.equal(pathChangeText(h), null, 'a daemon that names no candidate kinds');
  const direct = { ...h.to, candidate: 'host' as const };
  assert.equal(pathChangeText({ ...h, from: { ...h.from!, candidate: 'srflx' }, to: direct }), null, 'direct to direct is no relay change');
});

test('the timeline names moves off the relay and onto it', () => {
  const relayed = { local: A, remote: C, interface: 'wlan0', kind: 'wifi' as const, candidate: 'relayed' as const, relay: 'home' };
  const direct = { local: A, remote: B, interface: 'wlan0', kind: 'wifi' as const, candidate: 'prflx' as const };
  const up: HandoverRecord = { seq: 2, at: 0, peer: 'bob', hit: '2001:20::1', cause: 'better-path', gapMs: 0, from: relayed, to: direct };
  assert.equal(pathChangeText(up), 'relayed through home → direct via Wi-Fi (wlan0)');
  assert.equal(handoverText(up), 'bob: relayed through home → direct via Wi-Fi (wlan0), 0 ms');
  const { relay: _, ...notOurs } = relayed;
  const down: HandoverRecord = { ...up, cause: 'pair-failed', from: direct, to: notOurs };
  assert.equal(pathChangeText(down), 'direct via Wi-Fi (wlan0) → relayed through 10.2.0.1:10500', 'a relay not of ours by its address');
});

test('why a peer is not connected: nothing while young or keyed, then no answer from its address, then given up', () => {
  const attempt = (over: Partial<NonNullable<PeerStatus['attempt']>>): NonNullable<PeerStatus['attempt']> => ({ remote: B, sinceMs: 0, answered: false, ...over });
  assert.equal(attemptText(peer('bob', 'I1-SENT', { attempt: attempt({ sinceMs: 800 }) })), null, 'an exchange under a second old is not news');
  assert.equal(attemptText(peer('bob', 'ESTABLISHED', { attempt: attempt({ sinceMs: 9000 }) })), null, 'a keyed peer has no problem');
  assert.equal(attemptText(peer('bob', 'UNASSOCIATED')), null, 'no attempt, nothing to say');
  assert.match(attemptText(peer('bob', 'I1-SENT', { attempt: attempt({ sinceMs: 20_400 }) })) ?? '', /^No answer from 10\.1\.0\.2:10500 for 20 s: check the address, and that hipvpn runs there/);
  assert.match(attemptText(peer('bob', 'UNASSOCIATED', { attempt: attempt({ sinceMs: 40_000, failedAgoMs: 4000, reason: 'i1-retries-exceeded' }) })) ?? '', /^No answer from 10\.1\.0\.2:10500 \(gave up 4 s ago\)/);
  assert.match(attemptText(peer('bob', 'I2-SENT', { attempt: attempt({ sinceMs: 5000, answered: true }) })) ?? '', /answered, but the exchange has not finished after 5 s/);
});

test('freshness: live, or stale with the reason and the age of what is shown', () => {
  const at = 1_000_000;
  assert.deepEqual(freshness({ link: 'open', daemonRunning: true, statusAt: at - 900, now: at }), { live: true, reason: null, ageMs: 900 });
  assert.equal(freshness({ link: 'open', daemonRunning: false, statusAt: at - 12_000, now: at }).reason, 'engine-stopped');
  assert.equal(freshness({ link: 'closed', daemonRunning: true, statusAt: at - 3000, now: at }).reason, 'server-unreachable', 'the daemon was running: not known any more');
  assert.equal(freshness({ link: 'connecting', daemonRunning: true, statusAt: at - 3000, now: at }).reason, 'server-unreachable', 'a retry under way is not contact yet');
  assert.equal(freshness({ link: 'connecting', daemonRunning: null, statusAt: null, now: at }).reason, null, 'the first connect is not a loss');
  assert.equal(freshness({ link: 'unauthorized', daemonRunning: true, statusAt: at, now: at }).reason, 'token-refused');
  assert.equal(freshness({ link: 'open', daemonRunning: true, statusAt: at - 6000, now: at }).reason, 'no-answer', 'a status that stopped coming');
  assert.equal(asOfText(12_300), 'as of 12 s ago');
  assert.equal(asOfText(65_000), 'as of 1 min ago');
  assert.equal(asOfText(300), 'as of just now');
});
