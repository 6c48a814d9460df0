// Small building blocks every view uses: labelled fields with their error, copy buttons, state
// badges and the SVG line chart. Accessible by construction: every input has a label, every
// error is tied to its input (aria-describedby) and announced.

import { useId, useState, type ReactNode, type SubmitEvent } from 'react';
import type { RatePoint } from '../../src-shared/view-models.js';
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

/** Association and pair states as colours a person reads at a glance. */
export function stateTone(state: string): string {
  if (state === 'ESTABLISHED' || state === 'R2-SENT' || state === 'operational' || state === 'ACTIVE' || state === 'connected' || state === 'bound') return 'good';
  if (state === 'I1-SENT' || state === 'I2-SENT' || state === 'testing' || state === 'UNVERIFIED' || state === 'connecting' || state === 'pending') return 'busy';
  if (state === 'degraded' || state === 'fallback' || state === 'DEPRECATED') return 'warn';
  if (state === 'E-FAILED' || state === 'failed' || state === 'CLOSED') return 'bad';
  return 'idle';
}

export interface ChartLine { label: string; values: readonly (number | undefined)[]; className: string }

/** A small line chart: the latest `points` samples, y from 0 to the largest value. */
export function LineChart({ title, lines, format, height = 120 }: { title: string; lines: ChartLine[]; format: (v: number) => string; height?: number }) {
  const width = 480;
  const n = Math.max(2, ...lines.map((l) => l.values.length));
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== undefined)));
  const x = (i: number): number => (i / (n - 1)) * width;
  const y = (v: number): number => height - 4 - (v / max) * (height - 8);
  const latest = lines.map((l) => `${l.label} ${(() => { const v = [...l.values].reverse().find((x) => x !== undefined); return v === undefined ? '–' : format(v); })()}`).join(', ');
  return (
    <figure className="chart">
      <figcaption>{title} <span className="latest">{latest}</span></figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: ${latest}; peak ${format(max)}`} preserveAspectRatio="none">
        {lines.map((l) => {
          const d = l.values.map((v, i) => (v === undefined ? '' : `${i === 0 || l.values[i - 1] === undefined ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`)).join('');
          return <path key={l.label} d={d} className={`line ${l.className}`} />;
        })}
      </svg>
    </figure>
  );
}

export function rateLines(points: readonly RatePoint[]): ChartLine[] {
  return [
    { label: 'in', values: points.map((p) => p.inBps), className: 'in' },
    { label: 'out', values: points.map((p) => p.outBps), className: 'out' },
  ];
}
