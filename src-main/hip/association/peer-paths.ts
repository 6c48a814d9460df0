// Where the peer is and where our traffic goes (RFC 8046 §5.4–5.6, RFC 8047 §6.2–6.4): the
// peer's LOCATOR_SETs applied to its locator table, address checks, peer addresses seen in
// fresh authenticated packets, the path in doubt, the choice of the address in use, and
// credit-based authorization of sends to unverified addresses.

import { type Endpoint, sameEndpoint } from '../../../src-shared/vocabulary.js';
import type { SharedState } from './shared-state.js';
import type { AddressChangeCause } from './types.js';
import { parseLocatorSet } from '../local-locators.js';
import { buildUpdate } from '../messages.js';
import { retransmitDelay } from '../timers.js';
import type { LocatorSet } from '../wire/params.js';

/** Octets of an address-check nonce. */
const VERIFY_NONCE_LENGTH = 16;

export class PeerPaths {
  /** Pair selection doubts the pair in use (setPathInDoubt). */
  private pathInDoubt = false;

  constructor(private readonly s: SharedState) {}

  /**
   * Peer locators past their lifetime become DEPRECATED, then are forgotten (RFC 8046 §4, §5.1);
   * the one in use stays while nothing else is left (counted locator-expired-in-use).
   */
  expireLocators(now: number): void {
    const table = this.s.peerLocators;
    if (table === undefined) return;
    const { expired, kept, changed } = table.expire(now);
    for (let i = 0; i < expired; i++) this.s.ctx.drop('locator-expired');
    for (let i = 0; i < kept; i++) this.s.ctx.drop('locator-expired-in-use');
    if (expired > 0) this.reselect(now, 'locator-deprecated');
    if (changed) this.s.emitPeerLocators();
  }

  /** A LOCATOR_SET from the peer in a fresh UPDATE, authenticated (RFC 8047 §6.2), which came to our `to`. */
  applyPeerLocatorSet(now: number, param: LocatorSet, from: Endpoint, defaultSpi: number, to: Endpoint): void {
    const table = this.s.peerLocators;
    if (table === undefined) return;
    const parsed = parseLocatorSet(param, from.port, defaultSpi);
    for (let i = 0; i < parsed.refused; i++) this.s.ctx.drop('locator-refused');
    if (parsed.unsupportedPreferred.length > 0) this.s.notices.notifyUnsupportedLocator(now, parsed.unsupportedPreferred, from, to);
    // A locator must name an SA we have (or the one this UPDATE creates or rekeys to).
    const known = (spi: number): boolean => spi === defaultSpi || spi === this.s.outboundSpi || this.s.extraSas.some((sa) => sa.outboundSpi === spi);
    const usable = parsed.locators.filter((l) => known(l.spi));
    for (let i = usable.length; i < parsed.locators.length; i++) this.s.ctx.drop('locator-unknown-spi');
    const outcome = table.applyLocatorSet(now, usable, from);
    for (const l of outcome.toVerify) this.startVerify(now, l);
    if (outcome.changed) this.s.emitPeerLocators();
    // Following the peer's preference, or falling back because the address in use was withdrawn.
    const choice = table.choose();
    const toPreferred = choice !== undefined && table.get(choice.locator)?.preferred === true;
    this.reselect(now, toPreferred ? 'peer-preferred' : 'locator-deprecated');
  }

  /** Address verification (RFC 8046 §5.4): an UPDATE with SEQ and a fresh echo, sent to that address. */
  startVerify(now: number, target: Endpoint): void {
    if (this.verifying(target)) return;
    const echo = this.s.ctx.crypto.randomBytes(VERIFY_NONCE_LENGTH);
    const updateId = this.s.newUpdateId();
    const bytes = buildUpdate(this.s.ctx, this.s.rhash!, this.s.hipKeys!.outInt, this.s.localHit, this.s.peerHit, { seq: updateId, echoRequest: echo });
    const to = { address: target.address, port: target.port };
    this.s.outstanding.set(updateId, {
      purpose: 'verify', bytes, to, from: this.s.local, attempt: 0, max: this.s.ctx.timers.updateRetriesMax,
      deadline: now + retransmitDelay(this.s.ctx.timers, 0), sentAt: now, echo, target: to,
    });
    this.s.ctx.send(bytes, to, this.s.local);
  }

  /** An address check of this address is in flight. */
  verifying(target: Endpoint): boolean {
    for (const o of this.s.outstanding.values()) if (o.purpose === 'verify' && sameEndpoint(o.target, target)) return true;
    return false;
  }

