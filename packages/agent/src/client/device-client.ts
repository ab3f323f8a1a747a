import type { z } from 'zod';
import { appsApi, deviceApi, previewApi } from '@sightline/protocol';
import { CameraCredentials } from '../camera/credentials.js';
import { AgentError, ControlPlaneError } from '../errors.js';
import type { FetchRequest, FetchResponse, Fetcher, Upload } from './fetcher.js';

/** Caps on what the control plane may send back (STYLE: tuf-js config.ts). */
export const LIMITS = Object.freeze({
  /** Desired state: jobs and, later, app manifests. */
  desiredStateBytes: 1024 * 1024,
  /** Every other answer is a few hundred bytes; a certificate chain a few KiB. */
  smallAnswerBytes: 64 * 1024,
  /** Ordinary calls. */
  timeoutMs: 20_000,
  /** The long-poll waits server-side; allow this much beyond the wait. */
  pollGraceMs: 15_000,
  maxWaitSeconds: 60,
});

export type DesiredState = deviceApi.DesiredState;
export type AppStatusReport = appsApi.AppStatusReport;
export type Heartbeat = deviceApi.Heartbeat;
export type DeviceLogBatch = z.input<typeof deviceApi.deviceLogBatch>;
export type RegisterResponse = z.infer<typeof deviceApi.registerResponse>;
export type RenewResponse = z.infer<typeof deviceApi.renewResponse>;
export type JobStatus = z.infer<typeof deviceApi.jobUpdateRequest>['status'];

export type DesiredStateAnswer = { changed: true; state: DesiredState } | { changed: false };

const errorBody = (body: Buffer): { code: string; message: string } | undefined => {
  try {
    const json = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    if (typeof json.error?.code === 'string')
      return { code: json.error.code, message: typeof json.error.message === 'string' ? json.error.message : '' };
  } catch {
    // not JSON: handled below
  }
  return undefined;
};

/**
 * The device API (`/device/v1/…`) as typed calls. Every answer is size-capped
 * by the fetcher and schema-checked here before anyone uses it (fail closed).
 */
export class DeviceClient {
  constructor(private fetcher: Fetcher) {}

  /** Switches to a new fetcher (a renewed certificate); the old one closes once its requests finish. */
  replaceFetcher(next: Fetcher): void {
    const old = this.fetcher;
    this.fetcher = next;
    old.close();
  }

  close(): void {
    this.fetcher.close();
  }

  private async call<T>(req: FetchRequest, schema: z.ZodType<T>): Promise<T> {
    const res = await this.fetcher.request(req);
    this.throwIfError(res, req.path);
    return this.parse(res, schema, req.path);
  }

