import { type KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify } from 'node:crypto';
import { PackageSigningError } from './errors.js';

/**
 * Ed25519 signatures over a package manifest's exact bytes. The manifest is
 * never re-serialised between signing and verifying, so no canonical JSON
 * form is needed: the signer signs the file, the verifier checks the same
 * bytes before it parses them.
 */

/** What a publisher's signature looks like on the wire (protocol `packageSignature`). */
export interface PackageSignatureFields {
  readonly algorithm: 'ed25519';
  readonly keyId: string;
  /** Raw 32-byte public key, base64. */
  readonly publicKey: string;
  /** 64-byte signature, base64. */
  readonly signature: string;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** First 16 hex digits of SHA-256 over the raw 32-byte Ed25519 public key. */
export function packageKeyId(publicKeyRaw: Uint8Array): string {
  if (publicKeyRaw.length !== 32) throw new PackageSigningError('PACKAGE_KEY_INVALID', 'An Ed25519 public key is 32 bytes.');
  return createHash('sha256').update(publicKeyRaw).digest('hex').slice(0, 16);
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'ed25519') throw new PackageSigningError('PACKAGE_KEY_INVALID', 'Package signing keys are Ed25519.');
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  return Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length));
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new PackageSigningError('PACKAGE_KEY_INVALID', 'An Ed25519 public key is 32 bytes.');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** A new publisher key pair; the private key as PKCS#8 PEM, encrypted when a passphrase is given. */
export function generatePackageSigningKey(passphrase?: string): { privateKeyPem: string; publicKeyRaw: Buffer; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateKeyPem = privateKey.export(
    passphrase === undefined
      ? { type: 'pkcs8', format: 'pem' }
      : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  ) as string;
  const publicKeyRaw = rawPublicKey(publicKey);
  return { privateKeyPem, publicKeyRaw, keyId: packageKeyId(publicKeyRaw) };
}

/** Reads a PKCS#8 PEM private key (encrypted or not); a wrong passphrase or another key type is PACKAGE_KEY_INVALID. */
export function loadPackageSigningKey(pem: string, passphrase?: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch (e) {
    throw new PackageSigningError('PACKAGE_KEY_INVALID', 'The signing key file cannot be read: wrong passphrase, or not a PKCS#8 PEM key.', {
      cause: e,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PackageSigningError('PACKAGE_KEY_INVALID', 'Package signing keys are Ed25519.');
  return key;
}

/** Signs the manifest's exact bytes. */
export function signPackageManifest(manifestBytes: Uint8Array, privateKey: KeyObject): PackageSignatureFields {
  const publicKeyRaw = rawPublicKey(privateKey);
  return {
    algorithm: 'ed25519',
    keyId: packageKeyId(publicKeyRaw),
    publicKey: publicKeyRaw.toString('base64'),
    signature: edSign(null, manifestBytes, privateKey).toString('base64'),
  };
}

/**
 * Checks `signature` over `manifestBytes`, fail-closed: the key id must match
 * the key, the signature must verify, and when `trustedKeyIds` is not empty
 * the key must be one of them. Returns the signer's key id.
 */
export function verifyPackageManifest(
  manifestBytes: Uint8Array,
  signature: PackageSignatureFields,
  trustedKeyIds: readonly string[] = [],
): string {
  if (signature.algorithm !== 'ed25519') throw new PackageSigningError('PACKAGE_KEY_INVALID', 'Only Ed25519 package signatures are accepted.');
  const raw = Buffer.from(signature.publicKey, 'base64');
  const sig = Buffer.from(signature.signature, 'base64');
  const keyId = packageKeyId(raw);
  if (keyId !== signature.keyId) throw new PackageSigningError('PACKAGE_SIGNATURE_INVALID', 'The signature names a key id that is not its key’s.');
  if (sig.length !== 64) throw new PackageSigningError('PACKAGE_SIGNATURE_INVALID', 'An Ed25519 signature is 64 bytes.');
  let ok = false;
  try {
    ok = edVerify(null, manifestBytes, publicKeyFromRaw(raw), sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new PackageSigningError('PACKAGE_SIGNATURE_INVALID', 'The package signature does not verify: the manifest was changed or the signature forged.');
  if (trustedKeyIds.length > 0 && !trustedKeyIds.includes(keyId)) {
    throw new PackageSigningError('PACKAGE_SIGNER_UNTRUSTED', `The package is signed by key ${keyId}, which this project does not trust.`, {
      details: { keyId },
    });
  }
  return keyId;
}
