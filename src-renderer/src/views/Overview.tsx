import { useControl } from '../store.js';
import { Badge, CopyButton, Notice, stateTone } from '../components.js';
import { TUNNEL_STATE_TEXT, isKeyed, tunnelState } from '../../../src-shared/view-models.js';
import { endpointText } from '../../../src-shared/status-format.js';

export function Overview() {
  const c = useControl();
  const s = c.status;
  if (!s) return <Notice>Waiting for the engine…</Notice>;
  const state = tunnelState(s);
  const up = state !== 'disconnected';
  const uplinks = s.interfaces?.filter((i) => i.up);
  const keyed = s.peers.filter(isKeyed).length;
  return (
    <section aria-labelledby="state-h" className="overview">
      <div className={`state-card tone-${stateTone(state)}`}>
        <h2 id="state-h">Tunnel <Badge tone={stateTone(state)}>{TUNNEL_STATE_TEXT[state]}</Badge></h2>
        <p>{keyed} of {s.peers.length} peer{s.peers.length === 1 ? '' : 's'} connected</p>
        <button
          type="button"
          className={up ? 'secondary' : 'primary'}
          aria-pressed={up}
          onClick={() => void c.act(() => c.api.call('tunnel.set', { up: !up }), up ? 'Disconnected' : 'Connecting')}
        >
          {up ? 'Disconnect' : 'Connect'}
        </button>
      </div>
      <dl className="facts">
        <dt>This host's HIT</dt>
        <dd><code data-testid="own-hit">{s.identity.hit}</code> <CopyButton text={s.identity.hit} label="HIT" /></dd>
        <dt>This host's LSI</dt>
        <dd><code>{s.identity.lsi}</code> <CopyButton text={s.identity.lsi} label="LSI" /></dd>
        <dt>Tunnel device</dt>
        <dd>{s.tun ?? 'none (control plane only)'}</dd>
        <dt>Listening</dt>
        <dd>{s.listening.map(endpointText).join(', ') || '–'}</dd>
        <dt>Active uplinks</dt>
        <dd>{uplinks ? (uplinks.length ? uplinks.map((u) => `${u.name} (${u.kind})`).join(', ') : 'none') : 'not reported by this engine'}</dd>
        <dt>Packets</dt>
        <dd data-testid="engine-counters">HIP in {s.counters.hipIn} / out {s.counters.hipOut} · ESP in {s.counters.espIn} / out {s.counters.espOut} · dropped {s.counters.droppedTotal}</dd>
      </dl>
    </section>
  );
}
