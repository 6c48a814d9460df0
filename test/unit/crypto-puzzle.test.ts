import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { providers, nodeCrypto, nobleCrypto } from '../../src-main/hip/crypto/index.js';
import { solvePuzzle, verifySolution } from '../../src-main/hip/crypto/puzzle.js';

const hitI = new Uint8Array(Buffer.from('2001002117ff0234b200ad270767f466', 'hex'));
const hitR = new Uint8Array(Buffer.from('200100211010fb60685eada017cf5987', 'hex'));

/** Independent check of the RFC 7401 §4.1.2 condition, written differently: as a bigint. */
function lowBitsOfDigest(rhash: 'sha256' | 'sha384', i: Uint8Array, j: Uint8Array, k: number): bigint {
  const digest = createHash(rhash).update(i).update(hitI).update(hitR).update(j).digest('hex');
  return BigInt('0x' + digest) & ((1n << BigInt(k)) - 1n);
}

for (const p of providers) {
  for (const rhash of ['sha256', 'sha384'] as const) {
    test(`${p.name}/${rhash}: a solved J zeroes the lowest K bits and verifies on both providers`, () => {
      const hLen = rhash === 'sha256' ? 32 : 48;
      for (const k of [0, 1, 7, 8, 9, 12]) {
        const i = p.randomBytes(hLen);
        const j = solvePuzzle(p, rhash, i, hitI, hitR, k);
        assert.ok(j, `k=${k}`);
        assert.equal(j.length, hLen);
        assert.equal(lowBitsOfDigest(rhash, i, j, k), 0n, `k=${k}`);
        assert.equal(verifySolution(nodeCrypto, rhash, i, hitI, hitR, j, k), true);
        assert.equal(verifySolution(nobleCrypto, rhash, i, hitI, hitR, j, k), true);
      }
    });
  }
}

test('a wrong J, a different I, or swapped HITs do not verify', () => {
  const i = nodeCrypto.randomBytes(48);
  const k = 10;
  const j = solvePuzzle(nodeCrypto, 'sha384', i, hitI, hitR, k)!;
  // Find a J that genuinely fails rather than assuming a changed one does (1 in 1024 would pass).
  const wrong = j.slice();
  do { wrong[0] = (wrong[0]! + 1) & 0xff; } while (lowBitsOfDigest('sha384', i, wrong, k) === 0n);
  assert.equal(verifySolution(nodeCrypto, 'sha384', i, hitI, hitR, wrong, k), false);
  const shiftedI = i.slice();
  do { shiftedI[5] = (shiftedI[5]! + 1) & 0xff; } while (lowBitsOfDigest('sha384', shiftedI, j, k) === 0n);
  assert.equal(verifySolution(nodeCrypto, 'sha384', shiftedI, hitI, hitR, j, k), false);
  assert.equal(verifySolution(nodeCrypto, 'sha384', i, hitI, hitR, j.subarray(1), k), false, 'short J');
  assert.equal(verifySolution(nodeCrypto, 'sha384', i, hitI, hitR, j, 385), false, 'K beyond the digest');
  assert.equal(verifySolution(nodeCrypto, 'sha384', i.subarray(0, 32), hitI, hitR, j, k), false, 'I of the wrong RHASH');
});

test('the solver gives up (null) when attempts run out, and starts from the supplied random J', () => {
  const i = nodeCrypto.randomBytes(32);
  assert.equal(solvePuzzle(nodeCrypto, 'sha256', i, hitI, hitR, 64, { maxAttempts: 50 }), null);
  const fixedStart = (n: number) => new Uint8Array(n).fill(0xab);
  const a = solvePuzzle(nodeCrypto, 'sha256', i, hitI, hitR, 6, { random: fixedStart });
  const b = solvePuzzle(nobleCrypto, 'sha256', i, hitI, hitR, 6, { random: fixedStart });
  assert.ok(a && b);
  assert.deepEqual(a, b);
  assert.equal(solvePuzzle(nodeCrypto, 'sha256', i, hitI, hitR, -1), null);
});
