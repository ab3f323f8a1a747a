// Binary uploads and downloads for the artifact tests (the harness's `call` speaks JSON only).
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { request, type Agent } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Target {
  port: number;
  ca: string;
  token: string;
  agent?: Agent;
}

export interface UploadResult {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  /** Set when the connection broke before a response arrived. */
  transportError?: string;
}

export const artifactPath = (project: string, name: string): string =>
  `/api/v1/projects/${project}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;

/**
 * PUTs `source` as application/octet-stream. `length` is sent as Content-Length
 * when given (else the body is chunked); `headers` adds or overrides headers.
 */
export function upload(
  t: Target,
  path: string,
  source: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>,
  options: { length?: number; headers?: Record<string, string> } = {},
): Promise<UploadResult> {
  return new Promise((resolve) => {
    const length = Buffer.isBuffer(source) ? source.length : options.length;
    let settled = false;
    const done = (r: UploadResult): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.port,
        method: 'PUT',
        path,
        ca: t.ca,
        ...(t.agent === undefined ? {} : { agent: t.agent }),
        headers: {
          'content-type': 'application/octet-stream',
          authorization: `Bearer ${t.token}`,
          ...(length === undefined ? {} : { 'content-length': String(length) }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          done({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as UploadResult['body']) });
        });
        res.on('error', (err) => done({ status: res.statusCode ?? 0, body: {}, transportError: err.message }));
      },
    );
    req.on('error', (err) => done({ status: 0, body: {}, transportError: err.message }));
    if (Buffer.isBuffer(source)) {
      req.end(source);
    } else {
      // A failed write (the server answered early and closed) shows up as the response or a transport error.
      pipeline(Readable.from(source, { objectMode: false }), req).catch(() => undefined);
    }
  });
}

export interface DownloadResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body, when `keep` was set (else empty). */
  body: Buffer;
  bytes: number;
  sha256: string;
  /** The JSON error body of a non-200 answer. */
  error?: { code: string; message: string };
  /** Set when the stream broke after the headers (a fault found mid-transfer). */
  broken?: string;
}

export function download(t: Target, path: string, options: { keep?: boolean } = {}): Promise<DownloadResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.port,
        method: 'GET',
        path,
        ca: t.ca,
        ...(t.agent === undefined ? {} : { agent: t.agent }),
        headers: { authorization: `Bearer ${t.token}` },
      },
      (res) => {
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        let bytes = 0;
        let settled = false;
        const finish = (broken?: string): void => {
          if (settled) return;
          settled = true;
          const body = Buffer.concat(chunks);
          const r: DownloadResult = { status: res.statusCode ?? 0, headers: res.headers, body, bytes, sha256: hash.digest('hex') };
          if (broken !== undefined) r.broken = broken;
          if (r.status !== 200 && broken === undefined)
            r.error = (JSON.parse(body.toString('utf8')) as { error: { code: string; message: string } }).error;
          resolve(r);
        };
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (res.statusCode === 200) hash.update(c);
          if (options.keep === true || res.statusCode !== 200) chunks.push(c);
        });
        res.on('end', () => finish(res.complete ? undefined : 'incomplete'));
        res.on('aborted', () => finish('aborted'));
        res.on('error', (err) => finish(err.message));
        res.on('close', () => finish(res.complete ? undefined : 'closed'));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Committed object files and leftover parts of an artifact folder. */
export function artifactFiles(dataDir: string): { objects: string[]; parts: string[] } {
  const root = join(dataDir, 'artifacts');
  const list = (d: string): string[] => {
    try {
      return filesUnder(join(root, d));
    } catch {
      return [];
    }
  };
  return { objects: list('objects'), parts: list('tmp') };
}

/**
 * Deterministic, incompressible-looking test content, one 1 MiB block at a
 * time (a 2 GiB upload never holds more than a block): block i is a random
 * base block with i written into its first 8 bytes, so no two blocks repeat.
 */
export function* blocks(total: number, base: Buffer): Generator<Buffer> {
  for (let at = 0, i = 0; at < total; at += base.length, i++) {
    const b = Buffer.from(base.subarray(0, Math.min(base.length, total - at)));
    if (b.length >= 8) b.writeBigUInt64BE(BigInt(i), 0);
    yield b;
  }
}
