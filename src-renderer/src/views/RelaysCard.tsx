import { useState } from 'react';
import { useCheckedForm } from '../checked-form.js';
import { useControl } from '../store.js';
import { Field, Hit } from '../components.js';
import { checkRelayForm, type RelayField, type RelayForm } from '../../../src-shared/forms.js';
import { endpointText } from '../../../src-shared/status-format.js';
import { canonicalHitText } from '../../../src-shared/control-api.js';

const EMPTY: RelayForm = { relay: '', name: '' };
/** The host registers with a relay as soon as it is added, and lets go of one removed. */
const APPLIES = 'the host registers with the relays at once';

/** The `relays` setting: the relays this host registers with and reaches peers through. */
export function RelaysCard() {
  const c = useControl();
  const [form, setForm] = useState<RelayForm>(EMPTY);
  const { errors, busy, submit } = useCheckedForm<RelayField>();
  const relays = c.settings?.relays ?? [];
  // Relays this run uses that the setting does not hold: `serve --relay`, or a peer's own relay.
  const alsoUsed = (c.status?.relays ?? []).filter((r) => !relays.some((s) => canonicalHitText(s.hit) === r.hit));

  const add = submit(() => checkRelayForm(form, relays), async (relay) => {
    if (await c.saveSettings({ relays: [...relays, relay] }, `Relay ${relay.name ?? relay.hit} added; registering with it now`)) setForm(EMPTY);
  });
  const remove = (hit: string): void => void c.saveSettings({ relays: relays.filter((r) => r.hit !== hit) }, 'Relay removed; the host no longer registers with it');

  return (
    <section className="card" aria-labelledby="relays-h">
      <h2 id="relays-h">Relays</h2>
      <p className="hint">A relay lets peers behind NATs reach this host and each other; the first is tried first; {APPLIES}.</p>
      {relays.length === 0 ? <p data-testid="no-relays">No relays in the setting.</p> : (
        <ul className="relays" data-testid="settings-relays">
          {relays.map((r) => (
            <li key={r.hit} data-relay={r.name ?? r.hit}>
              {r.name ?? 'unnamed'} <Hit hit={r.hit} /> at <code>{endpointText(r)}</code>
              <button type="button" className="danger" aria-label={`Remove relay ${r.name ?? r.hit}`} onClick={() => remove(r.hit)}>Remove</button>
            </li>
          ))}
        </ul>
      )}
      {alsoUsed.length > 0 && (
        <p className="hint" data-testid="relays-this-run">
          This run also uses {alsoUsed.map((r, i) => <span key={r.hit}>{i > 0 && ', '}{r.name === r.hit ? <Hit hit={r.hit} /> : r.name}</span>)} (from <code>hipvpn serve --relay</code> or a peer's own relay).
        </p>
      )}
      <form onSubmit={add} noValidate aria-label="Add a relay">
        <Field label="Relay" error={errors.relay} hint={<>As <code>HIT@ADDR[:PORT]</code> (IPv6 as <code>HIT@[ADDR]:PORT</code>, port 10500 when left out); the relay's <code>hipvpn identity --hit</code> prints its HIT.</>}>
          {(a) => <input id={a.id} name="relay" value={form.relay} onChange={(e) => setForm({ ...form, relay: e.target.value })} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" spellCheck={false} />}
        </Field>
        <Field label="Name (optional)" error={errors.name}>
          {(a) => <input id={a.id} name="relay-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" />}
        </Field>
        <div className="buttons"><button type="submit" disabled={busy}>Add relay</button></div>
      </form>
    </section>
  );
}
