/**
 * A typed client for the control plane's public API (the routes in
 * GET /api/v1/openapi.json). The session lives in an HttpOnly cookie the
 * console never sees; state-changing calls echo the session's CSRF token,
 * which is kept in memory only (never localStorage or sessionStorage).
 */

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** An API error: its stable code, the server's sentence, and the field it concerns when the API names one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The field the error is about: `body.name` → `name`, `nodes[1].package` stays as it is. */
  get field(): string | undefined {
    const raw = this.details['field'] ?? this.details['path'];
    if (typeof raw !== 'string') return undefined;
    return raw.replace(/^(body|query)\./, '');
  }
}

let csrfToken: string | null = null;
let onExpired: (() => void) | undefined;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called once when a call finds the session gone (expired, signed out elsewhere). */
export function onSessionExpired(fn: () => void): void {
  onExpired = fn;
}

const EXPIRED = new Set(['AUTH_INVALID', 'AUTH_REQUIRED']);

async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(signal === undefined ? {} : { signal }),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'BAD_RESPONSE', `The server answered ${res.status} with something that is not JSON.`);
    }
  }
  if (!res.ok) {
    const err = (parsed as Partial<ErrorBody> | undefined)?.error;
    const e = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `The server answered ${res.status}.`, err?.details ?? {});
    if (res.status === 401 && EXPIRED.has(e.code) && !path.startsWith('/api/v1/auth/console/')) onExpired?.();
    throw e;
  }
  return parsed as T;
}

