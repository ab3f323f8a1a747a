import { z } from 'zod';
import { appManifestApi, appsApi, safeName } from '@sightline/protocol';
import { defineRoute, type Principal, type Route } from '../http/router.js';
import { MAX_WAIT_SECONDS, type AppService } from './app.service.js';

type Params = { params: Readonly<Record<string, string>> };
const p = (ctx: Params): string => ctx.params['project'] ?? '';
const id = (ctx: Params): string => ctx.params['instance'] ?? '';
const who = (ctx: { principal: Principal | undefined }): Principal => {
  if (ctx.principal === undefined) throw new Error('app routes need a principal');
  return ctx.principal;
};

const appView = z.object({
  instanceId: z.string(),
  app: z.string(),
  device: z.string(),
  revision: z.number(),
  stage: appsApi.deploymentStage,
  stageStartedAt: z.string(),
  updatedAt: z.string(),
  bytesDone: z.number().optional(),
  bytesTotal: z.number().optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  history: z.array(z.object({ stage: appsApi.deploymentStage, at: z.string(), message: z.string().optional() })),
  cameras: z.array(
    z.object({
      node: z.string(),
      cameraId: z.string(),
      camera: z.string(),
      paused: z.boolean(),
      state: z.string().optional(),
      fps: z.number().optional(),
      lastError: z.string().optional(),
    }),
  ),
  nodes: z.array(
    z.object({
      node: z.string(),
      type: z.string(),
      package: z.string().optional(),
      version: z.string().optional(),
      state: z.string().optional(),
      restarts: z.number().optional(),
      lastExit: z.string().optional(),
      metrics: z.record(z.string(), z.number()).optional(),
    }),
  ),
  parameters: z.record(z.string(), z.record(z.string(), appsApi.parameterValue)),
  /** Output node names, each previewable in the console where the project allows it (issue 8). */
  outputs: z.array(z.string()),
  manifestSha256: z.string(),
  replaces: z.string().optional(),
  createdAt: z.string(),
  createdBy: z.string(),
});

const instanceId = z.string().regex(/^[0-9a-f-]{36}$/, 'an instance id as "sightline app ls" shows it');
const cameraBody = z.object({ camera: z.string().min(1).max(64) }).strict();

/** Apps and deployments (issue 6), under /api/v1/projects/:project/apps; and the manifest's JSON Schema. */
export function appRoutes(apps: AppService): Route[] {
  const base = '/api/v1/projects/:project/apps';
  const srn = (ctx: Params): string => `srn:sightline:${p(ctx)}:app/${id(ctx)}`;
  const pause = (verb: 'pause' | 'resume', action: string, paused: boolean): Route =>
    defineRoute({
      method: 'POST',
      path: `${base}/:instance/${verb}`,
      tag: 'apps',
      summary: `${verb === 'pause' ? 'Pause' : 'Resume'} one camera input of an app instance (a new revision goes to the device)`,
      auth: 'authenticated',
      action,
      resource: srn,
      body: cameraBody,
      response: z.object({ app: appView }),
      handle: async (ctx) => ({ app: await apps.setPaused(who(ctx), p(ctx), id(ctx), ctx.body.camera, paused) }),
    });
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/schemas/app-manifest.json',
      tag: 'apps',
      summary: 'The JSON Schema of the app manifest',
      auth: 'public',
      auditAction: false,
      handle: () => Promise.resolve(appManifestApi.appManifestJsonSchema()),
    }),
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'apps',
      summary:
        'Deploy an app manifest to a device, with overrides (cameras, parameter values); replace: an instance to replace, kept running until the new one runs. A faulty manifest is refused with MANIFEST_INVALID and details.path',
      auth: 'authenticated',
      action: 'app:Deploy',
      resource: (ctx) => `srn:sightline:${p(ctx)}:app/*`,
      body: z
        .object({
          manifest: z.unknown(),
          device: safeName('device'),
          overrides: z.unknown().optional(),
          replace: instanceId.optional(),
        })
        .strict(),
      maxBodyBytes: appManifestApi.MAX_MANIFEST_BYTES + 64 * 1024,
      response: z.object({ app: appView }),
      status: 201,
      handle: async (ctx) => ({
        app: await apps.deploy(who(ctx), p(ctx), {
          manifest: ctx.body.manifest,
          device: ctx.body.device,
          overrides: ctx.body.overrides,
          replace: ctx.body.replace,
        }),
      }),
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'apps',
      summary: 'List app instances (optionally of one device) with their stage',
      auth: 'authenticated',
      action: 'app:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:app/*`,
      query: z.object({ device: safeName('device').optional() }).strict(),
      response: z.object({ apps: z.array(appView) }),
      handle: async (ctx) => ({ apps: await apps.list(p(ctx), ctx.query.device) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:instance`,
      tag: 'apps',
      summary: `Describe an app instance: stage, progress, history, cameras, nodes. ?wait=SECONDS&since=<updatedAt> waits (at most ${MAX_WAIT_SECONDS} s) for a change`,
      auth: 'authenticated',
      action: 'app:Get',
      resource: srn,
      query: z
        .object({
          wait: z.string().regex(/^\d{1,2}$/).transform(Number).pipe(z.number().max(MAX_WAIT_SECONDS)).optional(),
          since: z.iso.datetime().optional(),
        })
        .strict(),
      response: z.object({ app: appView }),
      handle: async (ctx) => ({
        app: await apps.describe(p(ctx), id(ctx), {
          ...(ctx.query.wait === undefined ? {} : { waitMs: ctx.query.wait * 1000 }),
          ...(ctx.query.since === undefined ? {} : { since: Date.parse(ctx.query.since) }),
          signal: ctx.signal,
        }),
      }),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${base}/:instance`,
      tag: 'apps',
      summary: 'Remove an app instance from its device (it ends as stopped; its cameras are unbound)',
      auth: 'authenticated',
      action: 'app:Remove',
      resource: srn,
      response: z.object({ app: appView }),
      handle: async (ctx) => ({ app: await apps.remove(who(ctx), p(ctx), id(ctx)) }),
    }),
    pause('pause', 'app:Pause', true),
    pause('resume', 'app:Resume', false),
  ];
}
