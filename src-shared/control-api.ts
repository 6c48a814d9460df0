// The control API: every request, response and event between the engine's owner (the hipvpn
// daemon) and its clients (the CLI today, the Electron renderer later), written down once. The
// validators below are the schema; the TypeScript types are derived from them, so the checks at
// the boundary and the types in the code cannot drift apart.
//
// Transport-neutral: over the daemon's Unix socket each frame is one line of JSON
// (newline-delimited); over the WebSocket of `hipvpn web` each frame is one text message; over
// Electron IPC the same objects travel as they are (structured clone), checked by the same
// validators on both sides.
//
//   client → daemon  { "id": 1, "method": "peer.add", "params": { ... } }
//   daemon → client  { "id": 1, "ok": true, "result": { ... } }
//                    { "id": 1, "ok": false, "error": { "code": "unknown-peer", "message": "..." } }
//   daemon → client  { "event": { "type": "established", ... } }   (after "subscribe")

import {
  array, boolean, integer, literal, nullable, number, object, oneOf, string, variants,
  type Checked, type Infer, type Validator,
} from './validate.js';
import {
  endpoint, flowBinding, handoverRecord, hitText, peerConfig, peerName, settings, settingsPatch, uplink,
} from './control-records.js';
import { associationState, daemonStatus, relayServerStatus } from './control-status.js';

export * from './control-records.js';
export * from './control-status.js';

export const CONTROL_API_VERSION = 1;

/** Longest frame either side accepts; a status with hundreds of peers fits easily. */
export const MAX_FRAME_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Methods: params and result of each request

const empty = object({});
const peerTarget = string({ minLength: 1, maxLength: 63, expected: 'a peer name or HIT' });

export const CONTROL_METHODS = {
  /** Identity, listening sockets, every peer's association and counters. */
  status: { params: empty, result: daemonStatus },
  /** Adds a peer or replaces the one with that name; takes effect at once. */
  'peer.add': { params: peerConfig, result: object({ peer: peerConfig, replaced: boolean }) },
  'peer.remove': { params: object({ name: peerName }), result: object({ removed: peerConfig }) },
  'peer.list': { params: empty, result: object({ peers: array(peerConfig) }) },
  /** A one-time invite: this host's HIT, name and locators and a secret (docs/design-notes.md, "Invites"). */
  'invite.create': {
    params: object({}, { name: peerName, expiresSeconds: integer({ min: 1, max: 30 * 86_400 }) }),
    result: object({ text: string({ minLength: 1, maxLength: 1000 }), expiresAt: integer({ min: 0, max: 2 ** 32 - 1 }) }),
  },
  /** Adds the inviter of an invite text as a peer; our first base exchange with it proves the invite. */
  'invite.accept': { params: object({ text: string({ minLength: 1, maxLength: 1000 }) }, { name: peerName }), result: object({ peer: peerConfig }) },
  /** Pending invites and how many proofs were accepted or refused since the daemon started. */
  'invite.status': {
    params: empty,
    result: object({ pending: integer({ min: 0, max: 1000 }), 'invite-proof': integer({ min: 0, max: 2 ** 53 }), 'invite-refused': integer({ min: 0, max: 2 ** 53 }) }),
  },
  /** HIP-level ping (UPDATE with ECHO_REQUEST_SIGNED); connects first if a locator is known. */
  ping: {
    params: object({ peer: string({ minLength: 1, maxLength: 63, expected: 'a peer name or HIT' }) }, { timeoutMs: integer({ min: 1, max: 60_000 }) }),
    result: object({ name: nullable(peerName), hit: hitText, rttMs: number({ min: 0 }), local: endpoint, remote: endpoint }),
  },
  /** Asks for events on this connection until it closes. */
  subscribe: { params: empty, result: object({ subscribed: literal(true) }) },

  // --- Desktop app (issue 5). Methods the engine does not implement yet answer 'not-supported'.
  /** The connect/disconnect switch: up starts base exchanges to every peer with a locator; down closes all. */
  'tunnel.set': { params: object({ up: boolean }), result: object({ up: boolean }) },
  /** Make this pair the peer's primary (user choice; cause "user" in the handover). */
  'pair.use': { params: object({ peer: peerTarget, local: endpoint, remote: endpoint }), result: object({ handover: nullable(handoverRecord) }) },
  /** Move the peer (or every peer) off its primary pair to the best other operational one, now. */
  failover: { params: object({}, { peer: peerTarget }), result: object({ handovers: array(handoverRecord) }) },
  /** Handovers after `afterSeq` (all kept ones without it), oldest first. */
  'handover.list': { params: object({}, { afterSeq: integer({ min: 0 }) }), result: object({ handovers: array(handoverRecord, { maxItems: 10_000 }) }) },
  /** Adds a binding or replaces the one with its FID ("move to interface" = set with another interface). */
  'flow.set': { params: flowBinding, result: object({ flow: flowBinding, replaced: boolean }) },
  'flow.remove': { params: object({ fid: integer({ min: 1, max: 65535 }) }), result: object({ removed: flowBinding }) },
  /** Re-read the interfaces now (after resume, or when the user asks). */
  'interfaces.recheck': { params: empty, result: object({ interfaces: array(uplink, { maxItems: 64 }) }) },
  'settings.get': { params: empty, result: settings },
  /** Applies and persists a patch; a bad value refuses the whole patch. */
  'settings.set': { params: settingsPatch, result: settings },
  /** `hipvpn relay serve` only: its clients, their registrations and reflexive addresses, its counters. */
  'relay.status': { params: empty, result: relayServerStatus },
} as const satisfies Record<string, { params: Validator<unknown>; result: Validator<unknown> }>;

