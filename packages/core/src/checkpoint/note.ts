// C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys, interoperable with Go's
// golang.org/x/mod/sumdb/note: the same key ID, vkey/skey encodings and note layout.

import {
  type KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as edSign,
  verify as edVerify,
} from 'node:crypto';
import { CheckpointError } from './errors.js';

/** Cap on a note's size, checked before anything else is parsed. */
export const MAX_NOTE_BYTES = 16 * 1024;
/** signed-note: verifiers SHOULD cap the number of signatures and MUST accept at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

/** signed-note "Signature types": 0x01 is Ed25519. */
const ED25519_TYPE = 0x01;
const SIG_PREFIX = '\u2014 '; // em dash, space
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SKEY_PREFIX = 'PRIVATE+KEY+';

export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The raw signature over the note text's bytes. May be async, for a key held in a KMS. */
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

export interface OpenedNote {
  /** The signed text, including its final newline. */
  readonly text: string;
  /** Signatures by the given verifiers; at least one. */
  readonly verified: readonly NoteSignature[];
  /** Signatures by keys the caller did not give, ignored as signed-note requires. */
  readonly unverified: readonly NoteSignature[];
}

const malformed = (message: string): CheckpointError => new CheckpointError('CHECKPOINT_MALFORMED', message);
const badKey = (message: string): CheckpointError => new CheckpointError('CHECKPOINT_KEY_INVALID', message);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
 
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000B-\u001F]/;

