// What the UI shows, computed from status snapshots and events: pure functions the renderer,
// the tray and the tests share. Nothing here knows about React or Electron.

import type { DaemonStatus, HandoverRecord, LocatorPair, PairRef, PeerStatus, Uplink } from './control-api.js';
import { ageText, endpointText, pathChangeWords, pathWords, relayedText } from './status-format.js';
import { shortHit } from './hit-text.js';

/** The one word the Overview, the tray icon and its tooltip agree on. */
export type TunnelState = 'disconnected' | 'connecting' | 'connected' | 'degraded';

const KEYED = new Set(['ESTABLISHED', 'R2-SENT']);
const IN_PROGRESS = new Set(['I1-SENT', 'I2-SENT']);

export function isKeyed(p: PeerStatus): boolean {
  return KEYED.has(p.state);
}

/** The pair traffic uses now: the engine's primary, else the one active pair status names. */
export function primaryPair(p: PeerStatus): LocatorPair | undefined {
  return p.pairs?.find((x) => x.primary);
}

/**
 * connected: every peer we can reach (has a locator, or has an association) is keyed and its
 * primary pair, where reported, is operational. degraded: some are, others are not, or a primary
 * pair is being tested or failed. connecting: none keyed yet, a base exchange under way.
 */
export function tunnelState(s: DaemonStatus | null): TunnelState {
  if (!s || s.tunnelUp === false) return 'disconnected';
  const reachable = s.peers.filter((p) => p.configuredLocators.length > 0 || p.state !== 'UNASSOCIATED');
  const keyed = reachable.filter(isKeyed);
  if (keyed.length === 0) return reachable.some((p) => IN_PROGRESS.has(p.state)) ? 'connecting' : 'disconnected';
  const unhealthy = keyed.some((p) => {
    const primary = primaryPair(p);
    return primary !== undefined && primary.state !== 'operational';
  });
  return unhealthy || keyed.length < reachable.length ? 'degraded' : 'connected';
}

export const TUNNEL_STATE_TEXT: Record<TunnelState, string> = {
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  degraded: 'Degraded',
};

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Bits per second as people read link speeds. */
export function rateText(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  if (bits < 1000) return `${Math.round(bits)} bit/s`;
  if (bits < 1e6) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  if (bits < 1e9) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  return `${(bits / 1e9).toFixed(2)} Gbit/s`;
}

export function msText(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '–';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function pairText(p: { local: PairRef['local']; remote: PairRef['remote'] }): string {
  return `${endpointText(p.local)} ⇄ ${endpointText(p.remote)}`;
}

/** A relay's name as the UI shows it: an unnamed relay goes by its HIT, shortened as HITs are. */
export function relayLabel(name: string): string {
  return name.includes(':') ? shortHit(name) : name;
}

export interface PeerRow {
  key: string;
  name: string;
  hit: string;
  lsi: string;
  state: string;
  pair: string;
  /** The path in words ("direct via Wi-Fi (wlan0)", "relayed through home"); null with no pair in use. */
  path: string | null;
  via: string;
  rtt: string;
  rx: string;
  tx: string;
  heard: string;
  configured: boolean;
}

export function peerRow(p: PeerStatus): PeerRow {
  const primary = primaryPair(p);
  const active = p.local && p.remote ? pairText({ local: p.local, remote: p.remote }) : null;
  return {
    key: p.hit,
    name: p.name ?? '(unlisted)',
    hit: p.hit,
    lsi: p.lsi ?? '–',
    state: p.state,
    pair: p.via === 'relay' && p.relay !== undefined ? relayedText(relayLabel(p.relay))
      : primary ? pairText(primary) : active ?? (p.configuredLocators.length ? 'not connected' : 'waits for the peer'),
    path: isKeyed(p) ? pathWords(p, relayLabel) : null,
    via: primary ? `${primary.interface ?? '?'} (${primary.kind})` : '–',
    rtt: msText(primary?.rttMs),
    rx: `${p.counters.espPacketsIn} pkts${p.counters.espBytesIn === undefined ? '' : ` · ${bytesText(p.counters.espBytesIn)}`}`,
    tx: `${p.counters.espPacketsOut} pkts${p.counters.espBytesOut === undefined ? '' : ` · ${bytesText(p.counters.espBytesOut)}`}`,
    heard: p.lastHeardMs === undefined ? 'never' : `${ageText(p.lastHeardMs)} ago`,
    configured: p.name !== null,
  };
}

/**
 * Pairs as the Locator pairs view lists them: by uplink, then our address, then the peer's. Never
 * by what changes (primary, state, RTT): a row must not move under the pointer when the pair it
 * shows becomes primary.
 */
export function sortedPairs(pairs: readonly LocatorPair[]): LocatorPair[] {
  const text = (e: LocatorPair['local']): string => endpointText(e);
  // Pairs on no known uplink go last.
  const uplink = (p: LocatorPair): string => (p.interface === null ? '\uffff' : p.interface);
  const cmp = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });
  return [...pairs].sort((a, b) => cmp(uplink(a), uplink(b)) || cmp(text(a.local), text(b.local)) || cmp(text(a.remote), text(b.remote)));
}

