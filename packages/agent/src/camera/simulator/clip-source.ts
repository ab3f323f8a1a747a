import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CameraError } from '../errors.js';
import { AccessUnitAssembler, AnnexBSplitter, NAL_PPS, NAL_SPS, type AnnexBAccessUnit } from './annexb.js';

/** A picture ready to send: NAL units (with SPS and PPS before an IDR), and its time on a 90 kHz clock. */
export interface ClipAccessUnit {
  readonly nals: readonly Buffer[];
  readonly keyframe: boolean;
  /** 90 kHz ticks since the source started (not wrapped; sessions add their own random offset). */
  readonly ts90: number;
  readonly bytes: number;
}

export interface ClipSourceLimits {
  readonly maxNal: number;
  readonly maxAccessUnit: number;
  readonly maxNalsPerAccessUnit: number;
  /** The pictures since the last IDR, kept for a client that joins, at most this many bytes. */
  readonly maxGopBytes: number;
  /** Restart ffmpeg when it writes nothing for this long. */
  readonly stallMs: number;
}

export interface ClipSourceOptions {
  readonly file: string;
  readonly ffmpegPath: string;
  readonly limits: ClipSourceLimits;
  readonly now?: () => number;
}

/** The arguments: real-time pacing, looping, H.264 copied (never re-encoded) as an Annex-B stream. No secrets here. */
export function clipFfmpegArgs(file: string): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-re',
    '-stream_loop',
    '-1',
    '-i',
    file,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-c:v',
    'copy',
    // The raw h264 muxer inserts h264_mp4toannexb itself; an explicit -bsf:v breaks -stream_loop in ffmpeg 4.1.
    '-flush_packets',
    '1',
    '-f',
    'h264',
    'pipe:1',
  ];
}

const MAX_RESTARTS_WITHOUT_VIDEO = 3;

/**
 * One ffmpeg reading the clip in real time, looping, its H.264 copied to an
 * Annex-B pipe; split here into pictures with a 90 kHz timestamp from the
 * time each arrived (as a camera stamps capture time). Keeps the latest SPS
 * and PPS and the pictures since the last IDR so a client that joins starts
 * at a keyframe. ffmpeg is restarted when it exits or stalls.
 */
export class ClipSource {
  sps: Buffer | undefined;
  pps: Buffer | undefined;
  /** The pictures since the last IDR (empty when over `maxGopBytes`: joiners then wait for the next IDR). */
  gop: ClipAccessUnit[] = [];
  /** Settles once with why the source ended for good (stop() gives undefined). */
  readonly ended: Promise<CameraError | undefined>;
  readonly pids: number[] = [];

  private gopBytes = 0;
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private readonly splitter: AnnexBSplitter;
  private readonly assembler: AccessUnitAssembler;
  private readonly subscribers = new Set<(au: ClipAccessUnit) => void>();
  private readonly now: () => number;
  private readonly t0: number;
  private lastTs = -1;
  private lastData = 0;
  private stopped = false;
  private restartsWithoutVideo = 0;
  private sawVideo = false;
  private stderr = '';
  private timer: NodeJS.Timeout | undefined;
  private resolveEnded: (e: CameraError | undefined) => void = () => undefined;
  private readyWaiters: { resolve: () => void; reject: (e: CameraError) => void }[] = [];

  constructor(private readonly options: ClipSourceOptions) {
    this.now = options.now ?? (() => performance.now());
    this.t0 = this.now();
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.assembler = new AccessUnitAssembler(options.limits, (au) => this.onAccessUnit(au));
    this.splitter = new AnnexBSplitter(options.limits.maxNal, (nal, at) => this.assembler.push(nal, at));
  }

  get ready(): boolean {
    return this.sps !== undefined && this.pps !== undefined && this.sawVideo;
  }

