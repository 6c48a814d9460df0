// Flow bindings between HIP hosts (seed 002): which of our locators each of our flows should
// reach us on, told to the peer in E-LOCATOR, and the same told to us by the peer. Pure.
//
// LOCATOR_SET always travels with an E-LOCATOR and stays the authority on addresses: it alone
// says which locators exist and starts their verification. E-LOCATOR only binds FIDs to
// locators of that listing; a bound locator the listing lacks is ignored and counted, so a peer
// that ignores E-LOCATOR and one that reads it agree on where we can be reached.
//
// Every FID carries its traffic selector, written as the packets the peer sends us for that
// flow (source = the peer's side, ports mirrored): that is the direction the binding steers.
// No LSI goes on the wire: an LSI means something only to the host that chose it.

import type { FlowSelector, Parsed } from '../../src-shared/flow-selector.js';
import { parsePrefix } from '../../src-shared/flow-selector.js';
import { bytes16ToIp } from './wire/address.js';
import { encodeParam, MAX_PACKET_LENGTH } from './wire/codec.js';
import {
  decodeFlowIdentification, encodeFlowOption, fromBinarySelector, toBinarySelector, type BinaryTrafficSelector,
} from './wire/flow-identification.js';
import type { ELocator, FlowLocator, LocatorSet } from './wire/params.js';
import { parseLocatorSet, type OwnLocator } from './local-locators.js';
import { endpointKey, type Endpoint } from '../../src-shared/vocabulary.js';

/** One of our flows and the interface of ours it should reach us on. */
export interface AnnouncedFlow {
  fid: number;
  /** From our side: local = ours. */
  selector: FlowSelector;
  /** Our local interface the flow is bound to; null = none (the flow is not announced). */
  ifname: string | null;
}

/** A flow the peer bound to one of its locators: send that flow's packets there. */
export interface PeerFlowBinding {
  fid: number;
  /** As the peer wrote it: its local = the peer's side. */
  selector: FlowSelector;
  locator: Endpoint;
}

/** LSIs are 1.0.0.0/8 on every hipvpn host (identity/lsi.ts), and meaningless to the peer. */
function isLsiPrefix(text: string): boolean {
  const p = parsePrefix(text);
  return p.ok && p.value.family === 4 && p.value.length >= 8 && p.value.bytes[0] === 1;
}

/**
 * The binary selector of a flow as it goes on the wire: LSI prefixes left out (the flow then
 * matches on ports and protocol alone), the address family that of a remaining prefix, else
 * IPv4 (which matters only for ICMP: ICMP and ICMPv6 both read back as "icmp").
 */
export function wireSelector(s: FlowSelector): Parsed<BinaryTrafficSelector> {
  const out: FlowSelector = { ...s };
  if (out.localPrefix !== undefined && isLsiPrefix(out.localPrefix)) delete out.localPrefix;
  if (out.remotePrefix !== undefined && isLsiPrefix(out.remotePrefix)) delete out.remotePrefix;
  const prefix = out.localPrefix ?? out.remotePrefix;
  const parsed = prefix === undefined ? undefined : parsePrefix(prefix);
  if (parsed !== undefined && !parsed.ok) return parsed;
  return toBinarySelector(out, parsed?.value.family ?? 4);
}

/**
 * The E-LOCATOR for a LOCATOR_SET of ours: each flow bound to every locator of `listed` that
 * lives on the flow's interface. `unbound` counts flows with an interface but nothing to bind
 * them to (the interface has no listed locator, or the selector cannot be written).
 */
export function buildELocator(flows: readonly AnnouncedFlow[], own: readonly OwnLocator[], listed: LocatorSet): { param: ELocator; unbound: number } {
  const ifnameOf = new Map(own.map((l) => [endpointKey(l), l.ifname]));
  const locators: FlowLocator[] = [];
  let unbound = 0;
  flows.forEach((flow, priority) => {
    if (flow.ifname === null) return;
    const ts = wireSelector(flow.selector);
    const on = listed.locators.filter((l) => l.port !== undefined && ifnameOf.get(endpointKey({ address: bytes16ToIp(l.address), port: l.port })) === flow.ifname);
    if (!ts.ok || on.length === 0) {
      unbound++;
      return;
    }
    // FID-PRI: the order the flows were given in, so overlapping selectors resolve alike on both sides.
    const flowOption = encodeFlowOption({ fid: flow.fid, priority, status: 0, selector: ts.value });
    for (const l of on) locators.push({ ...l, flowOption });
  });
  return { param: { kind: 'E_LOCATOR', locators }, unbound };
}

/**
 * An E-LOCATOR cut to at most `room` octets (its TLV header and padding included): whole flows,
 * in priority order, as many as fit. A HIP packet holds 2048 octets and each bound flow takes
 * some 56 per locator, so a few dozen bindings towards one peer fill it; the ones left out are
 * steered on our side only, and the peer sends their return traffic as for unbound traffic.
 */
