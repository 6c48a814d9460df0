import { useRef, useState } from 'react';
import { useControl } from '../store.js';
import { Badge, Notice, PeerState, stateTone } from '../components.js';
import {
  LOCATOR_STATE_WORDS, PAIR_STATE_WORDS, attemptText, isKeyed, msText, pairKey, pairText, pathDirectionsText, sortedPairs,
} from '../../../src-shared/view-models.js';
import { CANDIDATE_WORDS, ageText, endpointText, uplinkWords } from '../../../src-shared/status-format.js';

function spiText(spi: number | undefined): string {
  return spi === undefined ? '–' : `0x${spi.toString(16).padStart(8, '0')}`;
}

/**
 * One request per peer at a time: a second click while one is in flight (a double-click) does
 * nothing. The ref answers at once, before React renders the disabled button.
 */
function usePeerBusy(): { busy: ReadonlySet<string>; run: (peer: string, what: () => Promise<unknown>) => void } {
  const inFlight = useRef(new Set<string>());
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());
  const run = (peer: string, what: () => Promise<unknown>): void => {
    if (inFlight.current.has(peer)) return;
    inFlight.current.add(peer);
    setBusy(new Set(inFlight.current));
    void what().finally(() => {
      inFlight.current.delete(peer);
      setBusy(new Set(inFlight.current));
    });
  };
  return { busy, run };
}

export function Pairs() {
  const c = useControl();
  const { busy, run } = usePeerBusy();
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
        const working = busy.has(p.hit);
        const path = pathDirectionsText(p);
        return (
          <section key={p.hit} aria-labelledby={`pairs-${p.hit}`} className="card" data-peer={label}>
            <div className="card-head">
              <h2 id={`pairs-${p.hit}`}>{label} <PeerState state={p.state} live={c.fresh.live} /></h2>
              <button
                type="button"
                disabled={!canFailOver || working}
                aria-busy={working}
                title={canFailOver ? undefined : isKeyed(p) ? 'No other working locator pair to move to' : 'Not connected'}
                onClick={() => run(p.hit, () => c.act(() => c.api.call('failover', { peer: label }), `${label} moved to another path`))}
              >{working ? 'Moving…' : 'Fail over now'}</button>
            </div>
            {path && <p className="pair-now" data-testid="peer-path">{path}</p>}
            {pairs === null && !isKeyed(p) ? (
              <Notice>Not connected, so there are no locator pairs.{problem ? ` ${problem}` : ''}</Notice>
            ) : pairs === null ? (
              <>
                <Notice>This engine does not report locator pairs yet{p.local && p.remote ? '; the pair in use:' : '.'}</Notice>
                {p.local && p.remote && <p className="pair-now"><code>{pairText({ local: p.local, remote: p.remote })}</code></p>}
              </>
            ) : pairs.length === 0 ? <Notice>No locator pairs: the association is not up.</Notice> : (
              <div className="table-wrap">
                <table className="pairs-table">
                  <caption className="visually-hidden">Locator pairs of {label}</caption>
                  <thead>
                    <tr>
                      <th scope="col" title="Local locator: this host's address and port">This host</th>
                      <th scope="col" title="Peer locator: the peer's address and port">Peer</th>
                      <th scope="col" title="How the peer's address was found (its ICE candidate type: host, server-reflexive, peer-reflexive, relayed)">Reached at</th>
                      <th scope="col">Uplink</th>
                      <th scope="col" title="Locator state of the peer's address (RFC 8046 §5.4)">Peer address</th>
                      <th scope="col" title="Locator pair state and direction: out = primary pair (our packets leave on it), in = inbound pair (the peer's arrive on it)">Path</th>
                      <th scope="col" title="Security Parameter Index of the ESP security associations, inbound / outbound">SPI in / out</th>
                      <th scope="col" title="Round-trip time of the last reachability test">RTT</th>
                      <th scope="col">Last heard</th>
                      <th scope="col"><span className="visually-hidden">Actions</span></th>
                    </tr>
                  </thead>
                  <tbody>
                    {pairs.map((pair) => (
                      <tr key={pairKey(pair)} className={pair.primary ? 'primary-row' : undefined} data-pair={pairKey(pair)} data-primary={pair.primary} data-inbound={pair.inbound === true} data-spread={pair.spread === true}>
                        <td data-label="This host"><code>{endpointText(pair.local)}</code></td>
                        <td data-label="Peer"><code>{endpointText(pair.remote)}</code></td>
                        <td data-label="Reached at" data-testid="pair-candidate" data-candidate={pair.candidate}>
                          {pair.candidate === undefined ? '–' : <span title={CANDIDATE_WORDS[pair.candidate].term}>{CANDIDATE_WORDS[pair.candidate].text}</span>}
                        </td>
                        <td data-label="Uplink">{uplinkWords(pair)}</td>
                        <td data-label="Peer address"><span title={LOCATOR_STATE_WORDS[pair.remoteState].term}><Badge tone={stateTone(pair.remoteState)}>{LOCATOR_STATE_WORDS[pair.remoteState].text}</Badge></span></td>
                        {/* One child: in the narrow layout the cell is a grid of label and value. */}
                        <td data-label="Path"><span>
                          <span title={PAIR_STATE_WORDS[pair.state].term}><Badge tone={stateTone(pair.state)}>{PAIR_STATE_WORDS[pair.state].text}</Badge></span>
                          {pair.primary && <> <span title="Primary pair: our packets to the peer leave on it"><Badge tone="primary">out</Badge></span></>}
                          {pair.spread === true && <> <span title="Load sharing: a share of our packets to the peer leaves on this pair, spread per flow over every pair marked shared"><Badge tone="primary">shared</Badge></span></>}
                          {pair.inbound === true && <> <span title="Inbound pair: the peer's packets arrive on it"><Badge tone="primary">in</Badge></span></>}
                        </span></td>
                        <td data-label="SPI in / out"><code>{spiText(pair.spiIn)} / {spiText(pair.spiOut)}</code></td>
                        <td data-label="RTT">{msText(pair.rttMs)}</td>
                        <td data-label="Last heard">{pair.lastHeardMs === undefined ? '–' : `${ageText(pair.lastHeardMs)} ago`}</td>
                        <td>
                          {/* The pair in use keeps a button's place, so no row changes height when the primary moves. */}
                          {pair.primary ? <button type="button" disabled title="Our packets to the peer leave on this pair now">In use</button> : (
                            <button
                              type="button"
                              disabled={pair.state === 'failed' || working}
                              aria-busy={working}
                              onClick={() => run(p.hit, () => c.act(() => c.api.call('pair.use', { peer: label, local: pair.local, remote: pair.remote }), `${label} now uses ${pairText(pair)}`))}
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
