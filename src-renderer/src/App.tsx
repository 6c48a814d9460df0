// The window: a navigation list of the views, the view chosen by the address fragment
// (#/peers), a status line for the link and the engine, and the notices of actions. When the
// engine or the server is gone, every view still shows the last known state, marked stale with
// its age, and the banner says what is gone and how the page gets back.

import { useEffect, useMemo, useRef, useState } from 'react';
import { useControl, type Control } from './store.js';
import { TUNNEL_STATE_TEXT, asOfText, tunnelState } from '../../src-shared/view-models.js';
import { ConfirmDialog, RichText, TokenForm, stateTone } from './components.js';
import { LeaveGuardContext, type LeaveGuard } from './leave-guard.js';
import { Overview } from './views/Overview.js';
import { Peers } from './views/Peers.js';
import { Pairs } from './views/Pairs.js';
import { Flows } from './views/Flows.js';
import { Interfaces } from './views/Interfaces.js';
import { Timeline } from './views/Timeline.js';
import { SettingsView } from './views/Settings.js';

const VIEWS = [
  { id: 'overview', label: 'Overview', View: Overview },
  { id: 'peers', label: 'Peers', View: Peers },
  { id: 'pairs', label: 'Locator pairs', View: Pairs },
  { id: 'flows', label: 'Flow bindings', View: Flows },
  { id: 'interfaces', label: 'Interfaces', View: Interfaces },
  { id: 'timeline', label: 'Handovers', View: Timeline },
  { id: 'settings', label: 'Settings', View: SettingsView },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

function viewFromHash(): ViewId {
  const id = /^#\/([a-z]+)/.exec(location.hash)?.[1];
  return VIEWS.find((v) => v.id === id)?.id ?? 'overview';
}

/** What is gone and what to do, or nothing while the page shows the live state. No ages here: an alert that changes each second is read out each second. */
function LinkBanner({ c }: { c: Control }) {
  const where = c.server ? ` at ${c.server}` : '';
  switch (c.fresh.reason) {
    case null:
      return null;
    case 'token-refused':
      return (
        <div className="banner bad" role="alert" data-testid="link-banner">
          <p>hipvpn web{where} is running, but it does not accept this page's token: it was restarted, and each start makes a new token.</p>
          <p>Open the address it printed, or paste the token here:</p>
          {c.rejoin && <TokenForm onToken={c.rejoin} />}
        </div>
      );
    case 'server-unreachable':
      return <p className="banner warn" role="alert" data-testid="link-banner">Cannot reach hipvpn web{where}: it has stopped, or is restarting. This page reconnects by itself when it is back.</p>;
    case 'engine-stopped':
      return <p className="banner warn" role="alert" data-testid="link-banner">The hipvpn engine is not running. Start it with <code>hipvpn serve</code>; this page reconnects by itself when it runs.</p>;
    case 'no-answer':
      return <p className="banner warn" role="alert" data-testid="link-banner">hipvpn has not answered for a while.</p>;
  }
}

export function App() {
  const c = useControl();
  const [view, setView] = useState<ViewId>(viewFromHash);
  const [menuOpen, setMenuOpen] = useState(false);
  /** A view asked for while the current one has unsaved edits: shown once the person agrees. */
  const [leaving, setLeaving] = useState<ViewId | null>(null);
  const dirty = useRef(false);
  const guard = useMemo<LeaveGuard>(() => ({ set: (d) => { dirty.current = d; } }), []);
  const shown = useRef(view);
  useEffect(() => { shown.current = view; }, [view]);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    const onHash = (): void => {
      const next = viewFromHash();
      const cur = shown.current;
      setMenuOpen(false);
      if (next === cur || !dirty.current) {
        setView(next);
        return;
      }
      // Back to the view with the edits until the person chooses; the address follows.
      history.replaceState(null, '', `#/${cur}`);
      setLeaving(next);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => heading.current?.focus(), [view]);
  const current = VIEWS.find((v) => v.id === view)!;
  const known = tunnelState(c.status);
  const stale = !c.fresh.live && c.status !== null;
  // The sidebar agrees with the banner: a stopped engine carries no tunnel; behind an
  // unreachable server the state is not known, only what it was.
  const sideText = c.fresh.live ? TUNNEL_STATE_TEXT[known] : c.fresh.reason === 'engine-stopped' ? 'Not running' : 'Unknown';
  const sideTone = c.fresh.live ? stateTone(known) : c.fresh.reason === 'engine-stopped' ? 'bad' : 'idle';
  useEffect(() => {
    document.title = c.status === null && c.fresh.live ? 'hipvpn' : `hipvpn · ${sideText}`;
  }, [sideText, c.status, c.fresh.live]);
  const leaveTo = (next: ViewId): void => {
    dirty.current = false;
    setLeaving(null);
    setView(next);
    history.replaceState(null, '', `#/${next}`);
  };
  return (
    <LeaveGuardContext.Provider value={guard}>
    <div className="app">
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); heading.current?.focus(); }}>Skip to content</a>
      <nav aria-label="Views" className={menuOpen ? 'open' : undefined}>
        <div className="nav-head">
          <p className="brand">hipvpn <span className={`dot tone-${sideTone}`} aria-hidden="true" /></p>
          <p className="link-state-short" aria-hidden="true">{sideText}</p>
          <button type="button" className="menu-button" aria-expanded={menuOpen} aria-controls="nav-views" onClick={() => setMenuOpen((o) => !o)}>Menu</button>
        </div>
        <ul id="nav-views">
          {VIEWS.map((v) => (
            <li key={v.id}><a href={`#/${v.id}`} aria-current={v.id === view ? 'page' : undefined}>{v.label}</a></li>
          ))}
        </ul>
        <p className="link-state" data-testid="tunnel-state">{sideText}</p>
        {stale && <p className="link-age" data-testid="tunnel-state-age">Last known: {TUNNEL_STATE_TEXT[known]}, {asOfText(c.fresh.ageMs)}</p>}
      </nav>
      <main id="main">
        <h1 ref={heading} tabIndex={-1}>{current.label}</h1>
        <LinkBanner c={c} />
        {stale && <p className="stale-note" id="stale-note" data-testid="stale">Last known state, {asOfText(c.fresh.ageMs)}: not live.</p>}
        <div className={`view${stale ? ' stale' : ''}`} data-testid="view" aria-describedby={stale ? 'stale-note' : undefined}>
          <current.View />
        </div>
      </main>
      <div className="notices" aria-live="polite">
        {c.notices.map((n) => (
          <div key={n.id} className={`toast ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
            <span><RichText text={n.text} /></span>
            <button type="button" aria-label="Dismiss" onClick={() => c.dismiss(n.id)}>×</button>
          </div>
        ))}
      </div>
      <ConfirmDialog
        open={leaving !== null}
        title="Discard unsaved changes?"
        body={`The changes on ${current.label} are not saved. Leave without saving them?`}
        confirmText="Discard and leave"
        onConfirm={() => leaving && leaveTo(leaving)}
        onCancel={() => setLeaving(null)}
      />
    </div>
    </LeaveGuardContext.Provider>
  );
}
