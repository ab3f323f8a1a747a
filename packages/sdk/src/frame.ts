import { SdkError } from './errors.js';
import { blurRegion, type BlurOptions } from './image/blur.js';

/**
 * An RGB colour, each channel 0..255.
 *
 * @example
 * ```ts
 * const amber: Rgb = [255, 191, 0];
 * frame.addRect(0, 0, 10, 10, { color: amber });
 * ```
 */
export type Rgb = readonly [number, number, number];

/**
 * Largest frame the SDK accepts (8K UHD), width.
 *
 * @example
 * ```ts
 * if (w > MAX_FRAME_WIDTH) throw new Error('too wide');
 * ```
 */
export const MAX_FRAME_WIDTH = 7680;
/**
 * Largest frame the SDK accepts (8K UHD), height.
 *
 * @example
 * ```ts
 * if (h > MAX_FRAME_HEIGHT) throw new Error('too tall');
 * ```
 */
export const MAX_FRAME_HEIGHT = 4320;

/**
 * A frame as it crosses the app ⇄ agent channel: RGB24 pixels, row after row,
 * no padding (`data.length === width * height * 3`).
 *
 * @example
 * ```ts
 * const raw: FrameData = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]), timestamp: Date.now(), camera: 'door' };
 * const frame = new Frame(raw);
 * ```
 */
export interface FrameData {
  readonly width: number;
  readonly height: number;
  /** RGB24, top-left first. Writable: blurs and overlays change it in place. */
  readonly data: Uint8Array;
  /** Capture time, milliseconds since the Unix epoch. */
  readonly timestamp: number;
  /** Name of the camera the frame came from (never its URL or credentials). */
  readonly camera: string;
}

/**
 * Something to draw on a frame when it is put to an output; `addRect` and
 * `addLabel` queue them in `frame.overlays`.
 *
 * @example
 * ```ts
 * frame.overlays.push({ kind: 'label', text: 'zone A', x: 4, y: 4 });
 * ```
 */
export type Overlay =
  | {
      readonly kind: 'rect';
      readonly x1: number;
      readonly y1: number;
      readonly x2: number;
      readonly y2: number;
      readonly label?: string;
      readonly color?: Rgb;
      readonly thickness?: number;
    }
  | {
      readonly kind: 'label';
      readonly text: string;
      readonly x: number;
      readonly y: number;
      readonly color?: Rgb;
      readonly scale?: number;
    };

/**
 * Options of {@link Frame.addRect}.
 *
 * @example
 * ```ts
 * frame.addRect(10, 10, 50, 40, { label: 'car', color: [255, 0, 0], thickness: 3 });
 * ```
 */
export interface RectOptions {
  /** Text drawn above the rectangle's top-left corner. */
  readonly label?: string;
  readonly color?: Rgb;
  /** Line width in pixels; default 2. */
  readonly thickness?: number;
}

/**
 * Options of {@link Frame.addLabel}.
 *
 * @example
 * ```ts
 * frame.addLabel('3 people', 8, 8, { color: [255, 255, 255], scale: 3 });
 * ```
 */
export interface LabelOptions {
  readonly color?: Rgb;
  /** Pixels per font pixel of the 5x7 font; default 2 (14 px high text). */
  readonly scale?: number;
}

/**
 * Throws FRAME_INVALID unless `f` is a well-formed RGB24 frame.
 *
 * @example
 * ```ts
 * checkFrame({ width: 2, height: 2, data: new Uint8Array(12), timestamp: 0, camera: 'c' }); // ok
 * ```
 */
export function checkFrame(f: FrameData): void {
  const ok =
    Number.isInteger(f.width) &&
    Number.isInteger(f.height) &&
    f.width > 0 &&
    f.height > 0 &&
    f.width <= MAX_FRAME_WIDTH &&
    f.height <= MAX_FRAME_HEIGHT &&
    f.data instanceof Uint8Array &&
    f.data.length === f.width * f.height * 3 &&
    Number.isFinite(f.timestamp) &&
    typeof f.camera === 'string';
  if (!ok) {
    throw new SdkError(
      'FRAME_INVALID',
      `A frame must be RGB24 with data.length = width * height * 3 and at most ${MAX_FRAME_WIDTH}x${MAX_FRAME_HEIGHT}.`,
      {
        details: { width: f.width, height: f.height, bytes: f.data?.length },
      },
    );
  }
}

