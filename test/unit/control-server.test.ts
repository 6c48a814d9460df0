// The typed control server with no transport under it: a handler map checked against the
// schema at compile time, requests checked once where they arrive (serveValue / serveLine), and
// refusals that keep their code and words from the handler to the one client. Pure: the
// "transport" below is a function call, as Electron's IPC is when the main process hosts the engine.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiClient, ApiError, type ControlTransport } from '../../src-shared/api-client.js';
import type { ControlEvent, ControlHandlers, ControlSession, PeerConfig } from '../../src-shared/control-api.js';
import { dispatch, refuseAll, serveLine, serveValue } from '../../src-shared/control-dispatch.js';

const BOB: PeerConfig = { name: 'bob', hit: '2001:22:9184:d55f:7016:8deb:7eb1:bf70', locators: [{ address: '192.0.2.7', port: 10500 }] };

/** A peer list behind the peer methods; the rest refused as a relay refuses them. */
function peerListServer() {
  const peers: PeerConfig[] = [];
  const calls: string[] = [];
  const handlers: ControlHandlers = {
    ...refuseAll('not-supported', (m) => `${m} is not served here`),
    'peer.add': async (peer) => {
      calls.push(`add ${peer.name}`);
      if (peers.some((p) => p.hit === peer.hit && p.name !== peer.name)) throw new ApiError('conflict', `HIT ${peer.hit} is already peer ${peer.name}`);
      const replaced = peers.findIndex((p) => p.name === peer.name);
      if (replaced >= 0) peers.splice(replaced, 1);
      peers.push(peer);
      return { peer, replaced: replaced >= 0 };
    },
    'peer.list': async () => ({ peers: [...peers] }),
    'peer.remove': async ({ name }) => {
      const i = peers.findIndex((p) => p.name === name);
      if (i < 0) throw new ApiError('unknown-peer', `unknown peer ${JSON.stringify(name)}`);
      return { removed: peers.splice(i, 1)[0]! };
    },
    subscribe: async (_params, session) => {
      session.subscribe();
      return { subscribed: true };
    },
  };
  return { handlers, peers, calls };
}

const quiet: ControlSession = { subscribe: () => undefined };

test('a request reaches its handler only after the schema passed it; refusals keep their code and words', async () => {
  const s = peerListServer();
  assert.deepEqual(await serveValue(s.handlers, { id: 1, method: 'peer.add', params: BOB }, quiet), { id: 1, ok: true, result: { peer: BOB, replaced: false } });

  const extra = await serveValue(s.handlers, { id: 2, method: 'peer.add', params: { ...BOB, name: 'carol', shell: 'rm -rf /' } }, quiet);
  assert.deepEqual(extra, { id: 2, ok: false, error: { code: 'invalid-params', message: 'params.shell: unknown field (expected name, hit, locators, relay)' } });
  const unknown = await serveValue(s.handlers, { id: 3, method: 'peer.teleport', params: {} }, quiet);
  assert.ok(!unknown.ok && unknown.error.code === 'unknown-method' && unknown.id === 3, JSON.stringify(unknown));
  assert.deepEqual(await serveValue(s.handlers, 'peer.list', quiet), { id: 0, ok: false, error: { code: 'bad-frame', message: 'value: expected an object, got "peer.list"' } });
  assert.deepEqual(await serveLine(s.handlers, '{"id": 4, "method": "peer.li', quiet), { id: 0, ok: false, error: { code: 'bad-frame', message: 'frame is not JSON' } });
  assert.deepEqual(s.calls, ['add bob'], 'no refused request reached a handler');

  assert.deepEqual(await serveLine(s.handlers, '{"id": 5, "method": "peer.add", "params": {"name": "robert", "hit": "2001:22:9184:d55f:7016:8deb:7eb1:bf70", "locators": []}}', quiet),
    { id: 5, ok: false, error: { code: 'conflict', message: 'HIT 2001:22:9184:d55f:7016:8deb:7eb1:bf70 is already peer robert' } });
  assert.deepEqual(await serveValue(s.handlers, { id: 6, method: 'ping', params: { peer: 'bob' } }, quiet),
    { id: 6, ok: false, error: { code: 'not-supported', message: 'ping is not served here' } });
  assert.deepEqual(s.peers, [BOB], 'the refused peer was not added');
});

