import { randomUUID } from 'node:crypto';
import { isSightlineError } from '@sightline/core';
import { screenTags, ValidationError } from '@sightline/protocol';
import type { Clock } from '../clock.js';
import type { KeyCaller } from '../kms/kms.service.js';
import type { SecretService } from '../secrets/secret.service.js';
import type { Store } from '../storage/store.js';
import { CameraError } from './camera-errors.js';
import type { CameraRepository, CameraRow } from './camera.repository.js';
import {
  CAMERA_WARNINGS,
  checkCameraUrl,
  parseTlsCa,
  type CameraScheme,
  type CameraWarningCode,
  type TlsCaSummary,
} from './camera-source.js';

/** `camera-<name>` must itself be a valid secret name (at most 64 characters). */
export const MAX_CAMERA_NAME_LENGTH = 57;
export const MAX_USERNAME_LENGTH = 256;
export const MAX_PASSWORD_LENGTH = 1024;

/** The secret that holds a camera's `{ username, password }`. */
export const cameraSecretName = (camera: string): string => `camera-${camera}`;

export interface CameraCredentials {
  username: string;
  password: string;
}

export interface CameraWarning {
  code: CameraWarningCode;
  message: string;
}

export interface CameraView {
  id: string;
  project: string;
  name: string;
  url: string;
  scheme: CameraScheme;
  description: string;
  tags: Record<string, string>;
  state: CameraRow['state'];
  /** `stored in secret camera-<name>` or `none`: never the credentials themselves. */
  credentials: string;
  secret: string | null;
  tlsCa: TlsCaSummary | null;
  warnings: CameraWarning[];
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export interface CreateCameraInput {
  name: string;
  url: string;
  description: string;
  tags: Record<string, string>;
  credentials?: CameraCredentials;
  tlsCaPem?: string;
}

export interface UpdateCameraInput {
  url?: string;
  description?: string;
  tags?: Record<string, string>;
  removeTags?: string[];
  /** New credentials: rotates the camera's secret (or creates it when the camera had none). */
  credentials?: CameraCredentials;
  /** Deletes the camera's secret. */
  removeCredentials?: boolean;
  /** A new CA, or null to drop it. */
  tlsCaPem?: string | null;
}

function caInvalid(message: string): CameraError {
  return new CameraError('CAMERA_TLS_CA_INVALID', message, { details: { field: 'tlsCaPem' } });
}

function checkCredentials(c: CameraCredentials): void {
  if (c.username === '' || c.password === '') {
    throw new CameraError(
      'CAMERA_CREDENTIALS_INCOMPLETE',
      'Give both a user name and a password (--username U --password-stdin), or neither.',
      {
        details: { field: c.username === '' ? 'username' : 'password' },
      },
    );
  }
  if (c.username.length > MAX_USERNAME_LENGTH || c.password.length > MAX_PASSWORD_LENGTH) {
    throw new CameraError(
      'CAMERA_CREDENTIALS_INCOMPLETE',
      `A camera user name is at most ${MAX_USERNAME_LENGTH} characters and a password at most ${MAX_PASSWORD_LENGTH}.`,
    );
  }
}

/** The scheme of a stored (already checked) URL. */
const schemeOf = (url: string): CameraScheme => url.slice(0, url.indexOf(':')) as CameraScheme;

function principalLabel(caller: KeyCaller): string {
  return `${caller.principal.type}:${caller.principal.name}`;
}

/**
 * Cameras (data sources; issue 6, seed points 8, 10 and 18): a URL that never
 * carries credentials, the credentials in the secrets store as the secret
 * `camera-<name>` (`{ username, password }`), warnings for plain RTSP and
 * file sources, and a pause flag. Each change of a camera and of its secret
 * commits together or not at all.
 */
export class CameraService {
  constructor(
    private readonly store: Store,
    private readonly repo: CameraRepository,
    private readonly secrets: SecretService,
    private readonly clock: Clock,
  ) {}

