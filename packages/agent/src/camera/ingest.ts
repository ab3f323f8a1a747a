import { systemClock, type Clock, type Random } from '../clock.js';
import { Backoff } from '../client/backoff.js';
import { FfmpegDecoder, checkFrameSize, ffmpegSpeaksFpsMode, findFfmpeg, systemSpawner, type Spawner } from './decoder.js';
import { CameraError, isPermanentCameraError } from './errors.js';
import { FramePool, type FrameHold } from './frame-pool.js';
import { isAbort, openRtspH264, type RtspH264Stream } from './rtsp/client.js';
import type { RtspLimits } from './rtsp/limits.js';
import { PLAIN_RTSP_WARNING, resolveSource, type CameraSource, type ResolvedSource } from './source.js';

/**
 * One decoded picture: RGB24, rows top to bottom, `width * height * 3` bytes.
 *
 * Its buffer is lent from the ingest's pool and each reader gets its own
 * Frame object (its own claim). `release()` says the reader is done: once
 * every claim on the buffer is released, a later frame may be decoded into
 * it. A reader that keeps a frame (or forgets) just does not release it:
 * that buffer is then never reused, so nothing it holds is ever overwritten.
 */
export interface Frame {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  /** Counts frames out of this ingest since it started (gaps = frames this reader missed). */
  readonly seq: number;
  /** Clock time when the frame left the decoder, ms. */
  readonly at: number;
  /** Another claim on the same pixels (for a second reader), released on its own. Not after `release()`. */
  retain(): Frame;
  /** Done reading `data`: never read it afterwards. Once per Frame object; a second call does nothing. */
  release(): void;
}

class LentFrame implements Frame {
  readonly data: Buffer;

  constructor(
    private readonly hold: FrameHold,
    readonly width: number,
    readonly height: number,
    readonly seq: number,
    readonly at: number,
  ) {
    this.data = hold.data;
  }

  retain(): Frame {
    return new LentFrame(this.hold.retain(), this.width, this.height, this.seq, this.at);
  }

  release(): void {
    this.hold.release();
  }
}

export type CameraState = 'connecting' | 'connected' | 'backoff' | 'failed' | 'stopped';

export interface CameraStatus {
  readonly state: CameraState;
  /** Frames per second out of the decoder over the last few seconds. */
  readonly fps: number;
  /** The last failure: a stable code and a sentence. Never a credential, never the URL's path or query. */
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | null;
  /** Frames replaced before any reader took them, plus access units skipped because ffmpeg fell behind. */
  readonly framesDropped: number;
  readonly framesDelivered: number;
  readonly reconnects: number;
  /** rtsps:// with a verified certificate, or a local file. False for plain rtsp://. */
  readonly secure: boolean;
  readonly warning: string | null;
  /** When `state` last changed (clock ms). */
  readonly since: number;
  /** While in backoff: when the next attempt starts (clock ms). */
  readonly retryAt: number | null;
}

export interface CameraIngestOptions {
  readonly source: CameraSource;
  /** Frame size the app asked for; ffmpeg scales to it. Even numbers. */
  readonly width: number;
  readonly height: number;
  /** Default: `findFfmpeg()`. */
  readonly ffmpegPath?: string | undefined;
  /** Reconnect backoff (exponential with jitter). Default 1 s doubling to 30 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number } | undefined;
  readonly limits?: Partial<RtspLimits> | undefined;
  /** No decoded frame for this long (after the first, or from the start of an attempt) ends the attempt. Default 20 s. */
  readonly frameTimeoutMs?: number | undefined;
  /** ffmpeg decoder threads (0: ffmpeg's choice). Default 1: one stream per core scales better on small appliances. */
  readonly decoderThreads?: number | undefined;
}

export interface CameraIngestDeps {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly spawn?: Spawner;
}

export interface NextOptions {
  /** Give up after this long and return undefined. Default: wait until a frame or stop. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const FPS_WINDOW_MS = 5000;
/** Access units to wait for a keyframe before feeding the decoder anyway (cameras with intra refresh send none). */
const KEYFRAME_WAIT = 300;

/** Why a finished `next()` cancels its own timer. */
const SETTLED = Symbol('settled');

/**
 * A reader's view of an ingest: it holds at most one frame, the latest. A
 * frame that arrives before the reader took the previous one replaces it
 * and counts as dropped (and is released): a slow app sees fresh frames,
 * never a queue. A frame `next()` returns is the caller's to `release()`.
 */
export class FrameSubscription {
  dropped = 0;
  private slot: Frame | undefined;
  private waiters: ((f: Frame | undefined) => void)[] = [];
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly detach: (s: FrameSubscription) => void,
  ) {}