/** signed-note "Format": non-empty, no Unicode spaces, no plus (U+002B); and no control characters. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\p{White_Space}+]/u.test(name) && !/\p{Cc}/u.test(name) && !LONE_SURROGATE.test(name);
}

/** Standard base64 (RFC 4648 section 4), canonical only: Buffer's decoder alone accepts junk. */
export function decodeBase64(text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const hex8 = (keyId: number): string => keyId.toString(16).padStart(8, '0');

/** signed-note "Ed25519 signatures": key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name).update(Uint8Array.of(0x0a, ED25519_TYPE)).update(publicKey).digest();
  return digest.readUInt32BE(0);
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) {
    throw badKey(`Key name ${JSON.stringify(name)} is empty or holds spaces, '+' or control characters.`);
  }
}

function rawPublicKey(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ed25519') throw badKey('Checkpoint keys must be Ed25519 keys.');
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw badKey('An Ed25519 public key is 32 bytes.');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** A signer for `name` with an Ed25519 private key. */
export function createEd25519Signer(name: string, privateKey: KeyObject): NoteSigner {
  checkName(name);
  if (privateKey.type !== 'private') throw badKey('A signer needs a private key.');
  const keyId = ed25519KeyId(name, rawPublicKey(privateKey));
  return { name, keyId, sign: (message) => new Uint8Array(edSign(null, message, privateKey)) };
}

/** A verifier for `name` with an Ed25519 public key (a KeyObject, or its 32 raw bytes). */
export function createEd25519Verifier(name: string, publicKey: KeyObject | Uint8Array): NoteVerifier {
  checkName(name);
  const raw = publicKey instanceof Uint8Array ? publicKey : rawPublicKey(publicKey);
  const key = publicKeyFromRaw(raw);
  return {
    name,
    keyId: ed25519KeyId(name, raw),
    // RFC 8032 signatures are 64 bytes; anything else is simply a failed verification.
    verify: (message, signature) => signature.length === 64 && edVerify(null, message, key, signature),
  };
}

/** Go's vkey: `<name>+<hex key ID>+<base64(0x01 || public key)>`, safe to publish. */
export function encodeVerifierKey(name: string, publicKey: KeyObject | Uint8Array): string {
  checkName(name);
  const raw = publicKey instanceof Uint8Array ? publicKey : rawPublicKey(publicKey);
  publicKeyFromRaw(raw);
  return `${name}+${hex8(ed25519KeyId(name, raw))}+${base64(Uint8Array.of(ED25519_TYPE, ...raw))}`;
}

/** Splits `<name>+<hex key ID>+<base64(type || key)>`; the base64 itself may contain '+'. */
function splitKey(text: string, what: string): { name: string; keyId: number; key: Uint8Array } {
  const a = text.indexOf('+');
  const b = text.indexOf('+', a + 1);
  if (a < 0 || b < 0) throw badKey(`A ${what} has the form <name>+<key ID>+<key>.`);
  const name = text.slice(0, a);
  const id = text.slice(a + 1, b);
  checkName(name);
  if (!/^[0-9a-f]{8}$/.test(id)) throw badKey(`The key ID of a ${what} is 8 lowercase hex digits.`);
  const typed = decodeBase64(text.slice(b + 1));
  if (typed?.length !== 33 || typed[0] !== ED25519_TYPE) throw badKey(`The ${what} is not an Ed25519 key.`);
  return { name, keyId: Number.parseInt(id, 16), key: typed.subarray(1) };
}

/** Parses a vkey. Throws CHECKPOINT_KEY_INVALID unless the key ID matches name and key (as Go's note.NewVerifier). */
export function parseVerifierKey(vkey: string): NoteVerifier {
  if (vkey.length > 1024) throw badKey('The verifier key is too long.');
  const { name, keyId, key } = splitKey(vkey, 'verifier key');
  const verifier = createEd25519Verifier(name, key);
  if (verifier.keyId !== keyId) throw badKey('The verifier key ID does not match its name and key.');
  return verifier;
}

/** Go's skey: `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`. A secret. */
export function encodeSignerKey(name: string, privateKey: KeyObject): string {
  checkName(name);
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519')
    throw badKey('Not an Ed25519 private key.');
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const seed = pkcs8.subarray(PKCS8_ED25519_PREFIX.length);
  const keyId = ed25519KeyId(name, rawPublicKey(privateKey));
  return `${SKEY_PREFIX}${name}+${hex8(keyId)}+${base64(Uint8Array.of(ED25519_TYPE, ...seed))}`;
}

/** Parses an skey into a signer; the key ID must match, as in Go's note.NewSigner. */
export function parseSignerKey(skey: string): NoteSigner {
  if (!skey.startsWith(SKEY_PREFIX) || skey.length > 1024) throw badKey('A signer key starts with PRIVATE+KEY+.');
  const { name, keyId, key: seed } = splitKey(skey.slice(SKEY_PREFIX.length), 'signer key');
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const signer = createEd25519Signer(name, privateKey);
  if (signer.keyId !== keyId) throw badKey('The signer key ID does not match its name and key.');
  return signer;
}

/** A fresh Ed25519 key pair for `name`, encoded as Go's note.GenerateKey does. */
export function generateNoteKey(name: string): { signerKey: string; verifierKey: string } {
  checkName(name);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signerKey: encodeSignerKey(name, privateKey), verifierKey: encodeVerifierKey(name, publicKey) };
}

/** signed-note "Format": valid UTF-8, and no ASCII control character except newline. */
function checkText(text: string, what: string): void {
  if (LONE_SURROGATE.test(text)) throw malformed(`The ${what} is not valid UTF-8.`);
  if (CONTROL_BUT_NEWLINE.test(text)) throw malformed(`The ${what} holds a control character other than newline.`);
}