export type ControlMethod = keyof typeof CONTROL_METHODS;
export type ParamsOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['params']>;
export type ResultOf<M extends ControlMethod> = Infer<(typeof CONTROL_METHODS)[M]['result']>;

/** The connection a request came in on, for the one method that is about it (`subscribe`). */
export interface ControlSession {
  /** From now on, events go to this connection too. */
  subscribe(): void;
}

/**
 * A control server: one handler per method of the schema, each given params already checked
 * and typed, returning its method's result. A method left out, or a result of the wrong shape,
 * does not compile. Refusals are thrown as ApiError (control-error.ts) with their code.
 */
export type ControlHandlers = { [M in ControlMethod]: (params: ParamsOf<M>, session: ControlSession) => Promise<ResultOf<M>> };

/** The methods, for code that builds a handler for each (a proxy, a refusal of all). */
export const CONTROL_METHOD_NAMES = Object.keys(CONTROL_METHODS) as ControlMethod[];

export const ERROR_CODES = [
  'bad-frame', // not JSON, not an object, too long
  'unknown-method',
  'invalid-params', // params fail the schema, or a HIT/address that does not parse
  'unknown-peer',
  'conflict', // e.g. a HIT already configured under another name
  'not-connected', // ping: no association and no locator to start one
  'ping-failed', // ping: no answer, or the association went away
  'not-supported', // a method of the schema this daemon does not implement yet
  'unauthorized', // WebSocket: missing or wrong token
  'unavailable', // the daemon behind a bridge (web, Electron) is not running
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code);
}

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
  /** The engine moved a peer's traffic to another pair; `handover.list` keeps the recent ones. */
  handover: object({ type: literal('handover'), handover: handoverRecord }),
  settings: object({ type: literal('settings'), settings }),
  /** Bridges (web, Electron) only: the daemon behind them went away or came back. */
  daemon: object({ type: literal('daemon'), running: boolean }),
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
/** Passes anything: the envelope's params and result are checked per method afterwards. */
const anyValue: Validator<unknown> = { expected: 'any', check: (v) => ({ ok: true, value: v }) };
const requestEnvelope = object({ id: requestId, method: string({ maxLength: 64 }) }, { params: anyValue });

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
  return decodeRequestValue(json.value);
}

/** A request that arrived as a value (Electron IPC, a parsed WebSocket message). Never throws. */
export function decodeRequestValue(value: unknown): DecodedRequest {
  const env = requestEnvelope.check(value);
  if (!env.ok) return { ok: false, id: null, error: { code: 'bad-frame', message: env.error } };
  const { id, method } = env.value;
  if (!isControlMethod(method)) {
    return { ok: false, id, error: { code: 'unknown-method', message: `unknown method ${JSON.stringify(method)} (known: ${Object.keys(CONTROL_METHODS).join(', ')})` } };
  }
  const params = CONTROL_METHODS[method].params.check(env.value.params ?? {}, 'params');
  if (!params.ok) return { ok: false, id, error: { code: 'invalid-params', message: params.error } };
  return { ok: true, request: { id, method, params: params.value } as ControlRequest };
}

/** A response's envelope, checked; its result is the caller's to check (checkResult). */
export type ResponseEnvelope = { ok: true; result: unknown } | { ok: false; error: ControlError };

export type DecodedServerFrame =
  | { ok: true; kind: 'response'; id: number; response: ResponseEnvelope }
  | { ok: true; kind: 'event'; event: ControlEvent }
  /** `frame`: what it was meant to be, where that much could be read (a malformed event, a response to `id`). */
  | { ok: false; error: string; frame?: { kind: 'event' } | { kind: 'response'; id: number } };

const responseEnvelope = object(
  { id: requestId, ok: boolean },
  { result: anyValue, error: controlError },
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
    return e.ok ? { ok: true, kind: 'event', event: e.value.event } : { ...e, frame: { kind: 'event' } };
  }
  const r = checkEnvelope(v);
  if (r.ok) return { ok: true, kind: 'response', id: r.value.id, response: r.value.response };
  const id = typeof v === 'object' && v !== null ? (v as { id?: unknown }).id : undefined;
  return typeof id === 'number' && requestId.check(id).ok ? { ...r, frame: { kind: 'response', id } } : r;
}

/** A response that arrived as a value (IPC, WebSocket): its envelope only; see checkResult. Never throws. */
export function checkResponseValue(value: unknown): Checked<ResponseEnvelope> {
  const r = checkEnvelope(value);
  return r.ok ? { ok: true, value: r.value.response } : r;
}

function checkEnvelope(value: unknown): Checked<{ id: number; response: ResponseEnvelope }> {
  const r = responseEnvelope.check(value);
  if (!r.ok) return r;
  const { id, ok, result, error } = r.value;
  if (ok) return result === undefined || error !== undefined ? { ok: false, error: 'a successful response carries "result" and no "error"' } : { ok: true, value: { id, response: { ok: true, result } } };
  return error === undefined || result !== undefined ? { ok: false, error: 'a failed response carries "error" and no "result"' } : { ok: true, value: { id, response: { ok: false, error } } };
}

export function isControlMethodName(m: string): m is ControlMethod {
  return isControlMethod(m);
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
