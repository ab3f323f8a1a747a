import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fetcher as TufFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { AgentError } from '../errors.js';
import type { Fetcher } from '../client/fetcher.js';
import { UpdateError } from './errors.js';

/** Where tuf-js thinks the repository is; only the path is used, the request goes over the agent's pinned mTLS client. */
export const TUF_ORIGIN = 'https://control-plane.invalid';
export const TUF_METADATA_URL = `${TUF_ORIGIN}/device/v1/tuf/metadata/`;
export const TUF_TARGETS_URL = `${TUF_ORIGIN}/device/v1/tuf/targets/`;

export interface TufFetcherOptions {
  /** A folder for downloads in progress (removed afterwards). */
  workDir: string;
  metadataTimeoutMs: number;
  targetTimeoutMs: number;
  /** Bytes received so far of a target download. */
  onTargetBytes?: (done: number, total: number) => void;
}

/**
 * tuf-js's Fetcher over the agent's mTLS client: metadata from
 * `/device/v1/tuf/metadata/`, targets from `/device/v1/tuf/targets/`. The
 * length tuf-js asks for is the response cap (TUF 5.2.x / 5.7.x: the
 * endless-data attack): a larger Content-Length is refused before a byte is
 * read, and a body that runs past it is cut there.
 */
export class MtlsTufFetcher implements TufFetcher {
  /** The last failure of this fetcher, kept because tuf-js wraps some errors into plain strings. */
  lastError: UpdateError | undefined;

  constructor(
    private readonly fetcher: Fetcher,
    private readonly o: TufFetcherOptions,
  ) {}

  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    this.lastError = undefined;
    const u = new URL(url);
    if (u.origin !== TUF_ORIGIN || !u.pathname.startsWith('/device/v1/tuf/'))
      throw new UpdateError('UPDATE_METADATA_INVALID', `tuf-js asked for ${u.pathname}, outside the device TUF routes.`);
    const isTarget = u.pathname.startsWith('/device/v1/tuf/targets/');
    const dir = await mkdtemp(join(this.o.workDir, 'dl-'));
    const file = join(dir, 'body');
    const fd = openSync(file, 'wx', 0o600);
    let bytes = 0;
    const put = (chunk: Buffer): void => {
      if (bytes + chunk.length > maxLength) throw new AgentError('RESPONSE_TOO_LARGE', `more than ${maxLength} bytes`);
      writeSync(fd, chunk);
      bytes += chunk.length;
      if (isTarget) this.o.onTargetBytes?.(bytes, maxLength);
    };
    try {
      let res;
      try {
        res = await this.fetcher.request({
          method: 'GET',
          path: u.pathname,
          headers: { accept: 'application/octet-stream' },
          timeoutMs: isTarget ? this.o.targetTimeoutMs : this.o.metadataTimeoutMs,
          maxResponseBytes: maxLength,
          channel: 'control',
          onChunk: put,
        });
        // A fetcher that does not stream hands the body back whole (the cap still applied).
        if (res.status >= 200 && res.status < 300 && res.body.length > 0) put(res.body);
      } catch (err) {
        throw this.fail(err, u.pathname, isTarget, maxLength);
      }
      if (res.status < 200 || res.status >= 300) {
        // tuf-js stops looking for newer roots at a 403/404 (TUF 5.3.3); anything else is an error.
        if (res.status === 404 || res.status === 403) throw new DownloadHTTPError(`${u.pathname}: ${res.status}`, res.status);
        throw this.fail(new AgentError('CONTROL_PLANE_ERROR', `HTTP ${res.status}`), u.pathname, isTarget, maxLength);
      }
      closeSync(fd);
      return await handler(file);
    } finally {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      await rm(dir, { recursive: true, force: true });
    }
  }

  downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    return this.downloadFile(url, maxLength, (file) => readFile(file));
  }

  private fail(err: unknown, path: string, isTarget: boolean, maxLength: number): UpdateError {
    const code = (err as { code?: string }).code;
    let e: UpdateError;
    if (code === 'RESPONSE_TOO_LARGE') {
      e = isTarget
        ? new UpdateError(
            'UPDATE_TARGET_TOO_LONG',
            `The control plane sent more than the ${maxLength} bytes the signed metadata declares for ${path}; the download was stopped there (endless-data attack).`,
            { cause: err },
          )
        : new UpdateError(
            'UPDATE_METADATA_INVALID',
            `${path} is longer than the ${maxLength} bytes allowed; the download was stopped there.`,
            {
              cause: err,
            },
          );
    } else {
      e = new UpdateError(
        'UPDATE_UNREACHABLE',
        `Cannot fetch ${path} from the control plane (${code ?? (err instanceof Error ? err.message : String(err))}); the update is retried by a new job.`,
        { cause: err },
      );
    }
    this.lastError = e;
    return e;
  }
}
