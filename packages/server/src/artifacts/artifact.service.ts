import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb } from 'node:stream';
import { createDecryptStream, createEncryptStream, isSightlineError } from '@sightline/core';
import type { Clock } from '../clock.js';
import type { KeyCaller, KmsService } from '../kms/kms.service.js';
import type { Logger } from '../logging/logger.js';
import type { ArtifactsTable } from '../storage/schema.js';
import { isUniqueViolation, type Store } from '../storage/store.js';
import { ArtifactError } from './artifact-errors.js';
import { assertArtifactName, assertArtifactPrefix } from './artifact-name.js';
import type { ArtifactBackend, ArtifactUpload } from './artifact-backend.js';
import type { ArtifactRepository } from './artifact.repository.js';
import { newObjectId } from './local-fs.backend.js';

export interface ArtifactView {
  project: string;
  name: string;
  /** Plaintext bytes: what a download's Content-Length will be. */
  size: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
  segmentSize: number;
  /** The KMS key (id) that wrapped this artifact's data key. */
  keyId: string;
  createdAt: string;
  createdBy: string;
}

export interface ArtifactSettings {
  /** Largest artifact accepted, plaintext bytes. */
  maxObjectBytes: number;
  /** Plaintext bytes per encrypted segment. */
  segmentBytes: number;
}

export interface PutOptions {
  /** Content-Length, when the client sent one. */
  declaredLength?: number;
  /** `x-sightline-sha256`: the upload fails unless the bytes have this digest. */
  expectedSha256?: string;
  /** Replace an artifact of the same name (otherwise ALREADY_EXISTS). */
  overwrite?: boolean;
  /** A customer-managed key of the project, by name; default the project's service key for artifacts. */
  keyName?: string;
}

/** Runs a short write in one transaction with the call's audit event (RequestContext.commit). */
export type Committer = (fn: () => Promise<void>) => Promise<void>;

export interface ArtifactDownload {
  artifact: ArtifactView;
  /** Plaintext, decrypted segment by segment; errors (and is destroyed) on any integrity failure. */
  stream: Readable;
}

function view(r: ArtifactsTable): ArtifactView {
  return {
    project: r.project,
    name: r.name,
    size: r.size,
    sha256: r.sha256,
    segmentSize: r.segment_size,
    keyId: r.key_id,
    createdAt: new Date(r.created_at).toISOString(),
    createdBy: r.created_by,
  };
}

/** Binds a wrapped data key to the one object it protects: it unwraps for nothing else. */
const keyContext = (id: string): string => `artifact:${id}`;

/**
 * The artifact store (seed point 17; DESIGN "Protocols and formats"): each
 * object is encrypted under its own data key from the KMS, in 1 MiB
 * AES-256-GCM segments bound to the object id and index (core envelope
 * streams), and written through a backend that makes it visible only once
 * whole. Memory per transfer is about one segment, whatever the size.
 */
export class ArtifactService {
  constructor(
    private readonly store: Store,
    private readonly repo: ArtifactRepository,
    private readonly backend: ArtifactBackend,
    private readonly kms: KmsService,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: ArtifactSettings,
  ) {}

  get maxObjectBytes(): number {
    return this.settings.maxObjectBytes;
  }

  private async assertProject(project: string): Promise<void> {
    if (!(await this.repo.projectExists(project))) throw new ArtifactError('PROJECT_NOT_FOUND', `No project named "${project}".`);
  }

  private async row(project: string, name: string): Promise<ArtifactsTable> {
    assertArtifactName(name);
    const row = await this.repo.find(project, name);
    if (row === undefined)
      throw new ArtifactError('ARTIFACT_NOT_FOUND', `No artifact "${name}" in project ${project}; "sightline artifact ls" lists them.`);
    return row;
  }

  async get(project: string, name: string): Promise<ArtifactView> {
    return view(await this.row(project, name));
  }

  async list(
    project: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ artifacts: ArtifactView[]; next: string | null }> {
    assertArtifactPrefix(prefix);
    await this.assertProject(project);
    const rows = await this.repo.list(project, prefix, after, limit + 1);
    const page = rows.slice(0, limit);
    return { artifacts: page.map(view), next: rows.length > limit ? (page[page.length - 1]?.name ?? null) : null };
  }

