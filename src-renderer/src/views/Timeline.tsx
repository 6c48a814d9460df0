import { useControl } from '../store.js';
import { LineChart, Notice, rateLines } from '../components.js';
import { shortHit } from '../../../src-shared/hit-text.js';
import { HANDOVER_CAUSE_TEXT, isKeyed, msText, pairText, pathChangeText, rateText } from '../../../src-shared/view-models.js';

/** Below these the charts keep their scale: an idle link or a fast one is not drawn as a wall. */
const RATE_FLOOR_BPS = 1250; // 10 kbit/s
const RTT_FLOOR_MS = 20;

export function Timeline() {
  const c = useControl();
  const peers = (c.status?.peers ?? []).filter(isKeyed);
  const handovers = [...c.handovers].reverse();
  return (
    <>
      <section aria-labelledby="charts-h">
        <h2 id="charts-h">Live</h2>
        {peers.length === 0 ? <Notice>No peer is connected.</Notice> : peers.map((p) => {
          const points = c.series.series(`peer:${p.hit}`);
          const label = p.name ?? p.hit;
          // The window ends at the newest sample (one a second while live; frozen with the stale state).
          const nowMs = points.at(-1)?.atMs ?? 0;
          return (
            <div key={p.hit} className="charts" data-peer={label}>
              <LineChart title={`${label}: throughput`} lines={rateLines(points)} format={rateText} floor={RATE_FLOOR_BPS} nowMs={nowMs} />
              <LineChart title={`${label}: round-trip time`} lines={[{ label: 'RTT', points: points.map((x) => ({ atMs: x.atMs, v: x.rttMs })), className: 'rtt' }]} format={(v) => msText(v)} floor={RTT_FLOOR_MS} nowMs={nowMs} />
            </div>
          );
        })}
      </section>
      <section aria-labelledby="handovers-h">
        <h2 id="handovers-h">Handovers</h2>
        {!c.handoversSupported ? <Notice>This engine does not record handovers yet.</Notice> : handovers.length === 0 ? <Notice>No handovers since the engine started.</Notice> : (
          <ol className="timeline" data-testid="handover-timeline">
            {handovers.map((h) => {
              const change = pathChangeText(h);
              return (
                <li key={h.seq}>
                  <time dateTime={new Date(h.at).toISOString()}>{new Date(h.at).toLocaleTimeString()}</time>
                  <strong>{h.peer ?? shortHit(h.hit)}</strong>
                  <span className="cause">{HANDOVER_CAUSE_TEXT[h.cause]}</span>
                  {change !== null
                    ? <span className="move" data-testid="path-change">{change}</span>
                    : <span className="move">{h.from ? `${h.from.interface ?? h.from.kind} → ` : ''}{h.to.interface ?? h.to.kind}</span>}
                  <code className="pairs">{h.from ? `${pairText(h.from)} → ` : ''}{pairText(h.to)}</code>
                  <span className="gap">gap {h.gapMs === null ? 'measuring…' : msText(h.gapMs)}{h.packetsLost === undefined ? '' : `, ${h.packetsLost} lost`}</span>
                </li>
              );
            })}
          </ol>
        )}
      </section>
    </>
  );
}
