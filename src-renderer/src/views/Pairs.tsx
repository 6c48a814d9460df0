import { useControl } from '../store.js';
import { Badge, Notice, stateTone } from '../components.js';
import { attemptText, isKeyed, msText, pairKey, pairText, sortedPairs } from '../../../src-shared/view-models.js';
import { ageText, endpointText } from '../../../src-shared/status-format.js';

function spiText(spi: number | undefined): string {
  return spi === undefined ? '–' : `0x${spi.toString(16).padStart(8, '0')}`;
}

export function Pairs() {
  const c = useControl();
  const peers = c.status?.peers ?? [];
  if (peers.length === 0) return <Notice>No peers yet.</Notice>;
  return (
    <>
      {peers.map((p) => {
        const label = p.name ?? p.hit;
        const pairs = p.pairs ? sortedPairs(p.pairs) : null;
        // Another pair to move to, as the tray decides it: a failover with none only fails.
        const canFailOver = isKeyed(p) && (pairs ?? []).some((x) => !x.primary && x.state !== 'failed');
        const problem = c.fresh.live ? attemptText(p) : null;
        return (
          <section key={p.hit} aria-labelledby={`pairs-${p.hit}`} className="card" data-peer={label}>
            <div className="card-head">
              <h2 id={`pairs-${p.hit}`}>{label} <Badge tone={stateTone(p.state)}>{p.state}</Badge></h2>
              <button
                type="button"
                disabled={!canFailOver}
                title={canFailOver ? undefined : isKeyed(p) ? 'No other working locator pair to move to' : 'Not connected'}
                onClick={() => void c.act(() => c.api.call('failover', { peer: label }), `Failing over ${label}`)}
              >Fail over now</button>
            </div>
            {pairs === null && !isKeyed(p) ? (
              <Notice>Not connected, so there are no locator pairs.{problem ? ` ${problem}` : ''}</Notice>
            ) : pairs === null ? (
              <>
                <Notice>This engine does not report locator pairs yet{p.local && p.remote ? '; the pair in use:' : '.'}</Notice>
                {p.local && p.remote && <p className="pair-now"><code>{pairText({ local: p.local, remote: p.remote })}</code></p>}
              </>
            ) : pairs.length === 0 ? <Notice>No locator pairs: the association is not up.</Notice> : (
              <div className="table-wrap">
                <table>
                  <caption className="visually-hidden">Locator pairs of {label}</caption>
                  <thead>
                    <tr><th scope="col">Local</th><th scope="col">Peer</th><th scope="col">Uplink</th><th scope="col">Peer locator</th><th scope="col">Pair</th><th scope="col">SPI in / out</th><th scope="col">RTT</th><th scope="col">Last heard</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
                  </thead>
                  <tbody>
                    {pairs.map((pair) => (
                      <tr key={pairKey(pair)} className={pair.primary ? 'primary-row' : undefined}>
                        <td data-label="Local"><code>{endpointText(pair.local)}</code></td>
                        <td data-label="Peer"><code>{endpointText(pair.remote)}</code></td>
                        <td data-label="Uplink">{pair.interface ?? '?'} ({pair.kind})</td>
                        <td data-label="Peer locator"><Badge tone={stateTone(pair.remoteState)}>{pair.remoteState}</Badge></td>
                        <td data-label="Pair"><Badge tone={stateTone(pair.state)}>{pair.state}</Badge>{pair.primary && <> <Badge tone="primary">primary</Badge></>}</td>
                        <td data-label="SPI in / out"><code>{spiText(pair.spiIn)} / {spiText(pair.spiOut)}</code></td>
                        <td data-label="RTT">{msText(pair.rttMs)}</td>
                        <td data-label="Last heard">{pair.lastHeardMs === undefined ? '–' : `${ageText(pair.lastHeardMs)} ago`}</td>
                        <td>
                          {!pair.primary && (
                            <button
                              type="button"
                              disabled={pair.state === 'failed'}
                              onClick={() => void c.act(() => c.api.call('pair.use', { peer: label, local: pair.local, remote: pair.remote }), `${label} now uses ${pairText(pair)}`)}
                            >Use this pair</button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        );
      })}
    </>
  );
}
