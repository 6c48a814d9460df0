// How the renderer reaches the control API: the preload bridge inside Electron, the WebSocket
// of `hipvpn web` in a browser. Both only move envelopes; ApiClient (src-shared) checks them.

import type { ControlMethod } from '../../src-shared/control-api.js';
import type { ControlTransport } from '../../src-shared/api-client.js';

/** What the Electron preload puts on window (src-main/electron/preload.ts). */
export interface HipvpnBridge {
  request(method: string, params: unknown): Promise<unknown>;
  onEvent(listener: (event: unknown) => void): () => void;
}

declare global {
  interface Window { hipvpn?: HipvpnBridge }
}

export type LinkState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface UiTransport extends ControlTransport {
  onLink(listener: (state: LinkState) => void): () => void;
}

export function bridgeTransport(bridge: HipvpnBridge): UiTransport {
  return {
    request: (method, params) => bridge.request(method, params),
    onEvent: (l) => bridge.onEvent(l),
    onLink: (l) => {
      l('open');
      return () => undefined;
    },
  };
}

const TOKEN_KEY = 'hipvpn.token';
const REQUEST_TIMEOUT_MS = 30_000;

/** The token from `#token=…` (moved out of the address bar at once), else this tab's stored one. */
export function takeToken(): string | null {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]!);
    history.replaceState(null, '', `${location.pathname}#/overview`);
    return m[1]!;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

interface Pending { resolve(v: unknown): void; reject(e: Error): void; timer: number }

/** One WebSocket, re-opened with backoff; requests sent while it is down fail at once. */
export function webSocketTransport(token: string): UiTransport {
  const eventListeners = new Set<(e: unknown) => void>();
  const linkListeners = new Set<(s: LinkState) => void>();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let ws: WebSocket | null = null;
  let backoff = 250;
  let link: LinkState = 'connecting';
  const setLink = (s: LinkState): void => {
    link = s;
    for (const l of linkListeners) l(s);
  };

  const open = (): void => {
    setLink('connecting');
    const socket = new WebSocket(`ws://${location.host}/control`, ['hipvpn.v1', `hipvpn.token.${token}`]);
    ws = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      backoff = 250;
      setLink('open');
    };
    socket.onmessage = (m) => {
      let frame: unknown;
      try {
        frame = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (typeof frame !== 'object' || frame === null) return;
      if ('event' in frame) {
        for (const l of eventListeners) l(frame.event);
        return;
      }
      const id = (frame as { id?: unknown }).id;
      const p = typeof id === 'number' ? pending.get(id) : undefined;
      if (!p) return;
      pending.delete(id as number);
      clearTimeout(p.timer);
      p.resolve(frame);
    };
    socket.onclose = () => {
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new Error('the connection to hipvpn closed'));
        pending.delete(id);
      }
      // Refused before opening: almost always the token (the server says 401 without detail).
      if (!opened && backoff >= 4000) {
        setLink('unauthorized');
      } else {
        setLink('closed');
      }
      setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  };
  open();

  return {
    request(method: ControlMethod, params: unknown) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected to hipvpn'));
      const id = nextId++;
      const socket = ws;
      return new Promise((resolve, reject) => {
        const timer = window.setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no answer to ${method} within ${REQUEST_TIMEOUT_MS / 1000} s`));
        }, REQUEST_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        socket.send(JSON.stringify({ id, method, params }));
      });
    },
    onEvent(l) {
      eventListeners.add(l);
      return () => eventListeners.delete(l);
    },
    onLink(l) {
      linkListeners.add(l);
      l(link);
      return () => linkListeners.delete(l);
    },
  };
}
