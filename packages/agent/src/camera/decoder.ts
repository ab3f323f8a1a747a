import { execFile, spawn as nodeSpawn } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CameraError } from './errors.js';
import { FramePool, type FrameHold } from './frame-pool.js';

/** The part of a ChildProcess the decoder uses; tests pass a fake. */
export interface DecoderProcess {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/**
 * Starts a process with piped stdio. No shell; `args` reach execve as they are.
 * With `stdout`, the process writes its standard output to that socket instead of a pipe (its `stdout` is then null).
 */
export type Spawner = (command: string, args: readonly string[], stdout?: Socket) => DecoderProcess;

export const systemSpawner: Spawner = (command, args, stdout) =>
  nodeSpawn(command, [...args], { stdio: ['pipe', stdout ?? 'pipe', 'pipe'], shell: false, windowsHide: true });

/**
 * A connected pair of Unix stream sockets (Node has no socketpair): a
 * listener in a fresh 0700 folder, one connection from us that proves
 * itself with a random token (anything else that connects is dropped), the
 * folder removed at once. `ours` reads with `onread` straight into the
 * buffers `next` gives; `theirs` is for the child's stdio. `onListening`
 * (tests) is told the socket's path before we connect.
 */
export async function readerPair(
  onread: {
    buffer: () => Uint8Array;
    callback: (n: number) => boolean;
  },
  onListening?: (path: string) => Promise<void>,
): Promise<{ ours: Socket; theirs: Socket }> {
  const dir = await mkdtemp(join(tmpdir(), 'sightline-decoder-'));
  const token = randomBytes(16);
  const server = createServer();
  const strangers = new Set<Socket>();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(join(dir, 's'), () => resolve());
    });
    const theirs = new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connection')), 5000);
      server.on('connection', (sock: Socket) => {
        strangers.add(sock);
        let got = Buffer.alloc(0);
        const onData = (d: Buffer): void => {
          got = Buffer.concat([got, d]);
          if (got.length < token.length) return;
          sock.off('data', onData);
          sock.pause();
          if (got.length === token.length && timingSafeEqual(got, token)) {
            strangers.delete(sock);
            clearTimeout(timer);
            resolve(sock);
          } else sock.destroy();
        };
        sock.on('data', onData);
        sock.on('error', () => undefined);
      });
    });
    // Marked handled: if the hook throws, nothing awaits it (the timer is cleared with the server below).
    theirs.catch(() => undefined);
    await onListening?.(join(dir, 's'));
    const ours = connect({ path: join(dir, 's'), onread: { buffer: onread.buffer, callback: (n) => onread.callback(n) } });
    ours.on('error', () => undefined);
    ours.write(token);
    try {
      return { ours, theirs: await theirs };
    } catch (err) {
      ours.destroy();
      throw err;
    }
  } finally {
    // Whatever else connected (nothing should: the folder is ours alone) gets nothing.
    for (const sock of strangers) sock.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Where the ffmpeg in use came from (reported with the camera status). */
export type FfmpegSource = 'env' | 'path' | 'npm';

/**
 * Finds ffmpeg: `SIGHTLINE_FFMPEG` if set, else the first `ffmpeg` on PATH
 * (Debian's /usr/bin/ffmpeg), else the static build the optional npm package
 * `@ffmpeg-installer/ffmpeg` ships inside its tarball (an install with only
 * the npm registry). Returns undefined when there is none.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return locateFfmpeg(env)?.path;
}

export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): { path: string; source: FfmpegSource } | undefined {
  const explicit = env['SIGHTLINE_FFMPEG'];
  if (explicit !== undefined && explicit !== '') return { path: explicit, source: 'env' };
  for (const dir of (env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'ffmpeg');
    if (executable(candidate)) return { path: candidate, source: 'path' };
  }
  const bundled = npmFfmpeg();
  return bundled === undefined ? undefined : { path: bundled, source: 'npm' };
}

const fpsModeByPath = new Map<string, Promise<boolean | undefined>>();

/**
 * Whether the ffmpeg at `path` knows `-fps_mode` (5.1 and later), read once
 * per path from the libavformat version `ffmpeg -version` prints (59.27 came
 * with 5.1; static git builds such as the npm package's say no release
 * number, only that). Undefined when it does not run or say.
 */
export function ffmpegSpeaksFpsMode(path: string): Promise<boolean | undefined> {
  let known = fpsModeByPath.get(path);
  if (known === undefined) {
    known = new Promise((resolve) => {
      execFile(path, ['-hide_banner', '-version'], { timeout: 5000, maxBuffer: 64 * 1024 }, (err, stdout) => {
        const m = err === null ? /^libavformat\s+(\d+)\.\s*(\d+)\./m.exec(stdout) : null;
        if (m === null) return resolve(undefined);
        const [major, minor] = [Number(m[1]), Number(m[2])];
        resolve(major > 59 || (major === 59 && minor >= 27));
      });
    });
    fpsModeByPath.set(path, known);
  }
  return known;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binary of `@ffmpeg-installer/<platform>-<arch>`, when npm installed one for this machine. */
export function npmFfmpeg(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    // The package's own index throws (a string) when its platform package is absent.
    const found = (require('@ffmpeg-installer/ffmpeg') as { path?: unknown }).path;
    return typeof found === 'string' && executable(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

/** What ffmpeg reads: H.264 Annex-B that we write to its stdin, or a local file it opens itself. */
export type DecoderInput = { readonly kind: 'h264-pipe' } | { readonly kind: 'file'; readonly path: string; readonly loop: boolean };

export interface DecoderOptions {
  readonly ffmpegPath: string;
  readonly input: DecoderInput;
  readonly width: number;
  readonly height: number;
  /** ffmpeg decoder threads; 0 lets ffmpeg choose. */
  readonly threads?: number;
  /** An ffmpeg before 5.1 (`ffmpegSpeaksFpsMode` says false) spells `-fps_mode` as `-vsync`. */
  readonly legacyVsync?: boolean;
  /** Stop feeding (skip to the next keyframe) when this many bytes wait in ffmpeg's stdin. */
  readonly maxPendingBytes?: number;
  /** Where frame buffers come from (frames of `width * height * 3` bytes); default a pool of this decoder's own. */
  readonly pool?: FramePool;
}

export const MAX_FRAME_DIMENSION = 8192;

/** Refuses a frame size ffmpeg's yuv420 scaler or memory would not take. */
export function checkFrameSize(width: number, height: number): void {
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 2 ||
    height < 2 ||
    width > MAX_FRAME_DIMENSION ||
    height > MAX_FRAME_DIMENSION ||
    width % 2 !== 0 ||
    height % 2 !== 0
  ) {
    throw new CameraError(
      'CAMERA_SOURCE_INVALID',
      `Frame size ${width}x${height} is not usable: width and height must be even numbers from 2 to ${MAX_FRAME_DIMENSION}.`,
    );
  }
}

/**
 * The ffmpeg command line. It never carries a URL or credentials: for a
 * camera, ffmpeg reads H.264 from stdin that the agent's own RTSP client
 * received (other processes can read /proc/PID/cmdline).
 */
export function ffmpegArgs(o: Pick<DecoderOptions, 'input' | 'width' | 'height' | 'threads' | 'legacyVsync'>): string[] {
  const input =
    o.input.kind === 'h264-pipe'
      ? // A short probe: the first access unit carries the SPS, so ffmpeg knows the size at once.
        // (-analyzeduration 0 would mean "default", 5 s; -fflags nobuffer measured ~8 frames of extra lag here.)
        ['-flags', 'low_delay', '-probesize', '32768', '-analyzeduration', '1', '-f', 'h264', '-i', 'pipe:0']
      : ['-re', ...(o.input.loop ? ['-stream_loop', '-1'] : []), '-i', o.input.path];
  return [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    ...(o.input.kind === 'file' ? ['-nostdin'] : []),
    ...(o.threads !== undefined && o.threads > 0 ? ['-threads', String(o.threads)] : []),
    ...input,
    '-an',
    '-sn',
    '-dn',
    '-vf',
    `scale=${o.width}:${o.height}`,
    '-pix_fmt',
    'rgb24',
    // Every decoded picture out once: no duplicates or drops from a guessed frame rate.
    o.legacyVsync === true ? '-vsync' : '-fps_mode',
    'passthrough',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

/**
 * One ffmpeg process that turns H.264 (or a file) into raw RGB24 frames of
 * exactly `width` x `height`. Frames come out in order through `onFrame`; the
 * process ending (for any reason) comes through `onExit` once.
 *
 * Each frame is assembled, chunk by chunk as ffmpeg's pipe delivers it,
 * into a buffer from the pool, and lent to `onFrame` with one claim
 * (`hold`): the listener releases it when no one reads the frame any more,
 * and only then can a later frame overwrite it. A listener that ignores
 * `hold` keeps the buffer for good (no reuse, nothing overwritten).
 */
export class FfmpegDecoder {
  onFrame: (frame: Buffer, hold: FrameHold) => void = () => undefined;
  onExit: (err: CameraError) => void = () => undefined;
  /** Access units not written because ffmpeg was behind (it resumes at a keyframe). */
  skipped = 0;

  private readonly frameSize: number;
  private proc: DecoderProcess | undefined;
  private readonly pool: FramePool;
  /** The frame being assembled: this decoder's alone until it is complete. */
  private frame: FrameHold;
  private filled = 0;
  private skipping = false;
  private exited = false;
  private stderrTail = '';
  private readonly maxPending: number;
  /** ffmpeg's stdout as a socket read straight into the frame buffers (after `prepare()`); else its pipe. */
  private direct: { ours: Socket; theirs: Socket } | undefined;

  constructor(
    private readonly options: DecoderOptions,
    private readonly spawn: Spawner = systemSpawner,
  ) {
    checkFrameSize(options.width, options.height);
    this.frameSize = options.width * options.height * 3;
    this.pool = options.pool ?? new FramePool(this.frameSize);
    if (this.pool.frameBytes !== this.frameSize)
      throw new CameraError('CAMERA_SOURCE_INVALID', `The frame pool holds ${this.pool.frameBytes}-byte buffers, not ${this.frameSize}.`);
    this.frame = this.pool.take();
    this.maxPending = options.maxPendingBytes ?? 8 * 1024 * 1024;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * Before `start()`, for a real ffmpeg: its stdout becomes a socket that
   * the agent reads straight into the pooled frame (no 64 kB buffer per
   * read, no copy). Where that cannot be set up, the pipe is used.
   */
  async prepare(): Promise<void> {
    if (this.direct !== undefined || this.proc !== undefined) return;
    try {
      this.direct = await readerPair({
        buffer: () => this.frame.data.subarray(this.filled),
        callback: (n) => {
          this.filled += n;
          if (this.filled === this.frameSize) this.completed();
          return true;
        },
      });
    } catch {
      this.direct = undefined;
    }
  }

  start(): void {
    let proc: DecoderProcess;
    try {
      proc =
        this.direct === undefined
          ? this.spawn(this.options.ffmpegPath, ffmpegArgs(this.options))
          : this.spawn(this.options.ffmpegPath, ffmpegArgs(this.options), this.direct.theirs);
    } catch (err) {
      throw new CameraError(
        'FFMPEG_UNAVAILABLE',
        'ffmpeg could not be started. Install ffmpeg (Debian package ffmpeg) or set SIGHTLINE_FFMPEG.',
        { cause: err },
      );
    }
    this.proc = proc;
    proc.on('error', (err) => {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES';
      this.exit(
        missing
          ? new CameraError(
              'FFMPEG_UNAVAILABLE',
              'ffmpeg was not found or is not executable. Install ffmpeg (Debian package ffmpeg) or set SIGHTLINE_FFMPEG.',
              { cause: err },
            )
          : new CameraError('DECODER_FAILED', 'ffmpeg failed to run.', { cause: err }),
      );
    });
    proc.on('exit', (code, signal) => {
      const tail = this.stderrTail.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
      this.exit(
        new CameraError('DECODER_FAILED', `ffmpeg stopped (${signal ?? `exit ${code}`})${tail === '' ? '' : `: ${tail}`}.`, {
          details: { exitCode: code, signal },
        }),
      );
    });
    // A broken pipe when ffmpeg dies is reported through 'exit'.
    proc.stdin?.on('error', () => undefined);
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-4096);
    });
    proc.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk));
    // The child has its own copy of the other end: ours must go, or the socket never ends.
    this.direct?.theirs.destroy();
  }

  /**
   * Feeds one access unit. When ffmpeg falls behind, access units are
   * skipped until the next keyframe (a decoder cannot resume mid-GOP), and
   * counted in `skipped`.
   */
  write(data: Buffer, keyframe: boolean): void {
    const stdin = this.proc?.stdin;
    if (stdin === undefined || stdin === null || this.exited || stdin.destroyed) return;
    if (this.skipping) {
      if (!keyframe || stdin.writableLength > this.maxPending / 2) {
        this.skipped++;
        return;
      }
      this.skipping = false;
    } else if (stdin.writableLength > this.maxPending) {
      this.skipping = true;
      this.skipped++;
      return;
    }
    stdin.write(data);
  }

  private onStdout(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameSize - this.filled, chunk.length - off);
      chunk.copy(this.frame.data, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameSize) this.completed();
    }
  }

  private completed(): void {
    const done = this.frame;
    // The next frame goes into a buffer no one holds (a new one if all are held); `done` is the listener's now.
    // (The one being assembled when ffmpeg ends is never released: output may still arrive after 'exit'.)
    this.frame = this.pool.take();
    this.filled = 0;
    this.onFrame(done.data, done);
  }

  private exit(err: CameraError): void {
    if (this.exited) return;
    this.exited = true;
    this.onExit(err);
  }

  /** Stops ffmpeg: closes its input, then SIGKILL if it has not gone after `graceMs`. */
  async stop(graceMs = 1000): Promise<void> {
    const proc = this.proc;
    this.direct?.theirs.destroy();
    if (proc === undefined) {
      this.direct?.ours.destroy();
      return;
    }
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      proc.stdin?.end();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    }
    // Once ffmpeg is gone: anything it wrote last that is still read lands in the frame being assembled, never released.
    this.direct?.ours.destroy();
  }
}
