import type { FrameData } from '../frame.js';

/**
 * How strongly {@link blurRegion} blurs.
 *
 * @example
 * ```ts
 * frame.blur(x1, y1, x2, y2, { radius: 12, passes: 3 });
 * ```
 */
export interface BlurOptions {
  /**
   * Box radius in pixels. Default: a quarter of the region's shorter side (at
   * least 2), enough that a face in the region cannot be recognised.
   */
  readonly radius?: number;
  /** Box passes; three approximate a Gaussian. Default 3. */
  readonly passes?: number;
}

/**
 * The integer rectangle of `(x1,y1)-(x2,y2)` that lies inside the frame, or null when none does.
 *
 * @example
 * ```ts
 * clampRect({ width: 10, height: 10 }, -5, 2.5, 4.2, 20); // { left: 0, top: 2, right: 5, bottom: 10 }
 * ```
 */
export function clampRect(frame: Pick<FrameData, 'width' | 'height'>, x1: number, y1: number, x2: number, y2: number) {
  const left = Math.max(0, Math.floor(Math.min(x1, x2)));
  const top = Math.max(0, Math.floor(Math.min(y1, y2)));
  const right = Math.min(frame.width, Math.ceil(Math.max(x1, x2)));
  const bottom = Math.min(frame.height, Math.ceil(Math.max(y1, y2)));
  if (!(right > left && bottom > top)) return null;
  return { left, top, right, bottom };
}

/**
 * Blurs the rectangle `(x1,y1)-(x2,y2)` (pixels, corners in any order, clipped
 * to the frame) of an RGB24 frame in place, with a separable box blur
 * (running sums: cost grows with the area, not the radius). Only pixels inside
 * the rectangle are read or written: nothing outside it changes, and nothing
 * outside it bleeds in.
 *
 * @example
 * ```ts
 * blurRegion(frame, face.x1, face.y1, face.x2, face.y2); // or frame.blur(...)
 * blurRegion(frame, 0, 0, 100, 50, { radius: 8, passes: 2 });
 * ```
 */
export function blurRegion(frame: FrameData, x1: number, y1: number, x2: number, y2: number, options: BlurOptions = {}): void {
  const r = clampRect(frame, x1, y1, x2, y2);
  if (r === null) return;
  const w = r.right - r.left;
  const h = r.bottom - r.top;
  const radius = Math.max(1, Math.round(options.radius ?? Math.max(2, Math.min(w, h) / 4)));
  const passes = Math.max(1, Math.min(8, Math.round(options.passes ?? 3)));
  const stride = frame.width * 3;
  const a = new Uint8Array(w * h * 3);
  const b = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = (r.top + y) * stride + r.left * 3;
    a.set(frame.data.subarray(from, from + w * 3), y * w * 3);
  }
  // Source offsets of the samples entering and leaving the box at each position, edges clamped (one table per direction).
  const rowEnter = new Int32Array(w);
  const rowLeave = new Int32Array(w);
  for (let i = 0; i < w; i++) {
    rowEnter[i] = Math.min(w - 1, i + radius + 1) * 3;
    rowLeave[i] = Math.max(0, i - radius) * 3;
  }
  const colEnter = new Int32Array(h);
  const colLeave = new Int32Array(h);
  for (let i = 0; i < h; i++) {
    colEnter[i] = Math.min(h - 1, i + radius + 1) * w * 3;
    colLeave[i] = Math.max(0, i - radius) * w * 3;
  }
  for (let p = 0; p < passes; p++) {
    // Rows: a -> b, then columns: b -> a; the three channels of a pixel together.
    for (let y = 0; y < h; y++) boxLine(a, b, y * w * 3, 3, w, radius, rowEnter, rowLeave);
    for (let x = 0; x < w; x++) boxLine(b, a, x * 3, w * 3, h, radius, colEnter, colLeave);
  }
  for (let y = 0; y < h; y++) frame.data.set(a.subarray(y * w * 3, (y + 1) * w * 3), (r.top + y) * stride + r.left * 3);
}

/**
 * One box pass along a line of `n` RGB pixels `step` bytes apart from
 * `start`, edges clamped to the line's ends; `enter[i]` / `leave[i]` are the
 * offsets (from `start`) of the pixels that enter and leave the box after
 * position `i`.
 */
function boxLine(
  src: Uint8Array,
  dst: Uint8Array,
  start: number,
  step: number,
  n: number,
  radius: number,
  enter: Int32Array,
  leave: Int32Array,
): void {
  const last = n - 1;
  const inv = 1 / (2 * radius + 1);
  let r = 0;
  let g = 0;
  let b = 0;
  for (let k = -radius; k <= radius; k++) {
    const o = start + (k < 0 ? 0 : k > last ? last : k) * step;
    r += src[o]!;
    g += src[o + 1]!;
    b += src[o + 2]!;
  }
  let o = start;
  for (let i = 0; i < n; i++, o += step) {
    dst[o] = (r * inv + 0.5) | 0;
    dst[o + 1] = (g * inv + 0.5) | 0;
    dst[o + 2] = (b * inv + 0.5) | 0;
    const e = start + enter[i]!;
    const l = start + leave[i]!;
    r += src[e]! - src[l]!;
    g += src[e + 1]! - src[l + 1]!;
    b += src[e + 2]! - src[l + 2]!;
  }
}
