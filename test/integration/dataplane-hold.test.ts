// Holding a peer's data while its pair is in doubt, in the pure-node data plane (node:dgram
// sockets on loopback, memory TUNs, JS ESP): copies of what was sent are re-sent, byte for byte
// (same SA, same sequence numbers), on the pair the peer moves to, and the peer delivers each
// packet once; when the doubt clears on the same pair, the copies are discarded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { loopbackPair, SA_AB, type LoopbackPair } from '../support/dataplane-loopback.js';
import { until } from '../support/wait.js';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';

/** A test on a fresh loopback pair, both runners stopped after it whatever it does. */
async function withPair(run: (pair: LoopbackPair) => Promise<void>): Promise<void> {
  const pair = await loopbackPair();
  try {
    await run(pair);
  } finally {
    pair.stop();
  }
}

/** B's ESP leaves from its other address (cell, 127.0.0.3) from now on, starting with one reply. */
function replyFromCell({ b, hitA, sockA, reply }: LoopbackPair): void {
  b.setPath(hitA, sockA.local, toAddr16('127.0.0.1')!, '127.0.0.3', true);
  reply(1);
}

/** A holds B (its pair in doubt) and sends `n` packets, which reach B on its wifi address. */
async function sendWhileHeld({ a, tunB, wifiB, hitB, send }: LoopbackPair, n: number): Promise<void> {
  a.setHeld(hitB, true);
  send(n, 0);
  await until(() => wifiB.received.length >= n, `${n} datagrams while held (have ${wifiB.received.length})`);
  await tunB.waitForWritten(n);
}

test('what was sent while the pair was in doubt is re-sent at once on the pair the peer moves to, and delivered once', () => withPair(async (pair) => {
  const { a, tunB, wifiB, cellB, hitB, send } = pair;
  send(5, 0);
  await until(() => wifiB.received.length >= 5, `5 datagrams before the doubt (have ${wifiB.received.length})`);
  a.setHeld(hitB, true);
  send(10, 5);
  await until(() => wifiB.received.length >= 15, `10 datagrams while held (have ${wifiB.received.length - 5})`);
  await tunB.waitForWritten(15);
  assert.equal(cellB.received.length, 0, 'nothing goes to the other pair before the move');
  a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', true);
  await until(() => cellB.received.length >= 10, `the 10 held datagrams re-sent on the new pair (have ${cellB.received.length})`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 10, `the new pair got ${cellB.received.length} datagrams: only those sent while held are re-sent`);
  for (let i = 0; i < 10; i++) assert.deepEqual(cellB.received[i], wifiB.received[5 + i], `re-sent datagram ${i} is not the one sent while held`);
  assert.equal(tunB.written.length, 15, `B delivered ${tunB.written.length} packets for 15: the re-sent ones it already had must be dropped as replays`);
  const st = a.stats(performance.now());
  assert.equal(st.heldCopies, 10, `held copies counted: ${st.heldCopies}`);
  assert.equal(st.heldResent, 10, `re-sent datagrams counted: ${st.heldResent}`);
}));

test('when the peer answers on the same pair, the copies are discarded: a later move re-sends nothing', () => withPair(async (pair) => {
  const { a, cellB, hitB, send } = pair;
  await sendWhileHeld(pair, 10);
  a.setHeld(hitB, false);
  a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', true);
  send(1, 10);
  await until(() => cellB.received.length >= 1, 'the next packet on the new pair');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 1, `the new pair got ${cellB.received.length - 1} re-sent datagrams after the doubt cleared`);
  const st = a.stats(performance.now());
  assert.equal(st.heldCopies, 10);
  assert.equal(st.heldResent, 0, `re-sent after release: ${st.heldResent}`);
}));

test('a held peer\'s ESP from a new address moves its traffic and what was held there at once, before the engine says so', () => withPair(async (pair) => {
  const { tunA, tunB, wifiB, cellB, send, reply } = pair;
  // What B sent earlier earns the credit that pays for the move to its unverified address.
  reply(11);
  await tunA.waitForWritten(11);
  await sendWhileHeld(pair, 10);
  // B comes back from its other address: its ESP now leaves from cellB.
  replyFromCell(pair);
  await until(() => cellB.received.length >= 10, `the held datagrams following B to its new address (have ${cellB.received.length})`);
  await tunA.waitForWritten(12);
  send(1, 10);
  await until(() => cellB.received.length >= 11, 'the next packet on the new pair');
  assert.equal(wifiB.received.length, 10, 'nothing more went to the old address');
  assert.equal(tunB.written.length, 11, `B delivered ${tunB.written.length} packets for 11: the re-sent ones were dropped as replays`);
}));

