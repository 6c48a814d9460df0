// What the tray shows for a status: which icon, what tooltip, which menu. Pure (no 'electron'
// import), so the mapping is unit-tested; tray.ts turns it into Electron objects.

import type { DaemonStatus } from '../../src-shared/control-api.js';
import { TUNNEL_STATE_TEXT, isKeyed, peerRow, primaryPair, tunnelState, type TunnelState } from '../../src-shared/view-models.js';

/** Icon names: the words the issue uses for what a person should feel about the tunnel. */
export type TrayIcon = 'unsecured' | 'connecting' | 'secured' | 'degraded';

export const ICON_FOR_STATE: Record<TunnelState, TrayIcon> = {
  disconnected: 'unsecured',
  connecting: 'connecting',
  connected: 'secured',
  degraded: 'degraded',
};

export type TrayAction =
  | { kind: 'toggle'; up: boolean }
  | { kind: 'failover'; peer?: string }
  | { kind: 'open'; view?: string }
  | { kind: 'quit' };

export type TrayMenuItem =
  | { type: 'item'; label: string; enabled: boolean; action?: TrayAction }
  | { type: 'separator' }
  | { type: 'submenu'; label: string; items: TrayMenuItem[] };

export interface TrayModel {
  icon: TrayIcon;
  tooltip: string;
  /** What a click on the icon does: the tunnel switch. */
  click: TrayAction;
  menu: TrayMenuItem[];
}

const MAX_PEERS_IN_MENU = 12;

export function trayModel(status: DaemonStatus | null, daemonRunning: boolean): TrayModel {
  const state = daemonRunning ? tunnelState(status) : 'disconnected';
  const up = state !== 'disconnected';
  const keyedPeers = status?.peers.filter(isKeyed) ?? [];
  const tooltip = !daemonRunning
    ? 'hipvpn: engine not running'
    : `hipvpn: ${TUNNEL_STATE_TEXT[state]}${keyedPeers.length ? ` · ${keyedPeers.length} of ${status?.peers.length ?? 0} peers up` : ''}`;

  const peerItems: TrayMenuItem[] = (status?.peers ?? []).slice(0, MAX_PEERS_IN_MENU).map((p) => {
    const row = peerRow(p);
    const via = primaryPair(p);
    const items: TrayMenuItem[] = [
      { type: 'item', label: `${row.state} · ${row.pair}`, enabled: false },
      { type: 'item', label: `${row.path ?? `via ${via?.interface ?? 'unknown uplink'}`} · RTT ${row.rtt}`, enabled: false },
      { type: 'item', label: 'Fail over now', enabled: isKeyed(p) && (p.pairs?.length ?? 0) > 1, action: { kind: 'failover', peer: p.name ?? p.hit } },
    ];
    return { type: 'submenu', label: `${isKeyed(p) ? '●' : '○'} ${row.name}`, items };
  });
  const more = (status?.peers.length ?? 0) - MAX_PEERS_IN_MENU;

  const menu: TrayMenuItem[] = [
    { type: 'item', label: tooltip.replace(/^hipvpn: /, ''), enabled: false },
    { type: 'item', label: up ? 'Disconnect' : 'Connect', enabled: daemonRunning, action: { kind: 'toggle', up: !up } },
    { type: 'separator' },
    ...(peerItems.length ? peerItems : [{ type: 'item' as const, label: 'No peers', enabled: false }]),
    ...(more > 0 ? [{ type: 'item' as const, label: `and ${more} more…`, enabled: true, action: { kind: 'open' as const, view: 'peers' } }] : []),
    { type: 'item', label: 'Fail over now', enabled: keyedPeers.length > 0, action: { kind: 'failover' } },
    { type: 'separator' },
    { type: 'item', label: 'Open hipvpn', enabled: true, action: { kind: 'open' } },
    { type: 'item', label: 'Quit', enabled: true, action: { kind: 'quit' } },
  ];
  return { icon: ICON_FOR_STATE[state], tooltip, click: { kind: 'toggle', up: !up }, menu };
}

// ---------------------------------------------------------------------------------------------
// Icons drawn in code: a filled disc in the state's colour with a ring, so no binary assets ship
// and every state is distinguishable in greyscale too (secured filled, unsecured hollow).

const COLORS: Record<TrayIcon, [number, number, number]> = {
  unsecured: [0xc0, 0x39, 0x2b],
  connecting: [0xd4, 0x8a, 0x00],
  secured: [0x2e, 0x9d, 0x4f],
  degraded: [0xd4, 0x6a, 0x00],
};

/** size×size BGRA pixels (Electron's nativeImage.createFromBitmap layout). */
export function trayIconBitmap(icon: TrayIcon, size = 32): Uint8Array {
  const out = new Uint8Array(size * size * 4);
  const [r, g, b] = COLORS[icon];
  const c = (size - 1) / 2;
  const outer = size / 2 - 1;
  const ring = Math.max(2, size / 8);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - c, y - c);
      const inDisc = d <= outer;
      const inRing = inDisc && d >= outer - ring;
      const filled = icon === 'secured' || (icon === 'degraded' && y >= c) || (icon === 'connecting' && x >= c);
      if (!inDisc || (!inRing && !filled)) continue;
      const i = (y * size + x) * 4;
      out[i] = b;
      out[i + 1] = g;
      out[i + 2] = r;
      out[i + 3] = 0xff;
    }
  }
  return out;
}
