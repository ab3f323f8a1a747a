import { z } from 'zod';
import { isSightlineError } from '@sightline/core';
import { safeName, safeText, screenTags } from '@sightline/protocol';
import { defineRoute, type Route } from '../http/router.js';
import { keyCaller } from '../kms/kms.routes.js';
import { checkCameraUrl, MAX_TLS_CA_PEM_LENGTH, parseTlsCa } from './camera-source.js';
import {
  MAX_CAMERA_NAME_LENGTH,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  type CameraCredentials,
  type CameraService,
} from './camera.service.js';

/**
 * A zod check from a function that throws a SightlineError: the error becomes
 * one custom issue carrying its code, which the pipeline reports as that code
 * (CREDENTIALS_IN_URL, SENSITIVE_FREE_TEXT, …). The input is never echoed.
 */
function checked<T extends z.ZodType>(schema: T, check: (value: z.output<T>) => void): T {
  return schema.superRefine((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      if (!isSightlineError(err)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, params: { ...err.details, code: err.code } });
    }
  });
}

const cameraName = safeName('name').refine((v) => v.length <= MAX_CAMERA_NAME_LENGTH, {
  message: `a camera name is at most ${MAX_CAMERA_NAME_LENGTH} characters (its credentials go to the secret camera-NAME)`,
});
// The checks cap the lengths themselves (MAX_CAMERA_URL_LENGTH, MAX_TLS_CA_PEM_LENGTH), so their codes name the fault.
const cameraUrl = checked(z.string(), (v) => checkCameraUrl('url', v));
const tags = checked(z.record(z.string(), z.string()), (v) => screenTags(v));
const tlsCaPem = checked(z.string(), (v) => parseTlsCa(v));
/** Credentials are never screened or echoed: they go to the secrets store as they are. */
const username = z.string().min(1).max(MAX_USERNAME_LENGTH);
const password = z.string().min(1).max(MAX_PASSWORD_LENGTH);

/** Both or neither: one without the other is refused before anything is written. */
function credentialsPair(body: { username?: string | undefined; password?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((body.username === undefined) !== (body.password === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [body.username === undefined ? 'username' : 'password'],
      message: 'Give both a user name and a password (--username U --password-stdin), or neither.',
      params: { code: 'CAMERA_CREDENTIALS_INCOMPLETE' },
    });
  }
}

function credentialsOf(body: { username?: string | undefined; password?: string | undefined }): CameraCredentials | undefined {
  return body.username === undefined || body.password === undefined ? undefined : { username: body.username, password: body.password };
}

const cameraView = z.object({
  id: z.string(),
  project: z.string(),
  name: z.string(),
  url: z.string(),
  scheme: z.enum(['rtsps', 'rtsp', 'file']),
  description: z.string(),
  tags: z.record(z.string(), z.string()),
  state: z.enum(['active', 'paused']),
  credentials: z.string(),
  secret: z.string().nullable(),
  tlsCa: z.object({ certificates: z.number(), subject: z.string(), sha256: z.string(), notAfter: z.string() }).nullable(),
  warnings: z.array(z.object({ code: z.enum(['RTSP_UNENCRYPTED', 'FILE_SOURCE']), message: z.string() })),
  createdAt: z.string(),
  updatedAt: z.string(),
  createdBy: z.string(),
});

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const n = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['name'] ?? '';
const cameraSrn = (ctx: { params: Readonly<Record<string, string>> }): string => `srn:sightline:${p(ctx)}:camera/${n(ctx)}`;

/** Bodies carry at most a CA bundle, a URL and short fields. */
const MAX_BODY = 2 * MAX_TLS_CA_PEM_LENGTH + 16 * 1024;