test('a handler that fails by accident, or answers off-schema, is an internal error and reported', async () => {
  const reported: string[] = [];
  const handlers: ControlHandlers = {
    ...refuseAll('not-supported', () => 'no'),
    'peer.list': async () => { throw new TypeError('cannot read properties of undefined'); },
    // Right type, out of range: only the check at the boundary can see it.
    'tunnel.set': async () => ({ up: true, extra: 1 } as { up: boolean }),
  };
  const onInternal = (err: unknown): void => void reported.push(String(err));
  assert.deepEqual(await serveValue(handlers, { id: 1, method: 'peer.list' }, quiet, onInternal),
    { id: 1, ok: false, error: { code: 'internal', message: 'cannot read properties of undefined' } });
  const bad = await serveValue(handlers, { id: 2, method: 'tunnel.set', params: { up: true } }, quiet, onInternal);
  assert.deepEqual(bad, { id: 2, ok: false, error: { code: 'internal', message: 'daemon produced an invalid tunnel.set result: result.extra: unknown field (expected up)' } });
  assert.equal(reported.length, 2, `both reported: ${reported.join(' | ')}`);
  // A refusal is the handler's answer, not a failure: nothing to report.
  await serveValue(handlers, { id: 3, method: 'status' }, quiet, onInternal);
  assert.equal(reported.length, 2);
});

test('subscribe reaches the connection it came in on', async () => {
  const s = peerListServer();
  let subscribed = 0;
  const r = await dispatch(s.handlers, { id: 7, method: 'subscribe', params: {} }, { subscribe: () => void subscribed++ });
  assert.deepEqual([r, subscribed], [{ id: 7, ok: true, result: { subscribed: true } }, 1]);
});

test('the one client over an in-process transport: typed results, ApiError with the server\'s code, events checked', async () => {
  const s = peerListServer();
  const listeners = new Set<(e: unknown) => void>();
  const sent: unknown[] = [];
  const inProcess: ControlTransport = {
    // What Electron's IPC does when the main process hosts the engine: the value crosses as it is.
    request: (method, params) => {
      sent.push(params);
      return serveValue(s.handlers, { id: 0, method, params }, quiet);
    },
    onEvent: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const client = new ApiClient(inProcess);
  assert.deepEqual(await client.call('peer.add', BOB), { peer: BOB, replaced: false });
  assert.deepEqual((await client.call('peer.list', {})).peers.map((p) => p.name), ['bob']);

  const refusal = await client.call('peer.remove', { name: 'alice' }).then(() => assert.fail('removed a peer that is not there'), (err: unknown) => err);
  assert.ok(refusal instanceof ApiError, String(refusal));
  assert.deepEqual([refusal.code, refusal.message], ['unknown-peer', 'unknown peer "alice"']);
  const invalid = await client.call('peer.remove', { name: 'no spaces allowed' }).then(() => assert.fail('sent bad params'), (err: unknown) => err);
  assert.ok(invalid instanceof ApiError && invalid.code === 'invalid-params', String(invalid));
  assert.equal(sent.length, 3, 'the client checked the bad name itself; it never crossed');

  const seen: ControlEvent[] = [];
  const problems: string[] = [];
  client.onEvent((e) => seen.push(e), (p) => problems.push(p));
  for (const l of listeners) {
    l({ type: 'peers', peers: [BOB] });
    l({ type: 'peers', peers: 'all of them' });
  }
  assert.deepEqual(seen, [{ type: 'peers', peers: [BOB] }]);
  assert.equal(problems.length, 1);
});

// A handler map is checked against the schema by the compiler: these do not typecheck (tsc
// runs over test/), so a daemon cannot leave a method out or answer one with the wrong shape.
export const wrongResult: ControlHandlers = {
  ...refuseAll('not-supported', () => 'no'),
  // @ts-expect-error peer.list answers { peers }, not a bare array
  'peer.list': async () => [BOB],
};
// @ts-expect-error every method of the schema needs a handler
export const incomplete: ControlHandlers = { 'peer.list': async () => ({ peers: [] }) };
