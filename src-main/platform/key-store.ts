// The host's private key on disk: PKCS#8 PEM in `${stateDir}/host-key.pem`, mode 0600, in a
// directory created 0700. The HIT is derived from this key, so losing it changes the host's
// identity for every peer; leaking it lets anyone impersonate the host. A key file others can
// read is refused rather than silently fixed, so the user learns it was exposed.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { curveFieldLength, type CryptoProvider, type SigningKey, type SigningKeyKind } from '../hip/crypto/provider.js';
import { generateIdentity, identityFromSigningKey, type LocalHostIdentity } from '../hip/identity/host-identity.js';
import { writePrivateFile } from './private-file.js';

export const HOST_KEY_FILE = 'host-key.pem';

export function hostKeyPath(stateDir: string): string {
  return join(stateDir, HOST_KEY_FILE);
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const fromB64u = (text: string | undefined): Uint8Array => new Uint8Array(Buffer.from(text ?? '', 'base64url'));

function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length >= length) return bytes.subarray(bytes.length - length);
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

function toKeyObject(key: SigningKey): KeyObject {
  switch (key.algorithm) {
    case 'ecdsa': {
      const n = curveFieldLength(key.curve);
      return createPrivateKey({
        key: { kty: 'EC', crv: key.curve, d: b64u(key.privateKey), x: b64u(key.publicKey.subarray(0, n)), y: b64u(key.publicKey.subarray(n)) },
        format: 'jwk',
      });
    }
    case 'ed25519':
      return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64u(key.privateKey), x: b64u(key.publicKey) }, format: 'jwk' });
    case 'rsa':
      return createPrivateKey({ key: Buffer.from(key.pkcs8Der), format: 'der', type: 'pkcs8' });
  }
}

/** PKCS#8 PEM of a host key. */
export function signingKeyToPem(key: SigningKey): string {
  return toKeyObject(key).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A host key from PEM; throws an Error naming what is wrong with the file's contents. */
export function signingKeyFromPem(pem: string): SigningKey {
  const obj = createPrivateKey({ key: pem, format: 'pem' });
  switch (obj.asymmetricKeyType) {
    case 'ec': {
      const named = obj.asymmetricKeyDetails?.namedCurve;
      const curve = named === 'prime256v1' ? 'P-256' : named === 'secp384r1' ? 'P-384' : null;
      if (curve === null) throw new Error(`host key uses curve ${named ?? 'unknown'}; hipvpn supports P-256 and P-384`);
      const n = curveFieldLength(curve);
      const jwk = obj.export({ format: 'jwk' });
      const publicKey = new Uint8Array(2 * n);
      publicKey.set(leftPad(fromB64u(jwk.x), n), 0);
      publicKey.set(leftPad(fromB64u(jwk.y), n), n);
      return { algorithm: 'ecdsa', curve, privateKey: leftPad(fromB64u(jwk.d), n), publicKey };
    }
    case 'ed25519': {
      const jwk = obj.export({ format: 'jwk' });
      return { algorithm: 'ed25519', privateKey: fromB64u(jwk.d), publicKey: fromB64u(jwk.x) };
    }
    case 'rsa': {
      const jwk = obj.export({ format: 'jwk' });
      const der = obj.export({ format: 'der', type: 'pkcs8' });
      return { algorithm: 'rsa', pkcs8Der: new Uint8Array(der), modulus: fromB64u(jwk.n), exponent: fromB64u(jwk.e) };
    }
    default:
      throw new Error(`host key type ${obj.asymmetricKeyType ?? 'unknown'} is not supported (ECDSA P-256/P-384, Ed25519, RSA)`);
  }
}

/** Writes the key atomically and 0600 (private-file.ts) so a crash never leaves half a key. */
export async function saveIdentity(stateDir: string, identity: LocalHostIdentity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writePrivateFile(hostKeyPath(stateDir), signingKeyToPem(identity.signingKey));
}

/** Loads the stored identity; refuses a key file that group or others can read or write. */
export async function loadIdentity(stateDir: string, provider: CryptoProvider): Promise<LocalHostIdentity> {
  const path = hostKeyPath(stateDir);
  const info = await stat(path);
  if (!info.isFile()) throw new Error(`${path} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new Error(
      `${path} has mode ${mode}: the host private key must be readable only by its owner. ` +
        `If nobody else could have copied it, fix with: chmod 600 ${path} ; otherwise delete it to create a new identity (new HIT).`,
    );
  }
  const pem = await readFile(path, 'utf8');
  let key: SigningKey;
  try {
    key = signingKeyFromPem(pem);
  } catch (err) {
    throw new Error(`${path} does not hold a usable host key: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return identityFromSigningKey(provider, key);
}

/** The host's identity, created (default ECDSA P-256) and stored on first run. */
export async function loadOrCreateIdentity(stateDir: string, provider: CryptoProvider, kind: SigningKeyKind = 'ecdsa-p256'): Promise<LocalHostIdentity> {
  try {
    return await loadIdentity(stateDir, provider);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const identity = generateIdentity(provider, kind);
  await saveIdentity(stateDir, identity);
  return identity;
}
