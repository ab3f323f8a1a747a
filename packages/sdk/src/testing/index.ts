/**
 * Testing helpers for Sightline apps: run an app in process with
 * {@link TestHarness}, read and write images with ffmpeg.
 *
 * @example
 * ```ts
 * import { TestHarness, readImageFrame } from '@sightline/sdk/testing';
 * ```
 */
export { TestHarness, type HarnessOptions, type HarnessModel, type HarnessLog } from './harness.js';
export { readImageFrame, encodeJpeg, imageSize, runFfmpeg, ffmpegPath } from './image-io.js';