/** Signs `text` (which must end in a newline) with each signer; returns the note. */
export async function signNote(text: string, signers: NoteSigner | readonly NoteSigner[]): Promise<string> {
  const list: readonly NoteSigner[] = Array.isArray(signers) ? signers : [signers as NoteSigner];
  checkText(text, 'note text');
  if (!text.endsWith('\n')) throw malformed('A note text ends with a newline.');
  if (list.length === 0 || list.length > MAX_NOTE_SIGNATURES) {
    throw malformed(`A note carries 1 to ${MAX_NOTE_SIGNATURES} signatures.`);
  }
  const message = Buffer.from(text, 'utf8');
  let note = `${text}\n`;
  for (const signer of list) {
    checkName(signer.name);
    const sig = await signer.sign(message);
    const blob = Buffer.alloc(4 + sig.length);
    blob.writeUInt32BE(signer.keyId >>> 0, 0);
    blob.set(sig, 4);
    note += `${SIG_PREFIX}${signer.name} ${blob.toString('base64')}\n`;
  }
  // Never write a note that our own reader would refuse.
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) throw malformed(`The note is over ${MAX_NOTE_BYTES} bytes.`);
  return note;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeNote(note: string | Uint8Array): string {
  // The size cap comes first, before any other work on input from outside.
  if (typeof note !== 'string') {
    if (note.length > MAX_NOTE_BYTES) throw malformed(`The note is over ${MAX_NOTE_BYTES} bytes.`);
    try {
      return utf8.decode(note);
    } catch (cause) {
      throw new CheckpointError('CHECKPOINT_MALFORMED', 'The note is not valid UTF-8.', { cause });
    }
  }
  if (note.length > MAX_NOTE_BYTES || Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) {
    throw malformed(`The note is over ${MAX_NOTE_BYTES} bytes.`);
  }
  return note;
}

function parseSignatureLine(line: string): NoteSignature {
  // signed-note "Signatures": em dash, space, key name, space, base64(key ID || signature).
  if (!line.startsWith(SIG_PREFIX)) throw malformed('A signature line starts with an em dash (U+2014) and a space.');
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = rest.slice(0, space);
  const blob = space < 0 ? undefined : decodeBase64(rest.slice(space + 1));
  if (!isValidKeyName(name)) throw malformed('A signature line has an invalid key name.');
  if (blob === undefined || blob.length < 5) throw malformed('A signature is not base64 of a key ID and a signature.');
  const keyId = Buffer.from(blob.buffer, blob.byteOffset, 4).readUInt32BE(0);
  return { name, keyId, signature: blob.subarray(4) };
}

/**
 * Parses a signed note and verifies it against the trusted verifiers, as signed-note
 * "Signatures" requires: signatures by unknown keys are ignored, a failed signature by a known key
 * rejects the note (CHECKPOINT_SIGNATURE_INVALID), and a note with no verified signature is
 * rejected (CHECKPOINT_UNKNOWN_KEY). Anything ill-formed is CHECKPOINT_MALFORMED.
 */
export function openNote(note: string | Uint8Array, verifiers: NoteVerifier | readonly NoteVerifier[]): OpenedNote {
  const trusted: readonly NoteVerifier[] = Array.isArray(verifiers) ? verifiers : [verifiers as NoteVerifier];
  const whole = decodeNote(note);
  checkText(whole, 'note');
  // signed-note "Format": the text ends in a newline and is separated from the signatures by
  // the last blank line; the signature block is one or more lines, each ending in a newline.
  const split = whole.lastIndexOf('\n\n');
  if (split < 0) throw malformed('The note has no blank line before its signatures.');
  const text = whole.slice(0, split + 1);
  const block = whole.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n'))
    throw malformed('The note has no signature lines, or they do not end in a newline.');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`The note has over ${MAX_NOTE_SIGNATURES} signatures.`);
  const signatures = lines.map(parseSignatureLine);

  const message = Buffer.from(text, 'utf8');
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of signatures) {
    // A key is known only if both name and key ID match; others MUST be ignored.
    const verifier = trusted.find((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (verifier === undefined) {
      unverified.push(sig);
      continue;
    }
    // "If a signature from a known key fails to verify, clients SHOULD reject the whole note."
    if (!verifier.verify(message, sig.signature)) {
      throw new CheckpointError(
        'CHECKPOINT_SIGNATURE_INVALID',
        `The signature by ${sig.name} (${hex8(sig.keyId)}) does not verify: the note was altered or forged.`,
      );
    }
    verified.push(sig);
  }
  // "If no signature from a known key verifies successfully, clients MUST reject the note."
  if (verified.length === 0) {
    throw new CheckpointError(
      'CHECKPOINT_UNKNOWN_KEY',
      `None of the note's ${signatures.length} signatures is by a trusted key ` +
        `(${trusted.map((v) => `${v.name}+${hex8(v.keyId)}`).join(', ') || 'none given'}).`,
    );
  }
  return { text, verified, unverified };
}
