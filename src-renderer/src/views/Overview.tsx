import { useControl } from '../store.js';
import { Badge, CopyButton, Hit, Notice, PeerState, stateTone } from '../components.js';
import { TUNNEL_STATE_TEXT, asOfText, attemptText, isKeyed, pathWithRttText, tunnelState } from '../../../src-shared/view-models.js';
import type { PeerStatus } from '../../../src-shared/control-api.js';
import { endpointText } from '../../../src-shared/status-format.js';

/**
 * One peer at a glance: how it is reached right now when connected ("bob: direct via Wi-Fi (wlan0)
 * · RTT 12 ms"), else its state in words and, while the state is live, why it is not connected.
 */
function PeerLine({ p, live }: { p: PeerStatus; live: boolean }) {
  const name = p.name ?? <Hit hit={p.hit} />;
  if (isKeyed(p)) return <li data-peer={p.name ?? p.hit}>{name}: <span data-testid="path-words">{pathWithRttText(p) ?? 'connected'}</span></li>;
  const problem = live ? attemptText(p) : null;
  // No address, no relay, no exchange: nothing to do here until the peer makes contact.
  const waits = p.state === 'UNASSOCIATED' && p.configuredLocators.length === 0 && p.configuredRelay === undefined;
  return (
    <li data-peer={p.name ?? p.hit} className="peer-down">
      {name}: <PeerState state={p.state} live={live} />
      {problem ? <> <span className="peer-problem" data-testid="peer-problem">{problem}</span></> : waits ? ' waits for the peer to contact this host' : null}
    </li>
  );
}

export function Overview() {
  const c = useControl();
  const s = c.status;
  if (!s) return <Notice>{c.fresh.reason === 'engine-stopped' ? 'The engine is not running, and has not been since this page opened.' : 'Waiting for the engine…'}</Notice>;
  const state = tunnelState(s);
  const up = state !== 'disconnected';
  const uplinks = s.interfaces?.filter((i) => i.up);
  const keyed = s.peers.filter(isKeyed).length;
  // With a relay, a peer known by HIT alone is reachable too: the relay passes our I1 on.
  const hasRelay = (s.relays?.length ?? 0) > 0;
  const reachable = s.peers.filter((p) => p.configuredLocators.length > 0 || p.configuredRelay !== undefined || hasRelay || p.state !== 'UNASSOCIATED');
  // Behind a stopped engine or an unreachable server the state is what it was, not what it is.
  const badge = c.fresh.live ? TUNNEL_STATE_TEXT[state] : c.fresh.reason === 'engine-stopped' ? 'Not running' : 'Unknown';
  const tone = c.fresh.live ? stateTone(state) : c.fresh.reason === 'engine-stopped' ? 'bad' : 'idle';
  const noPeers = s.peers.length === 0
    ? 'There are no peers to connect to: add one on the Peers page (its HIT and address).'
    : 'No peer has an address to connect to: give one an address on the Peers page, or wait for it to contact this host.';
  const connect = async (): Promise<void> => {
    if (s.tunnelUp === false) {
      const ok = await c.act(() => c.api.call('tunnel.set', { up: true }), reachable.length > 0 ? 'Connecting' : undefined);
      if (ok && reachable.length === 0) c.note('error', `The tunnel is on. ${noPeers}`);
      return;
    }
    if (reachable.length === 0) {
      c.note('error', noPeers);
      return;
    }
    // The switch is on already: start an exchange with each peer that is not connected (ping
    // connects first); a peer that does not answer says why in its row on the Peers page.
    const waiting = reachable.filter((p) => p.name !== null && !isKeyed(p));
    c.note('ok', `Connecting to ${waiting.map((p) => p.name).join(', ')}…`);
    await Promise.allSettled(waiting.map((p) => c.api.call('ping', { peer: p.name! })));
    await c.refresh();
  };
  const toggle = (): void => {
    if (up) void c.act(() => c.api.call('tunnel.set', { up: false }), 'Disconnected');
    else void connect();
  };
  return (
    <section aria-labelledby="state-h" className="overview">
      <div className={`state-card tone-${tone}`}>
        <h2 id="state-h">Tunnel <Badge tone={tone}>{badge}</Badge></h2>
        {c.fresh.live
          ? <p data-testid="peer-count">{keyed} of {s.peers.length} peer{s.peers.length === 1 ? '' : 's'} connected</p>
          : <p data-testid="peer-count">Last known: {TUNNEL_STATE_TEXT[state]}, {keyed} of {s.peers.length} peer{s.peers.length === 1 ? '' : 's'} connected, {asOfText(c.fresh.ageMs)}</p>}
        {s.peers.length > 0 && (
          <ul className="peer-paths" data-testid="peer-paths" aria-label="Each peer and how it is reached">
            {s.peers.map((p) => <PeerLine key={p.hit} p={p} live={c.fresh.live} />)}
          </ul>
        )}
        {c.fresh.live && s.peers.length === 0 && <p data-testid="no-peers">No peers yet: add one on the <a href="#/peers">Peers</a> page to have something to connect to.</p>}
        {/* Behind a stopped engine or server neither action can be taken, nor is it known which one applies. */}
        {c.fresh.live && (
          <button type="button" className={up ? 'secondary' : 'primary'} aria-pressed={up} onClick={toggle}>
            {up ? 'Disconnect' : 'Connect'}
          </button>
        )}
      </div>
      <dl className="facts">
        <dt>This host's HIT</dt>
        <dd><Hit hit={s.identity.hit} testId="own-hit" /></dd>
        <dt><span title="Local Scope Identifier: an IPv4 address that stands for this host's HIT inside the tunnel">This host's tunnel IPv4 (LSI)</span></dt>
        <dd><code>{s.identity.lsi}</code> <CopyButton text={s.identity.lsi} label="LSI" /></dd>
        <dt>Tunnel device</dt>
        <dd>{s.tun ?? 'none (control plane only)'}</dd>
        <dt>Listening</dt>
        <dd>{s.listening.map(endpointText).join(', ') || '–'}</dd>
        <dt>Active uplinks</dt>
        <dd>{uplinks ? (uplinks.length ? uplinks.map((u) => `${u.name} (${u.kind})`).join(', ') : 'none') : 'not followed: hipvpn listens on fixed addresses (--listen)'}</dd>
        <dt>Relays</dt>
        <dd>
          {s.relays && s.relays.length > 0 ? (
            <ul className="relays" data-testid="relays" aria-label="Relays this host registers with">
              {s.relays.map((r) => (
                <li key={r.hit} data-relay={r.name}>
                  {r.name === r.hit ? <Hit hit={r.hit} /> : r.name} at {endpointText(r)}{' '}
                  <Badge tone={r.registered ? 'good' : 'warn'}>{r.registered ? 'registered' : 'not registered'}</Badge>
                  {' '}{r.reflexive ? <>sees this host at <code data-testid="relay-reflexive">{endpointText(r.reflexive)}</code></> : 'has not said where it sees this host'}
                </li>
              ))}
            </ul>
          ) : 'none: peers behind NATs need one (Settings)'}
        </dd>
        <dt>Packets</dt>
        <dd data-testid="engine-counters">HIP in {s.counters.hipIn} / out {s.counters.hipOut} · ESP in {s.counters.espIn} / out {s.counters.espOut} · dropped {s.counters.droppedTotal}</dd>
      </dl>
    </section>
  );
}
