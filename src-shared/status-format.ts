// Human text for the daemon's status, in the manner of `tailscale status`: this host first,
// then one aligned line per peer (LSI, name, HIT, state, path in words with its round-trip time,
// active locator pair, last heard), a line of counters, and one line each for the puzzle
// difficulty and the kernel's socket drops.
// Pure, so the CLI and the renderer print the same thing.

import type { CandidateKind, DaemonStatus, Endpoint, InterfaceKind, PairRef, PeerStatus, PuzzleStatus, RelayStatus } from './control-api.js';

export function endpointText(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** "850ms", "4.2s", "3m10s", "2h05m", "3d04h": short enough for a column. */
export function ageText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** The peer's path in words with its round-trip time, or where the exchange goes before there is one. */
function pathColumn(p: PeerStatus): string {
  const words = pathWords(p);
  if (words !== null) {
    const rtt = p.pairs?.find((x) => x.primary)?.rttMs;
    return rtt === undefined ? words : `${words}, rtt ${rtt.toFixed(1)}ms`;
  }
  if (p.local === undefined || p.remote === undefined) {
    return p.configuredLocators.length > 0 ? `-> ${p.configuredLocators.map(endpointText).join(', ')}` : 'waits for the peer';
  }
  // An engine that reports no pairs still says whether the one in use goes through a relay.
  return p.via === 'direct' ? 'direct' : '-';
}

/** The pair in use, ours first; "-" before there is one. */
function endpointsColumn(p: PeerStatus): string {
  return p.local === undefined || p.remote === undefined ? '-' : `${endpointText(p.local)} <-> ${endpointText(p.remote)}`;
}

/** How a peer reached through a relay is described everywhere: the CLI and the UI say the same. */
export function relayedText(relay: string): string {
  return `relayed through ${relay}`;
}

/** Uplink kinds as people say them; "other" has no word, so such an uplink goes by its name. */
const KIND_WORDS: Readonly<Record<InterfaceKind, string | null>> = {
  ethernet: 'Ethernet', wifi: 'Wi-Fi', cellular: 'cellular', virtual: 'virtual link', other: null,
};

/** Our end of a pair in words: "Wi-Fi (wlan0)", "lo", or our address when the uplink is unknown. */
export function uplinkWords(p: Pick<PairRef, 'local' | 'interface' | 'kind'>): string {
  if (p.interface === null) return endpointText(p.local);
  const kind = KIND_WORDS[p.kind];
  return kind === null ? p.interface : `${kind} (${p.interface})`;
}

/** How the peer's address in a pair was found, in words a user reads in the "Reached at" column. */
export const CANDIDATE_WORDS: Readonly<Record<CandidateKind, { text: string; term: string }>> = {
  host: { text: 'its own address', term: 'Host candidate: an address on one of the peer\'s interfaces' },
  srflx: { text: 'its NAT\'s public address', term: 'Server-reflexive candidate: where a relay sees the peer, its NAT\'s mapping' },
  prflx: { text: 'the address its checks came from', term: 'Peer-reflexive candidate: the source address a connectivity check from the peer arrived from' },
  relayed: { text: 'through a relay', term: 'Relayed candidate: an address on a relay, which passes the packets on' },
};

/** Whether a pair goes through a relay; a daemon that does not say is taken as direct. */
export function isRelayedPair(p: Pick<PairRef, 'candidate'>): boolean {
  return p.candidate === 'relayed';
}

/** One pair in words: "direct via Wi-Fi (wlan0)", or "relayed through home" (its address when the relay is not ours). */
export function pairWords(p: Pick<PairRef, 'local' | 'remote' | 'interface' | 'kind' | 'candidate' | 'relay'>, relayName: (name: string) => string = (n) => n): string {
  return isRelayedPair(p) ? relayedText(p.relay === undefined ? endpointText(p.remote) : relayName(p.relay)) : `direct via ${uplinkWords(p)}`;
}

/**
 * How a peer is reached right now, in words: "direct via Wi-Fi (wlan0)"; in load sharing "direct,
 * shared per flow over Wi-Fi (wlan0) and cellular (wwan0)"; after a one-way failure
 * (each side picks its own outbound pair) "direct, out via cellular (wwan0) · in via Wi-Fi (wlan0)";
 * "relayed through home". null while there is no pair in use. `relayName` shortens a relay's name
 * (the UI shortens HITs).
 */
export function pathWords(p: PeerStatus, relayName: (name: string) => string = (n) => n): string | null {
  if (p.via === 'relay' && p.relay !== undefined) return relayedText(relayName(p.relay));
  const out = p.pairs?.find((x) => x.primary);
  if (out === undefined) return null;
  const shared = p.pairs?.filter((x) => x.spread === true) ?? [];
  if (shared.length > 1) return `direct, shared per flow over ${shared.map((x) => uplinkWords(x)).join(' and ')}`;
  const outWords = pairWords(out);
  const inbound = p.inbound;
  if (inbound === undefined || (endpointText(inbound.local) === endpointText(out.local) && inbound.remote.address === out.remote.address)) return outWords;
  if (isRelayedPair(out) || isRelayedPair(inbound)) {
    return `out ${outWords} · in ${pairWords(inbound, relayName)}`;
  }
  // On one uplink both ways, the peer's address is what differs.
  const inWords = inbound.interface === out.interface && inbound.interface !== null
    ? `${uplinkWords(inbound)} from ${endpointText(inbound.remote)}`
    : uplinkWords(inbound);
  return `direct, out via ${uplinkWords(out)} · in via ${inWords}`;
}

/**
 * A handover that moved a peer's traffic onto a relay or off it, in words:
 * "relayed through home → direct via Wi-Fi (wlan0)". null for a move that kept the path's kind,
 * or between pairs a daemon did not name the kind of.
 */
export function pathChangeWords(
  h: { from: PairRef | null; to: PairRef }, { arrow = '→', relayName = (n: string) => n }: { arrow?: string; relayName?: (name: string) => string } = {},
): string | null {
  if (h.from === null || h.from.candidate === undefined || h.to.candidate === undefined) return null;
  if (isRelayedPair(h.from) === isRelayedPair(h.to)) return null;
  return `${pairWords(h.from, relayName)} ${arrow} ${pairWords(h.to, relayName)}`;
}

/** One relay: whether we are registered, until when, and the address it sees us at (REG_FROM). */
export function relayStateText(r: RelayStatus): string {
  const refused = r.failed.length > 0 ? ` (refused types ${r.failed.flatMap((f) => f.regTypes).join(',')})` : '';
  const state = r.registered ? `registered${r.expiresInS === null ? '' : ` (expires in ${ageText(r.expiresInS * 1000)} unless renewed)`}` : `not registered${refused}`;
  const seen = r.reflexive === null ? 'has not told us where it sees us' : `sees us at ${endpointText(r.reflexive)}`;
  return `${state}; ${seen}`;
}

/** The Relays section: one line per relay, or nothing when the daemon has none. */
export function formatRelays(s: DaemonStatus): string {
  if (s.relays === undefined || s.relays.length === 0) return '';
  const rows = s.relays.map((r) => [r.name === r.hit ? r.hit : `${r.name} (${r.hit})`, endpointText(r), relayStateText(r)]);
  return `Relays\n${table(rows).map((r) => `  ${r}`).join('\n')}\n`;
}

function heardText(p: PeerStatus): string {
  return p.lastHeardMs === undefined ? '-' : `heard ${ageText(p.lastHeardMs)} ago`;
}

export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function formatStatus(s: DaemonStatus): string {
  const self = [s.identity.lsi, '(this host)', s.identity.hit, `tun ${s.tun ?? 'none'}`, `listening ${s.listening.map(endpointText).join(', ') || '-'}`];
  const rows = [self, ...s.peers.map((p) => [
    p.lsi ?? '-', p.name ?? '(unlisted)', p.hit, p.state, pathColumn(p), endpointsColumn(p), heardText(p),
    `tx ${p.counters.espPacketsOut} rx ${p.counters.espPacketsIn}`,
  ])];
  const lines = table(rows);
  if (s.peers.length === 0) lines.push('no peers yet: add one with `hipvpn peer add NAME --hit HIT [--locator IP[:PORT]]`');
  const c = s.counters;
  const drops = Object.entries(c.dropped).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(
    `HIP in ${c.hipIn} out ${c.hipOut}, ESP in ${c.espIn} out ${c.espOut}` +
      `${c.espSpareCopies ? ` (+${c.espSpareCopies} copies on a spare pair)` : ''}${c.espResent ? ` (${c.espResent} re-sent after a move)` : ''}, dropped ${c.droppedTotal}${drops ? ` (${drops})` : ''}` +
      `${s.acceptAny ? '; accepting any HIT' : ''}`,
  );
  const icmp = Object.entries(c.icmpHints ?? {}).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
  if (icmp) lines.push(`ICMP errors: ${icmp}`);
  if (s.puzzle !== undefined) lines.push(puzzleText(s.puzzle));
  if (s.socketDrops !== undefined) lines.push(`socket drops ${s.socketDrops} (datagrams the kernel dropped: our receive buffers were full)`);
  return `${lines.join('\n')}\n`;
}

/**
 * "puzzle difficulty 5 (1 when idle), 11 for the busiest source prefix": above the idle K means
 * the flood defence is raising the price, for everyone or for one prefix.
 */
function puzzleText(p: PuzzleStatus): string {
  const idle = p.baseDifficulty === undefined ? '' : ` (${p.baseDifficulty} when idle)`;
  const busiest = p.busiestPrefixDifficulty === undefined || p.busiestPrefixDifficulty <= p.difficulty ? ''
    : `, ${p.busiestPrefixDifficulty} for the busiest source prefix`;
  return `puzzle difficulty ${p.difficulty}${idle}${busiest}`;
}

/**
 * Every locator pair per peer (mobility): which is primary ("*": our traffic leaves on it), which
 * the peer's traffic arrives on ("<"), which share the unbound traffic per flow in load sharing
 * ("+", the primary among them: its "*" stands for both), its state, RTT, last heard and how the
 * peer's address was found (its candidate kind), and the peer's multihoming mode. Empty when the
 * engine reports no pairs.
 */
export function formatPairs(s: DaemonStatus): string {
  const lines: string[] = [];
  for (const p of s.peers) {
    if (p.pairs === undefined || p.pairs.length === 0) continue;
    const inbound = p.pairs.some((x) => x.inbound === true);
    const shared = p.pairs.filter((x) => x.spread === true).length;
    const legend = [...(inbound || shared > 0 ? ['* out', '< in'] : []), ...(shared > 0 ? [`+ out too (load shared per flow over ${shared} pairs)`] : [])];
    lines.push(`${p.name ?? p.hit}: ${p.multihoming ?? 'fault-tolerance'}, ${p.pairs.length} pair${p.pairs.length === 1 ? '' : 's'}${legend.length > 0 ? ` (${legend.join(', ')})` : ''}`);
    const rows = p.pairs.map((x) => [
      `${x.primary ? '*' : x.spread === true ? '+' : ' '}${x.inbound === true ? '<' : ' '}`,
      `${endpointText(x.local)} -> ${endpointText(x.remote)}`,
      `${x.interface ?? '-'}/${x.kind}`,
      x.state,
      `peer ${x.remoteState}`,
      x.rttMs === undefined ? 'rtt -' : `rtt ${x.rttMs.toFixed(1)}ms`,
      x.lastHeardMs === undefined ? 'heard -' : `heard ${ageText(x.lastHeardMs)} ago`,
      x.candidate === undefined ? '' : `${x.candidate} candidate`,
    ]);
    lines.push(...table(rows).map((r) => `  ${r}`));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
