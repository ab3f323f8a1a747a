import { z } from 'zod';

/**
 * Agent releases and the software-update jobs that install them, as the
 * operator API (`/api/v1/releases`, `…/devices/:name/update`, `…/updates`)
 * shows them: the control plane's response schemas and what the CLI parses.
 */

export const releaseView = z.object({
  version: z.string(),
  target: z.string(),
  sha256: z.string(),
  length: z.number(),
  securityVersion: z.number(),
  required: z.boolean(),
  minAgentVersion: z.string().nullable(),
  targetsVersion: z.number(),
  createdAt: z.string(),
  createdBy: z.string(),
});

/** What publishing new targets metadata answers. */
export const publishResponse = z.object({ targetsVersion: z.number(), releases: z.array(releaseView) });

/** What installing a root.json answers. */
export const rootInstalled = z.object({ version: z.number(), expires: z.string() });

export const updateJobView = z.object({
  id: z.string(),
  device: z.string(),
  kind: z.string(),
  status: z.string(),
  stage: z.string().nullable(),
  stageStartedAt: z.string().nullable(),
  bytesDone: z.number().nullable(),
  bytesTotal: z.number().nullable(),
  message: z.string().nullable(),
  params: z.object({ version: z.string(), target: z.string() }).nullable(),
  history: z.array(z.object({ stage: z.string(), at: z.string(), message: z.string().optional() })),
  createdAt: z.string(),
  updatedAt: z.string(),
  etag: z.string(),
});

/** A device a fleet update skipped, with the refusal's code. */
export const updateRefusal = z.object({ device: z.string(), code: z.string(), message: z.string() });
