import { z } from 'zod';

/**
 * Packages, app deployments and what the appliance reports about them: the
 * contract between the control plane (`/api/v1/projects/:project/packages`,
 * `/apps`) and the agent (`/device/v1/…`).
 *
 * A package is a set of files plus a manifest that lists each file's length
 * and SHA-256. The publisher signs the manifest's exact bytes with Ed25519;
 * nothing re-serialises it, so no canonical JSON is needed. File contents are
 * stored once each in the artifact store as content-addressed blobs
 * (`packages/blobs/<sha256>`, encrypted at rest) and fetched by the device
 * one by one, each checked against the signed length and hash while it
 * streams.
 */

export const PACKAGE_MANIFEST_VERSION = 1;

/** Package and signing-key names: lower-case, digits and dashes. */
export const packageName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -, at most 63');
/** Semantic version without build metadata, e.g. 1.2.0 or 1.2.0-rc.1. */
export const packageVersion = z
  .string()
  .max(64)
  .regex(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/, 'a semantic version, e.g. 1.0.0');
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits');
/** A path inside a package: relative, forward slashes, no `..`, no leading dot segments. */
export const packageFilePath = z
  .string()
  .min(1)
  .max(256)
  .refine(
    (p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    'a relative path inside the package (no .., no leading /)',
  );

export const packageKind = z.enum(['code', 'model']);
export type PackageKind = z.infer<typeof packageKind>;

export const packageFile = z.object({ path: packageFilePath, bytes: z.number().int().min(0), sha256: sha256Hex }).strict();
export type PackageFile = z.infer<typeof packageFile>;

/**
 * The model package descriptor (`descriptor.json` of a model package): what
 * the agent's model runner needs to feed and read the ONNX file.
 */
export const modelDescriptor = z
  .object({
    name: packageName,
    version: packageVersion,
    description: z.string().max(500).optional(),
    /** The ONNX file inside the package. */
    file: packageFilePath,
    input: z
      .object({
        name: z.string().min(1).max(128),
        /** e.g. [1, 256, 256, 3]; -1 for a dynamic dimension. */
        shape: z.array(z.number().int().min(-1)).min(1).max(8),
        layout: z.enum(['NHWC', 'NCHW']),
        /** Pixel value v becomes (v / 255 - mean) / std per channel; [0,1] is mean 0, std 1. */
        mean: z.array(z.number()).length(3).default([0, 0, 0]),
        std: z.array(z.number().positive()).length(3).default([1, 1, 1]),
      })
      .strict(),
    outputs: z.array(z.string().min(1).max(128)).min(1).max(16),
  })
  .strict();
export type ModelDescriptor = z.infer<typeof modelDescriptor>;

/**
 * The signed manifest (`sightline-package.json`). `descriptor` is the code
 * package's descriptor (@sightline/sdk `appDescriptorSchema`) or a
 * {@link modelDescriptor}; the control plane and the agent validate it with
 * the schema for `kind`.
 */
export const packageManifest = z
  .object({
    v: z.literal(PACKAGE_MANIFEST_VERSION),
    kind: packageKind,
    name: packageName,
    version: packageVersion,
    descriptor: z.record(z.string(), z.unknown()),
    files: z.array(packageFile).min(1).max(4096),
    createdAt: z.string().max(40),
  })
  .strict();
export type PackageManifest = z.infer<typeof packageManifest>;

/** An Ed25519 signature over the manifest's exact bytes. */
export const packageSignature = z
  .object({
    algorithm: z.literal('ed25519'),
    /** First 16 hex digits of SHA-256 over the raw 32-byte public key. */
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    /** Raw 32-byte public key, base64. */
    publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
    /** 64-byte signature, base64. */
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
  })
  .strict();
export type PackageSignature = z.infer<typeof packageSignature>;

/** A package as a deployment hands it to the device: the manifest's exact bytes (base64) and its signature. */
export const packageRef = z
  .object({
    kind: packageKind,
    name: packageName,
    version: packageVersion,
    manifestB64: z.string().max(2 * 1024 * 1024),
    signature: packageSignature,
  })
  .strict();
export type PackageRef = z.infer<typeof packageRef>;

export const parameterValue = z.union([z.number().finite(), z.string().max(4096), z.boolean()]);
export type ParameterValue = z.infer<typeof parameterValue>;

/** A camera input of an app instance, as the device sees it: never credentials. */
export const instanceCamera = z
  .object({
    /** The manifest node the camera feeds. */
    node: z.string(),
    cameraId: z.string(),
    camera: z.string(),
    /** rtsp://, rtsps:// or file:// without credentials. */
    url: z.string().max(2048),
    /** True when the device must fetch credentials from `/device/v1/cameras/:cameraId/credentials`. */
    hasCredentials: z.boolean(),
    /** PEM of the CA that signed an RTSPS camera's certificate, when the operator gave one. */
    tlsCaPem: z.string().max(16 * 1024).optional(),
    paused: z.boolean(),
  })
  .strict();
export type InstanceCamera = z.infer<typeof instanceCamera>;

/**
 * One app instance in the device's desired state. `revision` changes whenever
 * anything in it changes (a redeploy, a pause); the agent reports status
 * against the revision it is working on.
 */
export const desiredApp = z
  .object({
    instanceId: z.string(),
    /** The app's name from the manifest. */
    app: z.string(),
    revision: z.number().int().min(1),
    /** SHA-256 of the resolved manifest, for display. */
    manifestSha256: sha256Hex,
    code: z.array(z.object({ node: z.string(), package: packageRef }).strict()).min(1).max(16),
    models: z.array(z.object({ node: z.string(), package: packageRef }).strict()).max(16),
    cameras: z.array(instanceCamera).max(64),
    /** Output node names (each served as MJPEG over the agent's local HTTPS). */
    outputs: z.array(z.string()).max(16),
    /** Edges producer → consumer, node names with an optional port: `camera1 -> code.video_in`. */
    edges: z.array(z.object({ from: z.string(), to: z.string() }).strict()).max(256),
    /** Per code node: parameter name → value, defaults already merged with overrides. */
    parameters: z.record(z.string(), z.record(z.string(), parameterValue)),
    /**
     * Key ids (see {@link packageSignature}) whose signatures the project
     * accepts; empty means any valid signature. The agent checks this too.
     */
    trustedKeyIds: z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(64),
    /** Seconds each stage may take before it counts as failed. */
    stageTimeoutsSeconds: z
      .object({ downloading: z.number().int().min(1), verifying: z.number().int().min(1), starting: z.number().int().min(1) })
      .strict(),
  })
  .strict();
export type DesiredApp = z.infer<typeof desiredApp>;

/** Deployment stages, in order; `failed` and `rolled-back` end a deployment, `stopped` ends an instance. */
export const deploymentStage = z.enum(['queued', 'downloading', 'verifying', 'starting', 'running', 'failed', 'rolled-back', 'stopped']);
export type DeploymentStage = z.infer<typeof deploymentStage>;

/** Isolation layers the appliance could apply, reported in the heartbeat and shown by `device describe`. */
export const isolationReport = z
  .object({
    namespaces: z.object({ present: z.boolean(), detail: z.string().max(256) }).strict(),
    permissionModel: z.object({ present: z.boolean(), detail: z.string().max(256) }).strict(),
    cgroups: z.object({ version: z.enum(['v2', 'v1', 'none']), detail: z.string().max(256) }).strict(),
    diskQuota: z.object({ present: z.boolean(), detail: z.string().max(256) }).strict(),
  })
  .strict();
export type IsolationReport = z.infer<typeof isolationReport>;

export const cameraStatus = z
  .object({
    camera: z.string(),
    state: z.enum(['connecting', 'connected', 'reconnecting', 'paused', 'failed']),
    fps: z.number().min(0),
    lastError: z.string().max(512).optional(),
  })
  .strict();

export const nodeStatus = z
  .object({
    node: z.string(),
    state: z.enum(['starting', 'running', 'restarting', 'stopped', 'failed']),
    restarts: z.number().int().min(0),
    /** Why it last stopped: exit code, signal, `memory quota`, `cpu`, `disk quota`. */
    lastExit: z.string().max(512).optional(),
    /** App-reported metrics (e.g. faces), numbers only. */
    metrics: z.record(z.string().max(64), z.number()).optional(),
  })
  .strict();

/** `POST /device/v1/apps/:instanceId/status`: the agent's progress on one instance. */
export const appStatusReport = z
  .object({
    revision: z.number().int().min(1),
    stage: deploymentStage,
    /** Bytes fetched so far and in all, while downloading. */
    bytesDone: z.number().int().min(0).optional(),
    bytesTotal: z.number().int().min(0).optional(),
    /** Stable error code when failed (e.g. PACKAGE_SIGNATURE_INVALID, STAGE_TIMEOUT). */
    code: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/).optional(),
    message: z.string().max(1024).optional(),
    cameras: z.array(cameraStatus).max(64).optional(),
    nodes: z.array(nodeStatus).max(32).optional(),
  })
  .strict();
export type AppStatusReport = z.infer<typeof appStatusReport>;

/** `GET /device/v1/cameras/:cameraId/credentials` (only for a camera bound to one of the device's instances). */
export const cameraCredentialsResponse = z.object({ username: z.string().max(1024), password: z.string().max(1024) }).strict();
