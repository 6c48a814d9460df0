// The one error of the control API, the same at both ends: a handler throws it to refuse a
// request, the server sends its code and message as they are, and the client rejects with it
// again, so a caller branches on `code` wherever the handler ran (in this process or behind a
// socket). The codes and what they mean are listed with ERROR_CODES in control-api.ts.

import type { ErrorCode } from './control-api.js';

/**
 * Codes only a client gives, never sent over the wire: the answer did not match the schema
 * (bad-response), or the request never got one (transport: socket closed, no answer in time).
 */
export type ClientErrorCode = 'bad-response' | 'transport';

export class ApiError extends Error {
  constructor(readonly code: ErrorCode | ClientErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}