  /**
   * Streams `body` through a fresh data key into the backend, then records the
   * row. Nothing is visible unless every step succeeded: an error at any point
   * removes what was written (a crash leaves a `.part` file for the sweep).
   */
  async put(
    project: string,
    name: string,
    body: Readable,
    options: PutOptions,
    caller: KeyCaller,
    commit?: Committer,
  ): Promise<ArtifactView> {
    assertArtifactName(name);
    const expected = options.expectedSha256;
    if (expected !== undefined && !/^[0-9a-f]{64}$/i.test(expected)) {
      throw new ArtifactError('ARTIFACT_SHA256_INVALID', 'x-sightline-sha256 must be the SHA-256 of the content as 64 hex digits.', {
        details: { field: 'x-sightline-sha256' },
      });
    }
    const max = this.settings.maxObjectBytes;
    if (options.declaredLength !== undefined && options.declaredLength > max) {
      throw new ArtifactError('BODY_TOO_LARGE', `The artifact is larger than ${max} bytes (artifacts.maxObjectBytes).`, {
        details: { limit: max },
      });
    }
    await this.assertProject(project);
    // Refuse before reading a byte; checked again when the row is written.
    if (options.overwrite !== true && (await this.repo.find(project, name)) !== undefined) throw this.exists(project, name);

    const id = newObjectId();
    const keyId = options.keyName === undefined ? undefined : (await this.kms.describe(project, options.keyName)).id;
    const dataKey = await this.kms.generateDataKey(
      { project, purpose: 'artifacts', ...(keyId === undefined ? {} : { keyId }) },
      keyContext(id),
      caller,
    );
    const encrypt = createEncryptStream({
      dataKey: dataKey.key,
      objectId: Buffer.from(id, 'hex'),
      segmentSize: this.settings.segmentBytes,
    });
    const upload = await this.backend.begin(id);
    try {
      const size = await this.receive(body, encrypt, upload);
      const digest = encrypt.digest();
      // Integrity of the transfer: the client's own digest of what it meant to send.
      if (expected !== undefined && !timingSafeEqual(digest, Buffer.from(expected, 'hex'))) {
        throw new ArtifactError(
          'ARTIFACT_DIGEST_MISMATCH',
          'The content received does not have the SHA-256 given in x-sightline-sha256; nothing was stored. Check the file and upload again.',
          {
            details: { received: digest.toString('hex') },
          },
        );
      }
      await upload.commit();
      const row: ArtifactsTable = {
        id,
        project,
        name,
        size,
        sha256: digest.toString('hex'),
        segment_size: this.settings.segmentBytes,
        key_id: dataKey.keyId,
        wrapped_key: dataKey.wrapped.toString('base64'),
        created_at: this.clock.now(),
        created_by: caller.principal.name,
      };
      const replaced = await this.record(row, options.overwrite === true, commit);
      if (replaced !== undefined) await this.removeObject(replaced, 'replaced');
      return view(row);
    } catch (err) {
      // Nothing half-written: drop the part (or the committed object that has no row).
      await upload.abort().catch((e: unknown) => this.logger.warn('artifact upload abort failed', { id, error: String(e) }));
      await this.removeObject(id, 'failed upload');
      throw err;
    }
  }

