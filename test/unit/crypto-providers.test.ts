import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nobleCrypto, nodeCrypto, providers } from '../../src-main/hip/crypto/index.js';
import type { CryptoProvider, EcCurveName, EcdhKeyPair, SigningKeyKind } from '../../src-main/hip/crypto/provider.js';
import { CUTEHIP_VECTORS } from './crypto-cutehip-vectors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

for (const p of providers) {
  test(`${p.name}: HMAC-SHA-256/384 match RFC 4231 test case 1`, () => {
    const key = new Uint8Array(20).fill(0x0b);
    assert.equal(toHex(p.hmac('sha256', key, ascii('Hi There'))), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
    assert.equal(
      toHex(p.hmac('sha384', key, ascii('Hi There'))),
      'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    );
  });

  test(`${p.name}: cSHAKE128 matches the NIST SP 800-185 samples`, () => {
    const s = ascii('Email Signature');
    assert.equal(toHex(p.cshake128(hex('00010203'), s, 32)), 'c1c36925b6409a04f1b504fcbca9d82b4017277cb5ed2b2065fc1d3814d5aaf5');
    const long = Uint8Array.from({ length: 200 }, (_, i) => i);
    assert.equal(toHex(p.cshake128(long, s, 32)), 'c5221d50e4f822d96a2e8881a961420f294b7b24fe3d2094baed2c6524cc166b');
  });

  test(`${p.name}: ECDH matches RFC 5903 §8.1 (P-256) and §8.2 (P-384) from both sides`, () => {
    const cases: { curve: EcCurveName; i: string; gi: string; r: string; gr: string; gir: string }[] = [
      {
        curve: 'P-256',
        i: 'C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433',
        gi: 'DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180' + '5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3',
        r: 'C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53',
        gr: 'D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63' + '56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB',
        gir: 'D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE',
      },
      {
        curve: 'P-384',
        i: '099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194',
        gi:
          '667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA' +
          '9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C',
        r: '41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC',
        gr:
          'E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D0D1AC43A0336DEF96FDA41D0774A3571' +
          'DCFBEC7AACF31964 72169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C',
        gir: '11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746',
      },
    ];
    for (const c of cases) {
      const initiator: EcdhKeyPair = { curve: c.curve, privateKey: hex(c.i), publicKey: hex(c.gi) };
      const responder: EcdhKeyPair = { curve: c.curve, privateKey: hex(c.r), publicKey: hex(c.gr) };
      assert.equal(toHex(p.ecdhCompute(initiator, hex(c.gr))!), c.gir.toLowerCase(), `${c.curve} initiator side`);
      assert.equal(toHex(p.ecdhCompute(responder, hex(c.gi))!), c.gir.toLowerCase(), `${c.curve} responder side`);
    }
  });

  test(`${p.name}: ECDH refuses a peer point that is not on the curve, or of the wrong size`, () => {
    for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
      const own = p.ecdhGenerate(curve);
      const peer = p.ecdhGenerate(curve);
      const offCurve = flip(peer.publicKey, peer.publicKey.length - 1); // y + 1 (or - 1): not on the curve
      assert.equal(p.ecdhCompute(own, offCurve), null, curve);
      assert.equal(p.ecdhCompute(own, peer.publicKey.subarray(1)), null, `${curve} short`);
      assert.equal(p.ecdhCompute(own, new Uint8Array(peer.publicKey.length)), null, `${curve} zero point`);
    }
  });

  test(`${p.name}: Ed25519 matches RFC 8032 §7.1 test 1`, () => {
    const key = {
      algorithm: 'ed25519' as const,
      privateKey: hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
      publicKey: hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
    };
    const expected =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    assert.equal(toHex(p.sign(key, 'sha256', new Uint8Array(0))), expected);
    assert.equal(p.verify({ algorithm: 'ed25519', publicKey: key.publicKey }, 'sha256', new Uint8Array(0), hex(expected)), true);
    assert.equal(p.verify({ algorithm: 'ed25519', publicKey: key.publicKey }, 'sha256', Uint8Array.of(0), hex(expected)), false);
  });

  test(`${p.name}: AES-CBC matches SP 800-38A F.2.1 and AES-GCM matches the GCM spec test case 2`, () => {
    const ct = p.aesCbcEncrypt(hex('2b7e151628aed2a6abf7158809cf4f3c'), hex('000102030405060708090a0b0c0d0e0f'), hex('6bc1bee22e409f96e93d7e117393172a'));
    assert.equal(toHex(ct), '7649abac8119b246cee98e9b12e9197d');
    assert.equal(
      toHex(p.aesCbcDecrypt(hex('2b7e151628aed2a6abf7158809cf4f3c'), hex('000102030405060708090a0b0c0d0e0f'), ct)),
      '6bc1bee22e409f96e93d7e117393172a',
    );
    const sealed = p.aesGcmSeal(new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), new Uint8Array(16), 16);
    assert.equal(toHex(sealed), '0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf');
    // ESP suite 12 truncates the ICV to its leading 8 octets (RFC 4106).
    const short = p.aesGcmSeal(new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), new Uint8Array(16), 8);
    assert.equal(toHex(short), '0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bd');
  });

  test(`${p.name}: RSA-PSS verifies the real signatures in the cutehip capture and rejects altered ones`, () => {
    for (const v of CUTEHIP_VECTORS) {
      const hi = hex(v.hi);
      const eLen = hi[0]!;
      const key = { algorithm: 'rsa' as const, exponent: hi.subarray(1, 1 + eLen), modulus: hi.subarray(1 + eLen) };
      const data = hex(v.signedData);
      const sig = hex(v.signature);
      assert.equal(p.verify(key, 'sha256', data, sig), true, v.packet);
      assert.equal(p.verify(key, 'sha256', flip(data, 50), sig), false, `${v.packet}: data changed`);
      assert.equal(p.verify(key, 'sha256', data, flip(sig, 10)), false, `${v.packet}: signature changed`);
      assert.equal(p.verify(key, 'sha384', data, sig), false, `${v.packet}: wrong hash`);
      assert.equal(p.verify(key, 'sha256', data, sig.subarray(1)), false, `${v.packet}: short signature`);
    }
  });

  test(`${p.name}: verify never throws on garbage keys and signatures`, () => {
    const junk = [new Uint8Array(0), Uint8Array.of(1, 2, 3), p.randomBytes(64), p.randomBytes(256)];
    for (const a of junk) {
      for (const b of junk) {
        assert.equal(p.verify({ algorithm: 'ecdsa', curve: 'P-256', publicKey: a }, 'sha384', b, b), false);
        assert.equal(p.verify({ algorithm: 'ed25519', publicKey: a }, 'sha256', b, b), false);
        assert.equal(p.verify({ algorithm: 'rsa', modulus: a, exponent: Uint8Array.of(1, 0, 1) }, 'sha256', b, b), false);
      }
    }
  });
}

