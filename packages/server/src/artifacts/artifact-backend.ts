import type { Readable, Writable } from 'node:stream';

/** An object being written: invisible to `open`/`list` until `commit`. */
export interface ArtifactUpload {
  /** Where the (already encrypted) bytes go. */
  readonly stream: Writable;
  /** After `stream` finished: makes the object visible under its id, durably, in one step. */
  commit(): Promise<void>;
  /** Drops whatever was written; safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

/**
 * Where artifact bytes live. The store hands a backend ciphertext only, so a
 * backend never sees plaintext or keys. The local file system backend is the
 * default; an S3-compatible one (multipart upload, then complete) fits the
 * same shape.
 */
export interface ArtifactBackend {
  /** Starts writing object `id` (32 hex digits). Nothing is visible until `commit`. */
  begin(id: string): Promise<ArtifactUpload>;
  /** Reads a committed object; throws ARTIFACT_DATA_MISSING if there is none. */
  open(id: string): Promise<Readable>;
  /** Removes a committed object; no error if it is already gone. */
  delete(id: string): Promise<void>;
  /** Ids of committed objects (for the orphan sweep). */
  list(): AsyncIterable<string>;
  /**
   * Removes uploads that were never committed or aborted (a crash, a kill -9),
   * except those this process has in flight, untouched for at least `olderThanMs`.
   * Returns how many it removed.
   */
  sweepIncomplete(olderThanMs: number): Promise<number>;
}

/** Object ids are 128-bit random values in hex: safe as file and key names. */
export const OBJECT_ID = /^[0-9a-f]{32}$/;
