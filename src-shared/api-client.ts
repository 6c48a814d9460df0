// The typed client every UI uses, over whichever transport it has (the Electron preload bridge,
// the WebSocket of `hipvpn web`). Derived from the schema: a call's params are checked before
// they leave, its result and every event are checked when they arrive, so a renderer bug and a
// daemon bug both surface as an ApiError with a code, never as a half-understood value.

import {
  checkParams, checkResponseValue, checkResult, controlEvent,
  type ControlEvent, type ControlMethod, type ErrorCode, type ParamsOf, type ResultOf,
} from './control-api.js';

/** What a transport does: deliver one request, return the response envelope as it came. */
export interface ControlTransport {
  request(method: ControlMethod, params: unknown): Promise<unknown>;
  /** Events as they came; returns the unsubscribe function. */
  onEvent(listener: (event: unknown) => void): () => void;
}

export class ApiError extends Error {
  constructor(readonly code: ErrorCode | 'bad-response' | 'transport', message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export class ApiClient {
  constructor(private readonly transport: ControlTransport) {}

  async call<M extends ControlMethod>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const p = checkParams(method, params);
    if (!p.ok) throw new ApiError('invalid-params', p.error);
    let raw: unknown;
    try {
      raw = await this.transport.request(method, p.value);
    } catch (err) {
      throw new ApiError('transport', err instanceof Error ? err.message : String(err));
    }
    const envelope = checkResponseValue(raw);
    if (!envelope.ok) throw new ApiError('bad-response', `${method}: ${envelope.error}`);
    if (!envelope.value.ok) throw new ApiError(envelope.value.error.code, envelope.value.error.message);
    const result = checkResult(method, envelope.value.result);
    if (!result.ok) throw new ApiError('bad-response', `${method}: ${result.error}`);
    return result.value;
  }

  /** Valid events only; a malformed one goes to `onInvalid` (a log), never to the UI. */
  onEvent(listener: (e: ControlEvent) => void, onInvalid: (error: string) => void = () => undefined): () => void {
    return this.transport.onEvent((raw) => {
      const e = controlEvent.check(raw, 'event');
      if (e.ok) listener(e.value);
      else onInvalid(e.error);
    });
  }
}
