import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { CheckpointError, type CheckpointErrorCode } from './errors.js';
import {
  MAX_NOTE_BYTES,
  createEd25519Signer,
  createEd25519Verifier,
  encodeSignerKey,
  encodeVerifierKey,
  generateNoteKey,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from './note.js';

// Known answer: the example in the documentation of Go's golang.org/x/mod/sumdb/note.
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_NOTE =
  PETER_TEXT +
  '\n' +
  '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

function assertCode(fn: () => unknown, code: CheckpointErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected CheckpointError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function freshKey(name: string): {
  signer: ReturnType<typeof parseSignerKey>;
  verifier: ReturnType<typeof parseVerifierKey>;
} {
  const { signerKey, verifierKey } = generateNoteKey(name);
  return { signer: parseSignerKey(signerKey), verifier: parseVerifierKey(verifierKey) };
}

test("Go's note example: the verifier key parses, and the note verifies", () => {
  const verifier = parseVerifierKey(PETER_VKEY);
  assert.equal(verifier.name, 'PeterNeumann');
  assert.equal(verifier.keyId, 0xc74f20a3);
  const opened = openNote(PETER_NOTE, verifier);
  assert.equal(opened.text, PETER_TEXT);
  assert.equal(opened.verified.length, 1);
  assert.equal(opened.unverified.length, 0);
  // The same note as bytes.
  assert.equal(openNote(Buffer.from(PETER_NOTE), verifier).text, PETER_TEXT);
});

test('the example.com/foo example of an earlier C2SP signed-note revision verifies', () => {
  const verifier = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
  const note =
    'This is an example message.\n\n\u2014 example.com/foo ' +
    'Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
  assert.equal(openNote(note, verifier).text, 'This is an example message.\n');
  assertCode(
    () => openNote(note.replace('example message', 'example massage'), verifier),
    'CHECKPOINT_SIGNATURE_INVALID',
  );
});

test("Go's note example: signing with its private key gives the same note, byte for byte", async () => {
  const signer = parseSignerKey(PETER_SKEY);
  assert.equal(signer.keyId, 0xc74f20a3);
  assert.equal(await signNote(PETER_TEXT, signer), PETER_NOTE);
});

test("Go's note example: changing any byte of the note makes it fail", () => {
  const verifier = parseVerifierKey(PETER_VKEY);
  const bytes = Buffer.from(PETER_NOTE);
  const textEnd = Buffer.byteLength(PETER_TEXT);
  for (let i = 0; i < bytes.length; i++) {
    const bad = Buffer.from(bytes);
    bad[i] = ((bad[i] as number) + 1) & 0xff;
    assert.throws(
      () => openNote(bad, verifier),
      (err: unknown) => err instanceof CheckpointError,
      `byte ${i} changed, yet the note was accepted`,
    );
    // A printable change in the text is caught by the signature itself.
    if (i < textEnd - 1 && (bytes[i] as number) >= 0x20 && (bytes[i] as number) < 0x7e) {
      assertCode(() => openNote(bad, verifier), 'CHECKPOINT_SIGNATURE_INVALID');
    }
  }
});

test('vkey and skey round-trip, and the key ID binds the name and key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const vkey = encodeVerifierKey('audit.example/log', publicKey);
  const skey = encodeSignerKey('audit.example/log', privateKey);
  const verifier = parseVerifierKey(vkey);
  const signer = parseSignerKey(skey);
  assert.equal(verifier.keyId, signer.keyId);
  assert.equal(verifier.keyId, createEd25519Verifier('audit.example/log', publicKey).keyId);
  assert.equal(signer.keyId, createEd25519Signer('audit.example/log', privateKey).keyId);
  assert.notEqual(createEd25519Verifier('audit.example/log2', publicKey).keyId, verifier.keyId);
  assert.ok(vkey.startsWith(`audit.example/log+${verifier.keyId.toString(16).padStart(8, '0')}+A`));
});

test("mangled verifier keys are refused (as Go's TestNewVerifier does)", () => {
  for (let i = 0; i <= PETER_VKEY.length; i++) {
    for (let j = i + 1; j <= PETER_VKEY.length; j++) {
      if (i === 0 && j === PETER_VKEY.length) continue;
      assertCode(() => parseVerifierKey(PETER_VKEY.slice(i, j)), 'CHECKPOINT_KEY_INVALID');
    }
  }
  for (let i = 0; i < PETER_VKEY.length; i++) {
    const bad = PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
    assertCode(() => parseVerifierKey(bad), 'CHECKPOINT_KEY_INVALID');
  }
  assertCode(() => parseVerifierKey(PETER_VKEY.replace('c74f20a3', 'C74F20A3')), 'CHECKPOINT_KEY_INVALID');
  assertCode(() => parseSignerKey(PETER_SKEY.replace('PRIVATE', 'PUBLIC')), 'CHECKPOINT_KEY_INVALID');
  assertCode(() => parseSignerKey(PETER_SKEY.replace('c74f20a3', 'c74f20a4')), 'CHECKPOINT_KEY_INVALID');
});

test('key names follow signed-note: non-empty, no Unicode spaces, no plus', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  for (const name of ['', 'a b', 'a+b', 'a\tb', 'a\u00a0b', 'a\u2003b', 'a\u0085b', 'a\nb', 'a\u0000b']) {
    assertCode(() => createEd25519Signer(name, privateKey), 'CHECKPOINT_KEY_INVALID');
  }
  createEd25519Signer('example.com/log\u00e9', privateKey);
  assertCode(() => createEd25519Signer('x', generateKeyPairSync('ed25519').publicKey), 'CHECKPOINT_KEY_INVALID');
  assertCode(() => createEd25519Signer('x', generateKeyPairSync('x25519').privateKey), 'CHECKPOINT_KEY_INVALID');
});

