// The renderer's one source of truth: the latest status (polled each second and refreshed on
// events), settings, the handover timeline and the rate series for the charts, and how current
// all that is (the link to the server, the engine behind it, the status's age). Views read it
// through useControl() and act through `api`; nothing else talks to the daemon.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiClient, ApiError } from '../../src-shared/api-client.js';
import type { DaemonStatus, HandoverRecord, Settings, SettingsPatch } from '../../src-shared/control-api.js';
import { RateSeries, freshness, sampleStatus, type Freshness } from '../../src-shared/view-models.js';
import type { LinkState, UiTransport } from './transport.js';

const POLL_MS = 1000;
const KEEP_HANDOVERS = 500;

/** The timeline without duplicates (a list and an event can both carry one), oldest first. */
export function mergeHandovers(known: readonly HandoverRecord[], more: readonly HandoverRecord[]): HandoverRecord[] {
  const bySeq = new Map(known.map((h) => [h.seq, h]));
  for (const h of more) bySeq.set(h.seq, h);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq).slice(-KEEP_HANDOVERS);
}

/** `untilLive`: the error is about reaching hipvpn, so it goes once the live state is back. */
export interface Notice { id: number; kind: 'error' | 'ok'; text: string; untilLive?: boolean }

/** Long enough to read a sentence twice; the error stays in the page's own state where it matters. */
const ERROR_NOTICE_MS = 15_000;
const OK_NOTICE_MS = 4000;

export interface ControlState {
  link: LinkState;
  daemonRunning: boolean | null;
  status: DaemonStatus | null;
  /** Date.now() when the shown status arrived; null before the first. */
  statusAt: number | null;
  /** Date.now(), ticking each second, so ages on screen move. */
  now: number;
  settings: Settings | null;
  handovers: HandoverRecord[];
  /** false when the engine answers handover.list with not-supported (mobility not there yet). */
  handoversSupported: boolean;
  series: RateSeries;
  /** Bumps on each status, so charts redraw. */
  tick: number;
  notices: Notice[];
}

export interface Control extends ControlState {
  api: ApiClient;
  fresh: Freshness;
  /** Where the server is ("127.0.0.1:7777"), for messages; null inside Electron. */
  server: string | null;
  /** Joins a restarted `hipvpn web` with its new token; absent inside Electron. */
  rejoin: ((token: string) => void) | null;
  refresh(): Promise<void>;
  /** Runs an action, shows its error (or `okText`) as a notice; returns whether it succeeded. */
  act(what: () => Promise<unknown>, okText?: string): Promise<boolean>;
  /** Saves a settings patch and shows the saved settings at once (not only when the event comes). */
  saveSettings(patch: SettingsPatch, okText: string): Promise<boolean>;
  dismiss(id: number): void;
  /** Shows a notice that is not the outcome of an API call. */
  note(kind: Notice['kind'], text: string): void;
}

