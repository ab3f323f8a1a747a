// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head of the audit log.
//
//   <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n...]
//   \n
//   — <key name> <base64(key ID || signature)>\n

import { CheckpointError } from './errors.js';
import { type NoteSigner, type NoteVerifier, decodeBase64, openNote, signNote } from './note.js';

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  /** RFC 9162 MTH of the first `size` leaves. */
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

export interface CheckpointInput {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

const malformed = (message: string): CheckpointError => new CheckpointError('CHECKPOINT_MALFORMED', message);

/** tlog-checkpoint "Note text": the body a log signs. */
export function formatCheckpoint(checkpoint: CheckpointInput): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  for (const line of [origin, ...extensions]) {
    // Origin and extension lines MUST be non-empty, and a newline would shift every line after it.
    if (line.length === 0 || line.includes('\n'))
      throw malformed('Origin and extension lines are non-empty single lines.');
  }
  if (!Number.isSafeInteger(size) || size < 0)
    throw malformed(`Tree size must be a non-negative safe integer, got ${size}.`);
  if (rootHash.length !== 32) throw malformed('The root hash is a 32-byte SHA-256 hash.');
  return [origin, String(size), Buffer.from(rootHash).toString('base64'), ...extensions].map((l) => `${l}\n`).join('');
}

/** Parses a checkpoint body. Only call it on text whose signature was verified (see parseAndVerifyCheckpoint). */
export function parseCheckpointBody(text: string): Checkpoint {
  // tlog-checkpoint "Note text": at least three non-empty lines, each ending in a newline.
  if (!text.endsWith('\n')) throw malformed('A checkpoint body ends with a newline.');
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin === undefined || sizeLine === undefined || rootLine === undefined) {
    throw malformed('A checkpoint has an origin, a tree size and a root hash line.');
  }
  if (lines.some((l) => l.length === 0))
    throw malformed('Checkpoint lines, extension lines included, MUST be non-empty.');
  // Line 2: ASCII decimal, no leading zeroes unless the tree is empty. Sizes past 2^53 - 1
  // cannot be held exactly in a number and are refused rather than rounded.
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) {
    throw malformed(`Tree size ${JSON.stringify(sizeLine.slice(0, 32))} is not a canonical decimal below 2^53.`);
  }
  // Line 3: base64 of the RFC 6962 (= RFC 9162 SHA-256) root hash.
  const rootHash = decodeBase64(rootLine);
  if (rootHash?.length !== 32) throw malformed('The root hash line is not canonical base64 of 32 bytes.');
  return { origin, size: Number(sizeLine), rootHash, extensions };
}

/** Formats and signs a checkpoint; returns the note text to publish. */
export async function signCheckpoint(
  checkpoint: CheckpointInput,
  signers: NoteSigner | readonly NoteSigner[],
): Promise<string> {
  return signNote(formatCheckpoint(checkpoint), signers);
}

export interface VerifyCheckpointOptions {
  /**
   * The log expected. Defaults to the first verifier's key name, which tlog-checkpoint says
   * SHOULD match the origin.
   */
  readonly origin?: string;
}

/**
 * Verifies a checkpoint note against trusted keys, then parses its body (signed-note: the text
 * MUST be ignored until a trusted signature verifies). Throws CheckpointError with
 * CHECKPOINT_MALFORMED, CHECKPOINT_SIGNATURE_INVALID, CHECKPOINT_UNKNOWN_KEY or CHECKPOINT_ORIGIN_MISMATCH.
 */
export function parseAndVerifyCheckpoint(
  note: string | Uint8Array,
  verifiers: NoteVerifier | readonly NoteVerifier[],
  options: VerifyCheckpointOptions = {},
): Checkpoint {
  const list: readonly NoteVerifier[] = Array.isArray(verifiers) ? verifiers : [verifiers as NoteVerifier];
  const expected = options.origin ?? list[0]?.name;
  if (expected === undefined) throw new CheckpointError('CHECKPOINT_UNKNOWN_KEY', 'No trusted key was given.');
  const { text } = openNote(note, list);
  const checkpoint = parseCheckpointBody(text);
  // A valid checkpoint of another log (say, one that shares a key) says nothing about this one.
  if (checkpoint.origin !== expected) {
    throw new CheckpointError(
      'CHECKPOINT_ORIGIN_MISMATCH',
      `The checkpoint is for log ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(expected)}.`,
    );
  }
  return checkpoint;
}