  /** @internal Takes over the claim `frame` carries. */
  offer(frame: Frame): void {
    if (this.closed) {
      frame.release();
      return;
    }
    if (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      // Each waiting next() gets a claim of its own.
      waiters.forEach((w, i) => w(i === 0 ? frame : frame.retain()));
      return;
    }
    if (this.slot !== undefined) {
      this.dropped++;
      this.slot.release();
    }
    this.slot = frame;
  }

  /** The latest frame not yet taken, or the next one to arrive; undefined on timeout, abort or close. */
  async next(options: NextOptions = {}): Promise<Frame | undefined> {
    if (this.slot !== undefined) {
      const f = this.slot;
      this.slot = undefined;
      return f;
    }
    if (this.closed || options.signal?.aborted === true) return undefined;
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let waiter: ((f: Frame | undefined) => void) | undefined;
    let got: Frame | undefined;
    const frame = new Promise<Frame | undefined>((resolve) => {
      waiter = (f) => {
        got = f;
        resolve(f);
      };
      this.waiters.push(waiter);
    });
    const sleeper =
      options.timeoutMs === undefined
        ? new Promise<undefined>((r) => stop.signal.addEventListener('abort', () => r(undefined), { once: true }))
        : this.clock.sleep(options.timeoutMs, stop.signal).then(() => undefined);
    try {
      const won = await Promise.race([frame, sleeper]);
      if (won === undefined && got !== undefined) {
        // The frame came in just as the wait ended: keep it for the next call (unless a newer one is there), never lose its claim.
        if (this.closed || this.slot !== undefined) got.release();
        else this.slot = got;
      }
      return won;
    } finally {
      // A reason of our own: the default one is a DOMException with a stack trace, built on every frame.
      stop.abort(SETTLED);
      options.signal?.removeEventListener('abort', onAbort);
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.slot?.release();
    this.slot = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(undefined);
    this.detach(this);
  }
}

/**
 * Video from one camera as frames of the size an app asked for. It speaks
 * RTSP/RTSPS itself (credentials stay in this process) and pipes H.264 into
 * one ffmpeg that scales and converts to RGB24; a `file://` source is read by
 * ffmpeg directly, looping. It reconnects with exponential backoff and jitter
 * when the camera drops, and stops retrying (`failed`) on errors an operator
 * must fix (wrong password, certificate that does not verify): a wrong
 * password retried in a loop locks accounts on many cameras.
 *
 * @example
 * const ingest = new CameraIngest({ source: { url: 'rtsps://cam-01:322/s1', credentials, ca }, width: 256, height: 256 });
 * ingest.start();
 * const frame = await ingest.next({ timeoutMs: 1000 });
 * await ingest.stop();
 */
export class CameraIngest {
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly spawn: Spawner;
  private readonly subscriptions = new Set<FrameSubscription>();
  private readonly defaultSubscription: FrameSubscription;
  private readonly frameTimes: number[] = [];
  /** Frame buffers, shared by this ingest's decoders (one size: the ingest's). */
  private readonly pool: FramePool;
  private readonly backoff: Backoff;
  private source: CameraSource;
  private resolved: ResolvedSource | undefined;
  private state: CameraState = 'stopped';
  private since: number;
  private retryAt: number | null = null;
  private lastError: CameraStatus['lastError'] = null;
  private delivered = 0;
  private skipped = 0;
  private reconnects = 0;
  private seq = 0;
  private running: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private listeners: ((s: CameraStatus) => void)[] = [];
  /** Pids of the last ffmpeg processes this ingest started (the latest last, at most 8), for tests and diagnostics. */
  readonly decoderPids: number[] = [];

  constructor(
    private readonly options: CameraIngestOptions,
    deps: CameraIngestDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.spawn = deps.spawn ?? systemSpawner;
    this.source = options.source;
    this.since = this.clock.now();
    this.backoff = new Backoff({ baseMs: options.backoff?.baseMs ?? 1000, maxMs: options.backoff?.maxMs ?? 30_000, random: this.random });
    this.defaultSubscription = this.subscribe();
    // Fail early on a bad URL or size: these are configuration faults, not camera faults.
    this.resolved = resolveSource(this.source);
    checkFrameSize(options.width, options.height);
    this.pool = new FramePool(options.width * options.height * 3);
  }