  onVerified(now: number, target: Endpoint): void {
    const table = this.s.peerLocators;
    if (table === undefined || !table.markVerified(now, target)) return;
    const loc = table.get(target)!;
    this.s.ctx.emit({ type: 'locator-verified', peerHit: this.s.peerHit, locator: { address: target.address, port: target.port } });
    if (loc.source === 'observed') {
      // The peer's packets come from here now (its site or NAT changed paths): follow them.
      this.moveTo(now, target, true, 'peer-source-changed');
    } else {
      this.reselect(now, loc.preferred ? 'peer-preferred' : 'verified');
    }
    this.s.emitPeerLocators();
  }

  /**
   * Whether the pair our traffic takes is in doubt (pair selection has no primary, or is
   * searching because the peer fell silent): then the peer's authenticated packets from
   * elsewhere say where it is now.
   */
  setPathInDoubt(inDoubt: boolean): void {
    this.pathInDoubt = inDoubt;
  }

  /**
   * An authenticated packet from an address the peer never listed: check it (seed 000 §3.3).
   * While our pair works, the address carries data only once checked (site multihoming: the
   * peer is still reachable where it was). While it is in doubt, the data follows the peer's
   * packets at once, as an UNVERIFIED address under credit-based authorization (RFC 8046 §5.6):
   * the old address is most likely dead, and the check still runs. Only a packet that cannot be
   * a replay (`fresh`) moves traffic: a replayed one, sent from a spoofed address, would
   * otherwise aim our data at a victim.
   */
  noticeSource(now: number, from: Endpoint, mayFollow = true): void {
    const table = this.s.peerLocators;
    if (table === undefined || this.s.state !== 'ESTABLISHED') return;
    if (table.observe(from, this.s.outboundSpi!)) {
      this.s.emitPeerLocators();
      this.startVerify(now, from);
    }
    // ESP from a locator the peer bound a flow to is that flow's (seed 002), not the peer moving.
    if (!mayFollow || !this.pathInDoubt || sameEndpoint(from, this.s.remote) || this.s.flows.peerBound(from)) return;
    const loc = table.get(from);
    if (loc === undefined || loc.state === 'DEPRECATED') return;
    if (loc.state === 'UNVERIFIED') this.startVerify(now, from);
    this.moveTo(now, from, loc.state === 'ACTIVE', 'peer-source-changed');
    this.s.emitPeerLocators();
  }

  /** Applies the change-of-preferred-locator procedure (RFC 8047 §6.4) to where our traffic goes. */
  reselect(now: number, cause: AddressChangeCause): void {
    const choice = this.s.peerLocators?.choose();
    if (choice === undefined || sameEndpoint(choice.locator, this.s.remote)) return;
    this.moveTo(now, choice.locator, choice.verified, cause);
  }

  private moveTo(_now: number, to: Endpoint, verified: boolean, cause: AddressChangeCause): void {
    if (sameEndpoint(to, this.s.remote)) return;
    this.s.peerLocators?.setCurrent(to);
    const from = this.s.remote;
    this.s.remote = { address: to.address, port: to.port };
    this.s.ctx.emit({ type: 'address-changed', peerHit: this.s.peerHit, from, to: this.s.remote, verified, cause });
  }

  /**
   * Credit-based authorization (RFC 8046 §5.6): may `bytes` of data go to `to` now? Always for
   * an ACTIVE address; for an UNVERIFIED one only within the credit the peer's own traffic
   * earned (and then charged); never for a DEPRECATED or unknown one.
   */
  authorizeSend(now: number, to: Endpoint, bytes: number): boolean {
    const table = this.s.peerLocators;
    if (table === undefined) return sameEndpoint(to, this.s.remote);
    const loc = table.get(to);
    if (loc === undefined || loc.state === 'DEPRECATED' || table.isExpired(now, to)) return false;
    if (loc.state === 'ACTIVE') return true;
    return this.s.credit?.trySpend(now, bytes) ?? false;
  }

  /** Whether `to` is a verified (ACTIVE) address of the peer's (RFC 8046 §5.4). */
  isVerified(to: Endpoint): boolean {
    const table = this.s.peerLocators;
    if (table === undefined) return sameEndpoint(to, this.s.remote);
    return table.get(to)?.state === 'ACTIVE';
  }

  /** Pair selection or a manual failover chose this pair: control traffic follows it too. */
  setActivePair(now: number, local: Endpoint | undefined, remote: Endpoint): boolean {
    const loc = this.s.peerLocators?.get(remote);
    if (loc === undefined || loc.state === 'DEPRECATED') return false;
    if (local !== undefined) this.s.local = { address: local.address, port: local.port };
    this.moveTo(now, remote, loc.state === 'ACTIVE', 'selected');
    return true;
  }
}
