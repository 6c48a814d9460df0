// The invite text: what `hipvpn invite` prints and `hipvpn peer add --invite` reads back, and
// the one-sentence errors a damaged or foreign text gives.
//
//   node --import tsx --test test/unit/invite-text.test.ts

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INVITE_PREFIX, decodeInvite, encodeInvite, type Invite } from '../../src-main/daemon/invite-text.js';
import { inviteKey, inviteProof } from '../../src-main/hip/invite-proof.js';

const INVITE: Invite = {
  hit: '2001:22:9184:d55f:7016:8deb:7eb1:bf70',
  name: 'alice-laptop',
  locators: [{ address: '192.0.2.7', port: 10500 }, { address: '2001:db8::7', port: 4500 }],
  relay: { hit: '2001:2a:1111:2222:3333:4444:5555:6666', address: '198.51.100.1', port: 10500 },
  secret: Uint8Array.from({ length: 16 }, (_, i) => i * 7),
  expiresAt: 1_900_000_000,
};

test('an invite survives encode and decode, and is short enough for a chat line', () => {
  const text = encodeInvite(INVITE);
  assert.ok(text.startsWith(INVITE_PREFIX));
  assert.ok(text.length < 160, `${text.length} characters`);
  const back = decodeInvite(text);
  assert.ok(back.ok, back.ok ? '' : back.error);
  assert.deepEqual(back.value, INVITE);
  const { relay: _relay, ...withoutRelay } = INVITE;
  const plain = decodeInvite(`  ${encodeInvite({ ...withoutRelay, locators: [] })}\n`);
  assert.ok(plain.ok);
  assert.deepEqual(plain.value, { ...withoutRelay, locators: [] });
});

test('a malformed invite gives one clear sentence, never a throw', () => {
  const good = encodeInvite(INVITE);
  const cases: Array<[string, RegExp]> = [
    ['', /must start with "hipvpn-invite:"/],
    ['2001:22:9184:d55f:7016:8deb:7eb1:bf70', /must start with "hipvpn-invite:"/],
    [`${INVITE_PREFIX}`, /only letters, digits/],
    [`${good.slice(0, 40)} ${good.slice(40)}`, /only letters, digits, "-" and "_" may follow \(was it cut or wrapped\?\)/],
    [good.slice(0, good.length - 6), /cut short \(copy the whole line\)/],
    [`${good}AAAA`, /octets after its end/],
    [INVITE_PREFIX + Buffer.from([9, ...new Uint8Array(40)]).toString('base64url'), /version 9; this hipvpn reads version 1/],
  ];
  for (const [text, error] of cases) {
    const r = decodeInvite(text);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(text)}`);
    if (!r.ok) assert.match(r.error, /^not a usable invite: /, text);
    if (!r.ok) assert.match(r.error, error, text);
  }
  const notHit = Buffer.from(good.slice(INVITE_PREFIX.length), 'base64url');
  notHit[1] = 0xfe;
  const r = decodeInvite(INVITE_PREFIX + notHit.toString('base64url'));
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error, /does not hold a HIT/);
});

test('the proof binds the secret to both HITs, in order', () => {
  const a = Uint8Array.from({ length: 16 }, (_, i) => i);
  const b = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);
  const key = inviteKey(INVITE.secret);
  const proof = inviteProof(key, a, b);
  assert.equal(proof.length, 32);
  assert.notDeepEqual(inviteProof(key, b, a), proof, 'initiator and responder are not interchangeable');
  assert.notDeepEqual(inviteProof(inviteKey(new Uint8Array(16)), a, b), proof, 'another secret gives another proof');
  assert.deepEqual(inviteProof(inviteKey(INVITE.secret), a, b), proof);
});