const enc = encodeURIComponent;
function qs(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`;
}

// ---- Shapes, as the OpenAPI document describes them ----

export type Scope = 'full' | 'mfa-enroll';
export interface ConsoleSession { scope: Scope; expiresAt: string; mfaPresent: boolean; csrfToken: string }
export interface SessionInfo { user: string; scope: Scope; mfaPresent: boolean; csrfToken: string | null }
export interface RoleGrant { role: string; project: string }
export interface WhoAmI { type: string; name: string; user: string; mfaPresent: boolean; roles: RoleGrant[]; groups: string[] }
export interface Project { name: string; description: string; createdAt: string; settings?: { outputPreview: boolean } }

export interface Heartbeat {
  agentVersion: string;
  uptimeSeconds: number;
  integrity: { state: string; detail?: string; checkedAt?: string };
  rootKeyProtection: string;
  disk: { totalBytes: number; freeBytes: number };
  memory: { totalBytes: number; freeBytes: number };
  cpu: { load1: number; cores: number };
  update?: { version: string; securityFloor: number; slot: string };
}
export interface Device {
  id: string;
  project: string;
  name: string;
  state: 'provisioned' | 'registered' | 'deregistered';
  tags: Record<string, string>;
  online: boolean;
  lastSeenAt: string | null;
  offlineForSeconds: number | null;
  integrity: string;
  agentVersion: string | null;
  registeredAt: string | null;
  createdAt: string;
  network: unknown;
  status?: Heartbeat | null;
  /** From the updates service (issue 7), where present. */
  updateRequired?: boolean | null;
  updateAvailable?: string | null;
  certificates?: { serial: string; kind: string; expiresAt: string; revoked: boolean; used: boolean }[];
}
export interface Job { id: string; kind: string; status: string; message: string | null; createdAt: string; updatedAt: string; stage?: string; bytesDone?: number; bytesTotal?: number }
export type Network = { mode: 'dhcp' } | { mode: 'static'; address: string; gateway: string; dns: string[] };
export interface Provisioned { device: Device; archive: string; archiveSha256: string; passphrase: string; provisioningExpiresAt: string }

export interface Camera {
  id: string;
  name: string;
  url: string;
  scheme: 'rtsps' | 'rtsp' | 'file';
  description: string;
  tags: Record<string, string>;
  state: 'active' | 'paused';
  credentials: string;
  secret: string | null;
  warnings: { code: string; message: string }[];
  createdAt: string;
}
export interface LogEvent { time: string; stream: string; message: string; level?: string }
export interface LogPage { events: LogEvent[]; nextToken: string }

export interface AuditEvent {
  seq: number;
  event: { time?: number | string; principal?: { type: string; name: string }; action?: string; resource?: string; outcome?: string; errorCode?: string | null; sourceIp?: string; requestId?: string };
}
export interface AuditVerify { events: number; checkpoints: number; signedSize: number }

export interface Key {
  id: string;
  name: string;
  managedBy: 'service' | 'customer';
  purpose: string;
  state: 'enabled' | 'disabled' | 'pending-deletion' | 'destroyed';
  description: string;
  currentVersion: number;
  createdAt: string;
  deletionDate: string | null;
}
export interface User { name: string; mfaEnrolled: boolean; disabled: boolean; createdAt: string; groups?: string[]; roles?: RoleGrant[] }
export interface Group { name: string; description: string; createdAt: string; members?: string[] }
export interface Policy { name: string; description: string; document: unknown; createdAt: string; updatedAt: string }
export interface ApiKey { id: string; name: string; owner: string; createdAt: string; expiresAt: string; status: string; scoped: boolean; lastUsedAt: string | null }
export interface Simulation { decision: 'allow' | 'deny'; reason: string; matched?: { policy: string; sid?: string; statementIndex: number } }

export interface PackageSummary { name: string; kind: string; latestVersion: string; versions: number }
export interface PackageVersion { name: string; version: string; kind: string; keyId: string; signer: string | null; files: unknown; bytes: number; createdAt: string; createdBy: string }
export type ParameterSpec =
  | { type: 'number'; default: number; min?: number; max?: number; overridable?: boolean; description?: string }
  | { type: 'string'; default: string; choices?: string[]; overridable?: boolean; description?: string }
  | { type: 'boolean'; default: boolean; overridable?: boolean; description?: string };
export interface ManifestNode { name: string; type: string; package?: string; version?: string; parameter?: ParameterSpec; description?: string }
export interface AppManifest { name: string; nodes: ManifestNode[]; edges: { from: string; to: string }[] }
export type Stage = 'queued' | 'downloading' | 'verifying' | 'starting' | 'running' | 'failed' | 'rolled-back' | 'stopped';
export interface AppView {
  instanceId: string;
  app: string;
  device: string;
  revision: number;
  stage: Stage;
  stageStartedAt: string;
  updatedAt: string;
  bytesDone?: number;
  bytesTotal?: number;
  code?: string;
  message?: string;
  history: { stage: string; at: string; message?: string }[];
  cameras: { node?: string; camera: string; paused?: boolean; state?: string; fps?: number; lastError?: string }[];
  nodes: { node: string; type?: string; package?: string; version?: string; state?: string; restarts?: number; lastExit?: string; metrics?: Record<string, number> }[];
  parameters: unknown;
  /** Output node names (previewable where the project allows it). */
  outputs?: string[];
}
export interface Overrides { cameras: Record<string, string>; parameters: Record<string, number | string | boolean> }

const P = (project: string): string => `/api/v1/projects/${enc(project)}`;

export const api = {
  auth: {
    login: (user: string, password: string, totp?: string) => call<ConsoleSession>('POST', '/api/v1/auth/console/login', { user, password, ...(totp === undefined || totp === '' ? {} : { totp }) }),
    session: () => call<SessionInfo>('GET', '/api/v1/auth/console/session'),
    enroll: () => call<{ secret: string; otpauthUri: string }>('POST', '/api/v1/auth/mfa/enroll'),
    confirm: (code: string) => call<ConsoleSession>('POST', '/api/v1/auth/console/mfa/confirm', { code }),
    logout: () => call<{ ok: true }>('POST', '/api/v1/auth/console/logout'),
    whoami: () => call<WhoAmI>('GET', '/api/v1/auth/whoami'),
  },
  projects: () => call<{ projects: Project[] }>('GET', '/api/v1/projects'),
  project: {
    get: (name: string) => call<Project>('GET', `/api/v1/projects/${enc(name)}`),
    setOutputPreview: (name: string, on: boolean) => call<Project>('PUT', `/api/v1/projects/${enc(name)}/settings`, { outputPreview: on }),
  },
  /**
   * Opens an output preview (issue 8): multipart/x-mixed-replace JPEG frames
   * until `signal` aborts. Refusals come back as ApiError with the API's code
   * and sentence; the caller reads frames with `readPreviewFrames`.
   */
  previewOutput: async (project: string, device: string, instance: string, output: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> => {
    const res = await fetch(`${P(project)}/devices/${enc(device)}/apps/${enc(instance)}/outputs/${enc(output)}/preview?fps=5`, {
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
    if (!res.ok || res.body === null) {
      let err: ErrorBody['error'] | undefined;
      try {
        err = ((await res.json()) as Partial<ErrorBody>).error;
      } catch {
        // not JSON: the status says it
      }
      const e = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `The server answered ${res.status}.`, err?.details ?? {});
      if (res.status === 401 && EXPIRED.has(e.code)) onExpired?.();
      throw e;
    }
    return res.body;
  },
  devices: {
    list: (project: string) => call<{ devices: Device[] }>('GET', `${P(project)}/devices`),
    get: (project: string, name: string) => call<Device>('GET', `${P(project)}/devices/${enc(name)}`),
    jobs: (project: string, name: string) => call<{ jobs: Job[] }>('GET', `${P(project)}/devices/${enc(name)}/jobs`),
    provision: (project: string, body: { name: string; network: Network; ntp: string[] }) => call<Provisioned>('POST', `${P(project)}/devices`, body),
    job: (project: string, name: string, kind: 'reboot' | 'reset') => call<{ id: string }>('POST', `${P(project)}/devices/${enc(name)}/${kind}`),
    deregister: (project: string, name: string) => call<Device>('POST', `${P(project)}/devices/${enc(name)}/deregister`),
    update: (project: string, name: string, version: string) => call<{ job: Job }>('POST', `${P(project)}/devices/${enc(name)}/update`, version === '' ? {} : { version }),
  },
  logs: {
    read: (project: string, group: string, q: { after?: string; wait?: number; since?: string; limit?: number }, signal?: AbortSignal) =>
      call<LogPage>('GET', `${P(project)}/log-groups/${enc(group)}/events${qs(q)}`, undefined, signal),
  },
  cameras: {
    list: (project: string) => call<{ cameras: Camera[] }>('GET', `${P(project)}/cameras`),
    create: (project: string, body: { name: string; url: string; description: string; username?: string; password?: string }) => call<Camera>('POST', `${P(project)}/cameras`, body),
  },
  packages: {
    list: (project: string) => call<{ packages: PackageSummary[] }>('GET', `${P(project)}/packages`),
    get: (project: string, name: string) => call<{ name: string; kind: string; versions: PackageVersion[] }>('GET', `${P(project)}/packages/${enc(name)}`),
  },
  apps: {
    list: (project: string, device?: string) => call<{ apps: AppView[] }>('GET', `${P(project)}/apps${qs({ device })}`),
    deploy: (project: string, body: { manifest: AppManifest; device: string; overrides: Overrides }) => call<{ app: AppView }>('POST', `${P(project)}/apps`, body),
    watch: (project: string, instance: string, since: string | undefined, signal?: AbortSignal) =>
      call<{ app: AppView } | AppView>('GET', `${P(project)}/apps/${enc(instance)}${qs({ wait: 20, since })}`, undefined, signal),
    get: (project: string, instance: string) => call<{ app: AppView }>('GET', `${P(project)}/apps/${enc(instance)}`),
    remove: (project: string, instance: string) => call<unknown>('DELETE', `${P(project)}/apps/${enc(instance)}`),
    setPaused: (project: string, instance: string, camera: string, paused: boolean) =>
      call<{ app: AppView }>('POST', `${P(project)}/apps/${enc(instance)}/${paused ? 'pause' : 'resume'}`, { camera }),
  },
  audit: {
    events: (q: Record<string, string | number | undefined>) => call<{ events: AuditEvent[]; next: number | null }>('GET', `/api/v1/audit/events${qs(q)}`),
    verify: () => call<AuditVerify>('POST', '/api/v1/audit/verify'),
  },
  keys: {
    list: (project: string) => call<{ keys: Key[] }>('GET', `${P(project)}/keys`),
    create: (project: string, name: string, description: string) => call<Key>('POST', `${P(project)}/keys`, { name, description }),
    change: (project: string, name: string, op: 'rotate' | 'enable' | 'disable' | 'cancel-deletion') => call<Key>('POST', `${P(project)}/keys/${enc(name)}/${op}`),
    scheduleDeletion: (project: string, name: string, days: number) => call<Key>('POST', `${P(project)}/keys/${enc(name)}/schedule-deletion`, { days }),
  },
  users: {
    list: () => call<{ users: User[] }>('GET', '/api/v1/users'),
    create: (name: string, roles: RoleGrant[]) => call<{ user: User; initialPassword?: string }>('POST', '/api/v1/users', { name, roles }),
    setDisabled: (name: string, disabled: boolean) => call<User>('PATCH', `/api/v1/users/${enc(name)}`, { disabled }),
    resetMfa: (name: string) => call<User>('POST', `/api/v1/users/${enc(name)}/reset-mfa`),
  },
  groups: {
    list: () => call<{ groups: Group[] }>('GET', '/api/v1/groups'),
    get: (name: string) => call<Group>('GET', `/api/v1/groups/${enc(name)}`),
    create: (name: string, description: string) => call<Group>('POST', '/api/v1/groups', { name, description }),
    addMember: (name: string, user: string) => call<{ ok: true }>('POST', `/api/v1/groups/${enc(name)}/members`, { user }),
  },
  policies: {
    list: () => call<{ policies: Policy[] }>('GET', '/api/v1/policies'),
    create: (name: string, description: string, document: unknown) => call<Policy>('POST', '/api/v1/policies', { name, description, document }),
    simulate: (body: { user: string; action: string; resource: string; mfaPresent: boolean }) => call<Simulation>('POST', '/api/v1/policies/simulate', body),
    grantRole: (body: { principalType: 'user' | 'group'; principal: string; role: string; project: string }) => call<unknown>('POST', '/api/v1/roles/grants', body),
  },
  apiKeys: {
    list: () => call<{ apiKeys: ApiKey[] }>('GET', '/api/v1/apikeys'),
    create: (name: string, expiresInDays: number) => call<{ key: ApiKey; token: string }>('POST', '/api/v1/apikeys', { name, expiresInDays }),
    revoke: (id: string) => call<ApiKey>('DELETE', `/api/v1/apikeys/${enc(id)}`),
  },
};

/** Largest preview frame the console takes (the API's own cap). */
const MAX_PREVIEW_FRAME = 1024 * 1024;

function indexOf(buf: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= buf.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (buf[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Reads the JPEG parts of a multipart/x-mixed-replace preview stream (each
 * part names its Content-Length) and hands each to `onFrame` until the
 * stream ends. Throws on a part without a length or over the cap.
 */
export async function readPreviewFrames(stream: ReadableStream<Uint8Array>, onFrame: (jpeg: Uint8Array) => void): Promise<void> {
  const reader = stream.getReader();
  const blank = new TextEncoder().encode('\r\n\r\n');
  let buf = new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
    for (;;) {
      const headEnd = indexOf(buf, blank, 0);
      if (headEnd < 0) break;
      const head = new TextDecoder('latin1').decode(buf.subarray(0, headEnd));
      const m = /Content-Length: (\d+)/i.exec(head);
      if (m === null) throw new ApiError(0, 'PREVIEW_STREAM_INVALID', 'A preview part has no Content-Length.');
      const len = Number(m[1]);
      if (len > MAX_PREVIEW_FRAME) throw new ApiError(0, 'PREVIEW_FRAME_TOO_LARGE', `A preview frame of ${len} bytes is over the cap.`);
      const start = headEnd + blank.length;
      if (buf.length < start + len + 2) break;
      onFrame(buf.slice(start, start + len));
      buf = buf.slice(start + len + 2);
    }
  }
}
