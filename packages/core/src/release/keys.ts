import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Signature } from '@tufjs/models';
import { ReleaseError } from './errors.js';

/** A key that signs TUF metadata: its public half in TUF form and the private key. */
export interface ReleaseSigner {
  key: Key;
  /** Signs canonical-JSON bytes (what @tufjs/models' Metadata.sign hands over). */
  sign(data: Buffer): Signature;
}

const MIN_PASSPHRASE = 12;

/**
 * The TUF form of an Ed25519 public key: keyval.public is the hex of the raw
 * 32 bytes and the key id the SHA-256 of the key's canonical JSON (TUF 1.0,
 * "KEYID").
 */
export function tufPublicKey(publicKey: KeyObject): Key {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new ReleaseError('RELEASE_KEY_INVALID', 'Release keys are Ed25519 keys.');
  const jwk = publicKey.export({ format: 'jwk' });
  const hex = Buffer.from(jwk.x ?? '', 'base64url').toString('hex');
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: hex } };
  const keyID = createHash('sha256').update(canonicalize(body)).digest('hex');
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: hex } });
}

/** A signer over an Ed25519 private key object. */
export function releaseSigner(privateKey: KeyObject): ReleaseSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ReleaseError('RELEASE_KEY_INVALID', 'Release keys are Ed25519 keys.');
  const key = tufPublicKey(createPublicKey(privateKey));
  return { key, sign: (data) => new Signature({ keyID: key.keyID, sig: edSign(null, data, privateKey).toString('hex') }) };
}

export function generateReleaseKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** PKCS#8 PEM encrypted with the passphrase (scrypt-free OpenSSL PBES2, AES-256-CBC): for offline root and targets keys. */
export function encryptReleaseKey(privateKey: KeyObject, passphrase: string): string {
  if ([...passphrase].length < MIN_PASSPHRASE) {
    throw new ReleaseError('RELEASE_KEY_INVALID', `A release key passphrase has at least ${MIN_PASSPHRASE} characters.`, { details: { minLength: MIN_PASSPHRASE } });
  }
  return privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** Opens an encrypted PKCS#8 PEM key file; a wrong passphrase or another algorithm is RELEASE_KEY_INVALID. */
export function decryptReleaseKey(pem: string, passphrase: string): ReleaseSigner {
  if (!pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new ReleaseError('RELEASE_KEY_INVALID', 'Release key files are encrypted PKCS#8 PEM ("BEGIN ENCRYPTED PRIVATE KEY").');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (err) {
    throw new ReleaseError('RELEASE_KEY_INVALID', 'The release key does not open: wrong passphrase or a damaged file.', { cause: err });
  }
  return releaseSigner(key);
}

/** An unencrypted PKCS#8 DER key (the control plane's online keys, sealed under its root key at rest). */
export function releaseSignerFromPkcs8(der: Uint8Array): ReleaseSigner {
  try {
    return releaseSigner(createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }));
  } catch (err) {
    if (err instanceof ReleaseError) throw err;
    throw new ReleaseError('RELEASE_KEY_INVALID', 'A stored release key is damaged.', { cause: err });
  }
}
