/**
 * Compile-time tests of the SDK's types: `tsc --noEmit` (npm run typecheck)
 * checks this file; nothing runs it. Each `@ts-expect-error` line is misuse
 * that must not compile — if it ever compiles, tsc fails on the unused
 * directive.
 */
/* eslint-disable @typescript-eslint/no-unsafe-call -- the @ts-expect-error lines call what does not exist, on purpose */
import { defineApp, Frame, toTensor, toTensorBytes, type AppContext, type ModelOutputs } from '@sightline/sdk';
import { TestHarness } from '@sightline/sdk/testing';

// A descriptor typed the way a JSON import is: keys kept, values widened.
const descriptor: {
  name: string;
  version: string;
  entry: string;
  resources: { memoryMiB: number; cpuShare: number; diskMiB: number };
  parameters: {
    threshold: { type: string; default: number; overridable: boolean };
    label: { type: string; default: string };
    blur: { type: string; default: boolean; overridable: boolean };
  };
  inputs: { video_in: { type: string } };
  outputs: { video_out: { type: string } };
  models: { face: { package: string } };
} = {
  name: 'types',
  version: '0.1.0',
  entry: 'src/app.ts',
  resources: { memoryMiB: 64, cpuShare: 0.5, diskMiB: 1 },
  parameters: {
    threshold: { type: 'number', default: 0.75, overridable: true },
    label: { type: 'string', default: 'x' },
    blur: { type: 'boolean', default: true, overridable: true },
  },
  inputs: { video_in: { type: 'video' } },
  outputs: { video_out: { type: 'video' } },
  models: { face: { package: 'blazeface-back-256' } },
};

const app = defineApp({
  descriptor,
  async run(ctx) {
    // Parameters are typed from their defaults.
    const t: number = ctx.parameters.threshold;
    const l: string = ctx.parameters.label;
    const b: boolean = ctx.parameters.blur;
    // @ts-expect-error threshold is a number, not a string
    const wrong: string = ctx.parameters.threshold;
    // @ts-expect-error no such parameter
    void ctx.parameters.thresold;
    // @ts-expect-error parameters are read-only
    ctx.parameters.threshold = 1;

    // Inputs, outputs and models are exactly the declared ones.
    const frame: Frame | null = await ctx.inputs.video_in.get({ timeoutMs: 100 });
    // @ts-expect-error unknown input name
    await ctx.inputs.video_nope.get();
    // @ts-expect-error an input is not an output
    await ctx.outputs.video_in.put(frame!);
    // @ts-expect-error unknown model
    await ctx.models.body.run(new Float32Array(1));
    // @ts-expect-error timeoutMs is a number
    await ctx.inputs.video_in.get({ timeoutMs: '100' });

    if (frame !== null) {
      const { data } = toTensor(frame, { shape: [1, 256, 256, 3], layout: 'NHWC', range: [-1, 1] });
      const out: ModelOutputs = await ctx.models.face.run(data);
      // Outputs may be missing: noUncheckedIndexedAccess makes the author check.
      // @ts-expect-error possibly undefined
      const scores: Float32Array = out['Identity:0'];
      void scores;
      // Pixels (toTensorBytes) are taken too: the model runner maps them to the model's range.
      await ctx.models.face.run(toTensorBytes(frame, { shape: [1, 256, 256, 3], layout: 'NHWC' }).data);
      // @ts-expect-error a model takes a typed tensor, not a number array
      await ctx.models.face.run([0.5, 0.5]);
      frame.addRect(1, 2, 3, 4, { label: 'x' }).addLabel('y', 0, 0).blur(0, 0, 10, 10);
      // @ts-expect-error label text is a string
      frame.addLabel(42, 0, 0);
      // @ts-expect-error put takes a Frame
      await ctx.outputs.video_out.put({ width: 1 });
      await ctx.outputs.video_out.put(frame);
    }
    ctx.metrics.count('faces', 2);
    // @ts-expect-error a count is a number
    ctx.metrics.count('faces', '2');
    ctx.log.info('hello', { n: 1, ok: true, s: 'x', none: null });
    // @ts-expect-error log fields are scalars
    ctx.log.info('hello', { nested: { a: 1 } });
    const v: string | null = await ctx.storage.get('k');
    await ctx.storage.set('k', 'v');
    // @ts-expect-error values are strings
    await ctx.storage.set('k', 42);
    void [t, l, b, wrong, v];
  },
});

// The harness is typed from the same descriptor.
const h = new TestHarness(app, { parameters: { threshold: 0.5 }, models: { face: () => ({}) } });
h.feed('video_in', Frame.blank(8, 8));
// @ts-expect-error unknown input name
h.feed('video_nope', Frame.blank(8, 8));
// @ts-expect-error wrong parameter type
new TestHarness(app, { parameters: { threshold: 'high' } });
// @ts-expect-error unknown parameter
new TestHarness(app, { parameters: { thresold: 0.5 } });
// @ts-expect-error unknown model
new TestHarness(app, { models: { body: () => ({}) } });
h.outputs('video_out');
// @ts-expect-error unknown output
h.outputs('video_in');

// A context type can be named for helpers.
export function helper(ctx: AppContext<typeof descriptor>): number {
  return ctx.parameters.threshold;
}

// Literal (`as const`) descriptors work too.
defineApp({
  descriptor: {
    name: 'lit',
    version: '1.0.0',
    entry: 'a.ts',
    resources: { memoryMiB: 64, cpuShare: 1, diskMiB: 1 },
    parameters: { n: { type: 'number', default: 3 } },
    inputs: { cam: { type: 'video' } },
    outputs: {},
  } as const,
  async run(ctx) {
    const n: number = ctx.parameters.n;
    // @ts-expect-error n is a number
    const s: string = ctx.parameters.n;
    await ctx.inputs.cam.get();
    // @ts-expect-error no models declared
    void ctx.models.face;
    void [n, s];
  },
});
