// UPDATEs of ours that ask for an answer and change nothing: the HIP-level ping (SEQ +
// ECHO_REQUEST_SIGNED, RFC 8046 §5.3), the locator-pair probes of pair selection (pair-probe.ts),
// and registration with a registrar (RFC 8003 §3.3, RFC 9028 §4.12).

import type { Endpoint } from '../../../src-shared/vocabulary.js';
import type { Probe } from './internal.js';
import type { SharedState } from './shared-state.js';
import { buildUpdate } from '../messages.js';
import { encodeProbeReport, encodeProbeSpi, probeIdOpaque } from '../pair-probe.js';
import { retransmitDelay } from '../timers.js';
import type { Param, PeerPermission, RegRequest } from '../wire/params.js';

/** Octets of a probe nonce: enough that guessing one is hopeless, small enough to echo cheaply. */
const PROBE_NONCE_LENGTH = 16;
/** Pair probes are never re-sent (pair selection re-probes); one unanswered this long is forgotten. */
const PAIR_PROBE_TTL_MS = 10_000;
/** Bound on pair probes awaiting an answer, so a caller probing dead paths cannot grow memory. */
const MAX_OUTSTANDING_PROBES = 64;

export class Probes {
  probe: Probe | undefined;

  constructor(private readonly s: SharedState) {}

  /**
   * Registers with (or renews at, or cancels with lifetime 0) this peer as a registrar, and
   * installs data-relay permissions: an UPDATE with SEQ, REG_REQUEST and PEER_PERMISSIONs
   * (RFC 8003 §3.3, RFC 9028 §4.12), re-sent until acknowledged. The answer comes as a
   * 'registration' event; an UPDATE still in flight for an earlier request is superseded.
   * `via`: sent from this local endpoint (to the active remote) instead of the active pair's:
   * the registrar keys the registration by the address it sees the request come from, so this
   * is how a registration moves to another uplink while the active pair stays.
   */
  register(now: number, request: RegRequest | undefined, permissions: readonly PeerPermission[] = [], via?: Endpoint): { ok: true } | { ok: false; reason: string } {
    if (!this.s.keyed() || this.s.hipKeys === undefined) return { ok: false, reason: 'not-established' };
    for (const [id, o] of this.s.outstanding) if (o.purpose === 'registration') this.s.outstanding.delete(id);
    const updateId = this.s.newUpdateId();
    const extra: Param[] = [...(request === undefined ? [] : [request]), ...permissions];
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys.outInt, this.s.localHit, this.s.peerHit, { seq: updateId, extra });
    const from = via === undefined ? this.s.local : { address: via.address, port: via.port };
    this.s.outstanding.set(updateId, {
      purpose: 'registration', bytes, to: this.s.remote, from, attempt: 0, max: this.s.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.s.ctx.timers, 0), sentAt: now,
    });
    this.s.ctx.send(bytes, this.s.remote, from);
    return { ok: true };
  }

  /**
   * A locator-pair probe (pair selection): UPDATE with SEQ + ECHO_REQUEST_SIGNED carrying the
   * probe id, and the report of probe ids we recently received, sent from `local` to `remote`.
   * Never re-sent; its answer becomes 'pair-probe-answered'.
   */
  probePair(now: number, local: Endpoint, remote: Endpoint, probeId: number, report: readonly number[]): { ok: true } | { ok: false; reason: string } {
    if ((this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') || this.s.peerLocators === undefined) return { ok: false, reason: 'not-established' };
    // Only addresses the peer gave us or used: a probe must not be aimed at an arbitrary host.
    if (this.s.peerLocators.get(remote) === undefined) return { ok: false, reason: 'unknown-locator' };
    const probes = [...this.s.outstanding.entries()].filter(([, o]) => o.purpose === 'pair-probe');
    if (probes.length >= MAX_OUTSTANDING_PROBES) this.s.outstanding.delete(probes[0]![0]);
    const echo = probeIdOpaque(probeId);
    const updateId = this.s.newUpdateId();
    const spi = this.s.probeSpi(local);
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, {
      seq: updateId, echoRequest: echo, extra: [encodeProbeReport(report), ...(spi === undefined ? [] : [encodeProbeSpi(spi)])],
    });
    const pair = { local: { address: local.address, port: local.port }, remote: { address: remote.address, port: remote.port } };
    this.s.outstanding.set(updateId, {
      purpose: 'pair-probe', bytes, to: pair.remote, from: pair.local, attempt: 0, max: 0,
      deadline: now + PAIR_PROBE_TTL_MS, sentAt: now, echo, pair, probeId,
    });
    this.s.ctx.send(bytes, pair.remote, pair.local);
    return { ok: true };
  }

  /** Sends a probe; the nonce it carries, or why it cannot be sent now. */
  startProbe(now: number): { ok: true; nonce: Uint8Array } | { ok: false; reason: 'not-established' | 'busy' } {
    if (this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') return { ok: false, reason: 'not-established' };
    if (this.s.retransmit !== undefined || this.s.rekeying.rekey !== undefined) return { ok: false, reason: 'busy' };
    const nonce = this.s.ctx.crypto.randomBytes(PROBE_NONCE_LENGTH);
    const updateId = this.s.newUpdateId();
    this.probe = { nonce, updateId, attempts: 0 };
    this.s.pendingUpdateId = updateId;
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, { seq: updateId, echoRequest: nonce });
    this.s.sendTracked(now, 'PROBE', bytes, this.s.ctx.timers.updateRetriesMax);
    return { ok: true, nonce };
  }

  /** Stops re-sending the probe (the caller gave up waiting); a late answer is then refused. */
  cancelProbe(): void {
    if (this.probe === undefined) return;
    if (this.s.retransmit?.what === 'PROBE') {
      this.s.retransmit = undefined;
      this.s.pendingUpdateId = undefined;
    }
    this.endProbe('cancelled');
  }

  endProbe(reason: 'retries-exceeded' | 'superseded' | 'cancelled'): void {
    const probe = this.probe;
    if (probe === undefined) return;
    this.probe = undefined;
    this.s.ctx.emit({ type: 'probe-lost', peerHit: this.s.peerHit, nonce: probe.nonce, reason });
  }
}
