import { useState } from 'react';
import { useControl } from '../store.js';
import { useCheckedForm } from '../checked-form.js';
import { Field, Notice, RichText } from '../components.js';
import { checkSettingsForm, settingsFormOf, type SettingsField, type SettingsForm } from '../../../src-shared/forms.js';
import { RelaysCard } from './RelaysCard.js';
import { FAILURE_DETECTION, INTERFACE_KINDS, MULTIHOMING_MODES, type InterfaceKind } from '../../../src-shared/control-api.js';
import { moveInOrder } from '../../../src-shared/view-models.js';
import { useLeaveGuard } from '../leave-guard.js';

const FAILURE_TEXT: Record<string, string> = { relaxed: 'Relaxed (fewer false alarms)', normal: 'Normal', aggressive: 'Aggressive (fastest failover)' };
const MODE_TEXT: Record<string, string> = { failover: 'Failover: one pair at a time', 'load-sharing': 'Load sharing: an SA pair per uplink (traffic uses one uplink at a time; applies at next start)' };

export function SettingsView() {
  const c = useControl();
  const [form, setForm] = useState<SettingsForm | null>(null);
  const { errors, serverError, busy, submit } = useCheckedForm<SettingsField>();
  // The form starts from the first settings that arrive and then holds the user's edits. Set
  // during render, not in an effect: React renders again at once, so no frame shows stale state.
  if (c.settings && form === null) setForm(settingsFormOf(c.settings));
  // Edits not yet saved: leaving the view asks first.
  useLeaveGuard(form !== null && c.settings !== null && JSON.stringify(form) !== JSON.stringify(settingsFormOf(c.settings)));
  if (!c.settings || !form) return <Notice>Loading settings…</Notice>;
  const kinds = c.settings.interfacePreference;

  const save = submit(() => checkSettingsForm(form), async (patch) => {
    const saved = await c.api.call('settings.set', patch);
    setForm(settingsFormOf(saved));
    await c.act(async () => undefined, 'Settings saved');
  });
  const moveKind = (k: InterfaceKind, by: -1 | 1): void => void c.saveSettings({ interfacePreference: moveInOrder(kinds, k, by) as InterfaceKind[] }, 'Interface preference saved');
  const missingKinds = INTERFACE_KINDS.filter((k) => !kinds.includes(k));
  const metered = c.settings.meteredInterfaces;
  // The uplinks there are now, and any named metered while absent (they stay metered when they return).
  const uplinkNames = [...new Set([...(c.status?.interfaces ?? []).map((u) => u.name), ...metered])];
  const setMetered = (name: string, on: boolean): void => void c.saveSettings(
    { meteredInterfaces: on ? [...metered.filter((m) => m !== name), name] : metered.filter((m) => m !== name) },
    on ? `${name} is metered` : `${name} is not metered`,
  );

  return (
    <>
      <form className="card" onSubmit={save} noValidate aria-labelledby="settings-h">
        <h2 id="settings-h">Connection</h2>
        <Field label="Keepalive interval (seconds)" error={errors.keepaliveIntervalS} hint="1..300; keeps NAT bindings open on idle tunnels.">
          {(a) => <input id={a.id} name="keepalive" inputMode="numeric" value={form.keepaliveIntervalS} onChange={(e) => setForm({ ...form, keepaliveIntervalS: e.target.value })} aria-invalid={a.invalid} aria-describedby={a.describedBy} />}
        </Field>
        <Field label="Failure detection" error={errors.failureDetection}>
          {(a) => (
            <select id={a.id} value={form.failureDetection} onChange={(e) => setForm({ ...form, failureDetection: e.target.value })} aria-describedby={a.describedBy}>
              {FAILURE_DETECTION.map((f) => <option key={f} value={f}>{FAILURE_TEXT[f]}</option>)}
            </select>
          )}
        </Field>
        <Field label="Multihoming" error={errors.multihomingMode}>
          {(a) => (
            <select id={a.id} value={form.multihomingMode} onChange={(e) => setForm({ ...form, multihomingMode: e.target.value })} aria-describedby={a.describedBy}>
              {MULTIHOMING_MODES.map((m) => <option key={m} value={m}>{MODE_TEXT[m]}</option>)}
            </select>
          )}
        </Field>
        <div className="check"><input id="s-login" type="checkbox" checked={form.startAtLogin} onChange={(e) => setForm({ ...form, startAtLogin: e.target.checked })} /><label htmlFor="s-login">Start at login</label></div>
        <div className="check"><input id="s-notify" type="checkbox" checked={form.notifications} onChange={(e) => setForm({ ...form, notifications: e.target.checked })} /><label htmlFor="s-notify">Notify me of handovers</label></div>
        {serverError && <p className="form-error" role="alert"><RichText text={serverError} /></p>}
        <div className="buttons"><button type="submit" className="primary" disabled={busy}>Save settings</button></div>
      </form>
      <section className="card" aria-labelledby="kinds-h">
        <h2 id="kinds-h">Preferred kinds of uplink</h2>
        <ol className="kinds">
          {kinds.map((k, i) => (
            <li key={k}>
              {k}
              <button type="button" aria-label={`Prefer ${k} more`} disabled={i === 0} onClick={() => moveKind(k, -1)}>↑</button>
              <button type="button" aria-label={`Prefer ${k} less`} disabled={i === kinds.length - 1} onClick={() => moveKind(k, 1)}>↓</button>
            </li>
          ))}
        </ol>
        {missingKinds.length > 0 && <p className="hint">Not used: {missingKinds.join(', ')}</p>}
      </section>
      <section className="card" aria-labelledby="metered-h">
        <h2 id="metered-h">Metered uplinks</h2>
        <p className="hint">A metered uplink carries the flows bound to it, and the rest of the traffic only while no other uplink works.</p>
        {uplinkNames.length === 0 ? <Notice>No uplinks reported yet.</Notice> : uplinkNames.map((name) => (
          <div className="check" key={name}>
            <input id={`metered-${name}`} type="checkbox" checked={metered.includes(name)} onChange={(e) => setMetered(name, e.target.checked)} />
            <label htmlFor={`metered-${name}`}>{name} is metered</label>
          </div>
        ))}
      </section>
      <RelaysCard />
    </>
  );
}
