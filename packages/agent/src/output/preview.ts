import type { FrameData } from '@sightline/sdk';
import { previewApi } from '@sightline/protocol';
import type { Upload } from '../client/fetcher.js';
import type { OutputHub } from './hub.js';

type Fields = Record<string, string | number | boolean | undefined>;

/** Turns frames into JPEGs; JpegEncoder in production (one ffmpeg per preview). */
export interface FrameEncoder {
  encode(frame: FrameData): Promise<Buffer | undefined>;
  close(): void;
}

/** The device API call that opens a push (DeviceClient.pushPreview). */
export type OpenPush = (id: string, signal: AbortSignal) => { upload: Upload; result: Promise<previewApi.PushResult> };

export interface PreviewRelayOptions {
  readonly hub: OutputHub;
  readonly encoder: () => FrameEncoder;
  readonly openPush: OpenPush;
  readonly logger: { info(m: string, f?: Fields): void; warn(m: string, f?: Fields): void };
  /** Keep-alive period while the output is quiet; default PREVIEW_LIMITS.keepAliveSeconds. */
  readonly keepAliveMs?: number;
  /** How long an ended push waits for the control plane's answer before it is cut. */
  readonly answerGraceMs?: number;
}

interface Push {
  readonly preview: previewApi.DesiredPreview;
  stop(why: string): void;
  readonly finished: Promise<void>;
}

/** A frame as the device API carries it: 4-byte big-endian length, then the JPEG. */
export function framePrefix(length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length);
  return h;
}

/**
 * Output preview (issue 8), the device's side: for each preview the control
 * plane's desired state names (and only those), pushes the output's frames
 * as JPEGs over the mTLS device API, at most maxFps and maxFrameBytes each,
 * dropping (never queueing) what the connection cannot take. A push stops
 * when the preview leaves the desired state, when the control plane answers
 * it (the viewer left), or when the output ends.
 */
export class PreviewRelay {
  private readonly pushes = new Map<string, Push>();
  private closed = false;

  constructor(private readonly o: PreviewRelayOptions) {}

  /** The ids being pushed now. */
  get active(): string[] {
    return [...this.pushes.keys()];
  }

  /** Reconciles the pushes with the desired state's previews. */
  apply(previews: readonly previewApi.DesiredPreview[]): void {
    if (this.closed) return;
    const wanted = new Set(previews.map((p) => p.id));
    for (const [id, p] of this.pushes) if (!wanted.has(id)) p.stop('no longer wanted');
    for (const p of previews.slice(0, previewApi.PREVIEW_LIMITS.maxPerDevice)) if (!this.pushes.has(p.id)) this.start(p);
  }

  private start(preview: previewApi.DesiredPreview): void {
    const { id, instanceId, output } = preview;
    if (!this.o.hub.has(instanceId, output)) {
      // The control plane times the viewer out with a clear error; nothing to push.
      this.o.logger.warn('a preview names an output that is not running here', { preview: id, instance: instanceId, output });
      return;
    }
    const aborter = new AbortController();
    let opened: ReturnType<OpenPush>;
    try {
      opened = this.o.openPush(id, aborter.signal);
    } catch (err) {
      this.o.logger.warn('the preview push could not start', { preview: id, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const { upload, result } = opened;
    const encoder = this.o.encoder();
    // Caps from the desired state, never above the protocol's own (fail closed on a bad value).
    const maxFps = Math.min(previewApi.PREVIEW_LIMITS.maxFps, Math.max(1, preview.maxFps));
    const maxBytes = Math.min(previewApi.PREVIEW_LIMITS.maxFrameBytes, preview.maxFrameBytes);
    const keepAliveMs = this.o.keepAliveMs ?? previewApi.PREVIEW_LIMITS.keepAliveSeconds * 1000;
    let stopped = false;
    let lastFrame = 0;
    let lastWrite = Date.now();
    let sent = 0;
    let dropped = 0;
    const write = (buf: Buffer): void => {
      upload.write(buf);
      lastWrite = Date.now();
    };
    const onFrame = async (frame: FrameData): Promise<void> => {
      const now = Date.now();
      if (stopped || now - lastFrame < 1000 / maxFps) return;
      lastFrame = now;
      const jpeg = await encoder.encode(frame);
      if (jpeg === undefined || stopped) return;
      if (jpeg.length > maxBytes || upload.writableNeedDrain) {
        dropped++;
        return;
      }
      write(Buffer.concat([framePrefix(jpeg.length), jpeg]));
      sent++;
    };
    const keepAlive = setInterval(
      () => {
        if (!stopped && Date.now() - lastWrite >= keepAliveMs && !upload.writableNeedDrain) write(framePrefix(0));
      },
      Math.max(50, Math.floor(keepAliveMs / 2)),
    );
    keepAlive.unref();
    let graceTimer: NodeJS.Timeout | undefined;
    const stop = (why: string): void => {
      if (stopped) return;
      stopped = true;
      clearInterval(keepAlive);
      unsubscribe();
      encoder.close();
      upload.end();
      // The control plane answers an ended body at once; a connection that does not is cut.
      graceTimer = setTimeout(() => aborter.abort(), this.o.answerGraceMs ?? 5_000);
      graceTimer.unref();
      this.o.logger.info('output preview stopped', { preview: id, instance: instanceId, output, why, sent, dropped });
    };
    const finished = result.then(
      (r) => stop(`the control plane ended it (${r.reason})`),
      (err: unknown) => {
        if (!stopped)
          this.o.logger.warn('the preview push failed', {
            preview: id,
            code: (err as { code?: string }).code,
            error: err instanceof Error ? err.message : String(err),
          });
        stop('push failed');
      },
    );
    const push: Push = { preview, stop, finished: finished.then(() => clearTimeout(graceTimer)) };
    this.pushes.set(id, push);
    void push.finished.then(() => {
      if (this.pushes.get(id) === push) this.pushes.delete(id);
    });
    // Checked by has() above in the same tick, so it is there.
    const unsubscribe =
      this.o.hub.subscribe(instanceId, output, {
        frame: (f) => void onFrame(f),
        closed: () => stop('the output ended'),
      }) ?? ((): void => undefined);
    this.o.logger.info('output preview started', { preview: id, instance: instanceId, output, maxFps });
  }

  /** Stops every push and waits (briefly) for their answers. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pushes.values()];
    for (const p of all) p.stop('the agent is stopping');
    await Promise.allSettled(all.map((p) => p.finished));
  }
}
