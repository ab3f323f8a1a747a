/**
 * The Sightline app SDK: what a computer-vision app running on an appliance
 * sees. Shaped like AWS Panorama's `panoramasdk`, typed from the app's
 * descriptor.
 *
 * @example
 * ```ts
 * import { defineApp, toTensor } from '@sightline/sdk';
 * import descriptor from '../descriptor.json' with { type: 'json' };
 *
 * export default defineApp({
 *   descriptor,
 *   async run(ctx) {
 *     while (!ctx.signal.aborted) {
 *       const frame = await ctx.inputs.video_in.get({ timeoutMs: 1000 });
 *       if (frame === null) continue;
 *       const { data } = toTensor(frame, ctx.models.face.input!);
 *       const outputs = await ctx.models.face.run(data);
 *       // ... decode, then:
 *       frame.blur(100, 80, 160, 150);
 *       ctx.metrics.count('faces', 1);
 *       await ctx.outputs.video_out.put(frame);
 *     }
 *   },
 * });
 * ```
 */
export {
  defineApp,
  runApp,
  createContext,
  requireOutput,
  DEFAULT_GET_TIMEOUT_MS,
  type App,
  type AppContext,
  type AppDefinition,
  type VideoInput,
  type VideoOutput,
  type Model,
  type ModelOutputs,
  type Logger,
  type KeyValueStore,
  type Metrics,
} from './app.js';
export { runAppProcess } from './host.js';
export {
  Frame,
  checkFrame,
  MAX_FRAME_WIDTH,
  MAX_FRAME_HEIGHT,
  type FrameData,
  type Overlay,
  type Rgb,
  type RectOptions,
  type LabelOptions,
} from './frame.js';
export { SdkError, isSdkErrorCode, type SdkErrorCode } from './errors.js';
export {
  appDescriptorSchema,
  parseDescriptor,
  resolveParameters,
  type AppDescriptor,
  type DescriptorShape,
  type ParameterSpec,
  type ParameterValue,
  type ParameterValues,
  type InputName,
  type OutputName,
  type ModelName,
} from './descriptor.js';
export { blurRegion, clampRect, type BlurOptions } from './image/blur.js';
export { drawRect, drawText, renderOverlays, DEFAULT_COLOR } from './image/draw.js';
export {
  toTensor,
  toTensorBytes,
  mapBox,
  specSize,
  type TensorSpec,
  type Region,
  type Transform,
  type ToTensorOptions,
  type ToTensorBytesOptions,
  type ImageTensor,
} from './image/tensor.js';
export type { AppChannel } from './channel/channel.js';
export { IpcAppChannel, type IpcPort } from './channel/ipc.js';
export type { InitInfo, ModelSpec, LogLevel, LogFields, WireFrame, Transport, RingFrame } from './channel/messages.js';
