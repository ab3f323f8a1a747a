import { SdkError } from '../errors.js';
import type { FrameData } from '../frame.js';

/**
 * What a model expects as image input. The model package descriptor carries
 * it and the agent passes it to the app (`ctx.models.<name>.input`).
 *
 * @example
 * ```ts
 * const blazeface: TensorSpec = { shape: [1, 256, 256, 3], layout: 'NHWC', range: [-1, 1] };
 * ```
 */
export interface TensorSpec {
  /** `[1, H, W, C]` for NHWC, `[1, C, H, W]` for NCHW; C is 3. */
  readonly shape: readonly number[];
  readonly layout: 'NHWC' | 'NCHW';
  /** Value a pixel of 0 maps to and value 255 maps to; default `[0, 1]`. BlazeFace wants `[-1, 1]`. */
  readonly range?: readonly [number, number];
  /** Channel order; default RGB. */
  readonly color?: 'RGB' | 'BGR';
}

/**
 * A rectangle of a frame in pixels.
 *
 * @example
 * ```ts
 * const tile: Region = { x: 144, y: 0, width: 192, height: 192 };
 * toTensor(frame, spec, { region: tile });
 * ```
 */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Maps model-input pixels back to frame pixels: `frameX = modelX * sx + tx`, `frameY = modelY * sy + ty`.
 *
 * @example
 * ```ts
 * const { transform: t } = toTensor(frame, spec);
 * const frameX = modelX * t.sx + t.tx;
 * ```
 */
export interface Transform {
  readonly sx: number;
  readonly sy: number;
  readonly tx: number;
  readonly ty: number;
}

/**
 * Options of {@link toTensor}.
 *
 * @example
 * ```ts
 * toTensor(frame, spec, { fit: 'stretch', padValue: 114, out: reusable });
 * ```
 */
export interface ToTensorOptions {
  /** Part of the frame to use (a tile); the whole frame when absent. */
  readonly region?: Region;
  /** `letterbox` (default) keeps the aspect ratio and pads, centred; `stretch` fills the input. */
  readonly fit?: 'letterbox' | 'stretch';
  /** Pixel value (0..255, all channels) of the letterbox padding; default 0 (black). */
  readonly padValue?: number;
  /** A tensor to fill instead of allocating one (reuse it across frames). */
  readonly out?: Float32Array;
}

/**
 * The result of {@link toTensor}.
 *
 * @example
 * ```ts
 * const { data, width, height, transform }: ImageTensor = toTensor(frame, spec);
 * ```
 */
export interface ImageTensor {
  /** The input tensor, in the spec's layout and range. */
  readonly data: Float32Array;
  /** Model input width and height in pixels. */
  readonly width: number;
  readonly height: number;
  /** From model-input pixels to frame pixels. */
  readonly transform: Transform;
}

/**
 * Width and height of the image a spec describes; throws MODEL_INPUT_INVALID unless it has 3 channels.
 *
 * @example
 * ```ts
 * specSize({ shape: [1, 3, 224, 224], layout: 'NCHW' }); // { width: 224, height: 224 }
 * ```
 */
export function specSize(spec: TensorSpec): { width: number; height: number } {
  const [n, a, b, c] = spec.shape;
  const [h, w, ch] = spec.layout === 'NHWC' ? [a, b, c] : [b, c, a];
  if (spec.shape.length !== 4 || n !== 1 || ch !== 3 || !(h !== undefined && w !== undefined && h > 0 && w > 0 && h <= 8192 && w <= 8192)) {
    throw new SdkError(
      'MODEL_INPUT_INVALID',
      `An image input must have shape [1,H,W,3] (NHWC) or [1,3,H,W] (NCHW); got [${spec.shape.join(',')}] ${spec.layout}.`,
    );
  }
  return { width: w, height: h };
}

