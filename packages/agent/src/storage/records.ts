import { z } from 'zod';
import { appsApi, deviceApi } from '@sightline/protocol';

/** The device's identity, written once the control plane has answered `register` (and again on each renewal). */
export const identityRecord = z
  .object({
    v: z.literal(1),
    deviceId: z.string(),
    device: z.string(),
    project: z.string(),
    controlPlane: z.object({ url: z.string().url(), serverCertSha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    /** Trust anchor for the control plane's TLS certificate (from the archive). */
    serverCaPem: z.string(),
    /** The CA that issues device certificates (from the register answer). */
    deviceCaPem: z.string(),
    certPem: z.string(),
    /** PKCS#8 DER, base64: the operational private key. Only ever inside this sealed record. */
    keyPkcs8: z.string(),
    expiresAt: z.string(),
    network: deviceApi.networkSettings,
    ntp: z.array(z.string()),
    registeredAt: z.string(),
    renewedAt: z.string().optional(),
  })
  .strict();
export type IdentityRecord = z.infer<typeof identityRecord>;

export const jobRecord = z
  .object({
    kind: z.enum(['reboot', 'shutdown', 'reset']),
    phase: z.enum(['started', 'done']),
    /** The boot the job was started in, so a reboot can be told to have happened. */
    bootId: z.string().optional(),
    startedAt: z.string().optional(),
    result: z.enum(['succeeded', 'failed']).optional(),
    message: z.string().optional(),
    reported: z.boolean(),
  })
  .strict();
export type JobRecord = z.infer<typeof jobRecord>;

export const refusal = z.object({ code: z.string(), message: z.string(), at: z.string() }).strict();

/** What the agent has done (the reconciler's "current"), persisted across restarts. */
export const agentState = z
  .object({
    v: z.literal(1),
    appliedEtag: z.string().optional(),
    jobs: z.record(z.string(), jobRecord),
    /** Set when the control plane refused this device's identity: the agent will not start until reset. */
    refused: refusal.optional(),
  })
  .strict();
export type AgentState = z.infer<typeof agentState>;

export const emptyState = (): AgentState => ({ v: 1, jobs: {} });

/** What the running agent last saw, for `sightline-agent status`. */
export const agentStatus = z
  .object({
    v: z.literal(1),
    pid: z.number().int(),
    startedAt: z.string(),
    updatedAt: z.string(),
    online: z.boolean(),
    lastContactAt: z.string().optional(),
    lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).strict().optional(),
    integrity: z.object({ state: deviceApi.integrityState, detail: z.string().optional(), checkedAt: z.string().optional() }).strict(),
    logSpool: z.object({ bytes: z.number(), dropped: z.number() }).strict(),
    stopped: z.string().optional(),
  })
  .strict();
export type AgentStatus = z.infer<typeof agentStatus>;

/**
 * The apps of the last desired state applied: what the agent starts again
 * after a restart or a reboot before it has reached the control plane, so
 * that apps keep running through an outage. A record of its own, not a field
 * of the state: an older agent (an update reverted) never reads it.
 */
export const lastAppsRecord = z.object({ v: z.literal(1), etag: z.string(), apps: z.array(appsApi.desiredApp) }).strict();
export type LastAppsRecord = z.infer<typeof lastAppsRecord>;

/** The app instances the running agent holds and their stages, for `sightline-agent status` (a record of its own, like last-apps). */
export const appsStatusRecord = z
  .object({
    v: z.literal(1),
    updatedAt: z.string(),
    apps: z.array(z.object({ instanceId: z.string(), app: z.string(), revision: z.number().int(), stage: z.string() }).strict()).max(256),
  })
  .strict();
export type AppsStatusRecord = z.infer<typeof appsStatusRecord>;

export const RECORD = {
  identity: 'identity',
  state: 'state',
  status: 'status',
  spoolMeta: 'spool-meta',
  lastApps: 'last-apps',
  appsStatus: 'apps-status',
} as const;
