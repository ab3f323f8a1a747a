import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { SightlineError } from '@sightline/core';
import { previewApi } from '@sightline/protocol';
import type { AppView } from '../apps/app.service.js';
import type { Clock } from '../clock.js';
import type { DevicePrincipal } from '../devices/device.service.js';
import type { AuditSink } from '../http/pipeline.js';
import type { Principal } from '../http/router.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../storage/store.js';

export type PreviewErrorCode =
  /** The project has output preview off (an Admin turns it on: `sightline project settings NAME --output-preview on`). */
  | 'OUTPUT_PREVIEW_DISABLED'
  /** The instance is not running on that device, or has no such output. */
  | 'OUTPUT_NOT_FOUND'
  /** Too many previews at once on the device or in the project. */
  | 'PREVIEW_LIMIT_REACHED'
  /** The device did not start pushing within the connect timeout. */
  | 'PREVIEW_TIMEOUT'
  /** A push for a preview that does not exist (any more), is another device's, or is already served. */
  | 'PREVIEW_NOT_FOUND'
  /** A pushed frame over the cap, or bytes that are not length-prefixed JPEGs. */
  | 'PREVIEW_FRAME_TOO_LARGE'
  | 'PREVIEW_STREAM_INVALID';
export class PreviewError extends SightlineError<PreviewErrorCode> {}

const L = previewApi.PREVIEW_LIMITS;

export interface PreviewLimits {
  /** How long a viewer waits for the device to start pushing. */
  connectTimeoutMs: number;
  maxPerDevice: number;
  maxPerProject: number;
  maxFrameBytes: number;
  maxDurationMs: number;
}

export const DEFAULT_PREVIEW_LIMITS: Readonly<PreviewLimits> = Object.freeze({
  connectTimeoutMs: 15_000,
  maxPerDevice: L.maxPerDevice,
  maxPerProject: L.maxPerProject,
  maxFrameBytes: L.maxFrameBytes,
  maxDurationMs: L.maxDurationSeconds * 1000,
});

/** What the preview service reads elsewhere (wired in app.ts). */
export interface PreviewDeps {
  store: Store;
  audit: AuditSink;
  clock: Clock;
  logger: Logger;
  outputPreviewOn: (project: string) => Promise<boolean>;
  device: (project: string, name: string) => Promise<{ id: string; online: boolean }>;
  app: (project: string, instanceId: string) => Promise<AppView>;
  /** Wakes the device's long-poll: its desired state (the previews) changed. */
  notify: (deviceId: string) => void;
}

type EndReason = 'viewer-closed' | 'ended' | 'device-ended' | 'timeout' | 'max-duration' | 'invalid-stream';

interface Session {
  readonly id: string;
  readonly project: string;
  readonly deviceId: string;
  readonly device: string;
  readonly instanceId: string;
  readonly output: string;
  readonly maxFps: number;
  readonly viewer: PassThrough;
  readonly caller: { principal: Principal; requestId: string; sourceIp: string; userAgent: string };
  readonly startedAt: number;
  frames: number;
  dropped: number;
  bytes: number;
  lastFrameAt: number;
  /** Set once the device's push attached. */
  pushing: boolean;
  attached: (() => void) | undefined;
  /** Ends the device's push (answers it). */
  endPush: ((reason: previewApi.PushResult['reason']) => void) | undefined;
  ended: boolean;
  timer: NodeJS.Timeout | undefined;
}

const BOUNDARY = previewApi.PREVIEW_BOUNDARY;

/**
 * Output preview (issue 8): relays one app output from a device to one
 * viewer. The viewer's request registers a session (audited, after the
 * checks: permission by the route, project setting, caps); the session joins
 * the device's desired state, which wakes its long-poll; the agent pushes
 * length-prefixed JPEGs over mTLS and they go to the viewer as
 * multipart/x-mixed-replace. Either side leaving ends both, and the end is
 * audited with its duration and frame count.
 *
 * Sessions live in this replica's memory: with several replicas behind one
 * address, the viewer, the device's long-poll and its push must reach the
 * same one (sticky routing by device), or the preview times out.
 */
export class PreviewService {
  private readonly sessions = new Map<string, Session>();
  readonly limits: PreviewLimits = { ...DEFAULT_PREVIEW_LIMITS };

  constructor(private readonly deps: PreviewDeps) {}

