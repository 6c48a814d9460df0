// The flow bindings a host has asked for: each flow (a traffic selector towards one peer, named
// by its FID) bound to a local interface, or to nothing (= follow the peer's primary pair).
// Pure and immutable: every change returns a new table or says, in a sentence, why not.
//
// FIDs: RFC 6089 gives each flow a FID unique within the binding it belongs to; here that is
// the association with one peer, so a FID must be unique per peer (seed 002 carries it in the
// E-LOCATOR sent to that peer). The control API names a binding by its FID alone
// (`flow.remove {fid}`), so this table keeps FIDs unique across all peers, which implies the
// per-peer rule and keeps every API call unambiguous.
//
// Where overlapping selectors meet, the lower FID wins (it doubles as RFC 6089's FID-PRI).

import { FLOW_POLICIES, type FlowPolicy } from '../../src-shared/control-api.js';
import { selectorKey, selectorProblem, selectorText, type FlowSelector } from './traffic-selector.js';

export interface FlowBinding {
  fid: number;
  /** The peer's name on this host's peer list. */
  peer: string;
  selector: FlowSelector;
  /** The local interface the flow should use; null follows the peer's primary pair. */
  interface: string | null;
  /** Absent = 'prefer': off its interface while that has no working pair. 'only' never leaves on another. */
  policy?: FlowPolicy;
}

/** How many bindings a host keeps (the status schema's limit). */
export const MAX_FLOWS = 4096;
export const MIN_FID = 1;
export const MAX_FID = 65535;

const INTERFACE_NAME = /^[A-Za-z0-9_.:-]{1,15}$/;

export type FlowRefusal = { code: 'invalid-params' | 'unknown-peer' | 'conflict' | 'unknown-flow'; message: string };
export type FlowChange<T> = { ok: true; table: FlowTable; value: T } | { ok: false; error: FlowRefusal };

function refuse(code: FlowRefusal['code'], message: string): { ok: false; error: FlowRefusal } {
  return { ok: false, error: { code, message } };
}

function copy(b: FlowBinding): FlowBinding {
  const selector: FlowSelector = { protocol: b.selector.protocol };
  if (b.selector.localPorts) selector.localPorts = { ...b.selector.localPorts };
  if (b.selector.remotePorts) selector.remotePorts = { ...b.selector.remotePorts };
  if (b.selector.localPrefix !== undefined) selector.localPrefix = b.selector.localPrefix;
  if (b.selector.remotePrefix !== undefined) selector.remotePrefix = b.selector.remotePrefix;
  const out: FlowBinding = { fid: b.fid, peer: b.peer, selector, interface: b.interface };
  if (b.policy !== undefined) out.policy = b.policy;
  return out;
}

export class FlowTable {
  private constructor(private readonly byFid: ReadonlyMap<number, FlowBinding>) {}

  static empty(): FlowTable {
    return new FlowTable(new Map());
  }

  /** Bindings ordered by FID, which is also the order they are tried in. */
  list(): FlowBinding[] {
    return [...this.byFid.values()].sort((a, b) => a.fid - b.fid).map(copy);
  }

  get(fid: number): FlowBinding | undefined {
    const b = this.byFid.get(fid);
    return b ? copy(b) : undefined;
  }

  get size(): number {
    return this.byFid.size;
  }

  forPeer(peer: string): FlowBinding[] {
    return this.list().filter((b) => b.peer === peer);
  }

  /** The lowest FID not in use, for a caller that lets the table choose; null when all are taken. */
  nextFreeFid(): number | null {
    for (let fid = MIN_FID; fid <= MAX_FID; fid++) if (!this.byFid.has(fid)) return fid;
    return null;
  }

  /**
   * Adds a binding, or replaces the one with its FID (an edit: another selector, interface or
   * even peer). `knownPeers` are the names on the peer list: a flow to nobody is refused.
   */
  set(binding: FlowBinding, knownPeers: readonly string[]): FlowChange<{ binding: FlowBinding; replaced: boolean }> {
    const problem = bindingProblem(binding);
    if (problem) return refuse('invalid-params', `flow ${binding.fid}: ${problem}`);
    if (!knownPeers.includes(binding.peer)) {
      const known = knownPeers.length ? ` (known: ${knownPeers.join(', ')})` : ' (no peers configured)';
      return refuse('unknown-peer', `flow ${binding.fid}: unknown peer ${JSON.stringify(binding.peer)}${known}; add the peer first`);
    }
    const replaced = this.byFid.has(binding.fid);
    if (!replaced && this.byFid.size >= MAX_FLOWS) return refuse('conflict', `at most ${MAX_FLOWS} flow bindings; remove one first`);
    const key = selectorKey(binding.selector);
    const twin = [...this.byFid.values()].find((b) => b.fid !== binding.fid && b.peer === binding.peer && selectorKey(b.selector) === key);
    if (twin) {
      return refuse('conflict', `flow ${twin.fid} already selects ${selectorText(twin.selector)} towards ${twin.peer}; edit that flow (or move it to another interface) instead of adding FID ${binding.fid}`);
    }
    const next = new Map(this.byFid);
    next.set(binding.fid, copy(binding));
    return { ok: true, table: new FlowTable(next), value: { binding: copy(binding), replaced } };
  }