/** Plain words for a pair's state; the protocol's term goes in the tooltip. */
export const PAIR_STATE_WORDS: Record<LocatorPair['state'], { text: string; term: string }> = {
  operational: { text: 'working', term: 'Pair state: operational (a test passed; it can carry traffic)' },
  testing: { text: 'checking', term: 'Pair state: testing (a reachability test is under way, seed 003 §5.4)' },
  failed: { text: 'not working', term: 'Pair state: failed (its tests went unanswered)' },
};

/** Plain words for a peer's association state (RFC 7401 §4.4.2); the protocol's state in the tooltip. */
export const PEER_STATE_WORDS: Record<PeerStatus['state'], { text: string; term: string }> = {
  UNASSOCIATED: { text: 'not connected', term: 'HIP state: UNASSOCIATED (no base exchange with this peer under way)' },
  'I1-SENT': { text: 'connecting', term: 'HIP state: I1-SENT (this host sent I1, the base exchange\'s first packet, and waits for the peer\'s R1)' },
  'I2-SENT': { text: 'connecting', term: 'HIP state: I2-SENT (the peer answered; this host sent I2 and waits for R2)' },
  'R2-SENT': { text: 'connected', term: 'HIP state: R2-SENT (this host answered the peer\'s I2; the keys are set)' },
  ESTABLISHED: { text: 'connected', term: 'HIP state: ESTABLISHED (the base exchange finished; traffic is encrypted with ESP)' },
  CLOSING: { text: 'closing', term: 'HIP state: CLOSING (this host sent CLOSE and waits for CLOSE_ACK)' },
  CLOSED: { text: 'closed', term: 'HIP state: CLOSED (the association was closed; a new exchange starts on the next packet)' },
  'E-FAILED': { text: 'failed', term: 'HIP state: E-FAILED (the base exchange failed)' },
};

/** Plain words for the check of a peer's address (RFC 8046 §5.4 locator states). */
export const LOCATOR_STATE_WORDS: Record<LocatorPair['remoteState'], { text: string; term: string }> = {
  ACTIVE: { text: 'verified', term: 'Locator state: ACTIVE (the peer answered at this address, RFC 8046 §5.4)' },
  UNVERIFIED: { text: 'not yet verified', term: 'Locator state: UNVERIFIED (an address check is under way; sending is limited, RFC 8046 §5.6)' },
  DEPRECATED: { text: 'withdrawn', term: 'Locator state: DEPRECATED (the peer no longer offers this address)' },
};

/** An uplink in words: "wifi0 (wifi)", or the local address when the engine cannot tell. */
export function viaText(p: PairRef): string {
  return p.interface === null ? endpointText(p.local) : `${p.interface} (${p.kind})`;
}

/**
 * How a peer is reached right now, both ways: "direct via Wi-Fi (wifi0)" when its packets come
 * back on the pair ours leave on, "direct, out via cellular (cell0) · in via Wi-Fi (wifi0)" after
 * a one-way failure (each side picks its own outbound pair), "relayed through home". null when
 * there is no pair in use.
 */
export function pathDirectionsText(p: PeerStatus): string | null {
  return pathWords(p, relayLabel);
}