  /** Starts ffmpeg; resolves at the first keyframe with its parameter sets, rejects when the clip does not play. */
  start(timeoutMs: number): Promise<void> {
    const waiting = new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () =>
          this.fail(
            new CameraError('CAMERA_UNREACHABLE', `The camera simulator's clip did not start playing within ${timeoutMs / 1000} s.`),
          ),
        timeoutMs,
      );
      const done = (): void => clearTimeout(t);
      this.readyWaiters.push({
        resolve: () => (done(), resolve()),
        reject: (e) => (done(), reject(e)),
      });
    });
    this.spawn();
    this.timer = setInterval(() => this.watchdog(), 1000);
    this.timer.unref();
    return waiting;
  }

  /** Now on the 90 kHz clock of `ClipAccessUnit.ts90`. */
  nowTs90(): number {
    return Math.round((this.now() - this.t0) * 90);
  }

  subscribe(fn: (au: ClipAccessUnit) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.subscribers.clear();
    this.settleReady(new CameraError('CAMERA_UNREACHABLE', 'The camera simulator was stopped before its clip played.'));
    this.resolveEnded(undefined);
  }

  private fail(err: CameraError): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.settleReady(err);
    this.resolveEnded(err);
  }

  private settleReady(err?: CameraError): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  }

  private spawn(): void {
    this.splitter.reset();
    this.assembler.reset();
    this.stderr = '';
    this.lastData = this.now();
    const child = spawn(this.options.ffmpegPath, clipFfmpegArgs(this.options.file), { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    this.child = child;
    if (child.pid !== undefined) this.pids.push(child.pid);
    if (this.pids.length > 16) this.pids.shift();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-2000);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) return;
      this.lastData = this.now();
      try {
        this.splitter.push(chunk, this.lastData);
      } catch (err) {
        this.fail(
          new CameraError('CAMERA_SOURCE_INVALID', `The clip ${this.options.file} is not usable H.264: ${(err as Error).message}.`),
        );
      }
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (this.child !== child) return;
      this.fail(
        new CameraError(
          'FFMPEG_UNAVAILABLE',
          `The camera simulator could not start ffmpeg at ${this.options.ffmpegPath} (${err.code ?? err.message}). Install ffmpeg, or set SIGHTLINE_FFMPEG.`,
          { cause: err },
        ),
      );
    });
    child.once('exit', () => {
      if (this.child !== child || this.stopped) return;
      this.child = undefined;
      if (!this.sawVideo || ++this.restartsWithoutVideo > MAX_RESTARTS_WITHOUT_VIDEO) {
        const why = this.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 400);
        this.fail(
          new CameraError(
            'CAMERA_SOURCE_INVALID',
            `The camera simulator cannot play ${this.options.file} as H.264 video${why === '' ? '' : ` (ffmpeg: ${why})`}. Give an MP4 with an H.264 track.`,
          ),
        );
        return;
      }
      const t = setTimeout(() => {
        if (!this.stopped) this.spawn();
      }, 500);
      t.unref();
    });
  }

  private watchdog(): void {
    if (this.stopped || this.child === undefined) return;
    if (this.now() - this.lastData > this.options.limits.stallMs) {
      // Exit handler restarts it.
      this.child.kill('SIGKILL');
    }
  }

  private onAccessUnit(au: AnnexBAccessUnit): void {
    let hasSps = false;
    let hasPps = false;
    for (const nal of au.nals) {
      const type = (nal[0] ?? 0) & 0x1f;
      if (type === NAL_SPS) {
        this.sps = nal;
        hasSps = true;
      } else if (type === NAL_PPS) {
        this.pps = nal;
        hasPps = true;
      }
    }
    let nals = au.nals;
    if (au.keyframe && (!hasSps || !hasPps)) {
      // A joiner starts here: put the parameter sets in front (RFC 6184 8.4 allows them in-band).
      if (this.sps === undefined || this.pps === undefined) return;
      nals = [...(hasSps ? [] : [this.sps]), ...(hasPps ? [] : [this.pps]), ...au.nals];
    }
    if (!this.sawVideo && !au.keyframe) return;
    // Timestamps from arrival time, strictly increasing (two pictures in one read would otherwise share one).
    let ts = Math.round((au.atMs - this.t0) * 90);
    if (ts <= this.lastTs) ts = this.lastTs + 90;
    this.lastTs = ts;
    const out: ClipAccessUnit = { nals, keyframe: au.keyframe, ts90: ts, bytes: nals.reduce((n, b) => n + b.length, 0) };
    if (out.keyframe) {
      this.gop = [out];
      this.gopBytes = out.bytes;
    } else if (this.gop.length > 0) {
      this.gopBytes += out.bytes;
      if (this.gopBytes > this.options.limits.maxGopBytes) {
        this.gop = [];
        this.gopBytes = 0;
      } else this.gop.push(out);
    }
    if (!this.sawVideo) {
      this.sawVideo = true;
      this.settleReady();
    }
    this.restartsWithoutVideo = 0;
    for (const fn of this.subscribers) fn(out);
  }
}
