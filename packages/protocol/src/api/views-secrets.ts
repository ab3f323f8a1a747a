import { z } from 'zod';
import { kmsKeyRef } from './views-keys.js';

/**
 * Secrets as the operator API (`/api/v1/projects/:project/secrets`) shows
 * them: metadata only, never the value.
 */

export const secretView = z.object({
  project: z.string(),
  name: z.string(),
  description: z.string(),
  version: z.number(),
  kmsKey: kmsKeyRef,
  createdAt: z.string(),
  rotatedAt: z.string().nullable(),
  createdBy: z.string(),
});
export type SecretView = z.infer<typeof secretView>;

export const secretList = z.object({ secrets: z.array(secretView) });
