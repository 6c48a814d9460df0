// Telling the peer where we are (RFC 8046 §5.1, RFC 8047 §6.1): the LOCATOR_SET UPDATEs the
// locator plan calls for (gratuitous, a new SA pair per interface, a deprecation), one at a
// time, renewed before their lifetime runs out, with our flow bindings (E-LOCATOR); new offers
// through a relay; and what the ACKs of our mobility UPDATEs complete.

import { type Endpoint, sameEndpoint } from '../../../src-shared/vocabulary.js';
import { type Announcing, type DistributiveOmit } from './internal.js';
import { equalBytes } from '../../base/bytes.js';
import type { SharedState } from './shared-state.js';
import { drawEspKeys } from '../../esp/keys.js';
import { CreditAccount } from '../credit.js';
import { buildWithELocator, type AnnouncedFlow } from '../flow-announcement.js';
import { buildLocatorSet, preferredOf, type AnnouncedEntry, type OwnLocator } from '../local-locators.js';
import { listingFingerprint, nextLocatorStep } from '../locator-plan.js';
import { buildUpdate } from '../messages.js';
import { PeerLocatorTable, type AnnouncedLocator } from '../peer-locators.js';
import { retransmitDelay } from '../timers.js';

export class Readdressing {
  /** Our locator UPDATE in flight, at most one: each is a complete listing and the next builds on it. */
  announcing: Announcing | undefined;
  /** The listing the peer last acknowledged. */
  private announced: AnnouncedEntry[] | undefined;
  /** When our latest LOCATOR_SET went out: its lifetime, and so our next renewal, count from here. */
  announcementSentAt: number | undefined;
  /** Update ID of our latest LOCATOR_SET announcement: the offer a peer's CONNECTIVITY_CHECKS_FAILED must name. */
  latestAnnouncementId: number | undefined;

  constructor(private readonly s: SharedState) {}

  /**
   * When our locators must be announced again so their lifetime never runs out at the peer:
   * half a lifetime after the last announcement went out. None while one is in flight.
   */
  renewalDue(): number | undefined {
    const lifetime = this.s.ctx.timers.locatorLifetimeMs;
    if (lifetime <= 0 || this.announcing !== undefined || this.announced === undefined || this.announcementSentAt === undefined) return undefined;
    return this.announcementSentAt + lifetime / 2;
  }

  /** Keys exist: the peer is known at the address the exchange ran over, plus what it listed. */
  startMobility(now: number, listed: readonly AnnouncedLocator[], remote: Endpoint): void {
    this.s.peerLocators = new PeerLocatorTable(now, remote, this.s.outboundSpi!);
    this.s.credit = new CreditAccount(now, this.s.ctx.credit);
    const own = this.s.listedLocators();
    this.s.baseIfname = this.baseInterface(own);
    if (this.s.initiator && this.s.exchange.i2Announced.length > 0) {
      this.announced = this.s.exchange.i2Announced;
      this.announcementSentAt = now;
    }
    if (listed.length > 0) {
      // Addresses listed in R1 or I2 are checked like any other (RFC 8047 §4.5).
      const outbound = this.s.outboundSpi!;
      const outcome = this.s.peerLocators.applyLocatorSet(now, listed.map((l) => ({ ...l, spi: l.spi === 0 ? outbound : l.spi })), remote);
      for (const l of outcome.toVerify) this.s.paths.startVerify(now, l);
      if (outcome.changed) this.s.emitPeerLocators();
    }
    this.announceNext(now);
  }

  /**
   * The interface the base exchange ran over: the one holding our local address. Unknown (and so
   * treated as gone) when that address is no longer ours; the preferred one when we never knew.
   */
  private baseInterface(own: readonly OwnLocator[]): string | undefined {
    if (this.s.local === undefined) return preferredOf(own)?.ifname;
    return own.find((l) => l.address === this.s.local!.address)?.ifname;
  }

  /** Our flow bindings for this peer (seed 002): a changed set goes out with our listing, or in the I2 if not yet sent. */
  announceFlows(now: number, flows: readonly AnnouncedFlow[]): void {
    if (this.s.flows.set(flows)) this.announceNext(now);
  }

