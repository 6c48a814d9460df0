// Small building blocks every view uses: labelled fields with their error, copy buttons, state
// badges, HITs, the in-page confirmation and the SVG line chart. Accessible by construction: every input has a label, every
// error is tied to its input (aria-describedby) and announced.

import { useEffect, useId, useRef, useState, type ReactNode, type SubmitEvent } from 'react';
import { PEER_STATE_WORDS, type RatePoint } from '../../src-shared/view-models.js';
import type { AssociationState } from '../../src-shared/control-api.js';
import { CHART_WINDOW_S, timeTicks, timeX, yScale } from '../../src-shared/chart-scale.js';
import { shortHit } from '../../src-shared/hit-text.js';
import { parseToken } from './transport.js';

export function Field(props: { label: string; error?: string | undefined; hint?: ReactNode; children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode }) {
  const id = useId();
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [props.error ? errId : '', props.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${props.error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{props.label}</label>
      {props.children({ id, describedBy, invalid: Boolean(props.error) })}
      {props.hint && <small id={hintId} className="hint">{props.hint}</small>}
      {props.error && <p id={errId} className="field-error" role="alert">{props.error}</p>}
    </div>
  );
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="copy"
      aria-label={`Copy ${label}`}
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        }, () => undefined);
      }}
    >
      {done ? 'Copied' : 'Copy'}
    </button>
  );
}

export function Badge({ tone, children }: { tone: string; children: ReactNode }) {
  return <span className={`badge tone-${tone}`}>{children}</span>;
}

