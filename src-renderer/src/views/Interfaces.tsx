import { useControl } from '../store.js';
import { Badge, Notice, stateTone } from '../components.js';
import { moveInOrder, orderedUplinks } from '../../../src-shared/view-models.js';
import { endpointText } from '../../../src-shared/status-format.js';

export function Interfaces() {
  const c = useControl();
  const uplinks = c.status?.interfaces;
  const order = c.settings?.interfaceOrder ?? [];
  const recheck = <button type="button" onClick={() => void c.act(() => c.api.call('interfaces.recheck', {}), 'Interfaces re-checked')}>Re-check now</button>;
  // A daemon given --listen addresses uses those and does not watch the interfaces (nor re-check them).
  if (!c.status) return <Notice>Waiting for the engine…</Notice>;
  if (uplinks === undefined) {
    const fixed = c.status.listening.map(endpointText).join(', ');
    return <Notice>hipvpn listens on fixed addresses{fixed ? ` (${fixed})` : ''} because it was started with <code>--listen</code>, so it does not follow the network interfaces. Start it without <code>--listen</code> to have it move between uplinks.</Notice>;
  }
  const list = orderedUplinks(uplinks, order);
  const names = list.map((u) => u.name);
  const save = (next: string[]): void => void c.saveSettings({ interfaceOrder: next }, 'Interface preference saved');
  return (
    <section aria-labelledby="ifs-h">
      <div className="card-head">
        <h2 id="ifs-h">Preference, most preferred first</h2>
        {recheck}
      </div>
      <ol className="uplinks">
        {list.map((u, i) => (
          <li key={u.name} className={u.up ? '' : 'down'}>
            <div className="uplink-head">
              <strong>{i + 1}. {u.name}</strong> <Badge tone="idle">{u.kind}</Badge> <Badge tone={u.up ? 'good' : 'bad'}>{u.up ? 'up' : 'down'}</Badge>
              {u.metered && <Badge tone="warn">metered</Badge>}
              <span className="order-buttons">
                <button type="button" aria-label={`Prefer ${u.name} more`} disabled={i === 0} onClick={() => save(moveInOrder(names, u.name, -1))}>↑</button>
                <button type="button" aria-label={`Prefer ${u.name} less`} disabled={i === list.length - 1} onClick={() => save(moveInOrder(names, u.name, 1))}>↓</button>
              </span>
            </div>
            <ul className="addresses">
              {u.addresses.length === 0 ? <li>no addresses</li> : u.addresses.map((a) => (
                <li key={a.address}><code>{a.address}/{a.prefixLength}</code> <Badge tone={stateTone(a.state)}>{a.state}</Badge></li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </section>
  );
}
