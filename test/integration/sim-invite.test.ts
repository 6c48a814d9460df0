// The invite proof in the base exchange, sans-IO: a responder that lists nobody admits the
// initiator whose signed I2 proves an invite, spends it once, and refuses (and counts) a wrong
// proof, a proof moved out of the signed part, and an I2 with none.
//
//   node --import tsx --test test/integration/sim-invite.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePacket, encodePacket } from '../../src-main/hip/wire/codec.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import { INVITE_PROOF_TYPE, inviteKey, inviteProof, sameProof, type InviteHooks } from '../../src-main/hip/invite-proof.js';
import { established, makePair } from '../support/hip-hosts.js';

const SECRET = Uint8Array.from({ length: 16 }, (_, i) => 3 * i + 1);

/** The inviter's side: one invite, spent on first redeem. */
function inviter(secret: Uint8Array): InviteHooks & { redeemed: number } {
  const key = inviteKey(secret);
  const hooks = {
    redeemed: 0,
    proofFor: () => undefined,
    pending: () => true,
    check: (local: Uint8Array, peer: Uint8Array, proof: Uint8Array) => hooks.redeemed === 0 && sameProof(inviteProof(key, peer, local), proof),
    redeem: () => void hooks.redeemed++,
  };
  return hooks;
}

/** The invitee's side: holds the invite (or one with another secret). */
function invitee(secret: Uint8Array): InviteHooks {
  const key = inviteKey(secret);
  return { proofFor: (local, peer) => inviteProof(key, local, peer), pending: () => false, check: () => false, redeem: () => undefined };
}

function pair(seed: number, inviteeSecret: Uint8Array | null) {
  const hooks = inviter(SECRET);
  const { net, a, b } = makePair({ seed, a: inviteeSecret ? { invites: invitee(inviteeSecret) } : {}, b: { allowPeer: () => false, invites: hooks } });
  return { net, a, b, hooks };
}

test('a signed proof of the invite admits an unlisted initiator, once', () => {
  const { net, a, b, hooks } = pair(0x1401, SECRET);
  a.act((h) => h.connect(net.now, b.host.hit, { address: '198.51.100.2', port: 10500 }));
  assert.ok(net.runUntil(() => established(a) && established(b), net.now + 5_000), 'the invitee gets in');
  assert.equal(hooks.redeemed, 1);
  assert.equal(b.dropped('policy'), 0);
});

test('a proof made with another secret is refused and counted', () => {
  const { net, a, b, hooks } = pair(0x1402, new Uint8Array(16));
  a.act((h) => h.connect(net.now, b.host.hit, { address: '198.51.100.2', port: 10500 }));
  net.runUntil(() => established(b), net.now + 3_000);
  assert.equal(established(b), false);
  assert.ok(b.dropped('invite-refused') >= 1, `counted: ${JSON.stringify(b.host.counters.dropped)}`);
  assert.equal(hooks.redeemed, 0);
});

test('an I2 with no proof (the HIT alone) is a policy refusal', () => {
  const { net, a, b, hooks } = pair(0x1403, null);
  a.act((h) => h.connect(net.now, b.host.hit, { address: '198.51.100.2', port: 10500 }));
  net.runUntil(() => established(b), net.now + 3_000);
  assert.equal(established(b), false);
  assert.ok(b.dropped('policy') >= 1);
  assert.equal(hooks.redeemed, 0);
});

test('a proof moved behind the signature, where nothing covers it, does not count', () => {
  const { net, a, b, hooks } = pair(0x1404, SECRET);
  let moved = 0;
  net.filter = ({ bytes }) => {
    if ((bytes[2]! & 0x7f) !== PacketType.I2) return bytes;
    const d = decodePacket(bytes, { udp: true });
    assert.ok(d.ok);
    const proof = d.packet.params.find((p) => p.kind === 'UNKNOWN' && p.type === INVITE_PROOF_TYPE)!;
    moved++;
    return encodePacket({ ...d.packet, params: [...d.packet.params.filter((p) => p !== proof), proof] });
  };
  a.act((h) => h.connect(net.now, b.host.hit, { address: '198.51.100.2', port: 10500 }));
  net.runUntil(() => established(b), net.now + 3_000);
  assert.ok(moved >= 1, 'the I2 was rewritten');
  assert.equal(established(b), false);
  assert.equal(hooks.redeemed, 0);
  assert.ok(b.dropped('decode-param-order') >= 1, `refused as malformed: ${JSON.stringify(b.host.counters.dropped)}`);
});
