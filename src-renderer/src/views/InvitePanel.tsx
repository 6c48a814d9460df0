// Invites in the Peers view: "Create invite" shows the text (to copy) and a QR code of it; the
// paste field adds the inviter in one step. The daemon does the rest (docs/design-notes.md, "Invites").

import { useState, type SubmitEvent } from 'react';
import qrcode from 'qrcode-generator';
import { useControl, errorMessage } from '../store.js';
import { Field, RichText } from '../components.js';

/** The QR code of `text` as one SVG path: no inline HTML, so the strict CSP holds. */
function QrCode({ text }: { text: string }) {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
  return (
    <svg className="invite-qr" data-testid="invite-qr" role="img" aria-label="QR code of the invite" viewBox={`0 0 ${n + 8} ${n + 8}`} width={(n + 8) * 4} height={(n + 8) * 4}>
      <rect width={n + 8} height={n + 8} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}

export function InvitePanel() {
  const c = useControl();
  const [name, setName] = useState('');
  const [invite, setInvite] = useState<{ text: string; expiresAt: number } | null>(null);
  const [paste, setPaste] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      setInvite(await c.api.call('invite.create', name.trim() === '' ? {} : { name: name.trim() }));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const accept = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const r = await c.api.call('invite.accept', { text: paste.trim() });
      setPaste('');
      await c.act(async () => undefined, `Added peer ${r.peer.name} from its invite`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="invite-h" className="card">
      <h2 id="invite-h">Invite</h2>
      {/* A form, so Enter in the name field creates the invite. */}
      <form onSubmit={(e) => { e.preventDefault(); void create(); }} noValidate>
        <Field label="Name for the invited host" hint="What this host will call it once it connects; empty: guest-…">
          {(a) => <input id={a.id} name="invite-name" value={name} onChange={(e) => setName(e.target.value)} aria-describedby={a.describedBy} autoComplete="off" />}
        </Field>
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy}>Create invite</button>
        </div>
      </form>
      {invite && (
        <div className="invite-out" data-testid="invite-out">
          <p>Works once, until {new Date(invite.expiresAt * 1000).toLocaleString()}. On the other host, paste it below or run <code>hipvpn peer add --invite TEXT</code>.</p>
          <textarea readOnly rows={3} value={invite.text} aria-label="Invite text" data-testid="invite-text" spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
          <QrCode text={invite.text} />
        </div>
      )}
      <form onSubmit={(e) => void accept(e)} noValidate>
        <Field label="Paste an invite" hint="hipvpn-invite:… from the other host adds it as a peer in one step.">
          {(a) => <textarea id={a.id} name="invite-paste" rows={2} value={paste} onChange={(e) => setPaste(e.target.value)} aria-describedby={a.describedBy} spellCheck={false} />}
        </Field>
        <div className="buttons">
          <button type="submit" disabled={busy || paste.trim() === ''}>Add from invite</button>
        </div>
      </form>
      {error && <p className="form-error" role="alert"><RichText text={error} /></p>}
    </section>
  );
}
