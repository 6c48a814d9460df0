// `hipvpn flow`'s words: the flags of `flow set` read through the UI's flow form (src-shared
// forms.ts), so a mistake gets the message the form gives next to its field, here prefixed
// with the flag it is about; and the table `flow list` prints. Pure.

import type { FlowBinding, FlowStatus } from '../../src-shared/control-api.js';
import { checkFid, checkFlowForm, type FlowField, type FlowForm } from '../../src-shared/forms.js';
import { endpointText, table } from '../../src-shared/status-format.js';
import { selectorText } from '../flows/traffic-selector.js';

export interface FlowSetFlags {
  fid?: string | undefined;
  protocol?: string | undefined;
  'remote-ports'?: string | undefined;
  'local-ports'?: string | undefined;
  interface?: string | undefined;
  policy?: string | undefined;
}

/** Where each form field comes from on the command line. */
const FIELD_FLAG: Readonly<Record<FlowField, string>> = {
  fid: '--fid',
  peer: 'PEER',
  protocol: '--protocol',
  remotePorts: '--remote-ports',
  localPorts: '--local-ports',
  interface: '--interface',
  policy: '--policy',
};

/** The binding `flow set PEER ...` asks for, or every mistake in one line (flag: form message). */
export function flowSetBinding(peer: string, flags: FlowSetFlags): { ok: true; value: FlowBinding } | { ok: false; error: string } {
  const form: FlowForm = {
    fid: flags.fid ?? '',
    peer,
    protocol: flags.protocol ?? '',
    remotePorts: flags['remote-ports'] ?? '',
    localPorts: flags['local-ports'] ?? '',
    interface: flags.interface ?? '',
    policy: flags.policy ?? '',
  };
  const checked = checkFlowForm(form);
  if (checked.ok) return checked;
  const order = Object.keys(FIELD_FLAG) as FlowField[];
  const problems = order.filter((f) => checked.errors[f] !== undefined).map((f) => `${FIELD_FLAG[f]}: ${checked.errors[f]!}`);
  return { ok: false, error: problems.join(' ') };
}

/** `flow remove FID`'s FID, checked as the form checks it. */
export function flowRemoveFid(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const fid = checkFid(text);
  return fid.ok ? fid : { ok: false, error: `FID ${JSON.stringify(text)}: ${fid.error}` };
}

/** A binding in the words the daemon's own messages use: "7: udp to ports 5060-5061 towards bob on wlan0". */
export function bindingText(b: FlowBinding): string {
  return `${b.fid}: ${selectorText(b.selector)} towards ${b.peer} ${b.policy === 'only' ? 'only ' : ''}on ${b.interface ?? 'the primary pair'}`;
}

/** One row per binding, aligned: FID, peer, traffic, interface, state, pair. */
export function formatFlows(flows: readonly FlowStatus[]): string {
  if (flows.length === 0) return 'no flow bindings: all traffic follows each peer\'s primary pair';
  const rows = flows.map((f) => [
    String(f.binding.fid),
    f.binding.peer,
    selectorText(f.binding.selector),
    f.binding.interface === null ? 'primary pair' : `${f.binding.policy === 'only' ? 'only ' : ''}${f.binding.interface}`,
    f.peerRemoved ? 'peer removed' : f.state,
    f.local && f.remote && !f.peerRemoved ? `${endpointText(f.local)} <-> ${endpointText(f.remote)}` : '-',
  ]);
  return table([['FID', 'PEER', 'TRAFFIC', 'INTERFACE', 'STATE', 'PAIR'], ...rows]).join('\n');
}
