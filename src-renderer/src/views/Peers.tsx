import { useState } from 'react';
import { useControl } from '../store.js';
import { useCheckedForm } from '../checked-form.js';
import { ConfirmDialog, Field, Hit, Notice, PeerState, RichText } from '../components.js';
import { checkPeerForm, peerFormOf, type PeerField, type PeerForm } from '../../../src-shared/forms.js';
import { attemptText, peerRow } from '../../../src-shared/view-models.js';
import { InvitePanel } from './InvitePanel.js';

const EMPTY: PeerForm = { name: '', hit: '', locators: '', relay: '' };

export function Peers() {
  const c = useControl();
  const [form, setForm] = useState<PeerForm>(EMPTY);
  const [editing, setEditing] = useState<string | null>(null);
  const { errors, serverError, busy, submit, clear } = useCheckedForm<PeerField>();
  const [removing, setRemoving] = useState<string | null>(null);
  const peers = c.status?.peers ?? [];
  const closeForm = (): void => { setEditing(null); setForm(EMPTY); clear(); };
  // A peer removed while its form is open (here, by the CLI or another window): nothing is left to edit.
  const editedGone = editing !== null && c.status !== null && !peers.some((p) => p.name === editing);
  // Set during render (as Settings does): React renders again at once, before anything is painted.
  if (editedGone && !busy) closeForm();

  const save = submit(() => checkPeerForm(form), async (peer) => {
    if (editing && editing !== peer.name) await c.api.call('peer.remove', { name: editing });
    const r = await c.api.call('peer.add', peer);
    setForm(EMPTY);
    setEditing(null);
    await c.act(async () => undefined, `${r.replaced || editing ? 'Updated' : 'Added'} peer ${r.peer.name}`);
  });

  const set = (k: PeerField) => (v: string) => setForm((f) => ({ ...f, [k]: v }));

  return (
    <>
      <section aria-labelledby="peers-h">
        <h2 id="peers-h" className="visually-hidden">Peer list</h2>
        {peers.length === 0 ? <Notice>No peers yet: add one below.</Notice> : (
          <div className="table-wrap wide">
            <table data-testid="peers-table">
              <thead>
                <tr><th scope="col">Name</th><th scope="col">HIT</th><th scope="col" title="Local Scope Identifier: an IPv4 address that stands for the peer's HIT inside the tunnel">Tunnel IPv4 (LSI)</th><th scope="col">State</th><th scope="col">Active pair</th><th scope="col">RTT</th><th scope="col">Received</th><th scope="col">Sent</th><th scope="col">Last heard</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
              </thead>
              <tbody>
                {peers.map((p) => {
                  const r = peerRow(p);
                  const problem = c.fresh.live ? attemptText(p) : null;
                  return (
                    <tr key={r.key} data-peer={r.name}>
                      <th scope="row">{r.name}</th>
                      <td data-label="HIT"><Hit hit={r.hit} /></td>
                      <td data-label="Tunnel IPv4 (LSI)">{r.lsi}</td>
                      <td data-label="State"><PeerState state={p.state} live={c.fresh.live} /></td>
                      <td data-label="Active pair">
                        {problem ? <span className="peer-problem" data-testid="peer-problem">{problem}</span>
                          // One child: in the narrow layout the cell is a grid of label and value.
                          : r.path !== null && r.path !== r.pair ? <span><span data-testid="path-words">{r.path}</span><br /><code className="path-pair">{r.pair}</code></span>
                            : r.pair}
                      </td>
                      <td data-label="RTT">{r.rtt}</td>
                      <td data-label="Received" data-testid="rx">{r.rx}</td>
                      <td data-label="Sent" data-testid="tx">{r.tx}</td>
                      <td data-label="Last heard">{r.heard}</td>
                      <td className="actions">
                        {p.name && (
                          <>
                            <button type="button" onClick={() => void c.act(() => c.api.call('ping', { peer: p.name! }), `${p.name} answered`)}>Ping</button>
                            <button type="button" onClick={() => { setEditing(p.name); setForm(peerFormOf({ name: p.name!, hit: p.hit, locators: p.configuredLocators, ...(p.configuredRelay ? { relay: p.configuredRelay } : {}) })); clear(); }}>Edit</button>
                            <button
                              type="button"
                              className="danger"
                              onClick={() => setRemoving(p.name)}
                            >Remove</button>
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="peer-form-h" className="card">
        <h2 id="peer-form-h">{editing ? `Edit ${editing}` : 'Add a peer'}</h2>
        <form onSubmit={save} noValidate aria-describedby={serverError ? 'peer-server-error' : undefined}>
          <Field label="Name" error={errors.name}>
            {(a) => <input id={a.id} name="name" value={form.name} onChange={(e) => set('name')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" />}
          </Field>
          <Field label="HIT" error={errors.hit} hint={<>The peer's <code>hipvpn identity</code> prints it: 2001:2x:…</>}>
            {(a) => <input id={a.id} name="hit" value={form.hit} onChange={(e) => set('hit')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" spellCheck={false} />}
          </Field>
          <Field label="Locators" error={errors.locators} hint="IP or IP:PORT, one per line; empty if the peer contacts you or is reached through a relay (its HIT is enough).">
            {(a) => <textarea id={a.id} name="locators" rows={2} value={form.locators} onChange={(e) => set('locators')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} spellCheck={false} />}
          </Field>
          <Field label="Relay (optional)" error={errors.relay} hint={<>The relay the peer registered with, as <code>HIT@ADDR[:PORT]</code>; empty: your own relays (Settings).</>}>
            {(a) => <input id={a.id} name="relay" value={form.relay} onChange={(e) => set('relay')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" spellCheck={false} />}
          </Field>
          {serverError && <p id="peer-server-error" className="form-error" role="alert"><RichText text={serverError} /></p>}
          <div className="buttons">
            <button type="submit" className="primary" disabled={busy}>{editing ? 'Save' : 'Add peer'}</button>
            {editing && <button type="button" onClick={closeForm}>Cancel</button>}
          </div>
        </form>
      </section>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove peer ${removing ?? ''}?`}
        body="Its tunnel closes and its flow bindings stop applying."
        confirmText="Remove peer"
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          const name = removing!;
          setRemoving(null);
          if (editing === name) closeForm();
          void c.act(() => c.api.call('peer.remove', { name }), `Removed ${name}`);
        }}
      />
      <InvitePanel />
    </>
  );
}
