import type { Generated } from 'kysely';

/**
 * Table types shared by SQLite and PostgreSQL. Timestamps are integer
 * milliseconds since the epoch, booleans are 0/1 and binary values are base64
 * text, so one migration set and one set of queries serve both engines.
 */
export interface Database {
  projects: ProjectsTable;
  users: UsersTable;
  login_failures: LoginFailuresTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  policies: PoliciesTable;
  policy_attachments: PolicyAttachmentsTable;
  role_grants: RoleGrantsTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  audit_nodes: AuditNodesTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  kms_keys: KmsKeysTable;
  kms_key_versions: KmsKeyVersionsTable;
  devices: DevicesTable;
  device_certs: DeviceCertsTable;
  device_jobs: DeviceJobsTable;
  secrets: SecretsTable;
  log_groups: LogGroupsTable;
  log_streams: LogStreamsTable;
  log_chunks: LogChunksTable;
  artifacts: ArtifactsTable;
  cameras: CamerasTable;
  camera_bindings: CameraBindingsTable;
  tuf_metadata: TufMetadataTable;
  releases: ReleasesTable;
  signing_keys: SigningKeysTable;
  package_policies: PackagePoliciesTable;
  package_versions: PackageVersionsTable;
  app_instances: AppInstancesTable;
}

export interface KmsKeysTable {
  id: string;
  project: string;
  name: string;
  managed_by: 'service' | 'customer';
  purpose: string;
  state: 'enabled' | 'disabled' | 'pending-deletion' | 'destroyed';
  description: string;
  policy: string | null;
  current_version: number;
  created_at: number;
  deletion_at: number | null;
  destroyed_at: number | null;
}

export interface KmsKeyVersionsTable {
  key_id: string;
  version: number;
  /** Key material sealed under the root key; null once destroyed. */
  material_sealed: string | null;
  created_at: number;
}

export interface AuditEventsTable {
  seq: number;
  time: number;
  principal_type: string;
  principal_id: string;
  principal_name: string;
  project: string;
  action: string;
  resource: string;
  outcome: string;
  error_code: string | null;
  request_id: string;
  line: string;
}

export interface AuditNodesTable {
  level: number;
  idx: number;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  size: number;
}

export interface AuditCheckpointsTable {
  size: number;
  root: string;
  note: string;
  created_at: number;
}

export interface ProjectsTable {
  id: string;
  name: string;
  description: string;
  created_at: number;
  /** Issue 8: 1 when the console may relay app outputs of the project's devices (0 by default). */
  output_preview: Generated<number>;
}

export interface UsersTable {
  id: string;
  name: string;
  password_hash: string;
  password_changed_at: number;
  /** TOTP seed sealed under the server's root key (never plaintext). */
  totp_secret_sealed: string | null;
  totp_confirmed: number;
  /** Last accepted RFC 6238 time step; codes at or before it are replays. */
  totp_last_step: number;
  disabled: number;
  created_at: number;
}

export interface LoginFailuresTable {
  id: string;
  user_id: string;
  at: number;
}

export interface GroupsTable {
  id: string;
  name: string;
  description: string;
  created_at: number;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}

export interface PoliciesTable {
  id: string;
  name: string;
  description: string;
  document: string;
  created_at: number;
  updated_at: number;
}

export interface PolicyAttachmentsTable {
  policy_id: string;
  principal_type: 'user' | 'group';
  principal_id: string;
}