  private view(r: CameraRow): CameraView {
    const warnings = JSON.parse(r.warnings) as CameraWarningCode[];
    return {
      id: r.id,
      project: r.project,
      name: r.name,
      url: r.url,
      scheme: schemeOf(r.url),
      description: r.description,
      tags: JSON.parse(r.tags) as Record<string, string>,
      state: r.state,
      credentials: r.secret_name === null ? 'none' : `stored in secret ${r.secret_name}`,
      secret: r.secret_name,
      tlsCa: r.tls_ca_pem === null ? null : parseTlsCa(r.tls_ca_pem).summary,
      warnings: warnings.map((code) => ({ code, message: CAMERA_WARNINGS[code] })),
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
      createdBy: r.created_by,
    };
  }

  /** Stores credentials as the camera's secret; a secret of that name that is not the camera's is refused. */
  private async createSecret(caller: KeyCaller, project: string, camera: string, credentials: CameraCredentials): Promise<string> {
    const name = cameraSecretName(camera);
    try {
      await this.secrets.create(caller, project, {
        name,
        description: `Credentials of camera ${camera}`,
        value: { username: credentials.username, password: credentials.password },
      });
    } catch (err) {
      if (isSightlineError(err) && err.code === 'ALREADY_EXISTS') {
        throw new CameraError(
          'ALREADY_EXISTS',
          `A secret named "${name}" already exists in project ${project}, and camera ${camera} keeps its credentials there: delete that secret or choose another camera name.`,
          { cause: err, details: { secret: name } },
        );
      }
      throw err;
    }
    return name;
  }

  async create(caller: KeyCaller, project: string, input: CreateCameraInput): Promise<CameraView> {
    if (input.name.length > MAX_CAMERA_NAME_LENGTH) {
      throw new ValidationError(
        'NAME_INVALID',
        'name',
        `A camera name is at most ${MAX_CAMERA_NAME_LENGTH} characters (its credentials go to the secret camera-NAME).`,
      );
    }
    const source = checkCameraUrl('url', input.url);
    screenTags(input.tags);
    const ca = input.tlsCaPem === undefined ? undefined : parseTlsCa(input.tlsCaPem);
    if (ca !== undefined && source.scheme !== 'rtsps') throw caInvalid('tlsCaPem applies to rtsps:// cameras only.');
    if (input.credentials !== undefined) checkCredentials(input.credentials);
    // One transaction (joins the request's): a refusal by the secrets store leaves no camera, and the other way round.
    return this.store.transaction(async () => {
      const now = this.clock.now();
      const row: CameraRow = {
        id: randomUUID(),
        project,
        name: input.name,
        url: source.url,
        description: input.description,
        tags: JSON.stringify(input.tags),
        secret_name: null,
        tls_ca_pem: ca?.pem ?? null,
        warnings: JSON.stringify(source.warnings),
        state: 'active',
        created_at: now,
        updated_at: now,
        created_by: principalLabel(caller),
      };
      await this.repo.insert(row);
      if (input.credentials !== undefined) {
        row.secret_name = await this.createSecret(caller, project, input.name, input.credentials);
        await this.repo.update(row.id, { secret_name: row.secret_name });
      }
      return this.view(row);
    });
  }

  async list(project: string): Promise<CameraView[]> {
    return (await this.repo.list(project)).map((r) => this.view(r));
  }

  async describe(project: string, name: string): Promise<CameraView & { boundDevices: number }> {
    const row = await this.repo.get(project, name);
    return { ...this.view(row), boundDevices: (await this.repo.boundDevices(row.id)).length };
  }

