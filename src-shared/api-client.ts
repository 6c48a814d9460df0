// The one typed client of the control API, over whichever transport a front end has: the
// daemon's Unix socket (the CLI, a UI process reaching a daemon it does not host), the Electron
// preload bridge, the WebSocket of `hipvpn web`. Derived from the schema: a call's params are
// checked before they leave, its result and every event are checked when they arrive, so a
// caller's bug and a daemon's bug both surface as an ApiError with a code, never as a
// half-understood value.

import {
  checkParams, checkResponseValue, checkResult, controlEvent,
  type ControlEvent, type ControlMethod, type ParamsOf, type ResponseEnvelope, type ResultOf,
} from './control-api.js';
import { ApiError } from './control-error.js';

export { ApiError } from './control-error.js';

/** What a transport does: deliver one request, return the response envelope as it came. */
export interface ControlTransport {
  /** Rejects (with the reason in words) when no response came: closed, refused, timed out. */
  request(method: ControlMethod, params: unknown, timeoutMs?: number): Promise<unknown>;
  /** Events as they came; returns the unsubscribe function. */
  onEvent(listener: (event: unknown) => void, onInvalid?: (error: string) => void): () => void;
  /**
   * The transport decodes what arrives itself (decodeServerFrame, a line off a socket): a
   * response comes with its envelope checked, an event checked in full and a malformed one goes
   * to `onInvalid`. The client then checks only the result, which only it can (it knows the method).
   */
  readonly decodesFrames?: boolean;
  close?(): void;
}

export interface ApiClientOptions {
  /**
   * Check params before sending (default). Off only where the params were checked at the trust
   * boundary they came in through a moment ago (a UI process passing a page's request on).
   */
  checkParams?: boolean;
}

export class ApiClient {
  private readonly checksParams: boolean;

  constructor(private readonly transport: ControlTransport, opts: ApiClientOptions = {}) {
    this.checksParams = opts.checkParams ?? true;
  }

  async call<M extends ControlMethod>(method: M, params: ParamsOf<M>, timeoutMs?: number): Promise<ResultOf<M>> {
    let sent: unknown = params;
    if (this.checksParams) {
      const p = checkParams(method, params);
      if (!p.ok) throw new ApiError('invalid-params', p.error);
      sent = p.value;
    }
    let raw: unknown;
    try {
      raw = await this.transport.request(method, sent, timeoutMs);
    } catch (err) {
      throw err instanceof ApiError ? err : new ApiError('transport', err instanceof Error ? err.message : String(err));
    }
    const envelope = this.transport.decodesFrames ? { ok: true as const, value: raw as ResponseEnvelope } : checkResponseValue(raw);
    if (!envelope.ok) throw new ApiError('bad-response', `${method}: ${envelope.error}`);
    if (!envelope.value.ok) throw new ApiError(envelope.value.error.code, envelope.value.error.message);
    const result = checkResult(method, envelope.value.result);
    if (!result.ok) throw new ApiError('bad-response', `${method}: ${result.error}`);
    return result.value;
  }

  /** Valid events only; a malformed one goes to `onInvalid` (a log), never to the listener. */
  onEvent(listener: (e: ControlEvent) => void, onInvalid: (error: string) => void = () => undefined): () => void {
    if (this.transport.decodesFrames) return this.transport.onEvent((e) => listener(e as ControlEvent), onInvalid);
    return this.transport.onEvent((raw) => {
      const e = controlEvent.check(raw, 'event');
      if (e.ok) listener(e.value);
      else onInvalid(e.error);
    });
  }

  close(): void {
    this.transport.close?.();
  }
}
