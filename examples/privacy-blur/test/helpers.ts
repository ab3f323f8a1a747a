import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Frame, FrameData, ModelOutputs } from '@sightline/sdk';
import { readImageFrame } from '@sightline/sdk/testing';
import * as ort from 'onnxruntime-node';

const here = dirname(fileURLToPath(import.meta.url));
export const APP_DIR = join(here, '..');
export const MODEL_DIR = join(APP_DIR, 'model');
export const MESSI = join(here, 'fixtures/messi5.png');

/** Where the one face in messi5.png (548x342) is, as this decoder finds it (frame pixels). */
export const MESSI_FACE = { x1: 221.2, y1: 96.0, x2: 258.4, y2: 133.2 };

let session: ort.InferenceSession | undefined;

/** BlazeFace in this process (tests only: apps never load native addons); pixels are mapped to [-1, 1] as the runner does. */
export async function localFace(): Promise<(input: Float32Array | Uint8Array) => Promise<ModelOutputs>> {
  session ??= await ort.InferenceSession.create(join(MODEL_DIR, 'face_detection_back_256x256_barracuda.onnx'), {
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const s = session;
  return async (input) => {
    const floats = input instanceof Float32Array ? input : Float32Array.from(input, (p) => -1 + (2 * p) / 255);
    const r = await s.run({ 'input:0': new ort.Tensor('float32', floats, [1, 256, 256, 3]) });
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
  };
}

/** The fixture as RGB24. */
export function messi(): Promise<Frame> {
  return readImageFrame(MESSI, { camera: 'fixture' });
}

/**
 * messi5 at half size inside a 768x576 black frame (the camera size of
 * vtest.avi): the face is about 19 px wide, far-camera sized.
 */
export function smallFaces(): Promise<Frame> {
  return readImageFrame(MESSI, { filter: 'scale=274:-1,pad=768:576:300:200:black', camera: 'fixture' });
}

/** Where messi's face lands in {@link smallFaces}. */
export const SMALL_FACE = {
  x1: 300 + MESSI_FACE.x1 / 2,
  y1: 200 + MESSI_FACE.y1 / 2,
  x2: 300 + MESSI_FACE.x2 / 2,
  y2: 200 + MESSI_FACE.y2 / 2,
};

/** True when every pixel of `a` and `b` outside the rectangle is identical. */
export function sameOutside(a: FrameData, b: FrameData, r: { x1: number; y1: number; x2: number; y2: number }): boolean {
  const [l, t, rr, bb] = [Math.floor(r.x1), Math.floor(r.y1), Math.ceil(r.x2), Math.ceil(r.y2)];
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (x >= l && x < rr && y >= t && y < bb) continue;
      const i = (y * a.width + x) * 3;
      if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2]) return false;
    }
  }
  return true;
}

/** Mean absolute difference per channel inside the rectangle. */
export function meanDiffInside(a: FrameData, b: FrameData, r: { x1: number; y1: number; x2: number; y2: number }): number {
  let sum = 0;
  let n = 0;
  for (let y = Math.ceil(r.y1); y < Math.floor(r.y2); y++) {
    for (let x = Math.ceil(r.x1); x < Math.floor(r.x2); x++) {
      const i = (y * a.width + x) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[i + c]! - b.data[i + c]!);
      n += 3;
    }
  }
  return sum / n;
}
