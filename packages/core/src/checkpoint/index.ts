export { CheckpointError, type CheckpointErrorCode } from './errors.js';
export {
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
  createEd25519Signer,
  createEd25519Verifier,
  ed25519KeyId,
  encodeSignerKey,
  encodeVerifierKey,
  generateNoteKey,
  isValidKeyName,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from './note.js';
export {
  type Checkpoint,
  type CheckpointInput,
  type VerifyCheckpointOptions,
  formatCheckpoint,
  parseAndVerifyCheckpoint,
  parseCheckpointBody,
  signCheckpoint,
} from './checkpoint.js';
