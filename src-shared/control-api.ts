// The control API: every request, response and event between the engine's owner (the hipvpn
// daemon) and its clients (the CLI today, the Electron renderer later), written down once. The
// validators below are the schema; the TypeScript types are derived from them, so the checks at
// the boundary and the types in the code cannot drift apart.
//
// Transport-neutral: over the daemon's Unix socket each frame is one line of JSON
// (newline-delimited); over Electron IPC the same objects travel as they are.
//
//   client → daemon  { "id": 1, "method": "peer.add", "params": { ... } }
//   daemon → client  { "id": 1, "ok": true, "result": { ... } }
//                    { "id": 1, "ok": false, "error": { "code": "unknown-peer", "message": "..." } }
//   daemon → client  { "event": { "type": "established", ... } }   (after "subscribe")

import {
  array, boolean, integer, literal, nullable, number, object, oneOf, record, string, variants,
  type Checked, type Infer, type Validator,
} from './validate.js';

export const CONTROL_API_VERSION = 1;

/** Longest frame either side accepts; a status with hundreds of peers fits easily. */
export const MAX_FRAME_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Peer names are what users type and what logs show: short, no spaces, no shell metacharacters. */
export const peerName = string({
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  expected: 'a peer name (letters, digits, ".", "_", "-"; up to 63, starting with a letter or digit)',
});

/** IPv6 text of a HIT; whether it is a valid ORCHID is checked where addresses can be parsed. */
export const hitText = string({ minLength: 2, maxLength: 45, expected: 'a HIT (IPv6 text, 2001:2x::/28)' });

export const endpoint = object({
  address: string({ minLength: 2, maxLength: 45, expected: 'an IP address' }),
  port: integer({ min: 0, max: 65535 }),
});
export type Endpoint = Infer<typeof endpoint>;

export const peerConfig = object({
  name: peerName,
  hit: hitText,
  /** Where to reach the peer; empty for a peer that contacts us. */
  locators: array(endpoint, { maxItems: 64 }),
});
export type PeerConfig = Infer<typeof peerConfig>;

export const engineCounters = object({
  hipIn: integer({ min: 0 }),
  hipOut: integer({ min: 0 }),
  espIn: integer({ min: 0 }),
  espOut: integer({ min: 0 }),
  /** Packets refused, by reason ("hip-policy" = a base exchange from a HIT not on the peer list). */
  dropped: record(integer({ min: 0 })),
  droppedTotal: integer({ min: 0 }),
});
export type EngineCounters = Infer<typeof engineCounters>;

export const peerCounters = object(
  { espPacketsIn: integer({ min: 0 }), espPacketsOut: integer({ min: 0 }) },
  { espBytesIn: integer({ min: 0 }), espBytesOut: integer({ min: 0 }), retransmissions: integer({ min: 0 }), rekeys: integer({ min: 0 }) },
);

/** HIP association states (RFC 7401 §4.4), UNASSOCIATED for a configured peer with none. */
export const associationState = oneOf([
  'UNASSOCIATED', 'I1-SENT', 'I2-SENT', 'R2-SENT', 'ESTABLISHED', 'CLOSING', 'CLOSED', 'E-FAILED',
] as const);
export type AssociationState = Infer<typeof associationState>;

export const peerStatus = object(
  {
    /** null for a peer that is not on the list (only with --accept-any). */
    name: nullable(peerName),
    hit: hitText,
    /** The IPv4 stand-in this host gave the peer (1.0.0.0/8; local to this host). */
    lsi: nullable(string({ maxLength: 15 })),
    state: associationState,
    counters: peerCounters,
    configuredLocators: array(endpoint),
  },
  {
    /** The active locator pair: our address and the peer's. */
    local: endpoint,
    remote: endpoint,
    /** Age of the last packet authenticated from the peer. */
    lastHeardMs: number({ min: 0 }),
    /** Time since the association reached ESTABLISHED (or R2-SENT). */
    upMs: number({ min: 0 }),
  },
);
export type PeerStatus = Infer<typeof peerStatus>;