  /** The host's locators changed (HipHost.setLocalLocators): tell the peer. */
  localLocatorsChanged(now: number): void {
    if ((this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') || this.s.peerLocators === undefined) return;
    const own = this.s.listedLocators();
    const preferred = preferredOf(own);
    if (preferred === undefined) return; // nowhere to be reached: wait for an address (break before make)
    this.s.baseIfname ??= this.baseInterface(own);
    const stillOurs = (e: Endpoint | undefined): boolean => e !== undefined && own.some((l) => sameEndpoint(l, e));
    // Control traffic leaves from an address we still have.
    if (!stillOurs(this.s.local)) this.s.local = { address: preferred.address, port: preferred.port };
    // UPDATEs in flight from an address now gone would be re-sent into the void: move them.
    for (const o of this.s.outstanding.values()) {
      if (o.purpose === 'pair-probe' || stillOurs(o.from)) continue;
      o.from = this.s.local;
      o.deadline = now + retransmitDelay(this.s.ctx.timers, o.attempt);
      this.s.ctx.send(o.bytes, o.to, o.from);
    }
    this.s.flows.localsChanged(own);
    this.announceNext(now);
  }

  /**
   * Sends the next LOCATOR_SET UPDATE the plan calls for, if none is in flight. `renew`: the
   * listing the peer has is about to run out, so it goes again even if unchanged.
   */
  announceNext(now: number, renew = false, to?: Endpoint): void {
    if (this.announcing !== undefined || this.s.peerLocators === undefined) return;
    if (this.s.state !== 'ESTABLISHED' && this.s.state !== 'R2-SENT') return;
    const own = this.s.listedLocators();
    // Flow bindings the peer has not acknowledged go out with our listing even if it is unchanged.
    const announced = this.announced === undefined || renew || this.s.flows.pending ? undefined : listingFingerprint(this.announced);
    const step = nextLocatorStep(this.s.ctx.multihoming, own, this.s.inboundSas(), announced);
    const keymatIndex = this.s.nextKeymatIndex;
    switch (step.kind) {
      case 'none':
        return;
      case 'gratuitous':
        this.sendAnnouncement(now, { kind: 'gratuitous', listing: step.listing }, { keymatIndex, oldSpi: step.spi, newSpi: step.spi }, this.s.local, to);
        return;
      case 'deprecate':
        this.sendAnnouncement(now, { kind: 'deprecate', listing: step.listing, spi: step.spi }, { keymatIndex, oldSpi: step.spi, newSpi: 0 }, this.s.local, to);
        return;
      case 'new-sa': {
        if (this.s.rekeying.rekey !== undefined) return; // one SA change at a time; resumed when the rekey completes
        const newSpi = this.s.ctx.allocateSpi();
        const listing = step.listing(newSpi);
        // RFC 8047 §6.1: sent from the new interface, so the peer learns the pair it will use.
        const from = { address: step.from.address, port: step.from.port };
        this.sendAnnouncement(now, { kind: 'new-sa', listing, ifname: step.ifname, newSpi, keymatIndex }, { keymatIndex, oldSpi: 0, newSpi }, from, to);
        return;
      }
    }
  }

  private sendAnnouncement(
    now: number, what: DistributiveOmit<Announcing, 'updateId'>, espInfo: { keymatIndex: number; oldSpi: number; newSpi: number },
    from: Endpoint | undefined, via?: Endpoint,
  ): void {
    const updateId = this.s.newUpdateId();
    const locatorSet = buildLocatorSet(what.listing, this.s.lifetimeS());
    const eLocator = this.s.flows.eLocator(this.s.listedLocators(), locatorSet);
    const { bytes, leftOut } = buildWithELocator(eLocator, (fitted) => buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, {
      seq: updateId, espInfo, locatorSet, ...(fitted === undefined ? {} : { extra: [fitted] }),
    }));
    this.s.flows.sentIn(updateId, leftOut);
    this.announcementSentAt = now;
    this.latestAnnouncementId = updateId;
    const to = via ?? this.s.remote;
    this.s.outstanding.set(updateId, {
      purpose: 'locators', bytes, to, from, attempt: 0, max: this.s.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.s.ctx.timers, 0), sentAt: now,
    });
    this.announcing = { ...what, updateId };
    this.s.ctx.send(bytes, to, from);
  }

