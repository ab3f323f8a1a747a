import type { FrameData, Overlay, Rgb } from '../frame.js';

/**
 * Default overlay colour: a green that reads on most scenes.
 *
 * @example
 * ```ts
 * drawRect(frame, 0, 0, 20, 20, DEFAULT_COLOR);
 * ```
 */
export const DEFAULT_COLOR: Rgb = [0, 255, 0];

// A 5x7 bitmap font (HD44780 style): 7 rows of 5 bits, left pixel = bit 4.
// Lower-case letters are drawn upper-case; anything else as '?'.
const GLYPHS: Readonly<Record<string, string>> = {
  ' ': '00000000000000',
  '0': '0e11131519110e',
  '1': '040c040404040e',
  '2': '0e11010204081f',
  '3': '1f02040201110e',
  '4': '02060a121f0202',
  '5': '1f101e0101110e',
  '6': '0608101e11110e',
  '7': '1f010204080808',
  '8': '0e11110e11110e',
  '9': '0e11110f01020c',
  A: '0e1111111f1111',
  B: '1e11111e11111e',
  C: '0e11101010110e',
  D: '1c12111111121c',
  E: '1f10101e10101f',
  F: '1f10101e101010',
  G: '0e11101711110f',
  H: '1111111f111111',
  I: '0e04040404040e',
  J: '0702020202120c',
  K: '11121418141211',
  L: '1010101010101f',
  M: '111b1515111111',
  N: '11111915131111',
  O: '0e11111111110e',
  P: '1e11111e101010',
  Q: '0e11111115120d',
  R: '1e11111e141211',
  S: '0f10100e01011e',
  T: '1f040404040404',
  U: '1111111111110e',
  V: '11111111110a04',
  W: '1111111515150a',
  X: '11110a040a1111',
  Y: '1111110a040404',
  Z: '1f01020408101f',
  '.': '00000000000c0c',
  ',': '000000000c0408',
  ':': '000c0c000c0c00',
  '-': '0000001f000000',
  _: '0000000000001f',
  '+': '0004041f040400',
  '/': '00010204081000',
  '%': '18190204081303',
  '(': '02040808080402',
  ')': '08040202020408',
  '=': '00001f001f0000',
  '!': '04040404000004',
  '?': '0e110102040004',
  '#': '0a0a1f0a1f0a0a',
};

function glyph(ch: string): number[] {
  const hex = GLYPHS[ch.toUpperCase()] ?? GLYPHS['?']!;
  const rows: number[] = [];
  for (let i = 0; i < 14; i += 2) rows.push(parseInt(hex.slice(i, i + 2), 16));
  return rows;
}

function fill(frame: FrameData, x1: number, y1: number, x2: number, y2: number, color: Rgb): void {
  const left = Math.max(0, Math.round(x1));
  const top = Math.max(0, Math.round(y1));
  const right = Math.min(frame.width, Math.round(x2));
  const bottom = Math.min(frame.height, Math.round(y2));
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      const i = (y * frame.width + x) * 3;
      frame.data[i] = color[0];
      frame.data[i + 1] = color[1];
      frame.data[i + 2] = color[2];
    }
  }
}

/**
 * Draws `text` with its top-left corner at `(x, y)` in a 5x7 pixel font,
 * `scale` pixels per font pixel, clipped to the frame.
 *
 * @example
 * ```ts
 * drawText(frame, 'FACES: 2', 8, 8, [255, 255, 255], 2);
 * ```
 */
export function drawText(frame: FrameData, text: string, x: number, y: number, color: Rgb = DEFAULT_COLOR, scale = 2): void {
  const s = Math.max(1, Math.round(scale));
  let cx = x;
  for (const ch of text.slice(0, 256)) {
    const rows = glyph(ch);
    for (let row = 0; row < 7; row++) {
      const bits = rows[row]!;
      for (let col = 0; col < 5; col++) {
        if ((bits >> (4 - col)) & 1) fill(frame, cx + col * s, y + row * s, cx + (col + 1) * s, y + (row + 1) * s, color);
      }
    }
    cx += 6 * s;
  }
}

/**
 * Draws the outline of `(x1,y1)-(x2,y2)`, `thickness` pixels wide, inside
 * the rectangle, clipped to the frame.
 *
 * @example
 * ```ts
 * drawRect(frame, 10, 10, 110, 60, [255, 0, 0], 3);
 * ```
 */
export function drawRect(
  frame: FrameData,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  color: Rgb = DEFAULT_COLOR,
  thickness = 2,
): void {
  const t = Math.max(1, Math.round(thickness));
  const [l, r] = x1 <= x2 ? [x1, x2] : [x2, x1];
  const [top, b] = y1 <= y2 ? [y1, y2] : [y2, y1];
  fill(frame, l, top, r, top + t, color);
  fill(frame, l, b - t, r, b, color);
  fill(frame, l, top, l + t, b, color);
  fill(frame, r - t, top, r, b, color);
}

/**
 * Burns overlays into the frame's pixels: what `outputs.<name>.put()` does
 * before a frame leaves the app.
 *
 * @example
 * ```ts
 * renderOverlays(frame, [{ kind: 'rect', x1: 0, y1: 0, x2: 50, y2: 50 }]);
 * ```
 */
export function renderOverlays(frame: FrameData, overlays: readonly Overlay[]): void {
  for (const o of overlays) {
    switch (o.kind) {
      case 'rect': {
        const color = o.color ?? DEFAULT_COLOR;
        drawRect(frame, o.x1, o.y1, o.x2, o.y2, color, o.thickness ?? 2);
        if (o.label !== undefined) drawText(frame, o.label, Math.min(o.x1, o.x2), Math.max(0, Math.min(o.y1, o.y2) - 16), color, 2);
        break;
      }
      case 'label':
        drawText(frame, o.text, o.x, o.y, o.color ?? DEFAULT_COLOR, o.scale ?? 2);
        break;
    }
  }
}
