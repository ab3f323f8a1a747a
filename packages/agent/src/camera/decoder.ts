import { execFile, spawn as nodeSpawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CameraError } from './errors.js';

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

/** Starts a process with piped stdio. No shell; `args` reach execve as they are. */
export type Spawner = (command: string, args: readonly string[]) => DecoderProcess;

export const systemSpawner: Spawner = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], shell: false, windowsHide: true });

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
 */
export class FfmpegDecoder {
  onFrame: (frame: Buffer) => void = () => undefined;
  onExit: (err: CameraError) => void = () => undefined;
  /** Access units not written because ffmpeg was behind (it resumes at a keyframe). */
  skipped = 0;

  private readonly frameSize: number;
  private proc: DecoderProcess | undefined;
  private frame: Buffer;
  private filled = 0;
  private skipping = false;
  private exited = false;
  private stderrTail = '';
  private readonly maxPending: number;

  constructor(
    private readonly options: DecoderOptions,
    private readonly spawn: Spawner = systemSpawner,
  ) {
    checkFrameSize(options.width, options.height);
    this.frameSize = options.width * options.height * 3;
    this.frame = Buffer.allocUnsafe(this.frameSize);
    this.maxPending = options.maxPendingBytes ?? 8 * 1024 * 1024;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    let proc: DecoderProcess;
    try {
      proc = this.spawn(this.options.ffmpegPath, ffmpegArgs(this.options));
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
      chunk.copy(this.frame, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameSize) {
        const done = this.frame;
        // A fresh buffer per frame: a consumer may still hold the previous one.
        this.frame = Buffer.allocUnsafe(this.frameSize);
        this.filled = 0;
        this.onFrame(done);
      }
    }
  }

  private exit(err: CameraError): void {
    if (this.exited) return;
    this.exited = true;
    this.onExit(err);
  }

  /** Stops ffmpeg: closes its input, then SIGKILL if it has not gone after `graceMs`. */
  async stop(graceMs = 1000): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      proc.stdin?.end();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    }
  }
}
