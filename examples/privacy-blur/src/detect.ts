import { mapBox, toTensorBytes, type FrameData, type ModelOutputs, type Region, type TensorSpec } from '@sightline/sdk';
import { INPUT_SIZE, decodeFaces, weightedNms, type Face } from './blazeface.js';

/** The model's input, as its package declares it (model/model.json). */
export const BLAZEFACE_INPUT: TensorSpec = { shape: [1, INPUT_SIZE, INPUT_SIZE, 3], layout: 'NHWC', color: 'RGB', range: [-1, 1] };

/** Options of {@link detectFaces}. */
export interface DetectOptions {
  readonly threshold: number;
  /** Also run overlapping square tiles of `tileSize` px (upscaled to 256) to find small faces. */
  readonly tile: boolean;
  readonly tileSize: number;
  /** Share of a tile that overlaps its neighbour; default 0.25 (a face cut by one tile is whole in the next). */
  readonly overlap?: number;
}

/**
 * Start offsets of tiles of `size` along a side of `length` with at least
 * `overlap` shared between neighbours; the last tile ends at the edge.
 */
export function tileStarts(length: number, size: number, overlap: number): number[] {
  if (length <= size) return [0];
  const step = Math.max(1, Math.floor(size * (1 - overlap)));
  const n = Math.ceil((length - size) / step) + 1;
  const starts: number[] = [];
  // Spread n tiles evenly from 0 to length - size.
  for (let i = 0; i < n; i++) starts.push(Math.round((i * (length - size)) / (n - 1)));
  return starts;
}

/** The tile regions of a frame. */
export function tiles(width: number, height: number, size: number, overlap = 0.25): Region[] {
  const out: Region[] = [];
  for (const y of tileStarts(height, size, overlap)) {
    for (const x of tileStarts(width, size, overlap)) out.push({ x, y, width: Math.min(size, width), height: Math.min(size, height) });
  }
  return out;
}

async function detectIn(
  frame: FrameData,
  run: (t: Uint8Array) => Promise<ModelOutputs>,
  threshold: number,
  region: Region | undefined,
  buffer: Uint8Array,
): Promise<Face[]> {
  // Pixels, not floats: the model runner maps them to the model's [-1, 1] (a quarter of the bytes to send).
  const { data, transform } = toTensorBytes(frame, BLAZEFACE_INPUT, region === undefined ? { out: buffer } : { region, out: buffer });
  const faces = decodeFaces(await run(data), threshold);
  return faces.map((f) => {
    const [x1, y1, x2, y2] = mapBox(transform, f.x1, f.y1, f.x2, f.y2);
    const keypoints = f.keypoints.map(([x, y]): [number, number] => [x * transform.sx + transform.tx, y * transform.sy + transform.ty]);
    return { x1, y1, x2, y2, score: f.score, keypoints };
  });
}

/**
 * Faces in a frame, in frame pixels: one model run on the whole frame
 * (letterboxed to 256), plus one per tile when asked; overlapping finds are
 * merged by weighted NMS. Model runs go one after another, so an app never has
 * two requests at the model (which would drop the second).
 */
export async function detectFaces(
  frame: FrameData,
  run: (t: Uint8Array) => Promise<ModelOutputs>,
  options: DetectOptions,
): Promise<Face[]> {
  // One buffer for every run: each run has answered (so its bytes were sent) before the next fills it.
  const buffer = new Uint8Array(INPUT_SIZE * INPUT_SIZE * 3);
  const found = await detectIn(frame, run, options.threshold, undefined, buffer);
  if (options.tile) {
    for (const region of tiles(frame.width, frame.height, options.tileSize, options.overlap ?? 0.25)) {
      found.push(...(await detectIn(frame, run, options.threshold, region, buffer)));
    }
  }
  return options.tile ? weightedNms(found) : found;
}

/** A box grown by `fraction` of its size (half on each side), clipped to the frame. */
export function expandBox(
  f: Pick<Face, 'x1' | 'y1' | 'x2' | 'y2'>,
  fraction: number,
  width: number,
  height: number,
): [number, number, number, number] {
  const dx = ((f.x2 - f.x1) * fraction) / 2;
  const dy = ((f.y2 - f.y1) * fraction) / 2;
  return [Math.max(0, f.x1 - dx), Math.max(0, f.y1 - dy), Math.min(width, f.x2 + dx), Math.min(height, f.y2 + dy)];
}
