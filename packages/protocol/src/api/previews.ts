import { z } from 'zod';

/**
 * Output preview (issue 8): an on-demand relay of one app output's processed
 * frames from the device, through the control plane, to a viewer in the
 * console. Off per project until an Admin turns it on; every session is
 * audited; it ends when the viewer goes away.
 *
 * Wire format of the device's push (`POST /device/v1/previews/:id/stream`,
 * `application/vnd.sightline.preview-frames`): a sequence of frames, each a
 * 4-byte big-endian length followed by that many bytes of one JPEG; a length
 * of 0 is a keep-alive with no picture.
 */
export const PREVIEW_FRAMES_CONTENT_TYPE = 'application/vnd.sightline.preview-frames';

/** Hard caps both sides enforce (STYLE: caps on everything read from outside). */
export const PREVIEW_LIMITS = Object.freeze({
  /** Largest JPEG of one frame. */
  maxFrameBytes: 1024 * 1024,
  /** Frames per second relayed at most. */
  maxFps: 15,
  /** Default frames per second. */
  defaultFps: 5,
  /** Concurrent previews per device and per project. */
  maxPerDevice: 2,
  maxPerProject: 8,
  /** Longest one preview runs before the control plane ends it. */
  maxDurationSeconds: 30 * 60,
  /** The device sends a keep-alive this often when its output is quiet. */
  keepAliveSeconds: 10,
});

/** The boundary of the multipart/x-mixed-replace stream a viewer receives. */
export const PREVIEW_BOUNDARY = 'sightline-preview';

/** One preview the control plane wants the device to push, in its desired state. */
export const desiredPreview = z
  .object({
    id: z.string().regex(/^[0-9a-f-]{36}$/),
    instanceId: z.string().max(128),
    output: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
    maxFps: z.number().int().min(1).max(PREVIEW_LIMITS.maxFps),
    maxFrameBytes: z.number().int().min(1024).max(PREVIEW_LIMITS.maxFrameBytes),
  })
  .strict();
export type DesiredPreview = z.infer<typeof desiredPreview>;

/** The control plane's answer when a push ends. */
export const pushResult = z.object({
  ok: z.literal(true),
  frames: z.number().int().min(0),
  /** Why it ended: the viewer left, the preview was ended, or the device's body ended. */
  reason: z.enum(['viewer-closed', 'ended', 'device-ended']),
});
export type PushResult = z.infer<typeof pushResult>;

/** Query of the viewer's route: frames per second wanted (capped). */
export const previewQuery = z
  .object({
    fps: z
      .string()
      .regex(/^\d{1,2}$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(PREVIEW_LIMITS.maxFps))
      .optional(),
  })
  .strict();

/** A project's settings (its own audited write route). */
export const projectSettings = z.object({
  /** Whether principals with device:ViewOutput may preview app outputs in this project. Off by default. */
  outputPreview: z.boolean(),
});
export type ProjectSettings = z.infer<typeof projectSettings>;

export const updateProjectSettingsRequest = z.object({ outputPreview: z.boolean().optional() }).strict();
