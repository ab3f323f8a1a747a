import { z } from 'zod';

/** Artifacts as the operator API (`/api/v1/projects/:project/artifacts`) shows them. */

export const artifactView = z.object({
  project: z.string(),
  name: z.string(),
  size: z.number(),
  sha256: z.string(),
  segmentSize: z.number(),
  keyId: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});
export type ArtifactView = z.infer<typeof artifactView>;

/** One page of a listing; `next` continues it. */
export const artifactList = z.object({ artifacts: z.array(artifactView), next: z.string().nullable() });