/** The path in words with its round-trip time where known: "direct via Wi-Fi (wlan0) · RTT 12 ms". */
export function pathWithRttText(p: PeerStatus): string | null {
  const words = pathWords(p, relayLabel);
  const rtt = primaryPair(p)?.rttMs;
  return words === null || rtt === undefined ? words : `${words} · RTT ${msText(rtt)}`;
}

/** A move onto a relay or off it: "relayed through home → direct via Wi-Fi (wlan0)"; null for other moves. */
export function pathChangeText(h: HandoverRecord): string | null {
  return pathChangeWords(h, { relayName: relayLabel });
}

export function pairKey(p: { local: PairRef['local']; remote: PairRef['remote'] }): string {
  return `${endpointText(p.local)}>${endpointText(p.remote)}`;
}

/** Uplinks in the user's order: named ones first as ordered, then by the engine's preference. */
export function orderedUplinks(uplinks: readonly Uplink[], order: readonly string[]): Uplink[] {
  const pos = (u: Uplink): number => {
    const i = order.indexOf(u.name);
    return i < 0 ? order.length + u.preference : i;
  };
  return [...uplinks].sort((a, b) => pos(a) - pos(b) || a.name.localeCompare(b.name));
}

/** The order after moving `name` one place up (-1) or down (+1); the list as the user sees it. */
export function moveInOrder(names: readonly string[], name: string, by: -1 | 1): string[] {
  const out = [...names];
  const i = out.indexOf(name);
  const j = i + by;
  if (i < 0 || j < 0 || j >= out.length) return out;
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}

/** "moved to cellular (wwan0), 140 ms gap": the timeline's and the notification's words. */
export function handoverText(h: HandoverRecord): string {
  const where = `${h.to.kind}${h.to.interface ? ` (${h.to.interface})` : ''}`;
  const gap = h.gapMs === null ? '' : `, ${Math.round(h.gapMs)} ms`;
  const change = pathChangeText(h);
  // Onto a relay or off it is the news; the uplink alone would not tell it.
  return change === null ? `${h.peer ?? h.hit}: moved to ${where}${gap}` : `${h.peer ?? h.hit}: ${change}${gap}`;
}

export const HANDOVER_CAUSE_TEXT: Record<HandoverRecord['cause'], string> = {
  'interface-down': 'uplink went down',
  'address-lost': 'address lost',
  'pair-failed': 'path stopped answering',
  'peer-moved': 'peer moved',
  'better-path': 'better path available',
  user: 'you chose it',
  policy: 'policy',
};

// ---------------------------------------------------------------------------------------------
// Live chart: rates from successive counter samples

export interface Sample { atMs: number; bytesIn: number; bytesOut: number; rttMs?: number }
export interface RatePoint { atMs: number; inBps: number; outBps: number; rttMs?: number }

/**
 * Rates per series (a peer, or a pair) from cumulative byte counters. A counter that went down
 * (daemon restart, new association) starts the series again rather than showing a negative rate.
 */
export class RateSeries {
  private last = new Map<string, Sample>();
  private points = new Map<string, RatePoint[]>();

  constructor(private readonly keep = 120) {}

  add(key: string, s: Sample): void {
    const prev = this.last.get(key);
    this.last.set(key, s);
    if (!prev || s.atMs <= prev.atMs) return;
    const list = this.points.get(key) ?? [];
    if (s.bytesIn < prev.bytesIn || s.bytesOut < prev.bytesOut) {
      this.points.set(key, []);
      return;
    }
    const dt = (s.atMs - prev.atMs) / 1000;
    const point: RatePoint = { atMs: s.atMs, inBps: (s.bytesIn - prev.bytesIn) / dt, outBps: (s.bytesOut - prev.bytesOut) / dt };
    if (s.rttMs !== undefined) point.rttMs = s.rttMs;
    list.push(point);
    if (list.length > this.keep) list.splice(0, list.length - this.keep);
    this.points.set(key, list);
  }

  series(key: string): readonly RatePoint[] {
    return this.points.get(key) ?? [];
  }

  keys(): string[] {
    return [...this.points.keys()];
  }
}

