import { useState } from 'react';
import { useControl } from '../store.js';
import { useCheckedForm } from '../checked-form.js';
import { Badge, ConfirmDialog, Field, Notice, RichText, stateTone } from '../components.js';
import { checkFlowForm, type FlowField, type FlowForm } from '../../../src-shared/forms.js';
import { FLOW_POLICIES, TRAFFIC_PROTOCOLS, type FlowBinding, type TrafficSelector } from '../../../src-shared/control-api.js';
import { endpointText } from '../../../src-shared/status-format.js';

const EMPTY: FlowForm = { fid: '', peer: '', protocol: 'any', remotePorts: '', localPorts: '', interface: '', policy: 'prefer' };

const portsText = (r: { from: number; to: number } | undefined): string => (r ? `${r.from}-${r.to}` : '');

function selectorText(s: TrafficSelector): string {
  const ports = (r: { from: number; to: number } | undefined): string => (r ? (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`) : 'any');
  return `${s.protocol}${s.localPorts ? ` from port ${ports(s.localPorts)}` : ''}${s.remotePorts ? ` to port ${ports(s.remotePorts)}` : ''}`;
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function Flows() {
  const c = useControl();
  const [form, setForm] = useState<FlowForm>(EMPTY);
  const { errors, serverError, busy, submit } = useCheckedForm<FlowField>();
  const peers = (c.status?.peers ?? []).filter((p) => p.name !== null);
  const uplinks = c.status?.interfaces ?? [];
  const flows = c.status?.flows;
  const [removing, setRemoving] = useState<number | null>(null);

  const save = submit(() => checkFlowForm(form), async (binding) => {
    const r = await c.api.call('flow.set', binding);
    setForm(EMPTY);
    await c.act(async () => undefined, `${r.replaced ? 'Updated' : 'Added'} flow ${r.flow.fid}`);
  });
  // On the primary pair a flow has no interface to keep to, so "only" goes with the move there.
  const move = (b: FlowBinding, iface: string): void => {
    const { policy, ...rest } = b;
    const moved: FlowBinding = iface === '' ? { ...rest, interface: null } : { ...rest, interface: iface, ...(policy !== undefined ? { policy } : {}) };
    void c.act(() => c.api.call('flow.set', moved), `Flow ${b.fid} moved`);
  };
  const set = (k: FlowField) => (v: string) => setForm((f) => ({ ...f, [k]: v }));

  return (
    <>
      <section aria-labelledby="flows-h">
        <h2 id="flows-h" className="visually-hidden">Flow bindings</h2>
        {flows === undefined ? <Notice>This engine does not report flow bindings yet; bindings you add are kept once it does.</Notice> : flows.length === 0 ? <Notice>No flow bindings: every flow follows its peer's primary pair.</Notice> : (
          <div className="table-wrap">
            <table>
              <thead><tr><th scope="col" title="Flow identifier (FID): the number that names this binding">Flow ID</th><th scope="col">Peer</th><th scope="col">Traffic</th><th scope="col">Bound to</th><th scope="col">State</th><th scope="col">Pair</th><th scope="col">Traffic counted</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
              <tbody>
                {flows.map((f) => (
                  <tr key={f.binding.fid} data-fid={f.binding.fid}>
                    <th scope="row">{f.binding.fid}</th>
                    <td data-label="Peer">{f.binding.peer}</td>
                    <td data-label="Traffic">{selectorText(f.binding.selector)}</td>
                    {/* One child per cell: in the narrow layout a cell is a grid of its label and its value. */}
                    <td data-label="Bound to"><div>
                      <label className="visually-hidden" htmlFor={`move-${f.binding.fid}`}>Move flow {f.binding.fid} to interface</label>
                      <select id={`move-${f.binding.fid}`} value={f.binding.interface ?? ''} onChange={(e) => move(f.binding, e.target.value)}>
                        <option value="">primary pair</option>
                        {uplinks.map((u) => <option key={u.name} value={u.name}>{u.name} ({u.kind}{u.metered ? ', metered' : ''})</option>)}
                      </select>
                      {f.binding.policy === 'only' && <div className="flow-policy">only on {f.binding.interface}</div>}
                    </div></td>
                    <td data-label="State">{!f.peerRemoved
                      ? <div>
                        <Badge tone={stateTone(f.state)}>{f.state}</Badge>
                        {f.state === 'bound' && f.binding.interface !== null && (f.enforced
                          ? <span className="flow-enforced"> steered</span>
                          : <span className="flow-enforced" title="No packet of this flow has left on its pair yet."> not seen on its pair yet</span>)}
                        {f.reason && <div className="flow-reason">{f.reason}</div>}
                      </div>
                      : <Badge tone="bad"><span title={`No peer is named ${f.binding.peer}: this binding applies to nothing until one is added again.`}>peer removed</span></Badge>}</td>
                    <td data-label="Pair">{f.local && f.remote && !f.peerRemoved ? `${endpointText(f.local)} ⇄ ${endpointText(f.remote)}` : '–'}</td>
                    <td data-label="Traffic counted">{`out ${f.packetsOut} pkts (${bytesText(f.bytesOut)}), in ${f.packetsIn} pkts (${bytesText(f.bytesIn)})`}</td>
                    <td className="actions">
                      <button type="button" onClick={() => setForm({ fid: String(f.binding.fid), peer: f.binding.peer, protocol: f.binding.selector.protocol, remotePorts: portsText(f.binding.selector.remotePorts), localPorts: portsText(f.binding.selector.localPorts), interface: f.binding.interface ?? '', policy: f.binding.policy ?? 'prefer' })}>Edit</button>
                      <button type="button" className="danger" onClick={() => setRemoving(f.binding.fid)}>Remove</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="flow-form-h" className="card">
        <h2 id="flow-form-h">Add or change a flow binding</h2>
        <form onSubmit={save} noValidate className="grid-form">
          <Field label="Flow ID (FID)" error={errors.fid}>
            {(a) => <input id={a.id} inputMode="numeric" value={form.fid} onChange={(e) => set('fid')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} />}
          </Field>
          <Field label="Peer" error={errors.peer}>
            {(a) => (
              <select id={a.id} value={form.peer} onChange={(e) => set('peer')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy}>
                <option value="">Choose…</option>
                {peers.map((p) => <option key={p.hit} value={p.name!}>{p.name}</option>)}
              </select>
            )}
          </Field>
          <Field label="Protocol" error={errors.protocol}>
            {(a) => (
              <select id={a.id} value={form.protocol} onChange={(e) => set('protocol')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy}>
                {TRAFFIC_PROTOCOLS.map((p) => <option key={p} value={p}>{p}</option>)}
              </select>
            )}
          </Field>
          <Field label="Peer ports" error={errors.remotePorts} hint="A port or range, e.g. 443 or 8000-8080; empty for all.">
            {(a) => <input id={a.id} value={form.remotePorts} onChange={(e) => set('remotePorts')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} />}
          </Field>
          <Field label="Our ports" error={errors.localPorts} hint="Ports on this host's side, e.g. 5004; empty for all.">
            {(a) => <input id={a.id} value={form.localPorts ?? ''} onChange={(e) => set('localPorts')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} />}
          </Field>
          <Field label="Interface" error={errors.interface}>
            {(a) => (
              <select id={a.id} value={form.interface} onChange={(e) => set('interface')(e.target.value)} aria-describedby={a.describedBy}>
                <option value="">primary pair</option>
                {uplinks.map((u) => <option key={u.name} value={u.name}>{u.name} ({u.kind}{u.metered ? ', metered' : ''})</option>)}
              </select>
            )}
          </Field>
          <Field label="Policy" error={errors.policy} hint="While the interface has no working pair: prefer falls back to another uplink; only holds the flow (its packets are dropped) until the interface works.">
            {(a) => (
              <select id={a.id} value={form.policy ?? 'prefer'} onChange={(e) => set('policy')(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy}>
                {FLOW_POLICIES.map((p) => <option key={p} value={p}>{p === 'prefer' ? 'prefer this interface' : 'only this interface'}</option>)}
              </select>
            )}
          </Field>
          {serverError && <p className="form-error" role="alert"><RichText text={serverError} /></p>}
          <div className="buttons"><button type="submit" className="primary" disabled={busy}>Save binding</button></div>
        </form>
      </section>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove flow binding ${removing ?? ''}?`}
        body="Its traffic goes back to following the peer's primary pair."
        confirmText="Remove binding"
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          const fid = removing!;
          setRemoving(null);
          void c.act(() => c.api.call('flow.remove', { fid }), `Removed flow ${fid}`);
        }}
      />
    </>
  );
}