export function fitELocator(param: ELocator, room: number): { param: ELocator; leftOut: number[] } {
  // A flow's locators are consecutive and share one encoded flow option.
  const flows: FlowLocator[][] = [];
  for (const l of param.locators) {
    const last = flows[flows.length - 1];
    if (last !== undefined && last[0]!.flowOption === l.flowOption) last.push(l);
    else flows.push([l]);
  }
  const kept: FlowLocator[] = [];
  let i = 0;
  for (; i < flows.length; i++) {
    const next: ELocator = { kind: 'E_LOCATOR', locators: [...kept, ...flows[i]!] };
    if (encodeParam(next).length > room) break;
    kept.push(...flows[i]!);
  }
  const leftOut = flows.slice(i).flatMap((f) => (f[0]!.flowOption === undefined ? [] : [decodeFlowIdentification(f[0]!.flowOption)]))
    .flatMap((o) => (o.ok ? [o.value.fid] : []));
  return { param: { kind: 'E_LOCATOR', locators: kept }, leftOut };
}

/**
 * A signed HIP packet with our E-LOCATOR, or with as much of it as fits (fitELocator): `build`
 * makes the packet with the given E-LOCATOR or none. The packet without it tells how much room
 * there is; that costs a second signature, paid only when the whole set does not fit.
 */
