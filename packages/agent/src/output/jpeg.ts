import { spawn, type ChildProcess } from 'node:child_process';
import type { FrameData } from '@sightline/sdk';

/** Largest JPEG accepted back from the encoder (a 4K frame at high quality is a few MiB). */
const MAX_JPEG_BYTES = 32 * 1024 * 1024;

/**
 * Length of the complete JPEG at the start of `buf` (ITU T.81 B.1: SOI,
 * marker segments with their lengths, entropy-coded data after SOS in which
 * 0xFF is always followed by 0x00 or a restart marker, then EOI), or -1 while
 * it is incomplete. Throws on bytes that are not a JPEG.
 */
export function jpegLength(buf: Uint8Array): number {
  if (buf.length < 2) return -1;
  if (buf[0] !== 0xff || buf[1] !== 0xd8) throw new Error('not a JPEG (no SOI)');
  let p = 2;
  for (;;) {
    if (p + 1 >= buf.length) return -1;
    if (buf[p] !== 0xff) throw new Error('JPEG marker expected');
    let m = buf[p + 1] ?? 0;
    while (m === 0xff) {
      p++;
      if (p + 1 >= buf.length) return -1;
      m = buf[p + 1] ?? 0;
    }
    p += 2;
    if (m === 0xd9) return p;
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
    if (p + 1 >= buf.length) return -1;
    const len = ((buf[p] ?? 0) << 8) | (buf[p + 1] ?? 0);
    if (len < 2) throw new Error('JPEG segment length');
    p += len;
    if (m !== 0xda) continue;
    // Entropy-coded data: up to the next marker that is not a stuffed byte or a restart marker.
    for (;;) {
      if (p + 1 >= buf.length) return -1;
      if (buf[p] === 0xff) {
        const n = buf[p + 1] ?? 0;
        if (n !== 0x00 && !(n >= 0xd0 && n <= 0xd7) && n !== 0xff) break;
      }
      p++;
    }
  }
}

/**
 * One ffmpeg turning RGB24 frames into JPEGs, one frame at a time: a frame
 * offered while the previous one is still being encoded is dropped (the
 * viewer gets fresh pictures, never a queue). Restarted on a new frame size.
 */
export class JpegEncoder {
  private child: ChildProcess | undefined;
  private size = '';
  private pending: ((jpeg: Buffer | undefined) => void) | undefined;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Frames refused because one was still encoding. */
  dropped = 0;

  constructor(
    private readonly ffmpegPath: string,
    private readonly quality = 5,
  ) {}

  private start(width: number, height: number): ChildProcess {
    const child = spawn(
      this.ffmpegPath,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        // Start at the first frame: no probing ahead (it would wait for megabytes of input).
        '-probesize',
        '32',
        '-analyzeduration',
        '0',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${width}x${height}`,
        '-i',
        'pipe:0',
        // One frame in, one JPEG out at once: no frame threads, no frame-rate conversion holding frames back.
        '-threads',
        '1',
        '-fps_mode',
        'passthrough',
        '-q:v',
        String(this.quality),
        '-f',
        'mjpeg',
        '-flush_packets',
        '1',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    child.stdin?.on('error', () => undefined);
    child.stdout?.on('data', (d: Buffer) => {
      if (this.child === child) this.receive(d);
    });
    // An encoder replaced (new size) or closed ends on its own time: only the current one's end fails a frame.
    const ended = (): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.finish(undefined);
    };
    child.once('exit', ended);
    child.once('error', ended);
    return child;
  }

  private finish(jpeg: Buffer | undefined): void {
    const p = this.pending;
    this.pending = undefined;
    p?.(jpeg);
  }

  private receive(d: Buffer): void {
    this.buffered.push(d);
    this.bufferedBytes += d.length;
    let all = Buffer.concat(this.buffered);
    for (;;) {
      let n: number;
      try {
        n = jpegLength(all);
      } catch {
        this.close(); // the encoder is not speaking JPEG: drop it, a new one starts with the next frame
        return;
      }
      if (n < 0) break;
      this.finish(all.subarray(0, n));
      all = all.subarray(n);
    }
    this.buffered = all.length > 0 ? [all] : [];
    this.bufferedBytes = all.length;
    if (this.bufferedBytes > MAX_JPEG_BYTES) this.close();
  }

  /** The frame as a JPEG, or undefined when dropped (busy) or the encoder failed. */
  encode(frame: FrameData): Promise<Buffer | undefined> {
    if (this.pending !== undefined) {
      this.dropped++;
      return Promise.resolve(undefined);
    }
    const size = `${frame.width}x${frame.height}`;
    if (this.child === undefined || this.size !== size) {
      this.close();
      this.size = size;
      this.child = this.start(frame.width, frame.height);
    }
    const child = this.child;
    return new Promise((resolve) => {
      this.pending = resolve;
      child.stdin?.write(frame.data);
    });
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    this.buffered = [];
    this.bufferedBytes = 0;
    if (c !== undefined) {
      c.stdin?.end();
      c.kill('SIGKILL');
    }
    this.finish(undefined);
  }
}
