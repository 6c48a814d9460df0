// The preload: the only bridge between the sandboxed renderer and the main process. It exposes
// exactly two functions on window.hipvpn and checks what crosses in both directions against the
// control API schema: params before they leave the page, responses and events before the page
// sees them. Bundled to one CommonJS file (sandboxed preloads cannot load modules).

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { checkParams, checkResponseValue, controlEvent, isControlMethodName } from '../../src-shared/control-api.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL } from './ipc-channels.js';

async function request(method: unknown, params: unknown): Promise<unknown> {
  if (typeof method !== 'string' || !isControlMethodName(method)) {
    return { id: 0, ok: false, error: { code: 'unknown-method', message: `unknown method ${JSON.stringify(method)}` } };
  }
  const p = checkParams(method, params ?? {});
  if (!p.ok) return { id: 0, ok: false, error: { code: 'invalid-params', message: p.error } };
  const response: unknown = await ipcRenderer.invoke(REQUEST_CHANNEL, { id: 0, method, params: p.value });
  const envelope = checkResponseValue(response);
  if (!envelope.ok) return { id: 0, ok: false, error: { code: 'internal', message: `the main process answered with a malformed response: ${envelope.error}` } };
  // The result itself is checked against the method's schema by ApiClient in the page.
  return { id: 0, ...envelope.value };
}

function onEvent(listener: unknown): () => void {
  if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
  const handler = (_e: IpcRendererEvent, raw: unknown): void => {
    const e = controlEvent.check(raw, 'event');
    if (e.ok) (listener as (v: unknown) => void)(e.value);
  };
  ipcRenderer.on(EVENT_CHANNEL, handler);
  return () => void ipcRenderer.removeListener(EVENT_CHANNEL, handler);
}

contextBridge.exposeInMainWorld('hipvpn', { request, onEvent });
