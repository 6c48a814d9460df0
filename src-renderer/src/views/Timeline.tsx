import { useControl } from '../store.js';
import { LineChart, Notice, rateLines } from '../components.js';
import { HANDOVER_CAUSE_TEXT, isKeyed, msText, pairText, rateText } from '../../../src-shared/view-models.js';

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
          return (
            <div key={p.hit} className="charts" data-peer={label}>
              <LineChart title={`${label}: throughput`} lines={rateLines(points)} format={rateText} />
              <LineChart title={`${label}: RTT`} lines={[{ label: 'RTT', values: points.map((x) => x.rttMs), className: 'rtt' }]} format={(v) => msText(v)} />
            </div>
          );
        })}
      </section>
      <section aria-labelledby="handovers-h">
        <h2 id="handovers-h">Handovers</h2>
        {!c.handoversSupported ? <Notice>This engine does not record handovers yet.</Notice> : handovers.length === 0 ? <Notice>No handovers since the engine started.</Notice> : (
          <ol className="timeline" data-testid="handover-timeline">
            {handovers.map((h) => (
              <li key={h.seq}>
                <time dateTime={new Date(h.at).toISOString()}>{new Date(h.at).toLocaleTimeString()}</time>
                <strong>{h.peer ?? h.hit}</strong>
                <span className="cause">{HANDOVER_CAUSE_TEXT[h.cause]}</span>
                <span>{h.from ? `${h.from.interface ?? h.from.kind} → ` : ''}{h.to.interface ?? h.to.kind}</span>
                <code>{h.from ? `${pairText(h.from)} → ` : ''}{pairText(h.to)}</code>
                <span className="gap">gap {h.gapMs === null ? 'measuring…' : msText(h.gapMs)}{h.packetsLost === undefined ? '' : `, ${h.packetsLost} lost`}</span>
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
