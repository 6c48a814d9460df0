// The window: a navigation list of the views, the view chosen by the address fragment
// (#/peers), a status line for the link and the engine, and the notices of actions.

import { useEffect, useRef, useState } from 'react';
import { useControl } from './store.js';
import { TUNNEL_STATE_TEXT, tunnelState } from '../../src-shared/view-models.js';
import { stateTone } from './components.js';
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

export function App() {
  const c = useControl();
  const [view, setView] = useState<ViewId>(viewFromHash);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    const onHash = (): void => setView(viewFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => heading.current?.focus(), [view]);
  const current = VIEWS.find((v) => v.id === view)!;
  const state = c.daemonRunning === false ? 'disconnected' : tunnelState(c.status);
  return (
    <div className="app">
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); heading.current?.focus(); }}>Skip to content</a>
      <nav aria-label="Views">
        <p className="brand">hipvpn <span className={`dot tone-${stateTone(state)}`} aria-hidden="true" /></p>
        <ul>
          {VIEWS.map((v) => (
            <li key={v.id}><a href={`#/${v.id}`} aria-current={v.id === view ? 'page' : undefined}>{v.label}</a></li>
          ))}
        </ul>
        <p className="link-state" data-testid="tunnel-state">{TUNNEL_STATE_TEXT[state]}</p>
      </nav>
      <main id="main">
        <h1 ref={heading} tabIndex={-1}>{current.label}</h1>
        {c.link === 'unauthorized' && <p className="banner bad" role="alert">This page's token was refused: open the address `hipvpn web` printed.</p>}
        {c.link === 'closed' && <p className="banner warn" role="status">Lost the connection to hipvpn; reconnecting…</p>}
        {c.link === 'open' && c.daemonRunning === false && <p className="banner warn" role="status">The hipvpn engine is not running. Start it with <code>hipvpn serve</code>.</p>}
        <current.View />
      </main>
      <div className="notices" aria-live="polite">
        {c.notices.map((n) => (
          <div key={n.id} className={`toast ${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
            <span>{n.text}</span>
            <button type="button" aria-label="Dismiss" onClick={() => c.dismiss(n.id)}>×</button>
          </div>
        ))}
      </div>
    </div>
  );
}
