// Human text for the daemon's status, in the manner of `tailscale status`: this host first,
// then one aligned line per peer (LSI, name, HIT, state, active locator pair, last heard), a
// line of counters, and one line each for the puzzle difficulty and the kernel's socket drops.
// Pure, so the CLI and the renderer print the same thing.

import type { DaemonStatus, Endpoint, PeerStatus, PuzzleStatus, RelayStatus } from './control-api.js';

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

function pairText(p: PeerStatus): string {
  if (p.via === 'relay' && p.relay !== undefined) return relayedText(p.relay);
  if (p.local === undefined || p.remote === undefined) {
    return p.configuredLocators.length > 0 ? `-> ${p.configuredLocators.map(endpointText).join(', ')}` : 'waits for the peer';
  }
  return `${endpointText(p.local)} <-> ${endpointText(p.remote)}`;
}

/** How a peer reached through a relay is described everywhere: the CLI and the UI say the same. */
export function relayedText(relay: string): string {
  return `relayed through ${relay}`;
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
    p.lsi ?? '-', p.name ?? '(unlisted)', p.hit, p.state, pairText(p), heardText(p),
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
 * the peer's traffic arrives on ("<"), its state, RTT and last heard, and the peer's multihoming
 * mode. Empty when the engine reports no pairs.
 */
export function formatPairs(s: DaemonStatus): string {
  const lines: string[] = [];
  for (const p of s.peers) {
    if (p.pairs === undefined || p.pairs.length === 0) continue;
    const inbound = p.pairs.some((x) => x.inbound === true);
    lines.push(`${p.name ?? p.hit}: ${p.multihoming ?? 'fault-tolerance'}, ${p.pairs.length} pair${p.pairs.length === 1 ? '' : 's'}${inbound ? ' (* out, < in)' : ''}`);
    const rows = p.pairs.map((x) => [
      `${x.primary ? '*' : ' '}${x.inbound === true ? '<' : ' '}`,
      `${endpointText(x.local)} -> ${endpointText(x.remote)}`,
      `${x.interface ?? '-'}/${x.kind}`,
      x.state,
      `peer ${x.remoteState}`,
      x.rttMs === undefined ? 'rtt -' : `rtt ${x.rttMs.toFixed(1)}ms`,
      x.lastHeardMs === undefined ? 'heard -' : `heard ${ageText(x.lastHeardMs)} ago`,
    ]);
    lines.push(...table(rows).map((r) => `  ${r}`));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