  /**
   * A new offer (seed 000 §3.3): our whole listing again under a new SEQ, sent to `via` (a relay
   * that reaches the peer) rather than to the pair in use, which is the one that stopped
   * answering. An announcement of a plain listing still in flight there is given up for it; one
   * that creates or removes an SA pair is left to finish. False when nothing went out.
   */
  offer(now: number, via: Endpoint): boolean {
    if (!this.s.keyed() || this.s.peerLocators === undefined) return false;
    const inFlight = this.announcing;
    if (inFlight !== undefined) {
      if (inFlight.kind !== 'gratuitous') return false;
      this.s.outstanding.delete(inFlight.updateId);
      this.announcing = undefined;
    }
    this.announceNext(now, true, via);
    return this.announcing !== undefined;
  }

  /** ACKs of our mobility UPDATEs: announcements done, addresses verified, probes answered. */
  onMobilityAck(
    now: number, acked: readonly number[], echo: Uint8Array | undefined, newSaAnswer: { keymatIndex: number; newSpi: number } | undefined,
  ): void {
    for (const id of acked) {
      const o = this.s.outstanding.get(id);
      if (o === undefined) continue;
      // An ACK without our echo does not prove the peer got what we sent to that address.
      if (o.echo !== undefined && (echo === undefined || !equalBytes(echo, o.echo))) continue;
      this.s.outstanding.delete(id);
      if (o.purpose === 'verify') {
        this.s.paths.onVerified(now, o.target!);
      } else if (o.purpose === 'pair-probe') {
        this.s.ctx.emit({ type: 'pair-probe-answered', peerHit: this.s.peerHit, pair: o.pair!, probeId: o.probeId!, rttMs: now - o.sentAt });
        this.s.paths.onVerified(now, o.pair!.remote);
      } else if (this.announcing?.updateId === id) {
        this.completeAnnouncement(now, newSaAnswer);
      }
    }
  }

  private completeAnnouncement(now: number, newSaAnswer: { keymatIndex: number; newSpi: number } | undefined): void {
    const a = this.announcing!;
    this.announcing = undefined;
    this.s.flows.ackedBy(a.updateId);
    this.s.rekeying.resumeRekeys(now);
    if (a.kind === 'new-sa') {
      if (newSaAnswer === undefined) {
        // Acknowledged without an SA of its own: the peer does not do simultaneous multihoming.
        // Our locators stay announced on the SAs it has; the next change tries again.
        this.s.ctx.drop('new-sa-refused');
        this.announced = a.listing.filter((e) => e.spi !== a.newSpi);
        return;
      }
      // Both sides draw from the larger of the two proposed indexes (as in RFC 7402 §6.9).
      const index = Math.max(a.keymatIndex, newSaAnswer.keymatIndex);
      let esp: ReturnType<typeof drawEspKeys>;
      try {
        esp = drawEspKeys(this.s.keymat!, index, this.s.espSuite!, this.s.localHit, this.s.peerHit);
      } catch {
        this.s.ctx.drop('keymat-exhausted');
        return;
      }
      this.s.nextKeymatIndex = Math.max(this.s.nextKeymatIndex, esp.nextIndex);
      this.s.extraSas.push({ inboundSpi: a.newSpi, outboundSpi: newSaAnswer.newSpi, ifname: a.ifname, createdBy: 'us' });
      this.s.ctx.emit({
        type: 'sa-added', peerHit: this.s.peerHit, ifname: a.ifname, createdBy: 'us',
        sa: this.s.saKeys(this.s.espSuite!, a.newSpi, newSaAnswer.newSpi, esp),
      });
    } else if (a.kind === 'deprecate') {
      this.s.sas.removeSaPair(now, (sa) => sa.inboundSpi === a.spi);
    }
    this.announced = a.listing;
    this.announceNext(now);
  }

  /** Our listing follows a rekeyed pair to its new inbound SPI (RFC 8047 §6.2 case 2). */
  rebindAnnounced(oldInboundSpi: number, newInboundSpi: number): void {
    if (this.announced === undefined) return;
    this.announced = this.announced.map((e) => (e.spi === oldInboundSpi ? { ...e, spi: newInboundSpi } : e));
  }
}
