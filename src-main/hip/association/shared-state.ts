// The state the sub-machines of one association share, and the plumbing they all use: state
// changes, the tracked packet, Update IDs, authentication, our SA pairs and locators.

import { BaseExchange } from './base-exchange.js';
import { Closing } from './close.js';
import type { Endpoint } from '../../../src-shared/vocabulary.js';
import { ExtraSas } from './extra-sas.js';
import { type Sent, type Retransmit, type Outstanding } from './internal.js';
import { equalBytes } from '../../base/bytes.js';
import { Notices } from './notify.js';
import { PeerPaths } from './peer-paths.js';
import { Probes } from './probes.js';
import { Readdressing } from './readdressing.js';
import { Rekeying } from './rekey.js';
import { Retransmission } from './retransmit.js';
import type { AssociationState, SaKeys, SaPairView, AssociationSnapshot, AssociationContext } from './types.js';
import { UpdateReceiver } from './update.js';
import type { EspKeyMaterial } from '../../esp/keys.js';
import { CreditAccount } from '../credit.js';
import { Keymat, type HipKeys } from '../crypto/keymat.js';
import type { HashName } from '../crypto/provider.js';
import { FlowBindings } from '../flow-announcement.js';
import { verifyWith, type HostIdentityPublic } from '../identity/host-identity.js';
import { isHostLocator, type OwnLocator } from '../local-locators.js';
import type { InboundSa } from '../locator-plan.js';
import { PeerLocatorTable } from '../peer-locators.js';
import type { SaPairSpis } from '../sa-rekey.js';
import { retransmitDelay } from '../timers.js';
import { hitToText } from '../wire/address.js';
import { getParam, spanIndexOf } from '../wire/codec.js';
import { ParamType } from '../wire/constants.js';
import { coveredBytes } from '../wire/covered.js';
import type { DecodedPacket } from '../wire/params.js';

/**
 * Our own Update IDs remembered until acknowledged. Above the probes and checks that can be in
 * flight at once; an ACK of an older one is late and carries nothing to act on.
 */
const MAX_UNACKNOWLEDGED = 256;

export class SharedState {
  state: AssociationState = 'UNASSOCIATED';
  /** Set once the host should forget this association (UNASSOCIATED again). */
  gone = false;
  initiator: boolean;
  local: Endpoint | undefined;
  remote: Endpoint;
  peer: HostIdentityPublic | undefined;
  rhash: HashName | undefined;
  keymat: Keymat | undefined;
  hipKeys: HipKeys | undefined;
  hipCipher: number | undefined;
  espSuite: number | undefined;
  espKeymatIndex: number | undefined;
  inboundSpi: number | undefined;
  outboundSpi: number | undefined;
  nextKeymatIndex = 0;
  retransmit: Retransmit | undefined;
  holdDeadline: number | undefined;
  /** Identifies the I2 this responder-side association was created from. */
  solutionId: string | undefined;
  establishedAt: number | undefined;
  retransmissions = 0;
  rekeys = 0;
  private nextUpdateId = 0;
  /** Our recent Update IDs not yet acknowledged: what an ACK-only UPDATE may fresh-ly confirm. */
  readonly unacknowledged = new Set<number>();
  pendingUpdateId: number | undefined;
  // Mobility and multihoming (RFC 8046, RFC 8047).
  /** The peer's locators; exists once keys do. */
  peerLocators: PeerLocatorTable | undefined;
  credit: CreditAccount | undefined;
  /** Our interface the base SA pair serves (simultaneous multihoming). */
  baseIfname: string | undefined;
  readonly extraSas: SaPairView[] = [];
  /** UPDATEs of ours awaiting an ACK besides `retransmit`: locator announcements, address checks, pair probes. */
  readonly outstanding = new Map<number, Outstanding>();
  /** The NAT traversal mode the base exchange settled on (RFC 9028 §5.4), if any. */
  natMode: number | undefined;
  readonly flows: FlowBindings;