/** Text from the daemon or the UI with `commands` in backticks, shown as code rather than as backticks. */
export function RichText({ text }: { text: string }) {
  const parts = text.split(/`([^`]+)`/);
  return <>{parts.map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}</>;
}

/**
 * Where a person pastes the token of `hipvpn web` (or the whole address it printed): the way
 * back in after a restart, and in when the page was opened without one.
 */
export function TokenForm({ onToken }: { onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = (e: SubmitEvent): void => {
    e.preventDefault();
    const token = parseToken(value);
    if (!token) {
      setError('That is not a token: paste the address hipvpn web printed, or the contents of its web-token file.');
      return;
    }
    setError(undefined);
    onToken(token);
  };
  return (
    <form className="token-form" onSubmit={submit} noValidate>
      <Field label="Token or address" error={error} hint="The address hipvpn web printed (…#token=…), or the web-token file in its state directory.">
        {(a) => <input id={a.id} name="token" value={value} onChange={(e) => setValue(e.target.value)} aria-invalid={a.invalid} aria-describedby={a.describedBy} autoComplete="off" spellCheck={false} />}
      </Field>
      <div className="buttons"><button type="submit" className="primary">Join</button></div>
    </form>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return <p className="notice">{children}</p>;
}

/**
 * A peer's state in plain words ("connecting"), the protocol's state (I1-SENT) on hover. While the
 * page cannot see the live state it is the last known one, and says so ("was connected").
 */
export function PeerState({ state, live }: { state: AssociationState; live: boolean }) {
  const w = PEER_STATE_WORDS[state];
  if (!live) return <span title={`Last known: ${w.term}`} data-state={state}><Badge tone="idle">was {w.text}</Badge></span>;
  return <span title={w.term} data-state={state}><Badge tone={stateTone(state)}>{w.text}</Badge></span>;
}

/** Association and pair states as colours a person reads at a glance. */
export function stateTone(state: string): string {
  if (state === 'ESTABLISHED' || state === 'R2-SENT' || state === 'operational' || state === 'ACTIVE' || state === 'connected' || state === 'bound') return 'good';
  if (state === 'I1-SENT' || state === 'I2-SENT' || state === 'testing' || state === 'UNVERIFIED' || state === 'connecting' || state === 'pending') return 'busy';
  if (state === 'degraded' || state === 'fallback' || state === 'DEPRECATED') return 'warn';
  if (state === 'E-FAILED' || state === 'failed' || state === 'CLOSED') return 'bad';
  return 'idle';
}

export interface ChartLine { label: string; points: readonly { atMs: number; v: number | undefined }[]; className: string }

const CHART_W = 480;
const CHART_H = 150;
const PAD = { left: 84, right: 8, top: 8, bottom: 22 };

/**
 * A line chart over a fixed time window (CHART_WINDOW_S, newest at the right), y from 0 to a
 * round top no lower than `floor`, with gridlines, labelled axes and a legend. Lines differ by
 * colour and dash, so two lines lying on 0 are both seen.
 */
export function LineChart({ title, lines, format, floor, nowMs }: { title: string; lines: ChartLine[]; format: (v: number) => string; floor: number; nowMs: number }) {
  const scale = yScale(lines.flatMap((l) => l.points.map((p) => p.v)), floor);
  const plotW = CHART_W - PAD.left - PAD.right;
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const y = (v: number): number => PAD.top + plotH - (v / scale.max) * plotH;
  const latest = lines.map((l) => {
    const v = [...l.points].reverse().find((p) => p.v !== undefined)?.v;
    return `${l.label} ${v === undefined ? '–' : format(v)}`;
  }).join(', ');
  return (
    <figure className="chart" data-testid="chart">
      <figcaption>
        <span className="chart-title">{title}</span> <span className="latest">{latest}</span>
      </figcaption>
      <ul className="legend" aria-hidden="true">
        {lines.map((l) => <li key={l.label}><svg width="22" height="8"><line x1="0" y1="4" x2="22" y2="4" className={`line ${l.className}`} /></svg>{l.label}</li>)}
      </ul>
      <svg viewBox={`0 0 ${CHART_W} ${CHART_H}`} role="img" aria-label={`${title}, last ${CHART_WINDOW_S / 60} minutes, scale 0 to ${format(scale.max)}: ${latest}`}>
        <g className="grid">
          {scale.ticks.map((t) => (
            <g key={t} className="y-tick">
              <line x1={PAD.left} x2={CHART_W - PAD.right} y1={y(t)} y2={y(t)} />
              <text x={PAD.left - 6} y={y(t)} textAnchor="end" dominantBaseline="middle">{format(t)}</text>
            </g>
          ))}
          {timeTicks().map((t) => (
            <g key={t.label} className="x-tick">
              <line x1={PAD.left + t.x * plotW} x2={PAD.left + t.x * plotW} y1={PAD.top} y2={PAD.top + plotH} />
              <text x={PAD.left + t.x * plotW} y={CHART_H - 6} textAnchor={t.x === 0 ? 'start' : t.x === 1 ? 'end' : 'middle'}>{t.label}</text>
            </g>
          ))}
        </g>
        {lines.map((l) => {
          let d = '';
          let pen = false;
          for (const p of l.points) {
            const fx = timeX(p.atMs, nowMs);
            if (fx === null || p.v === undefined) { pen = false; continue; }
            d += `${pen ? 'L' : 'M'}${(PAD.left + fx * plotW).toFixed(1)},${y(p.v).toFixed(1)}`;
            pen = true;
          }
          return <path key={l.label} d={d} className={`line ${l.className}`} data-line={l.label} />;
        })}
      </svg>
    </figure>
  );
}

export function rateLines(points: readonly RatePoint[]): ChartLine[] {
  return [
    { label: 'in', points: points.map((p) => ({ atMs: p.atMs, v: p.inBps })), className: 'in' },
    { label: 'out', points: points.map((p) => ({ atMs: p.atMs, v: p.outBps })), className: 'out' },
  ];
}

/** A HIT in one line: shortened, the whole of it on hover and for screen readers, and a copy button. */
export function Hit({ hit, testId }: { hit: string; testId?: string }) {
  return (
    <span className="hit-wrap">
      <code className="hit" title={hit} aria-label={hit} data-testid={testId}>{shortHit(hit)}</code>
      <CopyButton text={hit} label="HIT" />
    </span>
  );
}

/**
 * An in-page confirmation: a modal <dialog> (focus held inside, Esc cancels, the rest of the page
 * inert), used instead of the browser's confirm(), which is unstyled, blocks the page and cannot
 * name its buttons.
 */
export function ConfirmDialog({ open, title, body, confirmText, onConfirm, onCancel }: { open: boolean; title: string; body: ReactNode; confirmText: string; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} className="confirm" aria-labelledby={`${id}-t`} aria-describedby={`${id}-b`} onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <h2 id={`${id}-t`}>{title}</h2>
      <p id={`${id}-b`}>{body}</p>
      <div className="buttons">
        <button type="button" onClick={onCancel} autoFocus>Cancel</button>
        <button type="button" className="primary danger-fill" onClick={onConfirm}>{confirmText}</button>
      </div>
    </dialog>
  );
}