export const daemonStatus = object({
  version: integer({ min: 1 }),
  identity: object({ hit: hitText, lsi: string({ maxLength: 15 }) }),
  listening: array(endpoint),
  /** TUN device name, or null in control-plane-only mode (`--tun none`). */
  tun: nullable(string({ maxLength: 15 })),
  acceptAny: boolean,
  uptimeMs: number({ min: 0 }),
  peers: array(peerStatus),
  counters: engineCounters,
});
export type DaemonStatus = Infer<typeof daemonStatus>;

// ---------------------------------------------------------------------------------------------
// Methods: params and result of each request

const empty = object({});

export const CONTROL_METHODS = {
  /** Identity, listening sockets, every peer's association and counters. */
  status: { params: empty, result: daemonStatus },
  /** Adds a peer or replaces the one with that name; takes effect at once. */
  'peer.add': { params: peerConfig, result: object({ peer: peerConfig, replaced: boolean }) },
  'peer.remove': { params: object({ name: peerName }), result: object({ removed: peerConfig }) },
  'peer.list': { params: empty, result: object({ peers: array(peerConfig) }) },
  /** HIP-level ping (UPDATE with ECHO_REQUEST_SIGNED); connects first if a locator is known. */
  ping: {
    params: object({ peer: string({ minLength: 1, maxLength: 63, expected: 'a peer name or HIT' }) }, { timeoutMs: integer({ min: 1, max: 60_000 }) }),
    result: object({ name: nullable(peerName), hit: hitText, rttMs: number({ min: 0 }), local: endpoint, remote: endpoint }),
  },
  /** Asks for events on this connection until it closes. */
  subscribe: { params: empty, result: object({ subscribed: literal(true) }) },
} as const satisfies Record<string, { params: Validator<unknown>; result: Validator<unknown> }>;

export type ControlMethod = keyof typeof CONTROL_METHODS;
export type ParamsOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['params']>;
export type ResultOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['result']>;