  /** The previews a device should push now, for its desired state (stable order: the ETag hashes it). */
  desiredPreviews(deviceId: string): previewApi.DesiredPreview[] {
    return [...this.sessions.values()]
      .filter((s) => s.deviceId === deviceId && !s.ended)
      .sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id))
      .map((s) => ({ id: s.id, instanceId: s.instanceId, output: s.output, maxFps: s.maxFps, maxFrameBytes: this.limits.maxFrameBytes }));
  }

  /** How many previews run now (tests, metrics). */
  get active(): number {
    return this.sessions.size;
  }

  /**
   * Opens a preview for a viewer whose permission the route checked, and
   * waits until the device pushes (PREVIEW_TIMEOUT after the connect
   * timeout). Returns the multipart stream; destroying it ends the session.
   */
  async open(
    caller: Session['caller'],
    target: { project: string; device: string; instanceId: string; output: string; fps?: number | undefined },
    signal: AbortSignal,
  ): Promise<{ stream: Readable; contentType: string; id: string }> {
    // Issue 8: off per project until an Admin turns it on.
    if (!(await this.deps.outputPreviewOn(target.project))) {
      throw new PreviewError(
        'OUTPUT_PREVIEW_DISABLED',
        `Output preview is off in project ${target.project}; an Admin turns it on with "sightline project settings ${target.project} --output-preview on".`,
      );
    }
    const device = await this.deps.device(target.project, target.device);
    const app = await this.deps.app(target.project, target.instanceId).catch((err: unknown) => {
      if (err instanceof SightlineError && err.code === 'APP_NOT_FOUND') return undefined;
      throw err;
    });
    if (app === undefined || app.device !== target.device || app.stage !== 'running' || !(app.outputs ?? []).includes(target.output)) {
      throw new PreviewError(
        'OUTPUT_NOT_FOUND',
        `No running app instance ${target.instanceId} with an output "${target.output}" on device ${target.device}; "sightline app ls" lists them.`,
        { details: { field: 'output' } },
      );
    }
    const live = [...this.sessions.values()];
    if (live.filter((s) => s.deviceId === device.id).length >= this.limits.maxPerDevice) {
      throw new PreviewError(
        'PREVIEW_LIMIT_REACHED',
        `Device ${target.device} already relays ${this.limits.maxPerDevice} previews; close one first.`,
        {
          details: { limit: this.limits.maxPerDevice },
        },
      );
    }
    if (live.filter((s) => s.project === target.project).length >= this.limits.maxPerProject) {
      throw new PreviewError(
        'PREVIEW_LIMIT_REACHED',
        `Project ${target.project} already has ${this.limits.maxPerProject} previews open; close one first.`,
        {
          details: { limit: this.limits.maxPerProject },
        },
      );
    }
    const session: Session = {
      id: randomUUID(),
      project: target.project,
      deviceId: device.id,
      device: target.device,
      instanceId: target.instanceId,
      output: target.output,
      maxFps: Math.min(L.maxFps, Math.max(1, target.fps ?? L.defaultFps)),
      viewer: new PassThrough({ highWaterMark: 2 * this.limits.maxFrameBytes }),
      caller,
      startedAt: Date.now(),
      frames: 0,
      dropped: 0,
      bytes: 0,
      lastFrameAt: 0,
      pushing: false,
      attached: undefined,
      endPush: undefined,
      ended: false,
      timer: undefined,
    };
    this.sessions.set(session.id, session);
    this.deps.notify(device.id);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          reject(
            new PreviewError(
              'PREVIEW_TIMEOUT',
              `Device ${target.device} did not start the preview within ${Math.round(this.limits.connectTimeoutMs / 1000)} s${device.online ? '' : ' (it is offline)'}; check that it is online and its agent is current, then try again.`,
              { details: { timeoutSeconds: Math.round(this.limits.connectTimeoutMs / 1000) } },
            ),
          );
        }, this.limits.connectTimeoutMs);
        const onAbort = (): void => {
          clearTimeout(timer);
          reject(new PreviewError('PREVIEW_NOT_FOUND', 'The viewer went away before the preview started.'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        session.attached = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    } catch (err) {
      this.end(session, signal.aborted ? 'viewer-closed' : 'timeout', false);
      throw err;
    }
    // Either side leaving ends both; so does the duration cap.
    session.viewer.on('close', () => this.end(session, 'viewer-closed'));
    session.timer = setTimeout(() => this.end(session, 'max-duration'), this.limits.maxDurationMs);
    session.timer.unref();
    return { stream: session.viewer, contentType: `multipart/x-mixed-replace; boundary=${BOUNDARY}`, id: session.id };
  }

  /**
   * A device's push for one of its previews: reads length-prefixed JPEGs
   * from `body` until the session or the body ends, relaying each (at most
   * maxFps; a frame the viewer cannot take yet is dropped, never queued).
   */
  async push(device: DevicePrincipal, id: string, body: Readable): Promise<previewApi.PushResult> {
    const s = this.sessions.get(id);
    // The same answer for another device's preview as for none (no probing of ids).
    if (s === undefined || s.deviceId !== device.deviceId || s.ended || s.pushing) {
      this.drain(body);
      throw new PreviewError('PREVIEW_NOT_FOUND', 'No such preview waits for this device (the viewer left, or another push serves it).');
    }
    s.pushing = true;
    s.attached?.();
    const minGapMs = 1000 / s.maxFps;
    let reason: previewApi.PushResult['reason'] = 'device-ended';
    const result = await new Promise<{ reason: previewApi.PushResult['reason']; error?: PreviewError }>((resolve) => {
      let buf: Buffer = Buffer.alloc(0);
      let done = false;
      const finish = (r: previewApi.PushResult['reason'], error?: PreviewError): void => {
        if (done) return;
        done = true;
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onEnd);
        s.endPush = undefined;
        resolve(error === undefined ? { reason: r } : { reason: r, error });
      };
      s.endPush = (r) => finish(r);
      const onData = (chunk: Buffer): void => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        while (buf.length >= 4) {
          const len = buf.readUInt32BE(0);
          // STYLE: hard caps on what comes from outside.
          if (len > this.limits.maxFrameBytes) {
            return finish(
              'ended',
              new PreviewError(
                'PREVIEW_FRAME_TOO_LARGE',
                `A preview frame of ${len} bytes exceeds the cap of ${this.limits.maxFrameBytes}.`,
                { details: { limit: this.limits.maxFrameBytes } },
              ),
            );
          }
          if (buf.length < 4 + len) break;
          const jpeg = buf.subarray(4, 4 + len);
          buf = buf.subarray(4 + len);
          if (len === 0) continue; // keep-alive
          // ITU T.81 B.1: a JPEG starts with SOI (FF D8). Anything else is not relayed to a browser.
          if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
            return finish('ended', new PreviewError('PREVIEW_STREAM_INVALID', 'A preview frame is not a JPEG.'));
          }
          this.relay(s, jpeg, minGapMs);
        }
      };
      const onEnd = (): void => finish('device-ended');
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', onEnd);
      if (s.ended) finish('ended');
    });
    reason = result.reason;
    if (result.error !== undefined) {
      this.end(s, 'invalid-stream');
      this.drain(body);
      throw result.error;
    }
    // The device stopped (its app ended, or it is stopping): the viewer's stream ends too.
    if (reason === 'device-ended') this.end(s, 'device-ended');
    else this.drain(body);
    return { ok: true, frames: s.frames, reason };
  }

  /**
   * After the answer, what the device still sends is discarded; a client
   * that keeps sending past a grace period is cut (its stream or socket).
   */
  private drain(body: Readable): void {
    if (body.readableEnded || body.destroyed) return;
    const cut = setTimeout(() => body.destroy(), 5_000);
    cut.unref();
    body.once('close', () => clearTimeout(cut));
    body.once('end', () => clearTimeout(cut));
    body.resume();
  }

  private relay(s: Session, jpeg: Buffer, minGapMs: number): void {
    const now = Date.now();
    // The fps cap: a frame sooner than 1/maxFps after the last relayed one is dropped (10% slack for jitter).
    if (s.lastFrameAt !== 0 && now - s.lastFrameAt < minGapMs * 0.9) {
      s.dropped++;
      return;
    }
    // A slow viewer misses frames instead of queueing them in memory.
    if (s.viewer.writableNeedDrain || s.viewer.destroyed) {
      s.dropped++;
      return;
    }
    s.lastFrameAt = now;
    s.frames++;
    s.bytes += jpeg.length;
    s.viewer.write(Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`, 'latin1'));
    s.viewer.write(jpeg);
    s.viewer.write('\r\n');
  }

  /** Ends every preview of a device (deregistered, reset) or every one (shutdown). */
  endAll(deviceId?: string): void {
    for (const s of [...this.sessions.values()]) if (deviceId === undefined || s.deviceId === deviceId) this.end(s, 'ended');
  }

  private end(s: Session, why: EndReason, started = true): void {
    if (s.ended) return;
    s.ended = true;
    this.sessions.delete(s.id);
    if (s.timer !== undefined) clearTimeout(s.timer);
    s.endPush?.(why === 'viewer-closed' ? 'viewer-closed' : 'ended');
    if (!s.viewer.destroyed) s.viewer.end();
    this.deps.notify(s.deviceId);
    if (!started) return;
    // The stop event, with what was shown; the start is the viewer request's own event (same request id).
    const now = this.deps.clock.now();
    const event = {
      requestId: s.caller.requestId,
      time: now,
      principal: { type: s.caller.principal.type, id: s.caller.principal.id, name: s.caller.principal.name },
      action: 'device:ViewOutputStop',
      resource: `srn:sightline:${s.project}:device/${s.device}`,
      sourceIp: s.caller.sourceIp,
      userAgent: s.caller.userAgent,
      outcome: 'allowed' as const,
      parameters: {
        preview: s.id,
        instance: s.instanceId,
        output: s.output,
        reason: why,
        durationMs: Date.now() - s.startedAt,
        frames: s.frames,
        dropped: s.dropped,
        bytes: s.bytes,
      },
    };
    this.deps.store
      .transaction(() => this.deps.audit.record(event))
      .catch((err: unknown) =>
        this.deps.logger.error('the end of a preview could not be audited', {
          preview: s.id,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
  }
}