  private throwIfError(res: FetchResponse, path: string): void {
    if (res.status >= 200 && res.status < 300) return;
    if (res.status === 304) return;
    const err = errorBody(res.body);
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw new AgentError(
        'CONTROL_PLANE_ERROR',
        `The control plane answered ${path} with ${res.status}${err === undefined ? '' : ` (${err.code})`}; retrying later.`,
        {
          details: { status: res.status },
        },
      );
    }
    throw new ControlPlaneError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? 'no error body');
  }

  private parse<T>(res: FetchResponse, schema: z.ZodType<T>, path: string): T {
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch (err) {
      throw new AgentError('RESPONSE_INVALID', `The control plane's answer to ${path} is not JSON.`, { cause: err });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AgentError(
        'RESPONSE_INVALID',
        `The control plane's answer to ${path} does not match the device API (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''}).`,
      );
    }
    return parsed.data;
  }

  register(csrPem: string): Promise<RegisterResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/device/v1/register',
        body: { csrPem },
        timeoutMs: LIMITS.timeoutMs,
        maxResponseBytes: LIMITS.smallAnswerBytes,
        channel: 'control',
      },
      deviceApi.registerResponse,
    );
  }

  renew(csrPem: string): Promise<RenewResponse> {
    return this.call(
      {
        method: 'POST',
        path: '/device/v1/certificate/renew',
        body: { csrPem },
        timeoutMs: LIMITS.timeoutMs,
        maxResponseBytes: LIMITS.smallAnswerBytes,
        channel: 'control',
      },
      deviceApi.renewResponse,
    );
  }

  /** Long-poll: returns at once when the state differs from `etag`, else after up to `waitSeconds` with `changed: false`. */
  async desiredState(etag: string | undefined, waitSeconds: number, signal?: AbortSignal): Promise<DesiredStateAnswer> {
    const wait = Math.max(0, Math.min(LIMITS.maxWaitSeconds, Math.floor(waitSeconds)));
    const path = `/device/v1/desired-state?wait=${wait}`;
    const res = await this.fetcher.request({
      method: 'GET',
      path,
      headers: etag === undefined ? {} : { 'if-none-match': etag },
      timeoutMs: wait * 1000 + LIMITS.pollGraceMs,
      maxResponseBytes: LIMITS.desiredStateBytes,
      channel: 'poll',
      ...(signal === undefined ? {} : { signal }),
    });
    this.throwIfError(res, path);
    if (res.status === 304) return { changed: false };
    return { changed: true, state: this.parse(res, deviceApi.desiredState, path) };
  }

  heartbeat(hb: Heartbeat, signal?: AbortSignal): Promise<z.infer<typeof deviceApi.heartbeatResponse>> {
    return this.call(
      {
        method: 'POST',
        path: '/device/v1/heartbeat',
        body: hb,
        timeoutMs: LIMITS.timeoutMs,
        maxResponseBytes: LIMITS.smallAnswerBytes,
        channel: 'control',
        ...(signal === undefined ? {} : { signal }),
      },
      deviceApi.heartbeatResponse,
    );
  }

  async updateJob(jobId: string, status: JobStatus, message?: string): Promise<void> {
    const res = await this.fetcher.request({
      method: 'POST',
      path: `/device/v1/jobs/${encodeURIComponent(jobId)}`,
      body: message === undefined ? { status } : { status, message: message.slice(0, 512) },
      timeoutMs: LIMITS.timeoutMs,
      maxResponseBytes: LIMITS.smallAnswerBytes,
      channel: 'control',
    });
    this.throwIfError(res, '/device/v1/jobs/:id');
  }

  async shipLogs(batch: DeviceLogBatch, signal?: AbortSignal): Promise<void> {
    const res = await this.fetcher.request({
      method: 'POST',
      path: '/device/v1/logs',
      body: batch,
      timeoutMs: LIMITS.timeoutMs,
      maxResponseBytes: LIMITS.smallAnswerBytes,
      channel: 'control',
      ...(signal === undefined ? {} : { signal }),
    });
    this.throwIfError(res, '/device/v1/logs');
  }

  /**
   * Streams one package blob (`GET /device/v1/packages/blobs/:sha256`) into
   * `onChunk`, refusing more than `maxBytes` (RESPONSE_TOO_LARGE, also when
   * the declared Content-Length is larger). The caller hashes as it goes.
   */
  async downloadBlob(
    sha256: string,
    o: { maxBytes: number; onChunk: (chunk: Buffer) => void; timeoutMs: number; signal?: AbortSignal },
  ): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AgentError('USAGE', 'A blob is named by its SHA-256 (64 hex digits).');
    const path = `/device/v1/packages/blobs/${sha256}`;
    const res = await this.fetcher.request({
      method: 'GET',
      path,
      headers: { accept: 'application/octet-stream' },
      timeoutMs: o.timeoutMs,
      maxResponseBytes: o.maxBytes,
      channel: 'control',
      onChunk: o.onChunk,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    });
    this.throwIfError(res, '/device/v1/packages/blobs/:sha256');
    // A fetcher that does not stream (a test fake) hands the body back whole.
    if (res.body.length > 0) o.onChunk(res.body);
  }

  /**
   * A camera's credentials, fetched just in time (seed point 18) straight into
   * a CameraCredentials: the answer's bytes are overwritten once parsed and
   * nothing of it is logged.
   */
  async cameraCredentials(cameraId: string, signal?: AbortSignal): Promise<CameraCredentials> {
    const path = `/device/v1/cameras/${encodeURIComponent(cameraId)}/credentials`;
    const res = await this.fetcher.request({
      method: 'GET',
      path,
      timeoutMs: LIMITS.timeoutMs,
      maxResponseBytes: LIMITS.smallAnswerBytes,
      channel: 'control',
      ...(signal === undefined ? {} : { signal }),
    });
    try {
      this.throwIfError(res, '/device/v1/cameras/:cameraId/credentials');
      const creds = this.parse(res, appsApi.cameraCredentialsResponse, '/device/v1/cameras/:cameraId/credentials');
      return CameraCredentials.from(creds.username, creds.password);
    } finally {
      res.body.fill(0);
    }
  }

  /**
   * `POST /device/v1/previews/:id/stream` (issue 8): opens the push of one
   * output preview; the caller writes length-prefixed JPEGs. `result` is the
   * control plane's answer, which comes when the preview ends.
   */
  pushPreview(id: string, signal?: AbortSignal): { upload: Upload; result: Promise<previewApi.PushResult> } {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new AgentError('USAGE', 'A preview is named by its id (a UUID).');
    const path = '/device/v1/previews/:id/stream';
    if (this.fetcher.upload === undefined) throw new AgentError('USAGE', 'This client cannot stream a request body.');
    const upload = this.fetcher.upload({
      path: `/device/v1/previews/${id}/stream`,
      contentType: previewApi.PREVIEW_FRAMES_CONTENT_TYPE,
      // The control plane ends a preview after maxDurationSeconds; a minute more covers its answer.
      timeoutMs: (previewApi.PREVIEW_LIMITS.maxDurationSeconds + 60) * 1000,
      maxResponseBytes: LIMITS.smallAnswerBytes,
      ...(signal === undefined ? {} : { signal }),
    });
    const result = upload.response.then((res) => {
      this.throwIfError(res, path);
      return this.parse(res, previewApi.pushResult, path);
    });
    return { upload, result };
  }

  /** `POST /device/v1/apps/:instanceId/status`: progress of one instance. */
  async reportAppStatus(instanceId: string, report: AppStatusReport, signal?: AbortSignal): Promise<void> {
    const res = await this.fetcher.request({
      method: 'POST',
      path: `/device/v1/apps/${encodeURIComponent(instanceId)}/status`,
      body: report,
      timeoutMs: LIMITS.timeoutMs,
      maxResponseBytes: LIMITS.smallAnswerBytes,
      channel: 'control',
      ...(signal === undefined ? {} : { signal }),
    });
    this.throwIfError(res, '/device/v1/apps/:instanceId/status');
  }
}
