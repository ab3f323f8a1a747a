import { z } from 'zod';
import { desiredApp, isolationReport } from './apps.js';
import { desiredPreview, PREVIEW_LIMITS } from './previews.js';

/**
 * The device API (`/device/v1/…`), spoken by the appliance agent over mTLS
 * on the control plane's device port, and the provisioning archive format.
 */

export const PROVISIONING_ARCHIVE_VERSION = 1;

/**
 * Codes the device API refuses a device with (`{error:{code,message}}`, 4xx):
 * the control plane raises them and the agent acts on each one.
 */
export const DEVICE_REFUSAL_CODES = [
  'PROVISIONING_CERT_USED',
  'PROVISIONING_CERT_EXPIRED',
  'CSR_INVALID',
  'CSR_NAME_MISMATCH',
  'CERT_REQUIRED',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_EXPIRED',
  'CERT_WRONG_KIND',
  'DEVICE_DEREGISTERED',
  'DEVICE_NOT_REGISTERED',
  'JOB_NOT_FOUND',
] as const;
export type DeviceRefusalCode = (typeof DEVICE_REFUSAL_CODES)[number];

const ipv4Cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 address with prefix length, e.g. 10.0.0.5/24');
const ip = z.string().regex(/^[0-9a-fA-F:.]{2,45}$/, 'an IP address');
const hostname = z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a host name');

export const networkSettings = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('dhcp') }).strict(),
  z.object({ mode: z.literal('static'), address: ipv4Cidr, gateway: ip, dns: z.array(ip).min(1).max(4) }).strict(),
]);
export type NetworkSettings = z.infer<typeof networkSettings>;

/** What the encrypted configuration archive carries (JSON inside an age file). */
export const provisioningArchive = z
  .object({
    v: z.literal(PROVISIONING_ARCHIVE_VERSION),
    device: z.string(),
    project: z.string(),
    controlPlane: z
      .object({
        /** The device API: https://host:port (mTLS). */
        url: z.string().url(),
        /** SHA-256 of the device API's server certificate (DER), pinned by the agent. */
        serverCertSha256: z.string().regex(/^[0-9a-f]{64}$/),
      })
      .strict(),
    caPem: z.string().max(16 * 1024),
    provisioning: z.object({ certPem: z.string().max(16 * 1024), keyPem: z.string().max(16 * 1024), expiresAt: z.string() }).strict(),
    network: networkSettings,
    ntp: z.array(hostname).max(4),
    createdAt: z.string(),
    /** The trusted TUF root.json (base64) of signed agent updates (issue 7); absent before a release root exists. */
    tufRoot: z.string().max(1024 * 1024).optional(),
  })
  .strict();
export type ProvisioningArchive = z.infer<typeof provisioningArchive>;

export const registerRequest = z.object({ csrPem: z.string().min(100).max(8 * 1024) }).strict();
export const registerResponse = z.object({ deviceId: z.string(), device: z.string(), project: z.string(), certPem: z.string(), caPem: z.string(), expiresAt: z.string() });
export const renewRequest = registerRequest;
export const renewResponse = z.object({ certPem: z.string(), expiresAt: z.string() });

/** The agent's update state, reported in heartbeats: the control plane refuses updates below `securityFloor`. */
export const updateStatus = z
  .object({
    version: z.string().max(64),
    securityFloor: z.number().int().min(0).max(2 ** 31),
    slot: z.enum(['a', 'b']),
  })
  .strict();
export type UpdateStatus = z.infer<typeof updateStatus>;

export const integrityState = z.enum(['verified', 'compromised', 'unchecked']);
export const heartbeatRequest = z
  .object({
    agentVersion: z.string().max(64),
    uptimeSeconds: z.number().int().min(0),
    integrity: z.object({ state: integrityState, detail: z.string().max(512).optional(), checkedAt: z.string().optional() }).strict(),
    rootKeyProtection: z.enum(['tpm', 'key-file']),
    disk: z.object({ totalBytes: z.number().min(0), freeBytes: z.number().min(0) }).strict(),
    memory: z.object({ totalBytes: z.number().min(0), freeBytes: z.number().min(0) }).strict(),
    cpu: z.object({ load1: z.number().min(0), cores: z.number().int().min(1) }).strict(),
    logSpool: z.object({ bytes: z.number().int().min(0), dropped: z.number().int().min(0) }).strict().optional(),
    appliedStateEtag: z.string().max(128).optional(),
    /** Which isolation layers this appliance can apply to apps (issue 6). */
    isolation: isolationReport.optional(),
    /** Signed updates (issue 7): running release, anti-rollback floor, active A/B slot. */
    update: updateStatus.optional(),
  })
  .strict();
export type Heartbeat = z.infer<typeof heartbeatRequest>;
export const heartbeatResponse = z.object({ ok: z.literal(true), serverTime: z.string() });

/** Parameters of an `update` job: the release and its TUF target name (`sightline-agent-<version>.tar`). */
export const updateJobParams = z.object({ version: z.string().max(64), target: z.string().max(128) }).strict();
export type UpdateJobParams = z.infer<typeof updateJobParams>;

export const deviceJob = z.object({
  id: z.string(),
  kind: z.enum(['reboot', 'shutdown', 'reset', 'update']),
  createdAt: z.string(),
  /** Present for `update` jobs. */
  params: updateJobParams.optional(),
});
export type DeviceJob = z.infer<typeof deviceJob>;

/** What the control plane wants the device to run: its pending jobs and its app instances. */
export const desiredState = z.object({
  etag: z.string(),
  device: z.string(),
  project: z.string(),
  jobs: z.array(deviceJob),
  apps: z.array(desiredApp),
  /** Output previews to push now (issue 8); absent when there are none. */
  previews: z.array(desiredPreview).max(PREVIEW_LIMITS.maxPerDevice).optional(),
});
export type DesiredState = z.infer<typeof desiredState>;

/** Stages of an update job, in order; `succeeded` means committed, `failed` with `reverted: <reason>` a revert. */
export const updateStage = z.enum(['downloading', 'verifying', 'installing', 'rebooting', 'health-check']);
export type UpdateStage = z.infer<typeof updateStage>;

export const jobUpdateRequest = z
  .object({
    status: z.enum(['running', 'succeeded', 'failed']),
    message: z.string().max(512).optional(),
    stage: updateStage.optional(),
    bytesDone: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    bytesTotal: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type JobUpdateRequest = z.infer<typeof jobUpdateRequest>;

export const deviceLogBatch = z
  .object({
    stream: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    events: z
      .array(z.object({ time: z.string(), level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string().max(16 * 1024) }).strict())
      .min(1)
      .max(5000),
    dropped: z.number().int().min(0).default(0),
  })
  .strict();