// Cross-checks: what one provider produces, the other must accept, or the two hosts of a
// handshake running different providers could not talk.
const other = (p: CryptoProvider): CryptoProvider => (p === nodeCrypto ? nobleCrypto : nodeCrypto);

for (const p of providers) {
  const kinds: SigningKeyKind[] = p.name === 'node' ? ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'] : ['ecdsa-p256', 'ecdsa-p384', 'ed25519'];
  test(`signatures made by ${p.name} verify with ${other(p).name} (${kinds.join(', ')})`, () => {
    for (const kind of kinds) {
      const key = p.generateSigningKey(kind);
      const pub =
        key.algorithm === 'rsa'
          ? { algorithm: 'rsa' as const, modulus: key.modulus, exponent: key.exponent }
          : key.algorithm === 'ecdsa'
            ? { algorithm: 'ecdsa' as const, curve: key.curve, publicKey: key.publicKey }
            : { algorithm: 'ed25519' as const, publicKey: key.publicKey };
      assert.equal(p.isValidVerifyingKey(pub), true, kind);
      assert.equal(other(p).isValidVerifyingKey(pub), true, kind);
      for (let n = 0; n < 8; n++) {
        const data = p.randomBytes(40 + n * 37);
        const hash = kind === 'ecdsa-p256' || kind === 'ecdsa-p384' ? 'sha384' : 'sha256';
        const sig = p.sign(key, hash, data);
        assert.equal(p.verify(pub, hash, data, sig), true, `${kind} self`);
        assert.equal(other(p).verify(pub, hash, data, sig), true, `${kind} cross`);
        assert.equal(other(p).verify(pub, hash, flip(data, 0), sig), false, `${kind} cross, data changed`);
      }
    }
  });

  test(`ECDH between ${p.name} and ${other(p).name} agrees on every curve`, () => {
    for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
      for (let n = 0; n < 5; n++) {
        const a = p.ecdhGenerate(curve);
        const b = other(p).ecdhGenerate(curve);
        const ab = p.ecdhCompute(a, b.publicKey);
        const ba = other(p).ecdhCompute(b, a.publicKey);
        assert.ok(ab && ba);
        assert.equal(toHex(ab), toHex(ba), curve);
        // The same pair computed by the other provider gives the same secret too.
        assert.equal(toHex(other(p).ecdhCompute(a, b.publicKey)!), toHex(ab));
      }
    }
  });
}

test('RSA signing is node-only: the noble provider says so instead of producing something wrong', () => {
  const key = nodeCrypto.generateSigningKey('rsa');
  assert.throws(() => nobleCrypto.sign(key, 'sha256', Uint8Array.of(1)), /RSA signing is node-only/);
});

test('AES-CBC and AES-GCM ciphertexts are identical across providers, and GCM rejects tampering', () => {
  for (const keyLen of [16, 32]) {
    const key = nodeCrypto.randomBytes(keyLen);
    const iv = nodeCrypto.randomBytes(16);
    const pt = nodeCrypto.randomBytes(96);
    assert.equal(toHex(nodeCrypto.aesCbcEncrypt(key, iv, pt)), toHex(nobleCrypto.aesCbcEncrypt(key, iv, pt)));
    for (const tagLength of [8, 16]) {
      const nonce = nodeCrypto.randomBytes(12);
      const aad = nodeCrypto.randomBytes(8);
      const sealed = nodeCrypto.aesGcmSeal(key, nonce, aad, pt, tagLength);
      assert.equal(toHex(nobleCrypto.aesGcmSeal(key, nonce, aad, pt, tagLength)), toHex(sealed));
      for (const p of providers) {
        assert.equal(toHex(p.aesGcmOpen(key, nonce, aad, sealed, tagLength)!), toHex(pt), `${p.name} tag ${tagLength}`);
        assert.equal(p.aesGcmOpen(key, nonce, aad, flip(sealed, 3), tagLength), null, `${p.name} body flipped`);
        assert.equal(p.aesGcmOpen(key, nonce, aad, flip(sealed, sealed.length - 1), tagLength), null, `${p.name} tag flipped`);
        assert.equal(p.aesGcmOpen(key, nonce, flip(aad, 0), sealed, tagLength), null, `${p.name} aad changed`);
        assert.equal(p.aesGcmOpen(key, nonce, aad, sealed.subarray(0, tagLength - 1), tagLength), null, `${p.name} too short`);
      }
    }
  }
});
