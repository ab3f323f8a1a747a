import { defineApp, SdkError } from '@sightline/sdk';
import descriptor from '../descriptor.json' with { type: 'json' };
import { detectFaces, expandBox } from './detect.js';

/** How much each face box grows before it is blurred (BlazeFace boxes are tight: brows to chin). */
export const BLUR_MARGIN = 0.2;

/** Model errors after which the frame is dropped rather than shown: privacy fails closed. */
const TRANSIENT = new Set(['MODEL_BUSY', 'MODEL_TIMEOUT', 'MODEL_UNAVAILABLE']);

/**
 * privacy-blur: finds faces with BlazeFace and blurs them before the frame
 * leaves the app. A frame whose detection could not run is dropped, never
 * shown unblurred. Counts `faces` (per frame found), `frames` (put out) and
 * `frames_dropped`. Draws nothing: no boxes, no labels, nothing that could
 * point at a person.
 */
export default defineApp({
  descriptor,
  async run(ctx) {
    const { threshold, tile, tile_size: tileSize, blur } = ctx.parameters;
    ctx.log.info('privacy-blur started', { threshold, tile, tileSize, blur });
    while (!ctx.signal.aborted) {
      const frame = await ctx.inputs.video_in.get({ timeoutMs: 1000 });
      if (frame === null) continue;
      let faces;
      try {
        faces = await detectFaces(frame, (t) => ctx.models.face.run(t), { threshold, tile, tileSize });
      } catch (e) {
        if (e instanceof SdkError && TRANSIENT.has(e.code)) {
          ctx.metrics.count('frames_dropped');
          continue;
        }
        throw e;
      }
      if (blur) {
        for (const f of faces) {
          const [x1, y1, x2, y2] = expandBox(f, BLUR_MARGIN, frame.width, frame.height);
          frame.blur(x1, y1, x2, y2);
        }
      }
      ctx.metrics.count('faces', faces.length);
      ctx.metrics.count('frames');
      await ctx.outputs.video_out.put(frame);
    }
  },
});
