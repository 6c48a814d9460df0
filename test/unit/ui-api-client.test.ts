// The typed client every UI uses: bad params never leave the page, and whatever comes back
// (results, refusals, events) is checked against the schema before the UI sees it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiClient, ApiError, type ControlTransport } from '../../src-shared/api-client.js';
import { DEFAULT_SETTINGS, type ControlEvent } from '../../src-shared/control-api.js';

function fakeTransport(answer: (method: string, params: unknown) => unknown) {
  const sent: Array<[string, unknown]> = [];
  let listener: ((e: unknown) => void) | undefined;
  const transport: ControlTransport = {
    request: async (method, params) => {
      sent.push([method, params]);
      return answer(method, params);
    },
    onEvent: (l) => {
      listener = l;
      return () => (listener = undefined);
    },
  };
  return { transport, sent, emit: (e: unknown) => listener?.(e) };
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('params are checked before they are sent', async () => {
  const t = fakeTransport(() => ({ id: 0, ok: true, result: DEFAULT_SETTINGS }));
  const api = new ApiClient(t.transport);
  const err = await rejection(api.call('settings.set', { keepaliveIntervalS: -5 }));
  assert.equal(err.code, 'invalid-params');
  assert.equal(t.sent.length, 0, 'nothing reached the transport');
  assert.deepEqual(await api.call('settings.set', { keepaliveIntervalS: 20 }), DEFAULT_SETTINGS);
  assert.deepEqual(t.sent, [['settings.set', { keepaliveIntervalS: 20 }]]);
});

test('refusals keep their code; malformed responses and transport failures become errors', async () => {
  const refusal = await rejection(new ApiClient(fakeTransport(() => ({ id: 1, ok: false, error: { code: 'not-supported', message: 'no mobility yet' } })).transport).call('failover', {}));
  assert.deepEqual([refusal.code, refusal.message], ['not-supported', 'no mobility yet']);
  const badResult = await rejection(new ApiClient(fakeTransport(() => ({ id: 1, ok: true, result: { up: 'yes' } })).transport).call('tunnel.set', { up: true }));
  assert.equal(badResult.code, 'bad-response');
  assert.match(badResult.message, /tunnel\.set: result\.up: expected true or false/);
  const noEnvelope = await rejection(new ApiClient(fakeTransport(() => 'hello').transport).call('status', {}));
  assert.equal(noEnvelope.code, 'bad-response');
  const down = await rejection(new ApiClient({ request: () => Promise.reject(new Error('socket closed')), onEvent: () => () => undefined }).call('status', {}));
  assert.deepEqual([down.code, down.message], ['transport', 'socket closed']);
});

test('only valid events reach the UI; malformed ones are reported aside', () => {
  const t = fakeTransport(() => null);
  const api = new ApiClient(t.transport);
  const seen: ControlEvent[] = [];
  const problems: string[] = [];
  const off = api.onEvent((e) => seen.push(e), (p) => problems.push(p));
  t.emit({ type: 'daemon', running: true });
  t.emit({ type: 'daemon', running: 'maybe' });
  t.emit({ type: 'teleported' });
  assert.deepEqual(seen, [{ type: 'daemon', running: true }]);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /event\.running: expected true or false/);
  off();
  t.emit({ type: 'daemon', running: false });
  assert.equal(seen.length, 1, 'unsubscribed');
});
