import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { ControlProvider } from './store.js';
import { TokenForm } from './components.js';
import { bridgeTransport, takeToken, webSocketTransport, type UiTransport } from './transport.js';
import './styles.css';

function pickTransport(): UiTransport | null {
  if (window.hipvpn) return bridgeTransport(window.hipvpn);
  const token = takeToken();
  return token ? webSocketTransport(token) : null;
}

const initial = pickTransport();

/** Without a token the page cannot reach the server: ask for one where the person can give it. */
function Root() {
  const [transport, setTransport] = useState<UiTransport | null>(initial);
  if (!transport) {
    return (
      <main className="fatal">
        <h1>hipvpn</h1>
        <p role="alert">This page needs the access token of hipvpn web. Open the address it printed (it carries the token), or paste the token from the web-token file in its state directory:</p>
        <TokenForm onToken={(token) => setTransport(webSocketTransport(token))} />
      </main>
    );
  }
  return <ControlProvider transport={transport}><App /></ControlProvider>;
}

createRoot(document.getElementById('root')!).render(<StrictMode><Root /></StrictMode>);
