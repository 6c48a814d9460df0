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
  /** Where the UI's server is, for messages ("127.0.0.1:7777"); absent inside Electron. */
  readonly server?: string;
  /** Starts again with another token (a restarted `hipvpn web` makes a new one). */
  rejoin?(token: string): void;
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
const MAX_BACKOFF_MS = 2000;

/** A token as `hipvpn web` makes them (web-auth.ts TOKEN_PATTERN), from the token itself or its URL. */
export function parseToken(text: string): string | null {
  const t = text.trim();
  const m = /#token=([A-Za-z0-9_-]+)/.exec(t) ?? /^([A-Za-z0-9_-]+)$/.exec(t);
  return m && /^[A-Za-z0-9_-]{32,128}$/.test(m[1]!) ? m[1]! : null;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** A token in `#token=…`, moved out of the address bar at once (so it is not bookmarked or shared). */
function tokenFromHash(): string | null {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return null;
  storeToken(m[1]!);
  history.replaceState(null, '', `${location.pathname}#/overview`);
  return m[1]!;
}

/** The token from `#token=…`, else this tab's stored one. */
export function takeToken(): string | null {
  return tokenFromHash() ?? sessionStorage.getItem(TOKEN_KEY);
}

/** Whether the page's own server answers at all: tells "stopped" from "refused this token". */
async function serverAnswers(): Promise<boolean> {
  try {
    await fetch('/', { method: 'HEAD', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

interface Pending { resolve(v: unknown): void; reject(e: Error): void; timer: number }

/**
 * One WebSocket, re-opened with backoff while the server is away; requests sent while it is
 * down fail at once. A socket refused by a server that answers means the token is not (or no
 * longer) its token: no retry helps then, only a new token (rejoin, or the printed address).
 */
export function webSocketTransport(firstToken: string): UiTransport {
  const eventListeners = new Set<(e: unknown) => void>();
  const linkListeners = new Set<(s: LinkState) => void>();
  const pending = new Map<number, Pending>();
  let token = firstToken;
  storeToken(firstToken);
  let nextId = 1;
  let ws: WebSocket | null = null;
  let backoff = 250;
  let retry: number | undefined;
  /** Bumps with each rejoin, so a socket of the old token cannot change the link any more. */
  let generation = 0;
  let link: LinkState = 'connecting';
  const setLink = (s: LinkState): void => {
    link = s;
    for (const l of linkListeners) l(s);
  };

  const open = (): void => {
    const gen = generation;
    retry = undefined;
    if (link !== 'closed') setLink('connecting');
    const socket = new WebSocket(`ws://${location.host}/control`, ['hipvpn.v1', `hipvpn.token.${token}`]);
    ws = socket;
    let opened = false;
    socket.onopen = () => {
      if (gen !== generation) return;
      opened = true;
      backoff = 250;
      setLink('open');
    };
    socket.onmessage = (m) => {
      if (gen !== generation) return;
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
      if (gen !== generation) return;
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new Error('the connection to hipvpn web closed'));
        pending.delete(id);
      }
      void (async () => {
        // The browser does not say why an upgrade failed; asking the server plainly does.
        const refused = !opened && (await serverAnswers());
        if (gen !== generation) return;
        if (refused) {
          setLink('unauthorized');
          return;
        }
        setLink('closed');
        retry = window.setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      })();
    };
  };

  const rejoin = (next: string): void => {
    token = next;
    storeToken(next);
    generation++;
    clearTimeout(retry);
    backoff = 250;
    const old = ws;
    ws = null;
    old?.close();
    setLink('connecting');
    open();
  };

  // The printed address opened in this tab again: same page, new fragment.
  window.addEventListener('hashchange', () => {
    const t = tokenFromHash();
    if (t) rejoin(t);
  });
  open();

  return {
    server: location.host,
    rejoin,
    request(method: ControlMethod, params: unknown) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`cannot reach hipvpn web at ${location.host}`));
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