  /** Frame buffers allocated (none free to reuse) and reused so far. */
  poolStats(): { allocated: number; reused: number; idle: number } {
    return { allocated: this.pool.allocated, reused: this.pool.reused, idle: this.pool.idle };
  }

  /** Starts (or restarts after `failed`) connecting. */
  start(): void {
    if (this.running !== undefined) return;
    const ctl = new AbortController();
    this.running = ctl;
    this.backoff.reset();
    this.loop = this.run(ctl.signal).finally(() => {
      if (this.running === ctl) this.running = undefined;
    });
  }

  /** Stops: TEARDOWN, ffmpeg ended, readers woken with undefined. */
  async stop(): Promise<void> {
    this.running?.abort();
    this.running = undefined;
    await this.loop;
    this.setState('stopped');
    for (const s of [...this.subscriptions]) s.close();
  }

  /**
   * Replaces the source (new credentials after a rotation, a new CA) and
   * reconnects. The old credentials are not disposed here: their owner does.
   */
  async updateSource(source: CameraSource): Promise<void> {
    const resolved = resolveSource(source);
    const wasRunning = this.running !== undefined || this.state === 'failed';
    this.running?.abort();
    this.running = undefined;
    await this.loop;
    this.source = source;
    this.resolved = resolved;
    if (wasRunning) this.start();
  }

  /** A new reader with its own latest-frame slot. */
  subscribe(): FrameSubscription {
    const s = new FrameSubscription(this.clock, (x) => this.subscriptions.delete(x));
    this.subscriptions.add(s);
    return s;
  }

  /** The default reader: the latest frame not yet taken, or the next one (the caller's to `release()`). */
  next(options?: NextOptions): Promise<Frame | undefined> {
    return this.defaultSubscription.next(options);
  }

  onStatus(listener: (s: CameraStatus) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  status(): CameraStatus {
    const now = this.clock.now();
    while (this.frameTimes.length > 0 && (this.frameTimes[0] ?? 0) < now - FPS_WINDOW_MS) this.frameTimes.shift();
    const n = this.frameTimes.length;
    const first = this.frameTimes[0] ?? now;
    // Frames in the window over the time they span (at least one second, so a burst does not read as 1000 fps).
    const fps = n < 2 ? 0 : (n - 1) / (Math.max(1000, now - first) / 1000);
    let dropped = this.skipped;
    for (const s of this.subscriptions) dropped += s.dropped;
    const secure = this.resolved?.secure ?? false;
    return {
      state: this.state,
      fps: Math.round(fps * 10) / 10,
      lastError: this.lastError,
      framesDropped: dropped,
      framesDelivered: this.delivered,
      reconnects: this.reconnects,
      secure,
      warning: secure ? null : PLAIN_RTSP_WARNING,
      since: this.since,
      retryAt: this.retryAt,
    };
  }

  private notePid(pid: number | undefined): void {
    if (pid === undefined) return;
    this.decoderPids.push(pid);
    if (this.decoderPids.length > 8) this.decoderPids.shift();
  }

  private setState(state: CameraState, retryAt: number | null = null): void {
    if (this.state === state && this.retryAt === retryAt) return;
    this.state = state;
    this.retryAt = retryAt;
    this.since = this.clock.now();
    const s = this.status();
    for (const l of this.listeners) l(s);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      if (attempt++ > 0) this.reconnects++;
      this.setState('connecting');
      const err = await this.attempt(signal);
      if (signal.aborted) return;
      this.lastError = { code: err.code, message: err.message, at: this.clock.now() };
      if (isPermanentCameraError(err)) {
        this.setState('failed');
        return;
      }
      const delay = this.backoff.next();
      this.setState('backoff', this.clock.now() + delay);
      await this.clock.sleep(delay, signal);
    }
  }