/**
 * Turns (part of) an RGB24 frame into a model's float input tensor in one
 * pass: crop, resize (bilinear), letterbox, normalise, reorder channels and
 * layout. About 0.9 ms for 640x480 → 256x256 on one core here, so the agent
 * keeps full-size frames (the app needs them to blur and show) and resizes in
 * the app instead of asking ffmpeg for a second, model-sized stream.
 *
 * @example
 * ```ts
 * const spec = { shape: [1, 256, 256, 3], layout: 'NHWC', range: [-1, 1] } as const;
 * const { data, transform } = toTensor(frame, spec);
 * const out = await ctx.models.face.run(data);
 * // a box found at model pixels (mx1,my1)-(mx2,my2) sits in the frame at:
 * const [x1, y1, x2, y2] = mapBox(transform, mx1, my1, mx2, my2);
 * ```
 */
export function toTensor(frame: FrameData, spec: TensorSpec, options: ToTensorOptions = {}): ImageTensor {
  const { width: W, height: H } = specSize(spec);
  const size = W * H * 3;
  const data = options.out ?? new Float32Array(size);
  if (data.length !== size) throw new SdkError('MODEL_INPUT_INVALID', `options.out must hold ${size} floats.`);
  const [lo, hi] = spec.range ?? [0, 1];
  const transform = resample(frame, spec, options, data, (hi - lo) / 255, lo, false);
  return { data, width: W, height: H, transform };
}

/**
 * Options of {@link toTensorBytes}: those of {@link toTensor}, with a byte buffer to reuse.
 *
 * @example
 * ```ts
 * toTensorBytes(frame, spec, { out: new Uint8Array(256 * 256 * 3) });
 * ```
 */
export interface ToTensorBytesOptions extends Omit<ToTensorOptions, 'out'> {
  readonly out?: Uint8Array;
}

/**
 * {@link toTensor}, but the pixels stay bytes (0..255, rounded) in the
 * spec's layout and channel order; the model runner maps them to the spec's
 * `range` when the model runs. A quarter of the bytes of the float tensor to
 * prepare and send, so it is what apps should pass to `ctx.models.X.run`.
 *
 * @example
 * ```ts
 * const { data, transform } = toTensorBytes(frame, ctx.models.face.input!);
 * const outputs = await ctx.models.face.run(data); // Uint8Array
 * ```
 */
export function toTensorBytes(
  frame: FrameData,
  spec: TensorSpec,
  options: ToTensorBytesOptions = {},
): Omit<ImageTensor, 'data'> & { readonly data: Uint8Array } {
  const { width: W, height: H } = specSize(spec);
  const size = W * H * 3;
  const data = options.out ?? new Uint8Array(size);
  if (data.length !== size) throw new SdkError('MODEL_INPUT_INVALID', `options.out must hold ${size} bytes.`);
  const transform = resample(frame, spec, options, data, 1, 0, true);
  return { data, width: W, height: H, transform };
}

/**
 * Crop, bilinear resize, letterbox, `value * k + lo`, channel order and
 * layout, into `data`. The padding is filled first, then only the picture's
 * rectangle is computed, with the taps of each column worked out once and no
 * branch in the inner loop (0.9–1.0 ms for 640x480 → 256x256 here, was
 * 1.5–1.7 ms with the padding and layout tested per pixel). Bytes
 * (`round`) are rounded to the nearest value: bilinear weights sum to one, so
 * a byte stays within 0..255.
 */