  remove(fid: number): FlowChange<FlowBinding> {
    const old = this.byFid.get(fid);
    if (!old) return refuse('unknown-flow', `no flow with FID ${fid}${this.byFid.size ? ` (FIDs in use: ${this.list().map((b) => b.fid).join(', ')})` : ' (no flow bindings)'}`);
    const next = new Map(this.byFid);
    next.delete(fid);
    return { ok: true, table: new FlowTable(next), value: copy(old) };
  }

  /** "Move to interface": the same flow on another uplink, or (null) back on the primary pair. */
  moveToInterface(fid: number, iface: string | null): FlowChange<FlowBinding> {
    const old = this.byFid.get(fid);
    if (!old) return refuse('unknown-flow', `no flow with FID ${fid} to move`);
    const moved = { ...copy(old), interface: iface };
    const problem = interfaceProblem(iface) ?? policyProblem(moved);
    if (problem) return refuse('invalid-params', `flow ${fid}: ${problem}`);
    const next = new Map(this.byFid);
    next.set(fid, moved);
    return { ok: true, table: new FlowTable(next), value: copy(moved) };
  }

  /** The flows towards peers no longer on the list go with them. */
  retainPeers(knownPeers: readonly string[]): { table: FlowTable; removed: FlowBinding[] } {
    const removed = [...this.byFid.values()].filter((b) => !knownPeers.includes(b.peer));
    if (removed.length === 0) return { table: this, removed: [] };
    const next = new Map(this.byFid);
    for (const b of removed) next.delete(b.fid);
    return { table: new FlowTable(next), removed: removed.map(copy) };
  }

  /**
   * Builds a table from stored bindings, keeping the good ones: each refused one is reported
   * with its reason, so a hand-edited file loses only the entries it got wrong.
   */
  static fromList(bindings: readonly FlowBinding[], knownPeers: readonly string[] | null): { table: FlowTable; refused: string[] } {
    let table = FlowTable.empty();
    const refused: string[] = [];
    for (const b of bindings) {
      if (table.byFid.has(b.fid)) {
        refused.push(`flow ${b.fid} is listed twice; keeping the first`);
        continue;
      }
      const r = table.set(b, knownPeers ?? [b.peer]);
      if (r.ok) table = r.table;
      else refused.push(r.error.message);
    }
    return { table, refused };
  }
}

function interfaceProblem(iface: string | null): string | null {
  if (iface === null || INTERFACE_NAME.test(iface)) return null;
  return `${JSON.stringify(iface)} is not an interface name (up to 15 letters, digits, "_", ".", ":", "-")`;
}

/** Everything about one binding that can be checked without the rest of the table. */
export function bindingProblem(b: FlowBinding): string | null {
  if (!Number.isInteger(b.fid) || b.fid < MIN_FID || b.fid > MAX_FID) return `the FID is a whole number ${MIN_FID}..${MAX_FID}, not ${b.fid}`;
  if (typeof b.peer !== 'string' || b.peer === '') return 'the flow needs a peer';
  return selectorProblem(b.selector) ?? interfaceProblem(b.interface) ?? policyProblem(b);
}

/** The words the UI and CLI forms use too (src-shared/forms.ts). */
export const POLICY_WORDS = 'the policy is "prefer" (fall back to another uplink) or "only" (never leave on another)';
export const ONLY_NEEDS_INTERFACE = 'policy "only" keeps the flow on its interface: name one';

function policyProblem(b: Pick<FlowBinding, 'policy' | 'interface'>): string | null {
  if (b.policy === undefined) return null;
  if (!(FLOW_POLICIES as readonly string[]).includes(b.policy)) return `${POLICY_WORDS}, not ${JSON.stringify(b.policy)}`;
  return b.policy === 'only' && b.interface === null ? ONLY_NEEDS_INTERFACE : null;
}