/** Feeds one status snapshot into the series: one per peer, one per reported pair. */
export function sampleStatus(series: RateSeries, s: DaemonStatus, atMs: number): void {
  for (const p of s.peers) {
    const primary = primaryPair(p);
    const sample: Sample = { atMs, bytesIn: p.counters.espBytesIn ?? 0, bytesOut: p.counters.espBytesOut ?? 0 };
    if (primary?.rttMs !== undefined) sample.rttMs = primary.rttMs;
    series.add(`peer:${p.hit}`, sample);
    for (const pair of p.pairs ?? []) {
      if (pair.bytesIn === undefined || pair.bytesOut === undefined) continue;
      const ps: Sample = { atMs, bytesIn: pair.bytesIn, bytesOut: pair.bytesOut };
      if (pair.rttMs !== undefined) ps.rttMs = pair.rttMs;
      series.add(`pair:${p.hit}:${pairKey(pair)}`, ps);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Why a peer is not connected

/** A base exchange on a near path takes well under a second; past this, "no answer" is news. */
export const NO_ANSWER_AFTER_MS = 3000;

function secondsText(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

/**
 * The reason a peer is not connected, in plain words with what to check; null while it is
 * connected or its exchange is young. From status's `attempt` (the daemon's account of it).
 */
export function attemptText(p: PeerStatus): string | null {
  const a = p.attempt;
  if (!a || isKeyed(p)) return null;
  const relayed = p.via === 'relay' && p.relay !== undefined;
  const to = relayed ? `${p.name ?? 'the peer'} (through relay ${relayLabel(p.relay!)})` : endpointText(a.remote);
  // Through a relay there is no address of the peer's to check, only its registration there.
  const check = relayed ? 'check that the peer is registered with that relay' : 'check the address';
  if (a.failedAgoMs === undefined) {
    if (a.sinceMs < NO_ANSWER_AFTER_MS) return null;
    return a.answered
      ? `${to} answered, but the exchange has not finished after ${secondsText(a.sinceMs)}: the peer may not have this host on its peer list.`
      : `No answer from ${to} for ${secondsText(a.sinceMs)}: ${check}, and that hipvpn runs there with this host on its peer list.`;
  }
  const when = `gave up ${secondsText(a.failedAgoMs)} ago`;
  if (!a.answered) return `No answer from ${to} (${when}): ${check}, and that hipvpn runs there with this host on its peer list.`;
  return `${to} answered, but the exchange failed${a.reason ? ` (${a.reason})` : ''}, ${when}: the peer may not have this host on its peer list.`;
}

// ---------------------------------------------------------------------------------------------
// How current the shown status is

/** Why the UI cannot show the live state; null when it can. */
export type StaleReason = 'engine-stopped' | 'server-unreachable' | 'token-refused' | 'no-answer';

/** A status older than this while nothing says why is stale too (polled each second). */
export const STATUS_STALE_AFTER_MS = 5000;

export interface LinkFacts {
  /** The UI's own link to the control API (always open inside Electron). */
  link: 'connecting' | 'open' | 'closed' | 'unauthorized';
  daemonRunning: boolean | null;
  /** When the last status arrived (ms, the caller's clock); null before the first. */
  statusAt: number | null;
  now: number;
}

export interface Freshness {
  live: boolean;
  reason: StaleReason | null;
  /** Age of the status shown; null before the first. */
  ageMs: number | null;
}

export function freshness(f: LinkFacts): Freshness {
  const ageMs = f.statusAt === null ? null : Math.max(0, f.now - f.statusAt);
  const reason: StaleReason | null = f.link === 'unauthorized' ? 'token-refused'
    : f.link !== 'open' && f.link !== 'connecting' ? 'server-unreachable'
      : f.link === 'connecting' && f.statusAt !== null ? 'server-unreachable'
        : f.daemonRunning === false ? 'engine-stopped'
          : ageMs !== null && ageMs > STATUS_STALE_AFTER_MS ? 'no-answer' : null;
  return { live: reason === null, reason, ageMs };
}

/** "as of 12 s ago": how old the shown state is, in the words the stale marks use. */
export function asOfText(ageMs: number | null): string {
  if (ageMs === null) return 'never loaded';
  if (ageMs < 1000) return 'as of just now';
  const s = Math.floor(ageMs / 1000);
  if (s < 60) return `as of ${s} s ago`;
  if (s < 3600) return `as of ${Math.floor(s / 60)} min ago`;
  return `as of ${Math.floor(s / 3600)} h ago`;
}
