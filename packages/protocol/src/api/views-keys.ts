import { z } from 'zod';

/**
 * KMS keys as the operator API (`/api/v1/projects/:project/keys`) shows
 * them (never their material): the control plane's response schemas and
 * what the CLI parses.
 */

export const keyView = z.object({
  id: z.string(),
  project: z.string(),
  name: z.string(),
  managedBy: z.enum(['service', 'customer']),
  purpose: z.string(),
  state: z.enum(['enabled', 'disabled', 'pending-deletion', 'destroyed']),
  description: z.string(),
  currentVersion: z.number(),
  createdAt: z.string(),
  deletionDate: z.string().nullable(),
  destroyedAt: z.string().nullable(),
  hasPolicy: z.boolean(),
});
export type KeyView = z.infer<typeof keyView>;

/** One key with its versions (describe). */
export const keyDetail = keyView.extend({
  versions: z.array(z.object({ version: z.number(), createdAt: z.string(), destroyed: z.boolean() })),
});

export const keyList = z.object({ keys: z.array(keyView) });

/** The KMS key that protects something (a secret, a log group): a service key has no name. */
export const kmsKeyRef = z.object({ id: z.string(), name: z.string().nullable(), managedBy: z.enum(['service', 'customer']).nullable() });