  // The sub-machines, each over this state.
  readonly exchange: BaseExchange;
  readonly retransmission: Retransmission;
  readonly rekeying: Rekeying;
  readonly sas: ExtraSas;
  readonly readdressing: Readdressing;
  readonly paths: PeerPaths;
  readonly updates: UpdateReceiver;
  readonly probes: Probes;
  readonly closing: Closing;
  readonly notices: Notices;

  constructor(
    readonly ctx: AssociationContext,
    readonly peerHit: Uint8Array,
    remote: Endpoint,
    local: Endpoint | undefined,
    initiator: boolean,
  ) {
    this.remote = remote;
    this.local = local;
    this.initiator = initiator;
    this.flows = new FlowBindings(ctx.flowBindings !== false, ctx.announcedFlowsFor?.(peerHit) ?? [],
      (acked) => this.ctx.emit({ type: 'flows-acked', peerHit: this.peerHit, acked }));
    this.exchange = new BaseExchange(this);
    this.retransmission = new Retransmission(this);
    this.rekeying = new Rekeying(this);
    this.sas = new ExtraSas(this);
    this.readdressing = new Readdressing(this);
    this.paths = new PeerPaths(this);
    this.updates = new UpdateReceiver(this);
    this.probes = new Probes(this);
    this.closing = new Closing(this);
    this.notices = new Notices(this);
  }

  get localHit(): Uint8Array {
    return this.ctx.identity.hit;
  }