export const ERROR_CODES = [
  'bad-frame', // not JSON, not an object, too long
  'unknown-method',
  'invalid-params', // params fail the schema, or a HIT/address that does not parse
  'unknown-peer',
  'conflict', // e.g. a HIT already configured under another name
  'not-connected', // ping: no association and no locator to start one
  'ping-failed', // ping: no answer, or the association went away
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const controlError = object({ code: oneOf(ERROR_CODES), message: string({ maxLength: 2000 }) });
export type ControlError = Infer<typeof controlError>;

// ---------------------------------------------------------------------------------------------
// Events

const peerRef = { peer: nullable(peerName), hit: hitText };

export const controlEvent = variants('type', {
  association: object({ type: literal('association'), ...peerRef, from: associationState, to: associationState }),
  established: object({ type: literal('established'), ...peerRef, local: endpoint, remote: endpoint, initiator: boolean }),
  rekeyed: object({ type: literal('rekeyed'), ...peerRef }),
  closed: object({ type: literal('closed'), ...peerRef, byPeer: boolean }),
  failed: object({ type: literal('failed'), ...peerRef, reason: string({ maxLength: 200 }) }),
  notify: object({ type: literal('notify'), ...peerRef, notifyType: integer({ min: 0, max: 65535 }), authenticated: boolean }),
  peers: object({ type: literal('peers'), peers: array(peerConfig) }),
});
export type ControlEvent = Infer<typeof controlEvent>;

// ---------------------------------------------------------------------------------------------
// Frames

export type ControlRequest = { [M in ControlMethod]: { id: number; method: M; params: ParamsOf<M> } }[ControlMethod];
export type ControlResponse<M extends ControlMethod = ControlMethod> =
  | { id: number; ok: true; result: ResultOf<M> }
  | { id: number; ok: false; error: ControlError };
export interface ControlEventFrame { event: ControlEvent }

const requestId = integer({ min: 0 });
const requestEnvelope = object({ id: requestId, method: string({ maxLength: 64 }) }, { params: { expected: 'any', check: (v: unknown) => ({ ok: true, value: v }) } as Validator<unknown> });

function isControlMethod(m: string): m is ControlMethod {
  return Object.prototype.hasOwnProperty.call(CONTROL_METHODS, m);
}

function parseJson(line: string): Checked<unknown> {
  if (line.length > MAX_FRAME_BYTES) return { ok: false, error: `frame longer than ${MAX_FRAME_BYTES} characters` };
  try {
    return { ok: true, value: JSON.parse(line) as unknown };
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
}

export type DecodedRequest = { ok: true; request: ControlRequest } | { ok: false; id: number | null; error: ControlError };

/** One request line as the daemon receives it. Never throws. */
export function decodeRequest(line: string): DecodedRequest {
  const json = parseJson(line);
  if (!json.ok) return { ok: false, id: null, error: { code: 'bad-frame', message: json.error } };
  const env = requestEnvelope.check(json.value);
  if (!env.ok) return { ok: false, id: null, error: { code: 'bad-frame', message: env.error } };
  const { id, method } = env.value;
  if (!isControlMethod(method)) {
    return { ok: false, id, error: { code: 'unknown-method', message: `unknown method ${JSON.stringify(method)} (known: ${Object.keys(CONTROL_METHODS).join(', ')})` } };
  }
  const params = CONTROL_METHODS[method].params.check(env.value.params ?? {}, 'params');
  if (!params.ok) return { ok: false, id, error: { code: 'invalid-params', message: params.error } };
  return { ok: true, request: { id, method, params: params.value } as ControlRequest };
}

export type DecodedServerFrame =
  | { ok: true; kind: 'response'; id: number; response: { ok: true; result: unknown } | { ok: false; error: ControlError } }
  | { ok: true; kind: 'event'; event: ControlEvent }
  | { ok: false; error: string };

const responseEnvelope = object(
  { id: requestId, ok: boolean },
  { result: { expected: 'any', check: (v: unknown) => ({ ok: true, value: v }) } as Validator<unknown>, error: controlError },
);
const eventEnvelope = object({ event: controlEvent });

/**
 * One line from the daemon as a client receives it: an event (validated in full) or a response
 * whose result the caller validates with `checkResult`, since only it knows the method.
 */
export function decodeServerFrame(line: string): DecodedServerFrame {
  const json = parseJson(line);
  if (!json.ok) return json;
  const v = json.value;
  if (typeof v === 'object' && v !== null && 'event' in v) {
    const e = eventEnvelope.check(v);
    return e.ok ? { ok: true, kind: 'event', event: e.value.event } : e;
  }
  const r = responseEnvelope.check(v);
  if (!r.ok) return r;
  const { id, ok, result, error } = r.value;
  if (ok) {
    if (error !== undefined || result === undefined) return { ok: false, error: 'a successful response carries "result" and no "error"' };
    return { ok: true, kind: 'response', id, response: { ok: true, result } };
  }
  if (error === undefined || result !== undefined) return { ok: false, error: 'a failed response carries "error" and no "result"' };
  return { ok: true, kind: 'response', id, response: { ok: false, error } };
}

export function checkResult<M extends ControlMethod>(method: M, result: unknown): Checked<ResultOf<M>> {
  return CONTROL_METHODS[method].result.check(result, 'result') as Checked<ResultOf<M>>;
}

export function checkParams<M extends ControlMethod>(method: M, params: unknown): Checked<ParamsOf<M>> {
  return CONTROL_METHODS[method].params.check(params, 'params') as Checked<ParamsOf<M>>;
}

/** One frame as a line of newline-delimited JSON. */
export function encodeFrame(frame: ControlRequest | ControlResponse | ControlEventFrame): string {
  return `${JSON.stringify(frame)}\n`;
}
