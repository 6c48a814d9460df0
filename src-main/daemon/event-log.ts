// The daemon's log: one line per event, timestamped, `key=value` fields, so `grep` and `awk`
// work on it and a test can wait for a line. What the line says comes from the same event the
// control API sends subscribers.

import type { ControlEvent, Endpoint, RelayConfig } from '../../src-shared/control-api.js';
import { relayText } from '../../src-shared/relay-text.js';
import { endpointText, pathChangeWords } from '../../src-shared/status-format.js';

function field(key: string, value: string | number | boolean | null): string {
  const text = value === null ? '-' : String(value);
  return `${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
}

function pair(local: Endpoint, remote: Endpoint): string {
  return `${field('local', endpointText(local))} ${field('remote', endpointText(remote))}`;
}

/** "local->remote", e.g. 127.0.0.2:10500->[2001:db8::1]:10500. */
function pairArrow(p: { local: Endpoint; remote: Endpoint }): string {
  return `${endpointText(p.local)}->${endpointText(p.remote)}`;
}

/** A setting's list item: interface names and kinds as they are, relays as `--relay` takes them. */
function listItem(v: string | RelayConfig): string {
  return typeof v === 'string' ? v : relayText(v);
}

export function eventFields(e: ControlEvent): string {
  if (e.type === 'peers') return `${e.type} ${field('count', e.peers.length)} ${field('names', e.peers.map((p) => p.name).join(',') || null)}`;
  if (e.type === 'settings') return `settings ${Object.entries(e.settings).map(([k, v]) => field(k, Array.isArray(v) ? v.map(listItem).join(',') : v)).join(' ')}`;
  if (e.type === 'daemon') return `daemon ${field('running', e.running)}`;
  if (e.type === 'handover') {
    // One line per move of a peer's traffic: both ends of the pair it left and the one it took,
    // and, for a move onto a relay or off it, that change in the words status uses.
    const h = e.handover;
    const from = h.from ? pairArrow(h.from) : null;
    const detail = h.detail === undefined ? '' : ` ${field('detail', h.detail)}`;
    const change = pathChangeWords(h, { arrow: '->' });
    const path = change === null ? '' : ` ${field('path', change)}`;
    return `handover ${field('peer', h.peer)} ${field('hit', h.hit)} ${field('from', from)} ${field('to', pairArrow(h.to))} ${field('cause', h.cause)}${detail} ${field('gapMs', h.gapMs)}${path}`;
  }
  const who = `${field('peer', e.peer)} ${field('hit', e.hit)}`;
  switch (e.type) {
    case 'association': return `association ${who} ${field('from', e.from)} ${field('to', e.to)}`;
    case 'established': return `established ${who} ${pair(e.local, e.remote)} ${field('initiator', e.initiator)}`;
    case 'rekeyed': return `rekeyed ${who}`;
    case 'closed': return `closed ${who} ${field('byPeer', e.byPeer)}`;
    case 'failed': return `failed ${who} ${field('reason', e.reason)}`;
    case 'notify': return `notify ${who} ${field('type', e.notifyType)} ${field('authenticated', e.authenticated)}`;
  }
}

/** A log line: ISO time, what happened, then fields. */
export function logLine(what: string, fields: Record<string, string | number | boolean | null> = {}, at = new Date()): string {
  const rest = Object.entries(fields).map(([k, v]) => field(k, v)).join(' ');
  return `${at.toISOString()} ${what}${rest ? ` ${rest}` : ''}`;
}

export function eventLine(e: ControlEvent, at = new Date()): string {
  return `${at.toISOString()} ${eventFields(e)}`;
}