export function cameraRoutes(cameras: CameraService): Route[] {
  const base = '/api/v1/projects/:project/cameras';
  const stateChange = (suffix: 'pause' | 'resume', state: 'active' | 'paused', summary: string): Route =>
    defineRoute({
      method: 'POST',
      path: `${base}/:name/${suffix}`,
      tag: 'cameras',
      summary,
      auth: 'authenticated',
      action: 'camera:Update',
      resource: cameraSrn,
      response: cameraView,
      handle: (ctx) => cameras.setState(p(ctx), n(ctx), state),
    });
  return [
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'cameras',
      summary:
        'Create a camera (data source): rtsps:// (preferred), rtsp:// (stored with a warning: not encrypted) or file://; no credentials in the URL: username and password go to the secrets store as secret camera-NAME',
      auth: 'authenticated',
      action: 'camera:Create',
      resource: (ctx) => `srn:sightline:${p(ctx)}:camera/${ctx.body.name}`,
      body: z
        .object({
          name: cameraName,
          url: cameraUrl,
          description: safeText('description', { max: 512 }).default(''),
          tags: tags.default({}),
          username: username.optional(),
          password: password.optional(),
          tlsCaPem: tlsCaPem.optional(),
        })
        .strict()
        .superRefine(credentialsPair),
      maxBodyBytes: MAX_BODY,
      secretFields: ['username', 'password'],
      response: cameraView,
      status: 201,
      handle: (ctx) => {
        const credentials = credentialsOf(ctx.body);
        return cameras.create(keyCaller(ctx), p(ctx), {
          name: ctx.body.name,
          url: ctx.body.url,
          description: ctx.body.description,
          tags: ctx.body.tags,
          ...(credentials === undefined ? {} : { credentials }),
          ...(ctx.body.tlsCaPem === undefined ? {} : { tlsCaPem: ctx.body.tlsCaPem }),
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'cameras',
      summary: 'List the cameras of a project with their state and warnings (never credentials)',
      auth: 'authenticated',
      action: 'camera:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:camera/*`,
      response: z.object({ cameras: z.array(cameraView) }),
      handle: async (ctx) => ({ cameras: await cameras.list(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:name`,
      tag: 'cameras',
      summary: 'Describe a camera: URL, warnings, where its credentials are stored (never the credentials)',
      auth: 'authenticated',
      action: 'camera:Get',
      resource: cameraSrn,
      response: cameraView.extend({ boundDevices: z.number() }),
      handle: (ctx) => cameras.describe(p(ctx), n(ctx)),
    }),
    defineRoute({
      method: 'PATCH',
      path: `${base}/:name`,
      tag: 'cameras',
      summary: 'Change a camera: URL, description, tags, CA; new username and password rotate its secret',
      auth: 'authenticated',
      action: 'camera:Update',
      resource: cameraSrn,
      body: z
        .object({
          url: cameraUrl.optional(),
          description: safeText('description', { max: 512 }).optional(),
          tags: tags.optional(),
          removeTags: z.array(z.string().max(128)).max(50).default([]),
          username: username.optional(),
          password: password.optional(),
          removeCredentials: z.boolean().default(false),
          tlsCaPem: tlsCaPem.nullable().optional(),
        })
        .strict()
        .superRefine(credentialsPair),
      maxBodyBytes: MAX_BODY,
      secretFields: ['username', 'password'],
      response: cameraView,
      handle: (ctx) => {
        const credentials = credentialsOf(ctx.body);
        const b = ctx.body;
        return cameras.update(keyCaller(ctx), p(ctx), n(ctx), {
          ...(b.url === undefined ? {} : { url: b.url }),
          ...(b.description === undefined ? {} : { description: b.description }),
          ...(b.tags === undefined ? {} : { tags: b.tags }),
          removeTags: b.removeTags,
          ...(credentials === undefined ? {} : { credentials }),
          removeCredentials: b.removeCredentials,
          ...(b.tlsCaPem === undefined ? {} : { tlsCaPem: b.tlsCaPem }),
        });
      },
    }),
    stateChange('pause', 'paused', 'Pause a camera: apps stop reading it until it is resumed'),
    stateChange('resume', 'active', 'Resume a paused camera'),
    defineRoute({
      method: 'DELETE',
      path: `${base}/:name`,
      tag: 'cameras',
      summary: 'Delete a camera and its credentials secret (refused while an app on a device uses it)',
      auth: 'authenticated',
      action: 'camera:Delete',
      resource: cameraSrn,
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await cameras.delete(p(ctx), n(ctx));
        return { ok: true as const };
      },
    }),
  ];
}
