import { z } from 'zod';

/**
 * Devices as the operator API (`/api/v1/projects/:project/devices`) shows
 * them: the control plane's response schemas (and its OpenAPI document) and
 * what the CLI parses.
 */

export const deviceView = z.object({
  id: z.string(),
  project: z.string(),
  name: z.string(),
  state: z.enum(['provisioned', 'registered', 'deregistered']),
  tags: z.record(z.string(), z.string()),
  online: z.boolean(),
  lastSeenAt: z.string().nullable(),
  offlineForSeconds: z.number().nullable(),
  integrity: z.string(),
  agentVersion: z.string().nullable(),
  registeredAt: z.string().nullable(),
  createdAt: z.string(),
  network: z.unknown(),
  status: z.unknown().optional(),
  /** Runs below a release published as required (null: not reported, or no releases). */
  updateRequired: z.boolean().nullable().optional(),
  /** The newest release, when the device runs another. */
  updateAvailable: z.string().nullable().optional(),
});
export type DeviceView = z.infer<typeof deviceView>;

export const deviceList = z.object({ devices: z.array(deviceView) });

/** Provisioning's one-time answer: the archive (base64) and its passphrase. */
export const provisionResponse = z.object({
  device: deviceView,
  archive: z.string(),
  archiveSha256: z.string(),
  passphrase: z.string(),
  provisioningExpiresAt: z.string(),
});

/** A reboot, shutdown or reset job as queued. */
export const deviceJob = z.object({ id: z.string(), kind: z.string(), status: z.string(), device: z.string() });
