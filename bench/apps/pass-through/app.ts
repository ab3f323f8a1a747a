import { defineApp } from '@sightline/sdk';
import descriptor from './descriptor.json' with { type: 'json' };

/**
 * The platform's floor for the pipeline bench: every frame in and out
 * through the same ring and channels as privacy-blur, and with `model` on a
 * model run per frame over the same socket with the same 196 kB input, but
 * none of an app's own work (no letterbox, no blur, no decoding).
 */
export default defineApp({
  descriptor,
  async run(ctx) {
    // A mid-grey picture in the model's layout: the model does the same work whatever the pixels are.
    const input = new Uint8Array(256 * 256 * 3).fill(128);
    while (!ctx.signal.aborted) {
      const frame = await ctx.inputs.video_in.get({ timeoutMs: 1000 });
      if (frame === null) continue;
      if (ctx.parameters.model) await ctx.models.face.run(input);
      await ctx.outputs.video_out.put(frame);
    }
  },
});