/**
 * A video frame: RGB24 pixels plus the overlays to draw when it is put to an
 * output. Coordinates are pixels, origin top-left (Panorama's `add_rect` took
 * fractions of the frame; multiply by `width`/`height` when porting).
 *
 * @example
 * ```ts
 * const frame = await ctx.inputs.video_in.get({ timeoutMs: 1000 });
 * if (frame) {
 *   frame.blur(100, 80, 160, 150);
 *   frame.addRect(10, 10, 200, 120, { label: 'zone A' });
 *   frame.addLabel(`t=${frame.timestamp}`, 8, frame.height - 24);
 *   await ctx.outputs.video_out.put(frame);
 * }
 * ```
 */
export class Frame implements FrameData {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
  readonly timestamp: number;
  readonly camera: string;
  /** Overlays waiting to be drawn; `put()` draws and clears them. */
  readonly overlays: Overlay[] = [];

  /** Wraps RGB24 pixels (not copied). Throws FRAME_INVALID when `data` has the wrong length. */
  constructor(init: FrameData) {
    checkFrame(init);
    this.width = init.width;
    this.height = init.height;
    this.data = init.data;
    this.timestamp = init.timestamp;
    this.camera = init.camera;
  }

  /**
   * A black frame, for tests and synthetic outputs.
   *
   * @example
   * ```ts
   * const f = Frame.blank(640, 480); // camera 'test', timestamp now
   * ```
   */
  static blank(width: number, height: number, options: { camera?: string; timestamp?: number; fill?: Rgb } = {}): Frame {
    const data = new Uint8Array(width * height * 3);
    if (options.fill !== undefined) {
      for (let i = 0; i < data.length; i += 3) {
        data[i] = options.fill[0];
        data[i + 1] = options.fill[1];
        data[i + 2] = options.fill[2];
      }
    }
    return new Frame({ width, height, data, timestamp: options.timestamp ?? Date.now(), camera: options.camera ?? 'test' });
  }

  /**
   * Queues a rectangle outline (pixels, corners in any order).
   *
   * @example
   * ```ts
   * frame.addRect(box.x1, box.y1, box.x2, box.y2, { label: 'car 0.91', color: [255, 200, 0] });
   * ```
   */
  addRect(x1: number, y1: number, x2: number, y2: number, options: RectOptions = {}): this {
    this.overlays.push({ kind: 'rect', x1, y1, x2, y2, ...options });
    return this;
  }

  /**
   * Queues a line of text whose top-left corner is `(x, y)`.
   *
   * @example
   * ```ts
   * frame.addLabel('people: 3', 8, 8);
   * ```
   */
  addLabel(text: string, x: number, y: number, options: LabelOptions = {}): this {
    this.overlays.push({ kind: 'label', text, x, y, ...options });
    return this;
  }

  /**
   * Blurs the rectangle `(x1,y1)-(x2,y2)` in place (box blur, see
   * {@link blurRegion}); pixels outside it are not touched.
   *
   * @example
   * ```ts
   * frame.blur(face.x1, face.y1, face.x2, face.y2);
   * ```
   */
  blur(x1: number, y1: number, x2: number, y2: number, options: BlurOptions = {}): this {
    blurRegion(this, x1, y1, x2, y2, options);
    return this;
  }

  /**
   * A deep copy (pixels and overlays), e.g. to keep the original for comparison.
   *
   * @example
   * ```ts
   * const before = frame.clone();
   * ```
   */
  clone(): Frame {
    const f = new Frame({
      width: this.width,
      height: this.height,
      data: this.data.slice(),
      timestamp: this.timestamp,
      camera: this.camera,
    });
    f.overlays.push(...this.overlays);
    return f;
  }

  /**
   * The RGB value at pixel `(x, y)`.
   *
   * @example
   * ```ts
   * const [r, g, b] = frame.pixel(10, 20);
   * ```
   */
  pixel(x: number, y: number): Rgb {
    if (!(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x < this.width && y < this.height)) {
      throw new SdkError('FRAME_INVALID', `Pixel (${x}, ${y}) is outside the ${this.width}x${this.height} frame.`);
    }
    const i = (y * this.width + x) * 3;
    return [this.data[i]!, this.data[i + 1]!, this.data[i + 2]!];
  }
}