const Ctx = createContext<Control | null>(null);

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'not-supported') return `Not available yet: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function ControlProvider({ transport, children }: { transport: UiTransport; children: ReactNode }) {
  const api = useMemo(() => new ApiClient(transport), [transport]);
  const noticeId = useRef(0);
  const [state, setState] = useState<ControlState>(() => ({
    link: 'connecting', daemonRunning: null, status: null, statusAt: null, now: Date.now(), settings: null, handovers: [], handoversSupported: true,
    series: new RateSeries(120), tick: 0, notices: [],
  }));
  const series = state.series;
  const lastSeq = useRef<number | undefined>(undefined);

  const notify = useCallback((kind: Notice['kind'], text: string, untilLive = false) => {
    const id = ++noticeId.current;
    setState((s) => ({ ...s, notices: [...s.notices.filter((n) => n.text !== text).slice(-4), { id, kind, text, untilLive }] }));
    setTimeout(() => setState((s) => ({ ...s, notices: s.notices.filter((n) => n.id !== id) })), kind === 'ok' ? OK_NOTICE_MS : ERROR_NOTICE_MS);
  }, []);

  const refresh = useCallback(async () => {
    try {
      const status = await api.call('status', {});
      sampleStatus(series, status, performance.now());
      const now = Date.now();
      // A live status answers every "could not reach hipvpn" notice.
      setState((s) => ({ ...s, status, statusAt: now, now, daemonRunning: true, tick: s.tick + 1, notices: s.notices.filter((n) => !n.untilLive) }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'unavailable') setState((s) => ({ ...s, daemonRunning: false }));
    }
  }, [api, series]);

  const loadHandovers = useCallback(async () => {
    try {
      const params = lastSeq.current === undefined ? {} : { afterSeq: lastSeq.current };
      const { handovers } = await api.call('handover.list', params);
      if (handovers.length) lastSeq.current = handovers[handovers.length - 1]!.seq;
      setState((s) => ({ ...s, handoversSupported: true, handovers: mergeHandovers(s.handovers, handovers) }));
    } catch (err) {
      if (err instanceof ApiError && err.code !== 'transport' && err.code !== 'unavailable') setState((s) => ({ ...s, handoversSupported: false }));
    }
  }, [api]);

  const loadSettings = useCallback(async () => {
    try {
      const settings = await api.call('settings.get', {});
      setState((s) => ({ ...s, settings }));
    } catch {
      // shown as "loading" until the link is back
    }
  }, [api]);

  useEffect(() => {
    let was: LinkState | null = null;
    const offLink = transport.onLink((link) => {
      setState((s) => ({ ...s, link }));
      if (link === 'open') {
        if (was === 'unauthorized') notify('ok', `Joined hipvpn web${transport.server ? ` at ${transport.server}` : ''} with its new token.`);
        else if (was === 'closed') notify('ok', `Reconnected to hipvpn web${transport.server ? ` at ${transport.server}` : ''}.`);
        void Promise.all([refresh(), loadSettings(), loadHandovers()]);
      }
      if (link !== 'connecting') was = link;
    });
    const offEvent = api.onEvent((e) => {
      switch (e.type) {
        case 'daemon':
          setState((s) => ({ ...s, daemonRunning: e.running }));
          if (e.running) void Promise.all([refresh(), loadHandovers()]);
          return;
        case 'settings':
          setState((s) => ({ ...s, settings: e.settings }));
          return;
        case 'handover':
          lastSeq.current = Math.max(lastSeq.current ?? -1, e.handover.seq);
          setState((s) => ({ ...s, handovers: mergeHandovers(s.handovers, [e.handover]) }));
          void refresh();
          return;
        default:
          void refresh();
      }
    }, (problem) => notify('error', `Ignored a malformed event: ${problem}`));
    const timer = setInterval(() => {
      setState((s) => ({ ...s, now: Date.now() }));
      void refresh();
    }, POLL_MS);
    return () => {
      offLink();
      offEvent();
      clearInterval(timer);
    };
  }, [api, transport, refresh, loadSettings, loadHandovers, notify]);

  const act = useCallback(async (what: () => Promise<unknown>, okText?: string) => {
    try {
      await what();
      if (okText) notify('ok', okText);
      await refresh();
      return true;
    } catch (err) {
      const unreachable = err instanceof ApiError && (err.code === 'unavailable' || err.code === 'transport');
      notify('error', errorMessage(err), unreachable);
      return false;
    }
  }, [notify, refresh]);

  const saveSettings = useCallback((patch: SettingsPatch, okText: string) => act(async () => {
    const saved = await api.call('settings.set', patch);
    setState((s) => ({ ...s, settings: saved }));
  }, okText), [act, api]);

  const dismiss = useCallback((id: number) => setState((s) => ({ ...s, notices: s.notices.filter((n) => n.id !== id) })), []);

  const rejoin = useMemo(() => transport.rejoin?.bind(transport) ?? null, [transport]);
  const value = useMemo<Control>(() => ({
    ...state,
    fresh: freshness({ link: state.link, daemonRunning: state.daemonRunning, statusAt: state.statusAt, now: state.now }),
    server: transport.server ?? null, rejoin, api, refresh, act, saveSettings, dismiss, note: notify,
  }), [state, transport, rejoin, api, refresh, act, saveSettings, dismiss, notify]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useControl(): Control {
  const c = useContext(Ctx);
  if (!c) throw new Error('useControl outside ControlProvider');
  return c;
}
