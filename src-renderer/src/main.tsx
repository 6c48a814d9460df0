import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { ControlProvider } from './store.js';
import { bridgeTransport, takeToken, webSocketTransport, type UiTransport } from './transport.js';
import './styles.css';

function pickTransport(): UiTransport | string {
  if (window.hipvpn) return bridgeTransport(window.hipvpn);
  const token = takeToken();
  if (!token) return 'Open the address `hipvpn web` printed (it carries the access token), or read the token from web-token in the state directory.';
  return webSocketTransport(token);
}

const root = createRoot(document.getElementById('root')!);
const transport = pickTransport();
root.render(
  <StrictMode>
    {typeof transport === 'string' ? (
      <main className="fatal" role="alert"><h1>hipvpn</h1><p>{transport}</p></main>
    ) : (
      <ControlProvider transport={transport}><App /></ControlProvider>
    )}
  </StrictMode>,
);