  /** Changes the URL, description, tags, CA or credentials (rotating the secret) in one transaction. */
  async update(caller: KeyCaller, project: string, name: string, changes: UpdateCameraInput): Promise<CameraView> {
    if (changes.credentials !== undefined && changes.removeCredentials === true) {
      throw new CameraError('CAMERA_CREDENTIALS_INCOMPLETE', 'Give new credentials or remove them, not both.');
    }
    if (changes.credentials !== undefined) checkCredentials(changes.credentials);
    const source = changes.url === undefined ? undefined : checkCameraUrl('url', changes.url);
    const ca = changes.tlsCaPem === undefined || changes.tlsCaPem === null ? changes.tlsCaPem : parseTlsCa(changes.tlsCaPem);
    return this.store.transaction(async () => {
      const row = await this.repo.get(project, name);
      const next: CameraRow = { ...row, updated_at: this.clock.now() };
      if (source !== undefined) {
        next.url = source.url;
        next.warnings = JSON.stringify(source.warnings);
      }
      if (ca !== undefined) next.tls_ca_pem = ca === null ? null : ca.pem;
      if (next.tls_ca_pem !== null && schemeOf(next.url) !== 'rtsps') {
        throw caInvalid('tlsCaPem applies to rtsps:// cameras only: drop the CA (tlsCaPem: null) when the URL is not rtsps://.');
      }
      if (changes.description !== undefined) next.description = changes.description;
      if (changes.tags !== undefined || (changes.removeTags ?? []).length > 0) {
        const tags = { ...(JSON.parse(row.tags) as Record<string, string>), ...(changes.tags ?? {}) };
        for (const k of changes.removeTags ?? []) delete tags[k];
        screenTags(tags);
        next.tags = JSON.stringify(tags);
      }
      if (changes.credentials !== undefined) {
        if (row.secret_name === null) next.secret_name = await this.createSecret(caller, project, name, changes.credentials);
        else
          await this.secrets.rotate(caller, project, row.secret_name, {
            username: changes.credentials.username,
            password: changes.credentials.password,
          });
      } else if (changes.removeCredentials === true && row.secret_name !== null) {
        await this.deleteSecret(project, row.secret_name);
        next.secret_name = null;
      }
      const { id, project: _p, name: _n, created_at: _c, created_by: _b, ...set } = next;
      await this.repo.update(id, set);
      return this.view(next);
    });
  }

  /** Pauses or resumes a camera (the apps that use it stop or start reading it, as deployments arrive). */
  async setState(project: string, name: string, state: CameraRow['state']): Promise<CameraView> {
    const row = await this.repo.get(project, name);
    if (row.state === state) return this.view(row);
    const next = { ...row, state, updated_at: this.clock.now() };
    await this.repo.update(row.id, { state, updated_at: next.updated_at });
    return this.view(next);
  }

  /** Deletes a camera and its secret; refused while a device is bound to it. */
  async delete(project: string, name: string): Promise<void> {
    await this.store.transaction(async () => {
      const row = await this.repo.get(project, name);
      const bound = await this.repo.boundDevices(row.id);
      if (bound.length > 0) {
        throw new CameraError(
          'CAMERA_IN_USE',
          `Camera ${name} is used by apps on ${bound.length} device(s); remove those apps before deleting the camera.`,
          { details: { devices: bound.length } },
        );
      }
      await this.repo.delete(row.id);
      if (row.secret_name !== null) await this.deleteSecret(project, row.secret_name);
    });
  }

  private async deleteSecret(project: string, secret: string): Promise<void> {
    try {
      await this.secrets.delete(project, secret);
    } catch (err) {
      // Already deleted through the secrets API: the camera's part is done.
      if (!(isSightlineError(err) && err.code === 'SECRET_NOT_FOUND')) throw err;
    }
  }

  private async deviceId(project: string, device: string): Promise<string> {
    const row = await this.store.db
      .selectFrom('devices')
      .select(['id', 'state'])
      .where('project', '=', project)
      .where('name', '=', device)
      .executeTakeFirst();
    if (row === undefined || row.state === 'deregistered') {
      throw new CameraError('DEVICE_NOT_FOUND', `No device named "${device}" in project ${project} that could use camera credentials.`);
    }
    return row.id;
  }

  /**
   * Lets `device` read the camera's credentials (seed point 18). No route
   * calls this: app deployments do, for the cameras an app uses on a device.
   */
  async bind(project: string, camera: string, device: string): Promise<void> {
    const row = await this.repo.get(project, camera);
    await this.repo.bind(row.id, await this.deviceId(project, device), this.clock.now());
  }

  /** Takes that permission back (the app that used the camera left the device). */
  async unbind(project: string, camera: string, device: string): Promise<void> {
    const row = await this.repo.get(project, camera);
    const dev = await this.store.db
      .selectFrom('devices')
      .select('id')
      .where('project', '=', project)
      .where('name', '=', device)
      .executeTakeFirst();
    if (dev !== undefined) await this.repo.unbind(row.id, dev.id);
  }
}
