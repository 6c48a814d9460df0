// What a person types into the UI's forms, checked field by field before anything is sent, so
// each message sits next to the field it is about. The daemon checks again (it is the authority:
// own HIT, duplicate HITs, addresses the platform cannot use); those refusals are shown too.

import {
  DEFAULT_SETTINGS, FLOW_POLICIES, TRAFFIC_PROTOCOLS, canonicalHitText, flowBinding, interfaceName, peerConfig, settingsPatch,
  type Endpoint, type FlowBinding, type PeerConfig, type RelayConfig, type SettingsPatch,
} from './control-api.js';
import { parseRelayText, relayText } from './relay-text.js';
import { isOrchidV2, parseIPv6 } from './ip-text.js';
import { parseLocatorText } from './locator-text.js';

export { DEFAULT_HIP_PORT, parseLocatorText } from './locator-text.js';

export type FormResult<T, F extends string> = { ok: true; value: T } | { ok: false; errors: Partial<Record<F, string>> };

export function hitProblem(text: string): string | null {
  const t = text.trim();
  if (t === '') return 'Enter the peer\'s HIT (its `hipvpn identity` prints it).';
  const bytes = parseIPv6(t);
  if (!bytes) return `"${t}" is not a HIT: expected IPv6 text such as 2001:2x:…`;
  if (!isOrchidV2(bytes)) return `${t} is not a HIPv2 HIT: HITs start with 2001:2 (2001:20::/28).`;
  return null;
}

export interface PeerForm { name: string; hit: string; locators: string; relay: string }
export type PeerField = keyof PeerForm;

/** Locators: one per line or comma-separated; empty for a peer that contacts us. */
export function checkPeerForm(form: PeerForm): FormResult<PeerConfig, PeerField> {
  const errors: Partial<Record<PeerField, string>> = {};
  const name = form.name.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    errors.name = name === '' ? 'Enter a name for the peer.' : 'Use up to 63 letters, digits, ".", "_" or "-", starting with a letter or digit.';
  }
  const hit = hitProblem(form.hit);
  if (hit) errors.hit = hit;
  const locators: Endpoint[] = [];
  for (const part of form.locators.split(/[\s,]+/).filter((x) => x !== '')) {
    const l = parseLocatorText(part);
    if (!l.ok) {
      errors.locators = l.error;
      break;
    }
    locators.push(l.value);
  }
  let relay: RelayConfig | undefined;
  if (form.relay.trim() !== '') {
    const r = parseRelayText(form.relay);
    if (r.ok) relay = r.value;
    else errors.relay = r.error;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const value = { name, hit: form.hit.trim(), locators, ...(relay ? { relay } : {}) };
  const shape = peerConfig.check(value);
  return shape.ok ? { ok: true, value: shape.value } : { ok: false, errors: { name: shape.error } };
}