  /** One connection, from connect to the end of the stream; returns why it ended. */
  private async attempt(signal: AbortSignal): Promise<CameraError> {
    const resolved = this.resolved ?? resolveSource(this.source);
    const ffmpegPath = this.options.ffmpegPath ?? findFfmpeg();
    if (ffmpegPath === undefined)
      return new CameraError('FFMPEG_UNAVAILABLE', 'ffmpeg was not found. Install ffmpeg (Debian package ffmpeg) or set SIGHTLINE_FFMPEG.');
    // Only a real ffmpeg is asked its version (tests pass fake spawners and paths).
    const legacyVsync = this.spawn === systemSpawner && (await ffmpegSpeaksFpsMode(ffmpegPath)) === false;
    const decoder = new FfmpegDecoder(
      {
        ffmpegPath,
        input: resolved.kind === 'file' ? { kind: 'file', path: resolved.path, loop: true } : { kind: 'h264-pipe' },
        width: this.options.width,
        height: this.options.height,
        threads: this.options.decoderThreads ?? 1,
        legacyVsync,
        pool: this.pool,
      },
      this.spawn,
    );
    // Only a real ffmpeg gets its stdout as a socket (tests' fake processes write to their pipes).
    if (this.spawn === systemSpawner) await decoder.prepare();
    const frameTimeout = this.options.frameTimeoutMs ?? 20_000;
    let lastFrame = this.clock.now();
    let connected = false;
    let ended: (e: CameraError) => void = () => undefined;
    const outcome = new Promise<CameraError>((resolve) => (ended = resolve));
    decoder.onExit = (e) => ended(e);
    decoder.onFrame = (_data, hold) => {
      const at = this.clock.now();
      lastFrame = at;
      if (!connected) {
        connected = true;
        this.backoff.reset();
        this.setState('connected');
      }
      this.frameTimes.push(at);
      if (this.frameTimes.length > 1000) this.frameTimes.shift();
      this.delivered++;
      const frame = new LentFrame(hold, this.options.width, this.options.height, this.seq++, at);
      // One claim per reader; then the decoder's own goes (the buffer is reused once the readers let go).
      for (const s of this.subscriptions) s.offer(frame.retain());
      frame.release();
    };

    let stream: RtspH264Stream | undefined;
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    // Stopped while ffmpeg's version was asked or its socket was set up: the abort event has been and gone.
    if (signal.aborted) local.abort();
    try {
      if (local.signal.aborted) return new CameraError('CAMERA_UNREACHABLE', 'Stopped.');
      if (resolved.kind === 'file') {
        decoder.start();
      } else {
        let keyframeWait = 0;
        let started = false;
        // Stopping while connecting drops the socket; once playing, stop() sends TEARDOWN (finally, below),
        // which frees the session at once on cameras that allow only a few.
        const opening = new AbortController();
        const cancelOpen = (): void => opening.abort();
        local.signal.addEventListener('abort', cancelOpen, { once: true });
        stream = await openRtspH264(
          {
            url: resolved.url,
            credentials: this.source.credentials,
            ca: this.source.ca,
            allowBasicOverPlaintext: this.source.allowBasicOverPlaintext,
            limits: this.options.limits,
            clock: this.clock,
            signal: opening.signal,
          },
          (au) => {
            if (!started) {
              // A decoder cannot start mid-GOP: wait for an IDR (bounded, for intra-refresh cameras).
              if (!au.keyframe && ++keyframeWait < KEYFRAME_WAIT) return;
              started = true;
              decoder.start();
              this.notePid(decoder.pid);
            }
            decoder.write(au.data, au.keyframe);
          },
        );
        local.signal.removeEventListener('abort', cancelOpen);
        void stream.closed.then((e) => ended(e));
      }
      if (resolved.kind === 'file') this.notePid(decoder.pid);

      // Frame watchdog: the camera may keep RTP flowing while ffmpeg produces nothing.
      const watchdog = (async (): Promise<void> => {
        while (!local.signal.aborted) {
          await this.clock.sleep(1000, local.signal);
          if (local.signal.aborted) return;
          if (this.clock.now() - lastFrame > frameTimeout) {
            ended(new CameraError('CAMERA_STREAM_STALLED', `No picture decoded for ${Math.round(frameTimeout / 1000)} s.`));
            return;
          }
        }
      })();
      const stopped = new Promise<CameraError>((resolve) => {
        const done = (): void => resolve(new CameraError('CAMERA_UNREACHABLE', 'Stopped.'));
        if (local.signal.aborted) done();
        else local.signal.addEventListener('abort', done, { once: true });
      });
      const why = await Promise.race([outcome, stopped]);
      local.abort();
      await watchdog;
      return why;
    } catch (err) {
      if (isAbort(err) || signal.aborted) return new CameraError('CAMERA_UNREACHABLE', 'Stopped.');
      return err instanceof CameraError ? err : new CameraError('DECODER_FAILED', 'Camera ingest failed unexpectedly.', { cause: err });
    } finally {
      local.abort();
      signal.removeEventListener('abort', onAbort);
      this.skipped += decoder.skipped;
      await Promise.all([stream?.close(), decoder.stop()]);
    }
  }
}