test('a held peer\'s ESP from an address HIP verified moves its traffic there free of credit: the answer to that packet goes with what was held', () => withPair(async (pair) => {
  const { a, tunA, tunB, cellB, hitB, send } = pair;
  await sendWhileHeld(pair, 10);
  // B's other address answered HIP's check earlier; B's first packet from it earns one datagram's credit.
  a.setVerifiedAddresses(hitB, [{ remote: cellB.local, spi: SA_AB.spi }]);
  replyFromCell(pair);
  await tunA.waitForWritten(1);
  send(1, 10);
  await until(() => cellB.received.length >= 11, `the 10 held datagrams and the answer at B's verified address (have ${cellB.received.length})`);
  await tunB.waitForWritten(11);
  assert.equal(tunB.written.length, 11, `B delivered ${tunB.written.length} packets for 11`);
  assert.equal(a.stats(performance.now()).drops['credit-exhausted'] ?? 0, 0, 'nothing refused for credit');
}));

test('to an address not verified yet, a peer gets no more than it sent us (RFC 8046 credit); once verified, everything', () => withPair(async (pair) => {
  const { a, tunA, wifiB, cellB, hitB, send, reply } = pair;
  await sendWhileHeld(pair, 10);
  // B's first packet ever comes from its other address: it pays for one datagram of A's size.
  replyFromCell(pair);
  await tunA.waitForWritten(1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 1, `the unverified address got ${cellB.received.length} of the 10 held datagrams, for 1 received`);
  assert.equal(a.stats(performance.now()).drops['credit-exhausted'], 9);
  reply(3);
  await tunA.waitForWritten(4);
  send(5, 10);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 4, `3 more received pay for 3 of 5 new packets (the address got ${cellB.received.length - 1})`);
  assert.equal(a.stats(performance.now()).drops['credit-exhausted'], 11);
  // The address answered the engine's check: no more limit.
  a.setPath(hitB, cellB.local, toAddr16('127.0.0.3')!, '127.0.0.1', true);
  send(20, 15);
  await until(() => cellB.received.length >= 24, `all 20 packets once verified (have ${cellB.received.length - 4})`);
  assert.equal(wifiB.received.length, 10, 'nothing more went to the old address');
}));

test('a peer whose pair is not in doubt is not moved by ESP from a new address: the engine verifies it first', () => withPair(async (pair) => {
  const { tunA, wifiB, cellB, send } = pair;
  replyFromCell(pair);
  await tunA.waitForWritten(1);
  send(1, 0);
  await until(() => wifiB.received.length >= 1, 'the next packet, on the old pair');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 0, 'nothing went to the unverified address');
}));

test('a held peer\'s ESP from the address a flow route goes to moves nothing: that pair carries the flow, the peer did not move', () => withPair(async (pair) => {
  const { a, tunA, wifiB, cellB, hitB, send, reply } = pair;
  reply(11);
  await tunA.waitForWritten(11);
  // A sends B's flow (UDP to port 5004) to B's other address; nothing sent below is of that flow.
  a.setFlowRoutes(hitB, [{
    fid: 1, protocol: IPPROTO_UDP, localPorts: null, remotePorts: { from: 5004, to: 5004 },
    remote: cellB.local, remoteAddr16: toAddr16('127.0.0.3')!, local: '127.0.0.1', outboundSpi: SA_AB.spi,
  }]);
  await sendWhileHeld(pair, 10);
  // B's ESP now comes from the flow's address, as the flow's return traffic does.
  replyFromCell(pair);
  await tunA.waitForWritten(12);
  send(1, 10);
  await until(() => wifiB.received.length >= 11, 'the next packet, on the old pair');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cellB.received.length, 0, `the flow's address got ${cellB.received.length} datagrams of the peer's other traffic`);
}));