test('signatures by unknown keys are ignored; a note needs one trusted signature', async () => {
  const a = freshKey('a.example');
  const b = freshKey('b.example');
  const note = await signNote('hello\n', [b.signer, a.signer]);
  const opened = openNote(note, a.verifier);
  assert.deepEqual(
    opened.verified.map((s) => s.name),
    ['a.example'],
  );
  assert.deepEqual(
    opened.unverified.map((s) => s.name),
    ['b.example'],
  );
  const byB = await signNote('hello\n', b.signer);
  assertCode(() => openNote(byB, a.verifier), 'CHECKPOINT_UNKNOWN_KEY');
  // Same name, other key: a different key ID, so unknown rather than invalid.
  const byA2 = await signNote('hello\n', freshKey('a.example').signer);
  assertCode(() => openNote(byA2, a.verifier), 'CHECKPOINT_UNKNOWN_KEY');
  // Same key ID, other name: also unknown.
  const renamed = await signNote('hello\n', {
    name: 'c.example',
    keyId: a.signer.keyId,
    sign: (m) => a.signer.sign(m),
  });
  assertCode(() => openNote(renamed, a.verifier), 'CHECKPOINT_UNKNOWN_KEY');
});

test('a bad signature from a known key rejects the whole note, even beside a good one', async () => {
  const a = freshKey('a.example');
  const b = freshKey('b.example');
  const good = await signNote('hello\n', [a.signer, b.signer]);
  // Graft b's signature line from another text onto this one.
  const other = await signNote('other\n', b.signer);
  const forged = good.slice(0, good.lastIndexOf('\u2014')) + other.slice(other.indexOf('\u2014'));
  openNote(forged, a.verifier); // b unknown: ignored
  assertCode(() => openNote(forged, [a.verifier, b.verifier]), 'CHECKPOINT_SIGNATURE_INVALID');
});

test('malformed notes are refused before any signature is checked', async () => {
  const a = freshKey('a.example');
  const good = await signNote('hello\n', a.signer);
  const sigLine = good.slice(good.indexOf('\u2014'));
  const cases: Array<string | Uint8Array> = [
    '',
    'hello\n',
    'hello\n\n',
    good.slice(0, -1), // no final newline
    good.replace('\u2014', '-'), // hyphen, not em dash
    good.replace('\u2014 ', '\u2014'),
    good.replace('hello', 'hel\rlo'),
    good.replace('hello', 'hel\u0000lo'),
    good.replace('hello', 'hel\uD800lo'),
    Buffer.concat([Buffer.from('hel'), Buffer.from([0xff]), Buffer.from(good.slice(3))]),
    good.replace(/=?\n$/, '\n'), // padding removed: not canonical base64
    good.replace(/ (\S+)\n$/, '  $1\n'),
    good.slice(0, -2) + '_\n', // base64url character
    'hello\n\n\u2014 a.example AAAA\n', // 3 bytes: no room for key ID and signature
    'hello\n\n\u2014 a.example\n',
    `hello\n\n${sigLine}${sigLine.replace('a.example', 'a b')}`,
    `hello\n\n${sigLine}\n`, // blank line inside the signatures
    'x'.repeat(MAX_NOTE_BYTES) + '\n\n' + sigLine,
    'hello\n\n' + sigLine.repeat(101),
  ];
  for (const note of cases) assertCode(() => openNote(note, a.verifier), 'CHECKPOINT_MALFORMED');
  // 100 signature lines are accepted (signed-note asks for at least 16).
  openNote('hello\n\n' + sigLine.repeat(100), a.verifier);
});

test('signNote refuses texts it could not write as a valid note', async () => {
  const a = freshKey('a.example');
  await assert.rejects(
    signNote('no newline', a.signer),
    (e: unknown) => e instanceof CheckpointError && e.code === 'CHECKPOINT_MALFORMED',
  );
  await assert.rejects(
    signNote('tab\there\n', a.signer),
    (e: unknown) => e instanceof CheckpointError && e.code === 'CHECKPOINT_MALFORMED',
  );
  await assert.rejects(
    signNote('x'.repeat(MAX_NOTE_BYTES) + '\n', a.signer),
    (e: unknown) => e instanceof CheckpointError,
  );
  await assert.rejects(signNote('ok\n', []), (e: unknown) => e instanceof CheckpointError);
  // A text with blank lines inside still round-trips: the last blank line is the separator.
  assert.equal(openNote(await signNote('a\n\nb\n\n', a.signer), a.verifier).text, 'a\n\nb\n\n');
});