function resample(
  frame: FrameData,
  spec: TensorSpec,
  options: Omit<ToTensorOptions, 'out'>,
  data: Float32Array | Uint8Array,
  k: number,
  lo: number,
  round: boolean,
): Transform {
  const { width: W, height: H } = specSize(spec);
  const region = options.region ?? { x: 0, y: 0, width: frame.width, height: frame.height };
  const rx = Math.max(0, Math.floor(region.x));
  const ry = Math.max(0, Math.floor(region.y));
  const rw = Math.min(frame.width - rx, Math.floor(region.width));
  const rh = Math.min(frame.height - ry, Math.floor(region.height));
  if (!(rw > 0 && rh > 0)) throw new SdkError('FRAME_INVALID', 'The region lies outside the frame.', { details: { ...region } });

  let scaleX = W / rw;
  let scaleY = H / rh;
  let cw = W;
  let ch = H;
  if ((options.fit ?? 'letterbox') === 'letterbox') {
    const s = Math.min(scaleX, scaleY);
    scaleX = scaleY = s;
    cw = Math.min(W, Math.round(rw * s));
    ch = Math.min(H, Math.round(rh * s));
  }
  const padX = Math.floor((W - cw) / 2);
  const padY = Math.floor((H - ch) / 2);
  const pad = (options.padValue ?? 0) * k + lo;
  if (cw < W || ch < H) data.fill(round ? Math.round(pad) : pad);
  // Where a pixel's channels go: NHWC interleaves them, NCHW puts each in its plane; BGR swaps red and blue.
  const plane = W * H;
  const pixStep = spec.layout === 'NCHW' ? 1 : 3;
  const chStep = spec.layout === 'NCHW' ? plane : 1;
  const [oR, oB] = spec.color === 'BGR' ? [2 * chStep, 0] : [0, 2 * chStep];
  const oG = chStep;
  // Rounding to the nearest byte is adding a half before truncation (`| 0`); floats keep their value.
  const half = round ? 0.5 : 0;

  // Bilinear source taps per output column, inside the region.
  const x0 = new Int32Array(cw);
  const x1 = new Int32Array(cw);
  const wx = new Float32Array(cw);
  for (let i = 0; i < cw; i++) {
    const sx = Math.min(rw - 1, Math.max(0, (i + 0.5) / scaleX - 0.5));
    const f = Math.floor(sx);
    x0[i] = (rx + f) * 3;
    x1[i] = (rx + Math.min(rw - 1, f + 1)) * 3;
    wx[i] = sx - f;
  }
  const stride = frame.width * 3;
  const src = frame.data;
  for (let cy = 0; cy < ch; cy++) {
    const sy = Math.min(rh - 1, Math.max(0, (cy + 0.5) / scaleY - 0.5));
    const f = Math.floor(sy);
    const r0 = (ry + f) * stride;
    const r1 = (ry + Math.min(rh - 1, f + 1)) * stride;
    const wy = sy - f;
    // Vertical weights folded with the range mapping: value = (top * (1 - wy) + bottom * wy) * k + lo.
    const ky0 = (1 - wy) * k;
    const ky1 = wy * k;
    const add = lo + half;
    let o = ((padY + cy) * W + padX) * pixStep;
    for (let cx = 0; cx < cw; cx++, o += pixStep) {
      const fx = wx[cx]!;
      const gx = 1 - fx;
      const a0 = r0 + x0[cx]!;
      const a1 = r0 + x1[cx]!;
      const b0 = r1 + x0[cx]!;
      const b1 = r1 + x1[cx]!;
      const r = (src[a0]! * gx + src[a1]! * fx) * ky0 + (src[b0]! * gx + src[b1]! * fx) * ky1 + add;
      const g = (src[a0 + 1]! * gx + src[a1 + 1]! * fx) * ky0 + (src[b0 + 1]! * gx + src[b1 + 1]! * fx) * ky1 + add;
      const b = (src[a0 + 2]! * gx + src[a1 + 2]! * fx) * ky0 + (src[b0 + 2]! * gx + src[b1 + 2]! * fx) * ky1 + add;
      data[o + oR] = round ? r | 0 : r;
      data[o + oG] = round ? g | 0 : g;
      data[o + oB] = round ? b | 0 : b;
    }
  }
  return { sx: 1 / scaleX, sy: 1 / scaleY, tx: rx - padX / scaleX, ty: ry - padY / scaleY };
}

/**
 * Maps a box from model-input pixels to frame pixels.
 *
 * @example
 * ```ts
 * const [x1, y1, x2, y2] = mapBox(transform, 100, 40, 140, 90);
 * frame.blur(x1, y1, x2, y2);
 * ```
 */
export function mapBox(t: Transform, x1: number, y1: number, x2: number, y2: number): [number, number, number, number] {
  return [x1 * t.sx + t.tx, y1 * t.sy + t.ty, x2 * t.sx + t.tx, y2 * t.sy + t.ty];
}
