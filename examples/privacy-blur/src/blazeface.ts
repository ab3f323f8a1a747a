/**
 * BlazeFace (MediaPipe, back-camera 256x256 model) output decoding, pure:
 * anchors, box and keypoint decoding, sigmoid scores, weighted non-max
 * suppression. Facts from models/blazeface/README.md (Sightline shared data),
 * repeated in model/README.md.
 */

/** Side of the model input in pixels. */
export const INPUT_SIZE = 256;
/** Anchors: 16x16 cells with 2 each, then 8x8 cells with 6 each. */
export const ANCHOR_COUNT = 16 * 16 * 2 + 8 * 8 * 6; // 896
/** Values per anchor in the box outputs: dx, dy, w, h, then six (x, y) keypoints. */
const BOX_VALUES = 16;
export const NMS_IOU = 0.3;

/** The ONNX output names, in the order of the anchor grid. */
export const OUTPUTS = { scores16: 'Identity:0', scores8: 'Identity_1:0', boxes16: 'Identity_2:0', boxes8: 'Identity_3:0' } as const;

/** A face, in model-input pixels (origin top-left) or, after mapping, frame pixels. */
export interface Face {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** Sigmoid score, 0..1. */
  score: number;
  /** Right eye, left eye, nose, mouth, right ear, left ear. */
  keypoints: Array<[number, number]>;
}

let anchorCache: Float32Array | undefined;

/** Anchor centres (x, y), normalised to 0..1, in output order. */
export function anchors(): Float32Array {
  if (anchorCache !== undefined) return anchorCache;
  const a = new Float32Array(ANCHOR_COUNT * 2);
  let i = 0;
  for (const [cells, perCell] of [
    [16, 2],
    [8, 6],
  ] as const) {
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let k = 0; k < perCell; k++) {
          a[i++] = (x + 0.5) / cells;
          a[i++] = (y + 0.5) / cells;
        }
      }
    }
  }
  anchorCache = a;
  return a;
}

function sigmoid(x: number): number {
  const c = Math.max(-100, Math.min(100, x));
  return 1 / (1 + Math.exp(-c));
}

/** The model's four outputs, by name. */
export interface RawOutputs {
  readonly [name: string]: Float32Array | undefined;
}

function need(outputs: RawOutputs, name: string, length: number): Float32Array {
  const v = outputs[name];
  if (v === undefined || v.length !== length) throw new Error(`BlazeFace output ${name} missing or not ${length} values`);
  return v;
}

/**
 * Every anchor whose score reaches `threshold`, decoded to model-input pixels
 * (before suppression).
 */
export function decodeCandidates(outputs: RawOutputs, threshold: number): Face[] {
  const scores = [need(outputs, OUTPUTS.scores16, 512), need(outputs, OUTPUTS.scores8, 384)];
  const boxes = [need(outputs, OUTPUTS.boxes16, 512 * BOX_VALUES), need(outputs, OUTPUTS.boxes8, 384 * BOX_VALUES)];
  const a = anchors();
  const faces: Face[] = [];
  let anchor = 0;
  for (let part = 0; part < 2; part++) {
    const s = scores[part]!;
    const b = boxes[part]!;
    for (let i = 0; i < s.length; i++, anchor++) {
      const score = sigmoid(s[i]!);
      if (score < threshold) continue;
      const ax = a[anchor * 2]!;
      const ay = a[anchor * 2 + 1]!;
      const o = i * BOX_VALUES;
      // centre = anchor + d / N, size = wh / N (normalised); then to pixels.
      const cx = (ax + b[o]! / INPUT_SIZE) * INPUT_SIZE;
      const cy = (ay + b[o + 1]! / INPUT_SIZE) * INPUT_SIZE;
      const w = b[o + 2]!;
      const h = b[o + 3]!;
      const keypoints: Array<[number, number]> = [];
      for (let k = 0; k < 6; k++) keypoints.push([ax * INPUT_SIZE + b[o + 4 + k * 2]!, ay * INPUT_SIZE + b[o + 5 + k * 2]!]);
      faces.push({ x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score, keypoints });
    }
  }
  return faces;
}

/** Intersection over union of two boxes. */
export function iou(p: Face, q: Face): number {
  const ix = Math.max(0, Math.min(p.x2, q.x2) - Math.max(p.x1, q.x1));
  const iy = Math.max(0, Math.min(p.y2, q.y2) - Math.max(p.y1, q.y1));
  const inter = ix * iy;
  const union = (p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter;
  return union <= 0 ? 0 : inter / union;
}

/**
 * MediaPipe's weighted non-max suppression: the best remaining face and
 * every face overlapping it by more than `threshold` IoU become one face,
 * their boxes and keypoints averaged by score; the score is the best one.
 */
export function weightedNms(candidates: readonly Face[], threshold = NMS_IOU): Face[] {
  const rest = [...candidates].sort((p, q) => q.score - p.score);
  const out: Face[] = [];
  while (rest.length > 0) {
    const best = rest[0]!;
    const cluster: Face[] = [];
    for (let i = rest.length - 1; i >= 0; i--) {
      if (iou(best, rest[i]!) > threshold || i === 0) cluster.push(...rest.splice(i, 1));
    }
    let total = 0;
    const m: Face = { x1: 0, y1: 0, x2: 0, y2: 0, score: best.score, keypoints: best.keypoints.map(() => [0, 0]) };
    for (const f of cluster) {
      total += f.score;
      m.x1 += f.x1 * f.score;
      m.y1 += f.y1 * f.score;
      m.x2 += f.x2 * f.score;
      m.y2 += f.y2 * f.score;
      f.keypoints.forEach(([x, y], k) => {
        const kp = m.keypoints[k];
        if (kp !== undefined) {
          kp[0] += x * f.score;
          kp[1] += y * f.score;
        }
      });
    }
    m.x1 /= total;
    m.y1 /= total;
    m.x2 /= total;
    m.y2 /= total;
    for (const kp of m.keypoints) {
      kp[0] /= total;
      kp[1] /= total;
    }
    out.push(m);
  }
  return out;
}

/** Candidates, then suppression: the faces in one model output, in model-input pixels. */
export function decodeFaces(outputs: RawOutputs, threshold: number): Face[] {
  return weightedNms(decodeCandidates(outputs, threshold));
}