  /**
   * Body → encryption → backend, with back-pressure all the way (memory O(segment)). Returns the plaintext
   * byte count. The body is fed by hand, not piped through a counting Transform: a stream hop per 16 KiB
   * TLS record costs more than the hashing, and a failure (over the cap, say) must not destroy the
   * request's socket, or the client never reads the error response.
   */
  private receive(body: Readable, encrypt: Transform, upload: ArtifactUpload): Promise<number> {
    const max = this.settings.maxObjectBytes;
    let bytes = 0;
    return new Promise<number>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        cleanup();
        // Discard the rest unread (its length was declared within the cap, or the client stops on the error
        // answer): a body left half-read on a keep-alive connection would stall the client's next request.
        body.resume();
        encrypt.destroy(err instanceof Error ? err : new Error(String(err)));
      };
      const onData = (chunk: Buffer): void => {
        bytes += chunk.length;
        // Hard cap on what is read from outside (STYLE: size caps), enforced while streaming.
        if (bytes > max) {
          fail(
            new ArtifactError('BODY_TOO_LARGE', `The artifact is larger than ${max} bytes (artifacts.maxObjectBytes).`, {
              details: { limit: max },
            }),
          );
          return;
        }
        if (!encrypt.write(chunk)) body.pause();
      };
      const onDrain = (): void => {
        if (!failed) body.resume();
      };
      const onEnd = (): void => {
        cleanup();
        encrypt.end();
      };
      const onAbort = (): void =>
        fail(new ArtifactError('ARTIFACT_UPLOAD_INCOMPLETE', 'The upload ended before the whole body arrived; nothing was stored.'));
      const cleanup = (): void => {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onAbort);
        body.off('aborted', onAbort);
        body.off('close', onAbort);
        encrypt.off('drain', onDrain);
      };
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', onAbort);
      body.once('aborted', onAbort);
      body.once('close', onAbort);
      encrypt.on('drain', onDrain);
      pipeline(encrypt, upload.stream).then(
        () => resolve(bytes),
        (err: unknown) => {
          fail(err);
          reject(
            isSightlineError(err)
              ? err
              : new ArtifactError('ARTIFACT_UPLOAD_INCOMPLETE', 'The upload did not complete; nothing was stored.', { cause: err }),
          );
        },
      );
    });
  }

  /** Writes the row (replacing an older one when asked) with the call's audit event; returns the replaced object's id. */
  private async record(row: ArtifactsTable, overwrite: boolean, commit: Committer | undefined): Promise<string | undefined> {
    let replaced: string | undefined;
    const write = async (): Promise<void> => {
      const existing = await this.repo.find(row.project, row.name);
      if (existing !== undefined) {
        if (!overwrite) throw this.exists(row.project, row.name);
        await this.repo.deleteById(existing.id);
        replaced = existing.id;
      }
      await this.repo.insert(row);
    };
    try {
      await (commit ?? ((fn) => this.store.transaction(fn)))(write);
    } catch (err) {
      // Another upload of the same name committed first.
      if (isUniqueViolation(err)) throw this.exists(row.project, row.name, err);
      throw err;
    }
    return replaced;
  }

  private exists(project: string, name: string, cause?: unknown): ArtifactError {
    return new ArtifactError(
      'ALREADY_EXISTS',
      `Artifact "${name}" already exists in project ${project}; add ?overwrite=true to replace it.`,
      cause === undefined ? {} : { cause },
    );
  }

  /**
   * Opens an artifact for download: unwraps its data key (KMS codes such as
   * KEY_DISABLED come through) and verifies the stream header and first
   * segment before anything is sent, so most faults are a JSON error, not a
   * broken download. A fault found later errors the stream: the transfer is
   * cut, never silently short.
   */
  async open(project: string, name: string, caller: KeyCaller): Promise<ArtifactDownload> {
    const row = await this.row(project, name);
    const dataKey = await this.kms.decryptDataKey(Buffer.from(row.wrapped_key, 'base64'), keyContext(row.id), caller);
    const source = await this.backend.open(row.id);
    const decrypt = createDecryptStream({
      dataKey,
      objectId: Buffer.from(row.id, 'hex'),
      // Memory cap: a header naming bigger segments than the row recorded is refused before allocation.
      maxSegmentSize: row.segment_size,
      // Integrity record check: the plaintext must be the one whose SHA-256 was recorded at upload.
      expectedDigest: Buffer.from(row.sha256, 'hex'),
    });
    pipelineCb(source, decrypt, (err) => {
      if (err !== undefined && err !== null && (err as { code?: unknown }).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.logger.warn('artifact download failed', { project, artifact: name, error: isSightlineError(err) ? err.code : String(err) });
      }
    });
    try {
      // The header and the first segment (or the whole of a small object, digest included) verify before
      // the response starts: 'readable' comes only with authenticated plaintext, 'error' with the code.
      await once(decrypt, 'readable');
    } catch (err) {
      source.destroy();
      throw err;
    }
    return { artifact: view(row), stream: decrypt };
  }

  /** Deletes the row (with the call's audit event), then the bytes; the data key goes with the row. */
  async delete(project: string, name: string, commit?: Committer): Promise<void> {
    const row = await this.row(project, name);
    await (commit ?? ((fn) => this.store.transaction(fn)))(async () => {
      if (!(await this.repo.deleteById(row.id)))
        throw new ArtifactError('ARTIFACT_NOT_FOUND', `No artifact "${name}" in project ${project}.`);
    });
    await this.removeObject(row.id, 'deleted');
  }

  /** Best effort: an object left behind has no row (and so no key); the startup sweep removes it. */
  private async removeObject(id: string, why: string): Promise<void> {
    try {
      await this.backend.delete(id);
    } catch (err) {
      this.logger.warn('artifact object removal failed; the next start-up sweep removes it', { id, why, error: String(err) });
    }
  }

  /**
   * Removes what a crash left: uploads never committed (`.part`) and objects
   * whose row was never written or already deleted. Run at start-up, before
   * the server accepts uploads; `olderThanMs` guards uploads of other processes.
   */
  async sweep(options: { olderThanMs: number; orphans: boolean }): Promise<{ parts: number; orphans: number }> {
    const parts = await this.backend.sweepIncomplete(options.olderThanMs);
    let orphans = 0;
    if (options.orphans) {
      const batch: string[] = [];
      const check = async (): Promise<void> => {
        const known = await this.repo.existingIds(batch);
        for (const id of batch) {
          if (known.has(id)) continue;
          await this.backend.delete(id);
          orphans++;
        }
        batch.length = 0;
      };
      // In batches: one query per 500 objects, under every engine's limit on bound parameters.
      for await (const id of this.backend.list()) {
        batch.push(id);
        if (batch.length === 500) await check();
      }
      await check();
    }
    if (parts + orphans > 0) this.logger.info('artifact sweep removed leftovers', { parts, orphans });
    return { parts, orphans };
  }
}
