// The typed control server without its transport: a request checked against the schema once
// (where it arrives), handed to its method's handler, and the outcome made into the response
// envelope. Each transport (the daemon's Unix socket, the WebSocket of `hipvpn web`, Electron's
// IPC) calls this with the frames it receives and sends back what it returns. Never throws.

import {
  CONTROL_METHOD_NAMES, checkResult, decodeRequest, decodeRequestValue, isErrorCode,
  type ControlHandlers, type ControlMethod, type ControlRequest, type ControlResponse, type ControlSession, type DecodedRequest,
} from './control-api.js';
import { ApiError } from './control-error.js';

/** What a transport hears about a handler that failed in a way it did not mean to (a bug). */
export type InternalErrorSink = (err: unknown) => void;

/** A request that is typed already (the main process calling its own daemon): no second check. */
export async function dispatch(
  handlers: ControlHandlers, request: ControlRequest, session: ControlSession, onInternal: InternalErrorSink = () => undefined,
): Promise<ControlResponse> {
  const { id, method } = request;
  try {
    const handler = handlers[method] as (params: unknown, session: ControlSession) => Promise<unknown>;
    const result = await handler(request.params, session);
    // The types hold the shape; ranges, patterns and lengths are checked here, so a server bug
    // is an error response rather than a frame the client would misread.
    const checked = checkResult(method, result);
    if (!checked.ok) throw new Error(`daemon produced an invalid ${method} result: ${checked.error}`);
    return { id, ok: true, result: checked.value };
  } catch (err) {
    if (err instanceof ApiError && isErrorCode(err.code)) return { id, ok: false, error: { code: err.code, message: err.message } };
    onInternal(err);
    return { id, ok: false, error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } };
  }
}

function served(decoded: DecodedRequest, handlers: ControlHandlers, session: ControlSession, onInternal?: InternalErrorSink): Promise<ControlResponse> {
  if (!decoded.ok) return Promise.resolve({ id: decoded.id ?? 0, ok: false, error: decoded.error });
  return dispatch(handlers, decoded.request, session, onInternal);
}

/** One request as a transport received it as a value (IPC, a parsed WebSocket message): untrusted. */
export function serveValue(handlers: ControlHandlers, value: unknown, session: ControlSession, onInternal?: InternalErrorSink): Promise<ControlResponse> {
  return served(decodeRequestValue(value), handlers, session, onInternal);
}

/** One request line of newline-delimited JSON (the Unix socket): untrusted. */
export function serveLine(handlers: ControlHandlers, line: string, session: ControlSession, onInternal?: InternalErrorSink): Promise<ControlResponse> {
  return served(decodeRequest(line), handlers, session, onInternal);
}

/** A handler for every method, built from one function of the method (proxies, refusals). */
export function handlersFor(make: (method: ControlMethod) => (params: unknown, session: ControlSession) => Promise<unknown>): ControlHandlers {
  return Object.fromEntries(CONTROL_METHOD_NAMES.map((m) => [m, make(m)])) as unknown as ControlHandlers;
}

/** Every method refused with `code` (a relay's methods spread over it; a daemon still starting). */
export function refuseAll(code: ApiError['code'], message: (method: ControlMethod) => string): ControlHandlers {
  return handlersFor((method) => () => Promise.reject(new ApiError(code, message(method))));
}
