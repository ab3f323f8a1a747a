import { spawn } from 'node:child_process';
import { SdkError } from '../errors.js';
import { Frame, type FrameData } from '../frame.js';

/**
 * The ffmpeg binary: `SIGHTLINE_FFMPEG`, else `ffmpeg` on PATH (Debian's /usr/bin/ffmpeg).
 *
 * @example
 * ```ts
 * process.env.SIGHTLINE_FFMPEG = '/opt/ffmpeg/bin/ffmpeg';
 * ffmpegPath(); // '/opt/ffmpeg/bin/ffmpeg'
 * ```
 */
export function ffmpegPath(): string {
  return process.env.SIGHTLINE_FFMPEG ?? 'ffmpeg';
}

/**
 * Runs ffmpeg with `args`, feeding `input` on stdin; resolves with stdout.
 *
 * @example
 * ```ts
 * const png = await runFfmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '4x4', '-i', 'pipe:0', '-f', 'image2pipe', '-vcodec', 'png', 'pipe:1'], frame.data);
 * ```
 */
export function runFfmpeg(args: readonly string[], input?: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', ...(input === undefined ? ['-nostdin'] : []), ...args], {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) =>
      reject(new SdkError('FRAME_INVALID', `Could not run ffmpeg (${ffmpegPath()}): install it or set SIGHTLINE_FFMPEG.`, { cause: e })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new SdkError('FRAME_INVALID', `ffmpeg failed (${code}): ${Buffer.concat(err).toString('utf8').slice(0, 500)}`));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * Width and height of an image file (or a video's first frame).
 *
 * @example
 * ```ts
 * const { width, height } = await imageSize('test/fixtures/messi5.png');
 * ```
 */
export async function imageSize(path: string): Promise<{ width: number; height: number }> {
  // One frame as PPM: its header carries the size.
  const out = await runFfmpeg(['-i', path, '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'ppm', 'pipe:1']);
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(out.subarray(0, 64).toString('latin1'));
  if (header === null) throw new SdkError('FRAME_INVALID', `Could not read the size of ${path}.`);
  return { width: Number(header[1]), height: Number(header[2]) };
}

/**
 * Decodes an image file (PNG, JPEG, anything ffmpeg reads; the first frame
 * of a video) to an RGB24 {@link Frame}, optionally scaled to `width`x`height`
 * (or letterboxed into them with `pad`).
 *
 * @example
 * ```ts
 * const frame = await readImageFrame('test/fixtures/messi5.png');
 * const small = await readImageFrame('test/fixtures/messi5.png', { width: 256, height: 256, pad: true });
 * ```
 */
export async function readImageFrame(
  path: string,
  options: { width?: number; height?: number; pad?: boolean; camera?: string; filter?: string } = {},
): Promise<Frame> {
  let vf = options.filter;
  if (options.width !== undefined && options.height !== undefined) {
    const scale =
      options.pad === true
        ? `scale=${options.width}:${options.height}:force_original_aspect_ratio=decrease,pad=${options.width}:${options.height}:(ow-iw)/2:(oh-ih)/2:black`
        : `scale=${options.width}:${options.height}`;
    vf = vf === undefined ? scale : `${vf},${scale}`;
  }
  const args = ['-i', path, ...(vf === undefined ? [] : ['-vf', vf]), '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'ppm', 'pipe:1'];
  const ppm = await runFfmpeg(args);
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 64).toString('latin1'));
  if (m === null) throw new SdkError('FRAME_INVALID', `ffmpeg did not return an image for ${path}.`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  const data = new Uint8Array(ppm.subarray(m[0].length, m[0].length + width * height * 3));
  return new Frame({ width, height, data, timestamp: Date.now(), camera: options.camera ?? 'test' });
}

/**
 * Encodes a frame as JPEG with ffmpeg (to look at an app's output, or to
 * write a fixture).
 *
 * @example
 * ```ts
 * writeFileSync('/tmp/out.jpg', await encodeJpeg(h.outputs('video_out')[0]!));
 * ```
 */
export function encodeJpeg(frame: FrameData, quality = 3): Promise<Buffer> {
  return runFfmpeg(
    [
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${frame.width}x${frame.height}`,
      '-i',
      'pipe:0',
      '-frames:v',
      '1',
      '-q:v',
      String(quality),
      '-f',
      'mjpeg',
      'pipe:1',
    ],
    frame.data,
  );
}
