import { z } from 'zod';
import { keyViews, safeName, safeText } from '@sightline/protocol';
import { defineRoute, type RequestContext, type Route } from '../http/router.js';
import type { KeyCaller, KmsService } from './kms.service.js';

const { keyView, keyDetail } = keyViews;

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const n = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['name'] ?? '';
const keySrn = (ctx: { params: Readonly<Record<string, string>> }): string => `srn:sightline:${p(ctx)}:key/${n(ctx)}`;

/** The caller of a key operation, for the audit trail of key use. */
export function keyCaller(ctx: RequestContext<unknown, unknown>): KeyCaller {
  if (ctx.principal === undefined) throw new Error('key operations need a principal');
  return { principal: ctx.principal, requestId: ctx.requestId, sourceIp: ctx.sourceIp };
}

export function kmsRoutes(kms: KmsService): Route[] {
  const base = '/api/v1/projects/:project/keys';
  const stateChange = (suffix: string, action: string, summary: string, fn: (project: string, name: string) => Promise<unknown>): Route =>
    defineRoute({
      method: 'POST',
      path: `${base}/:name/${suffix}`,
      tag: 'keys',
      summary,
      auth: 'authenticated',
      action,
      resource: keySrn,
      response: keyView,
      handle: (ctx) => fn(p(ctx), n(ctx)) as Promise<z.infer<typeof keyView>>,
    });
  return [
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'keys',
      summary: 'Create a customer-managed key (AES-256 master key, sealed at rest; optional key policy)',
      auth: 'authenticated',
      action: 'key:Create',
      resource: (ctx) => `srn:sightline:${p(ctx)}:key/${ctx.body.name}`,
      body: z.object({ name: safeName('name'), description: safeText('description', { max: 512 }).default(''), policy: z.record(z.string(), z.unknown()).optional() }).strict(),
      response: keyView,
      status: 201,
      handle: (ctx) => kms.create(p(ctx), ctx.body.name, ctx.body.description, ctx.body.policy),
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'keys',
      summary: 'List the keys of a project, service-managed and customer-managed',
      auth: 'authenticated',
      action: 'key:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:key/*`,
      response: keyViews.keyList,
      handle: async (ctx) => ({ keys: await kms.list(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:name`,
      tag: 'keys',
      summary: 'Describe a key and its versions (never its material)',
      auth: 'authenticated',
      action: 'key:Get',
      resource: keySrn,
      response: keyDetail,
      handle: (ctx) => kms.describe(p(ctx), n(ctx)),
    }),
    stateChange('rotate', 'key:Rotate', 'Add a key version: new data uses it, old versions still decrypt', (pr, nm) => kms.rotate(pr, nm)),
    stateChange('enable', 'key:Enable', 'Enable a disabled key', (pr, nm) => kms.setEnabled(pr, nm, true)),
    stateChange('disable', 'key:Disable', 'Disable a key: everything under it is unreadable until it is enabled', (pr, nm) => kms.setEnabled(pr, nm, false)),
    defineRoute({
      method: 'POST',
      path: `${base}/:name/schedule-deletion`,
      tag: 'keys',
      summary: 'Schedule destruction after 7-30 days (default 30); the data under the key is then gone for good',
      auth: 'authenticated',
      action: 'key:ScheduleDeletion',
      resource: keySrn,
      body: z.object({ days: z.number().int().min(7).max(30).default(30) }).strict(),
      response: keyView,
      handle: (ctx) => kms.scheduleDeletion(p(ctx), n(ctx), ctx.body.days),
    }),
    stateChange('cancel-deletion', 'key:CancelDeletion', 'Cancel a scheduled deletion (the key comes back disabled)', (pr, nm) => kms.cancelDeletion(pr, nm)),
  ];
}

