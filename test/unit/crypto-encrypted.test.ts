import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { providers, nodeCrypto, nobleCrypto } from '../../src-main/hip/crypto/index.js';
import type { CryptoProvider } from '../../src-main/hip/crypto/provider.js';
import { decryptParam, encryptParam } from '../../src-main/hip/crypto/encrypted.js';
import { HipCipher } from '../../src-main/hip/wire/constants.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A padded TLV of the given value length (type 705, HOST_ID, is what I2 encrypts). */
function tlv(valueLength: number, type = 705): Uint8Array {
  const total = (4 + valueLength + 7) & ~7;
  const out = new Uint8Array(total);
  out[0] = type >> 8; out[1] = type & 0xff; out[2] = valueLength >> 8; out[3] = valueLength & 0xff;
  for (let k = 0; k < valueLength; k++) out[4 + k] = (k * 31 + 7) & 0xff;
  return out;
}

const CIPHERS = [
  { id: HipCipher.NULL, keyLen: 0 },
  { id: HipCipher.AES_128_CBC, keyLen: 16 },
  { id: HipCipher.AES_256_CBC, keyLen: 32 },
];

for (const p of providers) {
  for (const { id, keyLen } of CIPHERS) {
    test(`${p.name}: ENCRYPTED with HIP_CIPHER ${id} round-trips, also to the other provider`, () => {
      const other = p === nodeCrypto ? nobleCrypto : nodeCrypto;
      for (const valueLength of [0, 4, 12, 28, 67, 260]) {
        const key = p.randomBytes(keyLen);
        const params = valueLength === 67 ? new Uint8Array([...tlv(67), ...tlv(10, 321)]) : tlv(valueLength); // several params too
        const data = encryptParam(p, id, key, params);
        if (id === HipCipher.NULL) assert.equal(toHex(data), toHex(params));
        else {
          assert.equal(data.length % 16, 0);
          assert.ok(data.length >= 16 + params.length + 1, 'IV + parameters + at least one padding octet');
        }
        assert.equal(toHex(decryptParam(p, id, key, data)!), toHex(params));
        assert.equal(toHex(decryptParam(other, id, key, data)!), toHex(params));
      }
    });
  }
}

test('AES ENCRYPTED data is IV ‖ AES-CBC with PKCS#5 padding (checked against OpenSSL own padding)', () => {
  const iv = new Uint8Array(16).fill(0x5a);
  const fixedIv: CryptoProvider = { ...nodeCrypto, randomBytes: (n: number) => iv.slice(0, n) };
  for (const valueLength of [4, 12, 100]) {
    const key = nodeCrypto.randomBytes(32);
    const params = tlv(valueLength);
    const cipher = createCipheriv('aes-256-cbc', key, iv); // auto padding = PKCS#7
    const want = Buffer.concat([iv, cipher.update(params), cipher.final()]);
    assert.equal(toHex(encryptParam(fixedIv, HipCipher.AES_256_CBC, key, params)), want.toString('hex'));
  }
});

test('tampering and inconsistencies are reported as null, never thrown', () => {
  const key = nodeCrypto.randomBytes(16);
  const params = tlv(12); // 16 octets: a whole block, so the padding is a full block of 0x10
  const data = encryptParam(nodeCrypto, HipCipher.AES_128_CBC, key, params);
  assert.equal(data.length, 16 + 32);
  for (const p of providers) {
    // Flipping a bit of the previous ciphertext block flips the same bit of the last padding octet: 0x10 → 0x11.
    const badPad = data.slice();
    badPad[data.length - 17] = badPad[data.length - 17]! ^ 0x01;
    assert.equal(decryptParam(p, HipCipher.AES_128_CBC, key, badPad), null, `${p.name}: bad padding`);
    assert.equal(decryptParam(p, HipCipher.AES_128_CBC, key, data.subarray(0, data.length - 1)), null, 'not whole blocks');
    assert.equal(decryptParam(p, HipCipher.AES_128_CBC, key, data.subarray(0, 16)), null, 'IV only');
    assert.equal(decryptParam(p, HipCipher.AES_128_CBC, key.subarray(1), data), null, 'wrong key size');
    assert.equal(decryptParam(p, HipCipher.AES_256_CBC, key, data), null, 'cipher/key mismatch');
    assert.equal(decryptParam(p, 3, key, data), null, 'unknown cipher');
    assert.equal(decryptParam(p, HipCipher.NULL, new Uint8Array(0), Uint8Array.of(2, 193, 0, 40, 1, 2, 3, 4)), null, 'TLV longer than the data');
  }
  // Padding that decodes but leaves bytes that are not whole parameters is refused too.
  const fixedIv: CryptoProvider = { ...nodeCrypto, randomBytes: (n: number) => new Uint8Array(n) };
  const forged = new Uint8Array(16).fill(0);
  forged[3] = 200; // a TLV claiming 200 octets of value inside 12 octets of plaintext
  forged.fill(4, 12);
  const ct = nodeCrypto.aesCbcEncrypt(key, new Uint8Array(16), forged);
  assert.equal(decryptParam(fixedIv, HipCipher.AES_128_CBC, key, new Uint8Array([...new Uint8Array(16), ...ct])), null);
});

test('decryptParam never throws on random input', () => {
  for (let n = 0; n < 3000; n++) {
    const cipher = [1, 2, 4, 0, 3][n % 5]!;
    const key = nodeCrypto.randomBytes([0, 16, 32, 5][n % 4]!);
    const data = nodeCrypto.randomBytes(n % 97);
    const p = n % 2 === 0 ? nodeCrypto : nobleCrypto;
    const out = decryptParam(p, cipher, key, data);
    assert.ok(out === null || out instanceof Uint8Array);
  }
});

test('encryptParam refuses programming errors loudly', () => {
  assert.throws(() => encryptParam(nodeCrypto, 3, new Uint8Array(16), tlv(4)), RangeError);
  assert.throws(() => encryptParam(nodeCrypto, HipCipher.AES_128_CBC, new Uint8Array(32), tlv(4)), RangeError);
  assert.throws(() => encryptParam(nodeCrypto, HipCipher.AES_128_CBC, new Uint8Array(16), tlv(4).subarray(0, 6)), RangeError);
});