export function buildWithELocator(
  param: ELocator | undefined, build: (eLocator: ELocator | undefined) => Uint8Array,
): { bytes: Uint8Array; leftOut: number[] } {
  if (param === undefined) return { bytes: build(undefined), leftOut: [] };
  try {
    return { bytes: build(param), leftOut: [] };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  const bare = build(undefined);
  const fitted = fitELocator(param, MAX_PACKET_LENGTH - bare.length);
  return { bytes: build(fitted.param), leftOut: fitted.leftOut };
}

export type PeerFlows = { ok: true; bindings: PeerFlowBinding[]; unlisted: number } | { ok: false; error: string };

/**
 * The peer's bindings from its E-LOCATOR parameters, against the locators its LOCATOR_SET (or
 * what we know of it) lists. One FID option we cannot apply exactly refuses the whole set: a
 * set is replaced as a whole, and half of one would steer flows the peer did not ask for.
 */
export function peerFlowsFrom(params: readonly ELocator[], packetPort: number, listed: readonly Endpoint[]): PeerFlows {
  const known = new Set(listed.map(endpointKey));
  const bindings: PeerFlowBinding[] = [];
  let unlisted = 0;
  let index = 0;
  for (const param of params) {
    for (const l of param.locators) {
      index++;
      if (l.flowOption === undefined) continue; // F clear: the locator suits every flow, as in LOCATOR_SET
      const option = decodeFlowIdentification(l.flowOption);
      if (!option.ok) return { ok: false, error: `locator ${index}: ${option.error}` };
      const { fid, selector } = option.value;
      if (selector === undefined) return { ok: false, error: `locator ${index}: FID ${fid} carries no traffic selector` };
      const flow = fromBinarySelector(selector);
      if (!flow.ok) return { ok: false, error: `locator ${index}: FID ${fid}: ${flow.error}` };
      const [where] = parseLocatorSet({ kind: 'LOCATOR_SET', locators: [l] }, packetPort, 0).locators;
      if (where === undefined || !known.has(endpointKey(where))) {
        unlisted++;
        continue;
      }
      bindings.push({ fid, selector: flow.value, locator: { address: where.address, port: where.port } });
    }
  }
  return { ok: true, bindings, unlisted };
}

function localsKeyOf(own: readonly OwnLocator[]): string {
  return own.map((l) => `${l.ifname}|${l.address}|${l.port}`).join(',');
}

function flowsKey(flows: readonly AnnouncedFlow[]): string {
  return JSON.stringify(flows.map((f) => [f.fid, f.ifname, f.selector]));
}

/** Update ID standing for our I2: the R2 acknowledges what it carried. */
export const I2_CARRIER = -1;

/**
 * One association's flow bindings, both ways: ours (what to announce, what the peer has
 * acknowledged) and the peer's (the last set it sent in a fresh, authenticated packet).
 */
export class FlowBindings {
  private ours: AnnouncedFlow[];
  private version: number;
  private ackedVersion = 0;
  private readonly inFlight = new Map<number, number>();
  private peer: PeerFlowBinding[] = [];
  private lastPeerUpdateId: number | undefined;
  /** Our locators as of the last E-LOCATOR built: bindings follow them. */
  private localsKey: string | undefined;
  private unannounced: number[] = [];

  /**
   * `enabled` false: neither sent nor read, as by a host that does not know E-LOCATOR.
   * `ackedChanged` hears every change of `acked`: an acknowledgement raises no other event, and
   * the host's flows wait on it (pending until the peer has the binding).
   */
  constructor(readonly enabled: boolean, initial: readonly AnnouncedFlow[] = [], private readonly ackedChanged: (acked: boolean) => void = () => {}) {
    this.ours = initial.map((f) => ({ ...f }));
    this.version = this.ours.length > 0 ? 1 : 0;
  }

  /** Replaces our set; true when it differs from the one before. */
  set(flows: readonly AnnouncedFlow[]): boolean {
    if (flowsKey(flows) === flowsKey(this.ours)) return false;
    this.ours = flows.map((f) => ({ ...f }));
    this.bump();
    return true;
  }

  /** Our set (or where it binds) changed: unacknowledged until the peer has the next announcement. */
  private bump(): void {
    const before = this.acked;
    this.version++;
    if (before) this.ackedChanged(false);
  }

  /** Our current set has not been acknowledged: the next announcement must go even if the listing is unchanged. */
  get pending(): boolean {
    return this.enabled && this.version !== this.ackedVersion;
  }

  /** The peer acknowledged the packet carrying our current set (or we never had one). */
  get acked(): boolean {
    return this.version === this.ackedVersion;
  }

  /**
   * The E-LOCATOR to send beside `listed`, once we have ever announced flows: from then on every
   * LOCATOR_SET carries one, an empty one withdrawing the bindings the peer holds.
   */
  eLocator(own: readonly OwnLocator[], listed: LocatorSet | undefined): ELocator | undefined {
    if (!this.enabled || this.version === 0) return undefined;
    this.localsKey = localsKeyOf(own);
    return buildELocator(this.ours, own, listed ?? { kind: 'LOCATOR_SET', locators: [] }).param;
  }

  /**
   * Our locators changed: a flow bound to an interface is bound to other locators now, so the
   * set counts as changed until the peer acknowledges the announcement that says so.
   */
  localsChanged(own: readonly OwnLocator[]): void {
    if (this.localsKey === undefined || this.localsKey === localsKeyOf(own)) return;
    this.localsKey = localsKeyOf(own);
    if (this.ours.some((f) => f.ifname !== null)) this.bump();
  }

  /** FIDs of ours that the last packet carrying our set had no room for (see fitELocator). */
  get leftOut(): number[] {
    return [...this.unannounced];
  }

  /** The packet with this Update ID (or I2_CARRIER) carries our current set, less the flows `leftOut`. */
  sentIn(updateId: number, leftOut: readonly number[] = []): void {
    this.unannounced = [...leftOut];
    if (this.enabled && this.version > 0) this.inFlight.set(updateId, this.version);
  }

  /** The peer acknowledged the packet with this Update ID (or our I2, by its R2). */
  ackedBy(updateId: number): void {
    const v = this.inFlight.get(updateId);
    if (v === undefined) return;
    this.inFlight.delete(updateId);
    const before = this.acked;
    this.ackedVersion = Math.max(this.ackedVersion, v);
    if (this.acked !== before) this.ackedChanged(this.acked);
  }

  /**
   * A fresh, authenticated packet from the peer (R1, I2, or the UPDATE with `updateId`) carried
   * these E-LOCATORs. An UPDATE older than the last one applied changes nothing; a set we cannot
   * apply exactly is refused whole and counted; bound locators the listing lacks are counted.
   * True when the peer's bindings differ from the ones before (the return routes must follow).
   */
  fromPeer(updateId: number | undefined, params: readonly ELocator[], packetPort: number, listed: readonly Endpoint[], drop: (reason: string) => void): boolean {
    if (!this.enabled || params.length === 0) return false;
    if (updateId !== undefined && this.lastPeerUpdateId !== undefined && updateId <= this.lastPeerUpdateId) return false;
    const parsed = peerFlowsFrom(params, packetPort, listed);
    if (!parsed.ok) {
      drop('e-locator-refused');
      return false;
    }
    for (let i = 0; i < parsed.unlisted; i++) drop('e-locator-unlisted');
    const changed = JSON.stringify(parsed.bindings) !== JSON.stringify(this.peer);
    this.peer = parsed.bindings;
    if (updateId !== undefined) this.lastPeerUpdateId = updateId;
    return changed;
  }

  /** Whether the peer bound a flow to this locator of its own: its traffic there is that flow's. */
  peerBound(locator: Endpoint): boolean {
    return this.peer.some((b) => b.locator.address === locator.address && b.locator.port === locator.port);
  }

  peerFlows(): PeerFlowBinding[] {
    return this.peer.map((b) => ({ fid: b.fid, selector: { ...b.selector }, locator: { ...b.locator } }));
  }
}