export interface RoleGrantsTable {
  id: string;
  principal_type: 'user' | 'group';
  principal_id: string;
  role: string;
  project: string;
  created_at: number;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  scope: 'full' | 'mfa-enroll';
  mfa_present: number;
  created_at: number;
  expires_at: number;
  source_ip: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  user_id: string;
  secret_hash: string;
  policy_document: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface ArtifactsTable {
  /** 32 hex digits: the backend object id and the envelope stream's object id. */
  id: string;
  project: string;
  name: string;
  /** Plaintext bytes. */
  size: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
  segment_size: number;
  /** The KMS key whose current version wrapped the data key. */
  key_id: string;
  /** The data key wrapped by the KMS, base64. */
  wrapped_key: string;
  created_at: number;
  /** Name of the principal that uploaded it. */
  created_by: string;
}

export interface SecretsTable {
  id: string;
  project: string;
  name: string;
  description: string;
  /** The KMS key whose current version wrapped the data key. */
  key_id: string;
  /** The secret's data key wrapped by the KMS (context `secret:ID:vVERSION`), base64. */
  wrapped_key: string;
  /** core `seal` of the value under the data key, AAD bound to id and version, base64. */
  sealed_value: string;
  version: number;
  created_at: number;
  rotated_at: number | null;
  created_by: string;
}

export interface LogGroupsTable {
  id: string;
  project: string;
  name: string;
  description: string;
  /** The KMS key new chunks are written under: the project's service logs key or a customer key. */
  key_id: string;
  retention_days: number;
  /** Sequence number of the newest chunk; each batch bumps it under the row lock. */
  last_seq: number;
  created_at: number;
  updated_at: number;
}

export interface LogStreamsTable {
  id: string;
  group_id: string;
  name: string;
  created_at: number;
}

export interface LogChunksTable {
  group_id: string;
  /** Position in the group, in the order batches were stored (the read cursor walks it). */
  seq: number;
  stream_id: string;
  first_time: number;
  last_time: number;
  count: number;
  key_id: string;
  /** The chunk's data key wrapped by the KMS, base64. */
  wrapped_key: string;
  /** core `seal` of gzip(JSONL), AAD bound to group, stream, seq, times and count, base64. */
  sealed: string;
  created_at: number;
}

export interface DevicesTable {
  id: string;
  project: string;
  name: string;
  /** provisioned → registered → deregistered (needs a full reset) */
  state: 'provisioned' | 'registered' | 'deregistered';
  tags: string;
  network: string;
  /** SHA-256 of the encrypted archive handed out once; the archive itself is not kept. */
  archive_sha256: string;
  created_at: number;
  registered_at: number | null;
  deregistered_at: number | null;
  last_seen_at: number | null;
  /** The last heartbeat, as received (validated JSON). */
  status: string | null;
  integrity_state: 'verified' | 'compromised' | 'unchecked' | 'unknown';
  agent_version: string | null;
}

export interface DeviceCertsTable {
  serial: string;
  device_id: string;
  kind: 'provisioning' | 'operational';
  sha256: string;
  issued_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

export interface DeviceJobsTable {
  id: string;
  device_id: string;
  kind: 'reboot' | 'shutdown' | 'reset' | 'update';
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  message: string | null;
  /** JSON parameters of the job (update: version and target); 0010. */
  params: string | null;
  /** Progress of a multi-stage job (update): current stage, when it began, bytes, JSON history. */
  stage: string | null;
  stage_started_at: number | null;
  bytes_done: number | null;
  bytes_total: number | null;
  history: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface CamerasTable {
  id: string;
  project: string;
  name: string;
  /** rtsp://, rtsps:// or file://, checked to carry no credentials. */
  url: string;
  description: string;
  /** JSON object of tags. */
  tags: string;
  /** The secret (`camera-<name>`) holding `{ username, password }`; null without credentials. */
  secret_name: string | null;
  /** A CA the appliance trusts for this camera's rtsps:// certificate (public, PEM). */
  tls_ca_pem: string | null;
  /** JSON array of warning codes (`RTSP_UNENCRYPTED`, `FILE_SOURCE`). */
  warnings: string;
  state: 'active' | 'paused';
  created_at: number;
  updated_at: number;
  created_by: string;
}

/** A device may read the credentials of a camera bound to it (the deployments of apps fill this). */
export interface CameraBindingsTable {
  camera_id: string;
  device_id: string;
  created_at: number;
}

/** A package publisher's public key (the private half stays with the publisher). */
export interface SigningKeysTable {
  id: string;
  project: string;
  name: string;
  /** First 16 hex digits of SHA-256 over the raw key. */
  key_id: string;
  /** Raw 32-byte Ed25519 public key, base64. */
  public_key: string;
  created_at: number;
  created_by: string;
}

/** Which signing keys a project trusts: JSON `[{ name, keyId }]`; empty = any valid signature. */
export interface PackagePoliciesTable {
  project: string;
  require_signed_by: string;
  updated_at: number;
  updated_by: string;
}

/** One immutable package version: the signed manifest bytes as sent, and facts read from them. */
export interface PackageVersionsTable {
  id: string;
  project: string;
  name: string;
  version: string;
  kind: 'code' | 'model';
  manifest_b64: string;
  /** JSON of the protocol `packageSignature`. */
  signature: string;
  key_id: string;
  /** JSON of the validated descriptor (defaults filled in). */
  descriptor: string;
  /** JSON `[{ path, bytes, sha256 }]`. */
  files: string;
  bytes: number;
  created_at: number;
  created_by: string;
}

/** One app instance (a manifest deployed on one device) and its deployment progress. */
export interface AppInstancesTable {
  id: string;
  project: string;
  app: string;
  device_id: string;
  revision: number;
  stage: 'queued' | 'downloading' | 'verifying' | 'starting' | 'running' | 'failed' | 'rolled-back' | 'stopped';
  stage_started_at: number;
  updated_at: number;
  bytes_done: number | null;
  bytes_total: number | null;
  code: string | null;
  message: string | null;
  /** JSON `[{ stage, at, message? }]`. */
  history: string;
  /** JSON `[{ node, cameraId, camera, paused }]`. */
  cameras: string;
  /** JSON of the last reported camera statuses. */
  camera_status: string;
  /** JSON of the last reported node statuses. */
  node_status: string;
  /** JSON of the resolved app (packages, outputs, edges, parameters). */
  resolved: string;
  /** JSON of the manifest and of the overrides, as deployed. */
  manifest: string;
  overrides: string;
  manifest_sha256: string;
  /** The instance this one replaces (kept running until this one runs). */
  replaces: string | null;
  created_at: number;
  created_by: string;
}

/** One signed TUF metadata file (root, targets, snapshot, timestamp) per version, as served. */
export interface TufMetadataTable {
  role: 'root' | 'targets' | 'snapshot' | 'timestamp';
  version: number;
  body: string;
  expires_at: number;
  created_at: number;
}

/** An agent release: one TUF target; the bundle lives in the artifact store (encrypted at rest). */
export interface ReleasesTable {
  version: string;
  target: string;
  sha256: string;
  length: number;
  security_version: number;
  required: number;
  min_agent_version: string | null;
  targets_version: number;
  /** Artifact name in the default project. */
  artifact: string;
  created_at: number;
  created_by: string;
}