export function peerFormOf(p: PeerConfig): PeerForm {
  return {
    name: p.name, hit: p.hit, locators: p.locators.map((l) => (l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`)).join('\n'),
    relay: p.relay ? relayText(p.relay) : '',
  };
}

export interface RelayForm { relay: string; name: string }
export type RelayField = keyof RelayForm;

/** A relay to add to the `relays` setting: `HIT@ADDR[:PORT]` and an optional name. */
export function checkRelayForm(form: RelayForm, existing: readonly RelayConfig[]): FormResult<RelayConfig, RelayField> {
  const errors: Partial<Record<RelayField, string>> = {};
  const r = parseRelayText(form.relay);
  if (!r.ok) errors.relay = r.error;
  const name = form.name.trim();
  if (name !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) errors.name = 'Use up to 63 letters, digits, ".", "_" or "-", starting with a letter or digit, or leave it empty.';
  if (r.ok && existing.some((x) => canonicalHitText(x.hit) === r.value.hit)) errors.relay = 'This relay is listed already; remove it first to change it.';
  if (name !== '' && existing.some((x) => x.name === name)) errors.name = `Another relay is called ${name}; pick another name.`;
  if (!r.ok || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { ...(name === '' ? {} : { name }), ...r.value } };
}

/**
 * The flow form as typed, every field text; the CLI's `flow set` fills the same form from its
 * flags, so both say the same thing about the same mistake. `localPorts` (our side's ports) is
 * optional for a form that does not offer it; so is `policy` ('' or absent: the binding gets
 * none, which the daemon reads as "prefer").
 */
export interface FlowForm { fid: string; peer: string; protocol: string; remotePorts: string; localPorts?: string; interface: string; policy?: string }
export type FlowField = keyof FlowForm;

function portRangeText(text: string): { from: number; to: number } | string | null {
  const t = text.trim();
  if (t === '') return null;
  const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(t);
  if (!m) return 'Enter a port or a range such as 8000-8080.';
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || from > to) return 'Ports are 1..65535 and a range ends after it starts.';
  return { from, to };
}

/** The policy field's messages (the CLI's --policy gives the same). */
export const POLICY_CHOICE = 'Choose a policy: prefer (falls back to another uplink while this one has no working pair) or only (never leaves on another; its packets wait, dropped, until this one works).';
export const ONLY_NEEDS_INTERFACE = 'Policy "only" keeps the flow on its interface: choose one.';

/** A flow ID as typed, or what is wrong with it (`flow.set` and `flow.remove` take the same). */
export function checkFid(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const fid = Number(text.trim());
  if (!/^\d{1,5}$/.test(text.trim()) || fid < 1 || fid > 65535) return { ok: false, error: 'The flow ID is a whole number 1..65535.' };
  return { ok: true, value: fid };
}

export function checkFlowForm(form: FlowForm): FormResult<FlowBinding, FlowField> {
  const errors: Partial<Record<FlowField, string>> = {};
  const fid = checkFid(form.fid);
  if (!fid.ok) errors.fid = fid.error;
  if (form.peer === '') errors.peer = 'Choose the peer this flow goes to.';
  if (!(TRAFFIC_PROTOCOLS as readonly string[]).includes(form.protocol)) errors.protocol = `Choose a protocol: ${TRAFFIC_PROTOCOLS.join(', ')}.`;
  const remotePorts = portRangeText(form.remotePorts);
  if (typeof remotePorts === 'string') errors.remotePorts = remotePorts;
  const localPorts = portRangeText(form.localPorts ?? '');
  if (typeof localPorts === 'string') errors.localPorts = localPorts;
  if (form.interface !== '' && !interfaceName.check(form.interface).ok) errors.interface = `Use ${interfaceName.expected}, or leave it empty for the primary pair.`;
  const policy = (form.policy ?? '').trim();
  if (policy !== '' && !(FLOW_POLICIES as readonly string[]).includes(policy)) errors.policy = POLICY_CHOICE;
  else if (policy === 'only' && form.interface === '') errors.policy = ONLY_NEEDS_INTERFACE;
  if (!fid.ok || Object.keys(errors).length > 0) return { ok: false, errors };
  const selector = {
    protocol: form.protocol,
    ...(localPorts && typeof localPorts === 'object' ? { localPorts } : {}),
    ...(remotePorts && typeof remotePorts === 'object' ? { remotePorts } : {}),
  };
  const value = { fid: fid.value, peer: form.peer, selector, interface: form.interface === '' ? null : form.interface, ...(policy !== '' ? { policy } : {}) };
  const shape = flowBinding.check(value);
  return shape.ok ? { ok: true, value: shape.value } : { ok: false, errors: { fid: shape.error } };
}

export interface SettingsForm {
  keepaliveIntervalS: string;
  failureDetection: string;
  multihomingMode: string;
  startAtLogin: boolean;
  notifications: boolean;
}
export type SettingsField = keyof SettingsForm;

export function settingsFormOf(s: typeof DEFAULT_SETTINGS): SettingsForm {
  return { keepaliveIntervalS: String(s.keepaliveIntervalS), failureDetection: s.failureDetection, multihomingMode: s.multihomingMode, startAtLogin: s.startAtLogin, notifications: s.notifications };
}

export function checkSettingsForm(form: SettingsForm): FormResult<SettingsPatch, SettingsField> {
  const keepalive = form.keepaliveIntervalS.trim();
  if (!/^\d+$/.test(keepalive) || Number(keepalive) < 1 || Number(keepalive) > 300) {
    return { ok: false, errors: { keepaliveIntervalS: 'The keepalive interval is a whole number of seconds, 1..300.' } };
  }
  const patch = {
    keepaliveIntervalS: Number(keepalive), failureDetection: form.failureDetection, multihomingMode: form.multihomingMode,
    startAtLogin: form.startAtLogin, notifications: form.notifications,
  };
  const checked = settingsPatch.check(patch);
  if (checked.ok) return { ok: true, value: checked.value };
  const field = (/^(\w+):/.exec(checked.error)?.[1] ?? 'keepaliveIntervalS') as SettingsField;
  return { ok: false, errors: { [field]: checked.error } };
}