  setState(to: AssociationState): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    this.ctx.emit({ type: 'state', peerHit: this.peerHit, from, to });
  }

  sendTracked(now: number, what: Sent, bytes: Uint8Array, max: number): void {
    this.retransmit = { what, bytes, attempt: 0, max, deadline: now + retransmitDelay(this.ctx.timers, 0) };
    this.ctx.send(bytes, this.remote, this.local);
  }

  /**
   * Ends every change and measurement in flight, as the association fails or closes: rekeys
   * (ours and the one set aside), mobility UPDATEs awaiting an ACK, our announcement, the probe.
   */
  stopChanges(): void {
    this.rekeying.stop();
    this.outstanding.clear();
    this.readdressing.announcing = undefined;
    this.probes.endProbe('superseded');
  }

  keyed(): boolean {
    return this.state === 'ESTABLISHED' || this.state === 'R2-SENT';
  }

  /** Our LOCATOR_SET lifetime field, in whole seconds. */
  lifetimeS(): number {
    return Math.max(0, Math.floor(this.ctx.timers.locatorLifetimeMs / 1000));
  }

  verifyMac(pkt: DecodedPacket): boolean {
    const mac = getParam(pkt, 'HIP_MAC');
    if (mac === undefined || this.hipKeys === undefined || this.rhash === undefined) return false;
    const computed = this.ctx.crypto.hmac(this.rhash, this.hipKeys.inInt, coveredBytes(pkt, spanIndexOf(pkt, ParamType.HIP_MAC)));
    return equalBytes(computed, mac.hmac);
  }

  verifySignature(pkt: DecodedPacket): boolean {
    const sig = getParam(pkt, 'HIP_SIGNATURE');
    if (sig === undefined || this.peer === undefined || sig.algorithm !== this.peer.algorithm) return false;
    return verifyWith(this.ctx.crypto, this.peer, coveredBytes(pkt, spanIndexOf(pkt, ParamType.HIP_SIGNATURE)), sig.signature);
  }

  /** HIP_MAC then HIP_SIGNATURE; the reason to drop, or undefined when both hold. */
  authenticate(pkt: DecodedPacket): string | undefined {
    if (!this.verifyMac(pkt)) return 'bad-mac';
    if (!this.verifySignature(pkt)) return 'bad-signature';
    return undefined;
  }

  saKeys(suite: number, inboundSpi: number, outboundSpi: number, esp: { inbound: EspKeyMaterial; outbound: EspKeyMaterial }): SaKeys {
    return { suite, inboundSpi, outboundSpi, inbound: esp.inbound, outbound: esp.outbound };
  }

  basePair(): SaPairSpis {
    return { inboundSpi: this.inboundSpi!, outboundSpi: this.outboundSpi! };
  }

  /** Whether any of these Update IDs is one of ours still waiting for its ACK. */
  awaitsAck(acked: readonly number[]): boolean {
    return acked.some((id) => this.unacknowledged.has(id));
  }

  /** The next SEQ of ours, remembered until acknowledged (the oldest forgotten beyond a bound). */
  newUpdateId(): number {
    const id = this.nextUpdateId++;
    this.unacknowledged.add(id);
    if (this.unacknowledged.size > MAX_UNACKNOWLEDGED) this.unacknowledged.delete(this.unacknowledged.values().next().value!);
    return id;
  }

  /**
   * Our locators as this peer may hear them. A registrar of ours hears only host candidates: it
   * sees our reflexive address itself, and our relayed address is its own, which it must never
   * take for ours.
   */
  listedLocators(): readonly OwnLocator[] {
    const own = this.ctx.localLocators();
    return this.ctx.registrationRequestFor?.(this.peerHit) === undefined ? own : own.filter(isHostLocator);
  }

  /** Our inbound SAs the planner may bind our interfaces to: the base pair and those we created. */
  inboundSas(): InboundSa[] {
    const sas: InboundSa[] = [{ inboundSpi: this.inboundSpi!, ifname: this.baseIfname }];
    for (const sa of this.extraSas) if (sa.createdBy === 'us') sas.push({ inboundSpi: sa.inboundSpi, ifname: sa.ifname });
    return sas;
  }

  /** The peer's E-LOCATOR changed its bindings: the host's data plane re-plans the flows it sends back. */
  peerFlowsChanged(): void {
    this.ctx.emit({ type: 'peer-flows', peerHit: this.peerHit, flows: this.flows.peerFlows() });
  }

  emitPeerLocators(): void {
    const table = this.peerLocators;
    if (table === undefined) return;
    this.ctx.emit({ type: 'peer-locators', peerHit: this.peerHit, locators: table.list(), current: this.remote });
  }

  /** Simultaneous multihoming: the inbound SPI of our SA pair for the interface `local` lives on. */
  probeSpi(local: Endpoint): number | undefined {
    if (this.ctx.multihoming !== 'simultaneous') return undefined;
    const ifname = this.ctx.localLocators().find((l) => l.address === local.address && l.port === local.port)?.ifname;
    return ifname === undefined ? undefined : this.inboundSas().find((sa) => sa.ifname === ifname)?.inboundSpi;
  }

  /** An SPI of ours towards the peer (the base pair's or a further pair's outbound half). */
  isOutboundSpi(spi: number): boolean {
    return spi === this.outboundSpi || this.extraSas.some((sa) => sa.outboundSpi === spi);
  }

  /** The HIP_MAC keys of the association, once keyed: what a relay's RELAY_HMAC is keyed with. */
  integrityKeys(): { hash: HashName; inbound: Uint8Array; outbound: Uint8Array } | undefined {
    if (!this.keyed() || this.hipKeys === undefined || this.rhash === undefined) return undefined;
    return { hash: this.rhash, inbound: this.hipKeys.inInt, outbound: this.hipKeys.outInt };
  }

  snapshot(): AssociationSnapshot {
    return {
      peerHit: this.peerHit,
      peerHitText: hitToText(this.peerHit),
      state: this.state,
      initiator: this.initiator,
      local: this.local,
      remote: this.remote,
      inboundSpi: this.inboundSpi,
      outboundSpi: this.outboundSpi,
      espSuite: this.espSuite,
      hipCipher: this.hipCipher,
      establishedAt: this.establishedAt,
      retransmissions: this.retransmissions,
      rekeys: this.rekeys,
      multihoming: this.ctx.multihoming,
      saPairs: this.inboundSpi === undefined || this.outboundSpi === undefined ? [] : [
        { inboundSpi: this.inboundSpi, outboundSpi: this.outboundSpi, ifname: this.baseIfname, createdBy: 'base' },
        ...this.extraSas.map((sa) => ({ ...sa })),
      ],
      peerLocators: this.peerLocators?.list() ?? [],
      natMode: this.natMode,
      peerFlows: this.flows.peerFlows(),
      flowsAcked: this.flows.acked,
      flowsLeftOut: this.flows.leftOut,
    };
  }
}
