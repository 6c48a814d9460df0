import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawEspKeys, espKeymatLength } from '../../src-main/esp/keys.js';
import { chooseEspSuite, espSuiteInfo, PREFERRED_ESP_SUITES } from '../../src-main/esp/suites.js';

/** KEYMAT whose octet at offset i is i mod 256, so every draw shows where it came from. */
const countingKeymat = {
  bytes(offset: number, length: number): Uint8Array {
    return Uint8Array.from({ length }, (_, k) => (offset + k) & 0xff);
  },
};
const run = (from: number, n: number): Uint8Array => countingKeymat.bytes(from, n);

const HIT_LOW = Uint8Array.from([0x20, 0x01, 0x00, 0x20, ...new Array<number>(12).fill(0x11)]);
const HIT_HIGH = Uint8Array.from([0x20, 0x01, 0x00, 0x2f, ...new Array<number>(12).fill(0x00)]);

test('suite table: RFC 4868 HMAC-SHA-256-128 for CBC, RFC 4106 salt and 8-octet IV for GCM', () => {
  assert.deepEqual(espSuiteInfo(8), {
    suite: 8, name: 'AES-128-CBC with HMAC-SHA-256-128', encKeyLength: 16, authKeyLength: 32, saltLength: 0,
    ivLength: 16, icvLength: 16, blockSize: 16, aead: false,
  });
  assert.equal(espSuiteInfo(9)?.encKeyLength, 32);
  assert.equal(espSuiteInfo(12)?.icvLength, 8);
  assert.equal(espSuiteInfo(13)?.icvLength, 16);
  for (const s of [12, 13]) {
    const i = espSuiteInfo(s)!;
    assert.equal(i.saltLength, 4);
    assert.equal(i.ivLength, 8);
    assert.equal(i.authKeyLength, 0);
  }
  assert.equal(espSuiteInfo(1), undefined);
  assert.deepEqual(PREFERRED_ESP_SUITES, [13, 12, 9, 8]);
});

test('suite choice follows the offerer\'s order among suites we support', () => {
  assert.equal(chooseEspSuite([10, 9, 13]), 9);
  assert.equal(chooseEspSuite([1, 7, 14]), null);
});

test('CBC keys: SA-gl enc, SA-gl auth, SA-lg enc, SA-lg auth from the ESP_INFO index; greater HIT sends on gl', () => {
  const start = 100;
  const high = drawEspKeys(countingKeymat, start, 8, HIT_HIGH, HIT_LOW);
  assert.deepEqual(high.outbound.encKey, run(100, 16));
  assert.deepEqual(high.outbound.authKey, run(116, 32));
  assert.deepEqual(high.inbound.encKey, run(148, 16));
  assert.deepEqual(high.inbound.authKey, run(164, 32));
  assert.equal(high.outbound.salt.length, 0);
  assert.equal(high.nextIndex, 196);

  const low = drawEspKeys(countingKeymat, start, 8, HIT_LOW, HIT_HIGH);
  // What one host sends with, the other receives with.
  assert.deepEqual(low.inbound, high.outbound);
  assert.deepEqual(low.outbound, high.inbound);
});

test('GCM keys: key then 4-octet salt per direction, no auth key', () => {
  const k = drawEspKeys(countingKeymat, 0, 13, HIT_LOW, HIT_HIGH);
  assert.deepEqual(k.inbound.encKey, run(0, 16)); // gl: the peer (greater HIT) sends on it
  assert.deepEqual(k.inbound.salt, run(16, 4));
  assert.deepEqual(k.outbound.encKey, run(20, 16));
  assert.deepEqual(k.outbound.salt, run(36, 4));
  assert.equal(k.outbound.authKey.length, 0);
  assert.equal(k.nextIndex, 40);
  assert.equal(espKeymatLength(13), 20);
  assert.equal(espKeymatLength(9), 64);
});

test('HITs compare as unsigned numbers, not signed octets', () => {
  const a = Uint8Array.from([0x80, ...new Array<number>(15).fill(0)]);
  const b = Uint8Array.from([0x7f, ...new Array<number>(15).fill(0xff)]);
  const k = drawEspKeys(countingKeymat, 0, 9, a, b);
  assert.deepEqual(k.outbound.encKey, run(0, 32));
});

test('unknown suites are refused rather than guessed', () => {
  assert.throws(() => drawEspKeys(countingKeymat, 0, 11, HIT_LOW, HIT_HIGH), RangeError);
});
