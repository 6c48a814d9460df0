// Human text for `hipvpn relay status`: the relay itself, one aligned line per client (name,
// HIT, registrations with the time left, the reflexive address it is seen at, permissions,
// rate-limited drops), then what was forwarded and every drop reason that counted anything.
// Pure, like status-format.ts.

import type { RelayServerStatus } from './control-api.js';
import { ageText, endpointText, table } from './status-format.js';

function nonZero(counts: Record<string, number>): string {
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function formatRelayStatus(s: RelayServerStatus): string {
  const head = [
    `relay ${s.hit}${s.acceptAny ? ' (accepts any client)' : ''}, up ${ageText(s.uptimeMs)}`,
    `listening on ${s.listening.map(endpointText).join(', ') || '-'}`,
    `${s.clients.length} client${s.clients.length === 1 ? '' : 's'} registered`,
  ];
  const rows = s.clients.map((c) => [
    c.name ?? '(unlisted)',
    c.hit,
    c.registrations.map((r) => `${r.name} ${ageText(r.expiresInS * 1000)}`).join(' '),
    `seen at ${endpointText(c.reflexive)}`,
    `${c.permissions} permission${c.permissions === 1 ? '' : 's'}`,
    c.rateLimited.control + c.rateLimited.data > 0 ? `rate-limited ${c.rateLimited.control}+${c.rateLimited.data}` : '',
  ]);
  const f = s.counters.forwarded;
  const tail = [
    `forwarded: HIP ${f.hipToClient} to clients, ${f.hipFromClient} from clients; ESP ${f.espPackets} packets (${f.espBytes} octets)`,
    `dropped HIP: ${nonZero(s.counters.control)}`,
    `dropped ESP: ${nonZero(s.counters.data)}`,
    `refused permissions: ${nonZero(s.counters.permissions)}`,
    `relay host drops: ${nonZero({ ...s.counters.host, runt: s.counters.runts, oversized: s.oversized ?? 0, unsent: s.unsent ?? 0 })}`,
    ...(s.socketDrops === undefined ? [] : [`socket drops ${s.socketDrops}`]),
  ];
  return [...head, ...table(rows).map((l) => `  ${l}`), ...tail].join('\n');
}
